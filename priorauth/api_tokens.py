"""API tokens (django-rest-knox): expiring, revocable, audited.

A token ends like a browser session: after SESSION_IDLE_TIMEOUT without use (knox's TOKEN_TTL,
renewed on use by AUTO_REFRESH) and in any case SESSION_COOKIE_AGE after it was issued
(AUTO_REFRESH_MAX_TTL). Only a hash of it is stored. Signing out revokes the token used; changing a
password or deactivating a user revokes all of theirs. Every authenticated use is written to the
audit trail (priorauth.access_audit), naming the token by its non-secret key prefix.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from knox.models import AuthToken
from rest_framework.request import Request

from priorauth import access_audit
from priorauth.models import AuditEntry

A = AuditEntry.Action


class AuditedTokenAuthentication(TokenAuthentication):
    """knox's authentication, with each successful use queued for the audit trail."""

    def authenticate(self, request: Request):
        result = super().authenticate(request)
        if result is not None:
            user, token = result
            access_audit.defer(
                request._request,
                user=user,
                action=A.TOKEN_USE,
                obj=user,
                detail=f"token {token.token_key} {request.method} {request.path}"[:500],
            )
        return result


class AuditedTokenScheme(OpenApiAuthenticationExtension):
    """The schema's description of it: the same header as DRF's tokens had."""

    target_class = "priorauth.api_tokens.AuditedTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'An API token from POST /api/v1/auth/token, with the prefix "Token": `Token <token>`.',
        }


# ---------------------------------------------------------------------------------------------
# A password change or a deactivation revokes every token of the user.

User = get_user_model()


@receiver(pre_save, sender=User, dispatch_uid="priorauth.tokens_revoke_check")
def _remember_credentials(sender, instance, update_fields=None, **kwargs) -> None:
    if instance.pk is None or (update_fields is not None and not {"password", "is_active"} & set(update_fields)):
        instance._tokens_revoke = False
        return
    stored = User.objects.filter(pk=instance.pk).values("password", "is_active").first()
    instance._tokens_revoke = stored is not None and (
        stored["password"] != instance.password or (stored["is_active"] and not instance.is_active)
    )


@receiver(post_save, sender=User, dispatch_uid="priorauth.tokens_revoke")
def _revoke_tokens(sender, instance, created: bool, **kwargs) -> None:
    if getattr(instance, "_tokens_revoke", False):
        count, _ = AuthToken.objects.filter(user=instance).delete()
        if count:
            from priorauth.services import audit_record

            reason = "deactivated" if not instance.is_active else "password changed"
            audit_record(user=instance, action=A.TOKEN_REVOKE, obj=instance, detail=f"all ({count}): {reason}")
        instance._tokens_revoke = False
