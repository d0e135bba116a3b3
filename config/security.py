"""Response headers Django 5.2 does not set itself: a content security policy and a referrer and
permissions policy. Everything the app serves comes from the project (no CDN), so 'self' suffices;
the API docs UI (drf-spectacular's Swagger) needs inline styles and its own scripts only."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control
from rest_framework.permissions import BasePermission

# Answers that carry no PHI and may be cached: the static files (also served by WhiteNoise before this
# middleware sees them in production) and the liveness probe.
CACHEABLE_PREFIXES = ("/static/", "/api/v1/health")


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.csp = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.csp)
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        # Pages and API answers carry PHI: no browser or proxy keeps a copy (a shared computer's back
        # button, a disk cache).
        if not request.path.startswith(CACHEABLE_PREFIXES):
            patch_cache_control(response, no_store=True, private=True)
        return response


class SchemaAccess(BasePermission):
    """The API schema and docs: open in development, for signed-in users only in production (they
    map every endpoint and field an attacker would probe)."""

    def has_permission(self, request, view) -> bool:
        return not settings.PRODUCTION or bool(request.user and request.user.is_authenticated)
