from django.contrib import admin
from django.db import models

from priorauth.fhir.models import PasEndpoint, PasExchange


@admin.register(PasEndpoint)
class PasEndpointAdmin(admin.ModelAdmin):
    list_display = ["payer", "base_url", "auth", "enabled", "updated_at"]
    list_filter = ["enabled", "auth"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fields = [
        "payer",
        "base_url",
        "auth",
        "username",
        "credential_env",
        "payer_identifier_system",
        "payer_identifier_value",
        "timeout_seconds",
        "enabled",
    ]


@admin.register(PasExchange)
class PasExchangeAdmin(admin.ModelAdmin):
    """The log is read-only: nobody edits what was exchanged."""

    list_display = [
        "at",
        "operation",
        "outcome",
        "request",
        "endpoint",
        "http_status",
        "duration_ms",
        "by",
    ]
    list_filter = ["operation", "outcome"]
    readonly_fields = [f.name for f in PasExchange._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
