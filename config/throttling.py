"""The API's throttles. DRF's own key an anonymous caller on X-Forwarded-For whenever it is present,
which a client sets at will (rotating it dodged the limit); here the client address is the audit
trail's, exactly as TRUST_X_FORWARDED_FOR says (priorauth.services.client_address). A signed-in
caller is keyed on their user, whatever address they come from."""

from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle, UserRateThrottle


class ClientAddressMixin:
    def get_ident(self, request) -> str:
        from priorauth.services import client_address_for_throttle

        return client_address_for_throttle(request._request)


class UserThrottle(ClientAddressMixin, UserRateThrottle):
    """THROTTLE_USER a minute per signed-in user, over all endpoints."""


class AnonThrottle(ClientAddressMixin, AnonRateThrottle):
    """THROTTLE_ANON a minute per client address before signing in (the token exchange)."""


class ScopedUserThrottle(ClientAddressMixin, ScopedRateThrottle):
    """A view's own rate (its throttle_scope), per user."""
