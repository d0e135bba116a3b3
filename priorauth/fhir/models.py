"""A payer's PAS endpoint (kept by admins, off by default) and the log of every PAS exchange.

Neither holds PHI: an exchange names the request by primary key and the payer's answer by its
X12 review action code, never a patient, a member ID or a bundle's content.
"""

from __future__ import annotations

from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class PasEndpoint(models.Model):
    """Where a payer takes `Claim/$submit`, with how we authenticate. Secrets are not stored here:
    `credential_env` names the environment variable that holds the token or password, so a database
    dump or the admin history never shows one."""

    class Auth(models.TextChoices):
        NONE = "none", "None"
        BEARER = "bearer", "Bearer token"
        BASIC = "basic", "HTTP Basic (username + password)"

    payer = models.OneToOneField("policies.Payer", on_delete=models.CASCADE, related_name="pas_endpoint")
    base_url = models.URLField(
        max_length=300,
        help_text="The payer's FHIR base URL; requests go to {base_url}/Claim/$submit. HTTPS.",
    )
    auth = models.CharField(max_length=8, choices=Auth.choices, default=Auth.BEARER)
    username = models.CharField(max_length=150, blank=True, help_text="For HTTP Basic only.")
    credential_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="Name of the environment variable holding the bearer token or the Basic password.",
    )
    payer_identifier_system = models.URLField(
        max_length=200,
        blank=True,
        help_text="e.g. urn:oid:2.16.840.1.113883.6.300 (NAIC) for the insurer Organization.",
    )
    payer_identifier_value = models.CharField(max_length=64, blank=True)
    timeout_seconds = models.PositiveIntegerField(default=30)
    enabled = models.BooleanField(default=False, help_text="Off by default: staff can submit only when enabled.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["payer__code"]
        verbose_name = "PAS endpoint"

    def __str__(self) -> str:
        return f"{self.payer.code}: {self.base_url}"

    def clean(self) -> None:
        errors = {}
        url = urlparse(self.base_url or "")
        # Plain HTTP only to this machine (a local stand-in in tests); a payer is reached over HTTPS.
        if url.scheme != "https" and not (url.scheme == "http" and url.hostname in LOOPBACK_HOSTS):
            errors["base_url"] = "Must be an https:// URL."
        if self.auth != self.Auth.NONE and not self.credential_env:
            errors["credential_env"] = "Name the environment variable that holds the credential."
        if self.auth == self.Auth.BASIC and not self.username:
            errors["username"] = "HTTP Basic needs a username."
        if bool(self.payer_identifier_system) != bool(self.payer_identifier_value):
            errors["payer_identifier_value"] = "Give both the identifier system and its value, or neither."
        if errors:
            raise ValidationError(errors)

    @property
    def submit_url(self) -> str:
        return self.base_url.rstrip("/") + "/Claim/$submit"


class PasExchange(models.Model):
    """One PAS exchange: a submission, an imported response, a notification. Append-only, no PHI."""

    class Operation(models.TextChoices):
        SUBMIT = "submit", "Claim/$submit"
        IMPORT = "import", "Response imported"
        NOTIFICATION = "notification", "Subscription notification"
        FETCH = "fetch", "ClaimResponse read (after an id-only notification)"

    class Outcome(models.TextChoices):
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"
        PENDED = "pended", "Pended"
        RECEIVED = "received", "Received, no decision"
        REJECTED = "rejected", "Refused (invalid or error response)"
        FAILED = "failed", "Transport failure"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    endpoint = models.ForeignKey(
        PasEndpoint,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="exchanges",
    )
    request = models.ForeignKey(
        "priorauth.AuthorizationRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pas_exchanges",
    )
    operation = models.CharField(max_length=16, choices=Operation.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    http_status = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    detail = models.CharField(
        max_length=300,
        blank=True,
        help_text="Non-PHI detail: review action code, error code, problem count.",
    )

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "PAS exchange"

    def __str__(self) -> str:
        return f"PAS {self.operation} #{self.pk}: {self.outcome}"
