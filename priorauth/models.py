"""Prior-authorization requests: practices and their people, patients, the request with its case and
workflow, the payer's answers, appeals, attachments, the audit trail and policy-change re-checks.

PHI lives in Patient, in AuthorizationRequest.case (built from the Patient and Provider records), in
attachments and in free-text notes. Nothing that identifies a patient goes into __str__, logs, audit
entries or Celery task arguments: those name records by primary key or reference number only.

The status machine is the TRANSITIONS table below; services.py is the only writer of status.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
import zoneinfo
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from coverage.validation import npi_is_valid
from policies.models import DenialCategory


class Role(models.TextChoices):
    BILLING = "billing", "Billing staff"
    PHYSICIAN = "physician", "Physician"
    ADMIN = "admin", "Admin"


@cache
def _time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in _time_zone_names():
        raise ValidationError("Must be an IANA time zone name, such as America/Chicago.")


def default_time_zone() -> str:
    return settings.TIME_ZONE


class Practice(models.Model):
    """An interventional pain practice (organization). Nobody sees another practice's data."""

    name = models.CharField(max_length=200, unique=True)
    address = models.TextField(blank=True, help_text="As printed on letters (street, city, state, ZIP).")
    phone = models.CharField(max_length=32, blank=True)
    fax = models.CharField(max_length=32, blank=True)
    npi = models.CharField("group NPI", max_length=10, blank=True)
    # The facility printed on the letterhead (issue 11): the practice's legal or clinic name as the
    # payer knows it, and its tax ID, which payers match claims and appeals against.
    facility_name = models.CharField(
        max_length=200, blank=True, help_text="As printed on the letterhead; empty: the practice name."
    )
    tin = models.CharField("tax ID (TIN)", max_length=10, blank=True, help_text="9 digits, e.g. 12-3456789.")
    # "Today", a deadline day, a due day and a letter's date are the practice's calendar days, not
    # the server's.
    time_zone = models.CharField(
        max_length=64,
        default=default_time_zone,
        validators=[validate_time_zone],
        help_text="The practice's IANA time zone (America/Chicago): its calendar days for deadlines and letters.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.npi and not npi_is_valid(self.npi):
            errors["npi"] = "Must be 10 digits with a valid NPI check digit."
        if self.tin and not re.fullmatch(r"\d{2}-?\d{7}", self.tin):
            errors["tin"] = "Must be 9 digits (12-3456789)."
        if errors:
            raise ValidationError(errors)

    @property
    def letterhead_name(self) -> str:
        return self.facility_name.strip() or self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def localdate(self, at: dt.datetime | None = None) -> dt.date:
        """The practice's calendar day at `at` (now)."""
        return timezone.localdate(at, self.zone)

    def localtime(self, at: dt.datetime | None = None) -> dt.datetime:
        return timezone.localtime(at, self.zone)


class Membership(models.Model):
    """A user's place in one practice and their role there."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    history = HistoricalRecords()

    class Meta:
        ordering = ["practice", "role", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}, {self.practice})"


class Patient(models.Model):
    """PHI. Identified outside the database by primary key only (see __str__)."""

    class Sex(models.TextChoices):
        FEMALE = "F", "Female"
        MALE = "M", "Male"
        OTHER = "X", "X"
        UNKNOWN = "U", "Unknown"

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="patients")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    birth_date = models.DateField()
    sex = models.CharField(max_length=1, choices=Sex.choices)
    member_id = models.CharField("payer member ID", max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["last_name", "first_name", "id"]

    def __str__(self) -> str:
        return f"Patient #{self.pk}"

    def clean(self) -> None:
        errors = {}
        for name in ("first_name", "last_name", "member_id"):
            if not (getattr(self, name) or "").strip():
                errors[name] = "Must not be empty."
        today = self.practice.localdate() if self.practice_id else timezone.localdate()
        if self.birth_date and self.birth_date >= today:
            errors["birth_date"] = "Must be a date in the past."
        if errors:
            raise ValidationError(errors)

    def case_part(self) -> dict[str, str]:
        return {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
            "member_id": self.member_id,
        }


class Provider(models.Model):
    """A physician of the practice who treats patients; `user` is their login, if they have one."""

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="providers")
    npi = models.CharField("NPI", max_length=10)
    name = models.CharField(max_length=200, help_text="As printed on letters, e.g. Dana Whitfield, MD.")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="provider"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["practice", "name"]
        constraints = [models.UniqueConstraint(fields=["practice", "npi"], name="provider_npi_unique_per_practice")]

    def __str__(self) -> str:
        return f"{self.name} (NPI {self.npi})"

    def clean(self) -> None:
        errors = {}
        if not npi_is_valid(self.npi or ""):
            errors["npi"] = "Must be 10 digits with a valid NPI check digit."
        if not (self.name or "").strip():
            errors["name"] = "Must not be empty."
        user_error = self.user_error()
        if user_error:
            errors["user"] = user_error
        if errors:
            raise ValidationError(errors)

    def user_error(self) -> str:
        """Why the linked user may not be this provider's (empty if they may). A provider's user signs
        letters in the provider's name: only a physician member of the provider's own practice."""
        if self.user_id is None:
            return ""
        membership = Membership.objects.filter(user_id=self.user_id).first()
        if membership is None or membership.practice_id != self.practice_id or membership.role != Role.PHYSICIAN:
            return "Must be a physician member of the provider's practice."
        return ""

    def save(self, *args, **kwargs) -> None:
        # The rule holds on every save (a script, a service, a fixture), not only in forms.
        user_error = self.user_error()
        if user_error:
            raise ValidationError({"user": user_error})
        super().save(*args, **kwargs)

    def case_part(self) -> dict[str, str]:
        return {"npi": self.npi, "name": self.name}


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    SENT = "sent", "Sent to payer"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    PENDED = "pended", "Pended for more information"
    APPEAL_IN_PROGRESS = "appeal_in_progress", "Appeal in progress"
    APPEAL_APPROVED = "appeal_approved", "Appeal approved"
    APPEAL_DENIED = "appeal_denied", "Appeal denied"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"


# The status machine, in one place: every legal (from, to). services._transition refuses any other.
# appeal_denied → appeal_in_progress is the next appeal level, which the service allows only when
# the payer's policy has one.
TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (Status.DRAFT, Status.SUBMITTED),
        (Status.SUBMITTED, Status.SENT),
        (Status.SENT, Status.APPROVED),
        (Status.SENT, Status.DENIED),
        (Status.SENT, Status.PENDED),
        (Status.PENDED, Status.SENT),  # the requested information was sent
        (Status.PENDED, Status.APPROVED),
        (Status.PENDED, Status.DENIED),
        (Status.DENIED, Status.APPEAL_IN_PROGRESS),
        (Status.APPEAL_IN_PROGRESS, Status.APPEAL_APPROVED),
        (Status.APPEAL_IN_PROGRESS, Status.APPEAL_DENIED),
        (Status.APPEAL_DENIED, Status.APPEAL_IN_PROGRESS),
        (Status.APPROVED, Status.EXPIRED),
        (Status.APPEAL_APPROVED, Status.EXPIRED),
        *(
            (s, Status.WITHDRAWN)
            for s in (
                Status.DRAFT,
                Status.SUBMITTED,
                Status.SENT,
                Status.PENDED,
                Status.DENIED,
                Status.APPEAL_IN_PROGRESS,
                Status.APPEAL_DENIED,
            )
        ),
    }
)

# Open and not yet decided by the payer: what a policy change re-checks.
UNDECIDED_STATUSES: tuple[str, ...] = (Status.DRAFT, Status.SUBMITTED, Status.SENT, Status.PENDED)
# Waiting for the payer, with a decision due date.
AWAITING_PAYER_STATUSES: tuple[str, ...] = (Status.SENT, Status.APPEAL_IN_PROGRESS)
# Denied, with a further appeal level that may still be filed.
APPEALABLE_STATUSES: tuple[str, ...] = (Status.DENIED, Status.APPEAL_DENIED)


class Decision(models.TextChoices):
    """The checker's decision (coverage.engine)."""

    MEETS_CRITERIA = "meets_criteria", "Meets criteria"
    INCOMPLETE = "incomplete", "Incomplete"
    NOT_MET = "not_met", "Not met"


def new_reference() -> str:
    return "PA-" + secrets.token_hex(5).upper()


class AuthorizationRequest(models.Model):
    """One prior-authorization request, from draft to the payer's final answer.

    `case` is the contract's case: its payer, patient and provider parts are built from the related
    records (services.case_build), the rest is what billing staff entered. `determination` and
    `policy_version` are stored at submission and never recomputed.
    """

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="requests")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="requests")
    payer = models.ForeignKey("policies.Payer", on_delete=models.PROTECT, related_name="authorization_requests")
    treating_physician = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="requests")
    reference = models.CharField(max_length=16, unique=True, default=new_reference, editable=False)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.DRAFT)
    expedited = models.BooleanField(default=False, help_text="From the case's administrative.expedited.")
    case = models.JSONField(default=dict)

    determination = models.JSONField(null=True, blank=True)
    # The decision on record: the determination's once submitted; for a draft, the checker's answer
    # when it was last saved. Policy-change re-checks compare against it.
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    # {criterion key: status} behind `decision`, so a re-check compares without loading a determination.
    criteria_statuses = models.JSONField(default=dict, blank=True)
    policy_version = models.ForeignKey(
        "policies.PolicyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="authorization_requests"
    )
    # The desk the letters are addressed to, from the payer directory (policies.PayerContact); a
    # letter cannot be signed until one is chosen.
    payer_contact = models.ForeignKey(
        "policies.PayerContact", null=True, blank=True, on_delete=models.PROTECT, related_name="authorization_requests"
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    first_sent_at = models.DateTimeField(null=True, blank=True, help_text="When the payer first received it.")
    sent_at = models.DateTimeField(null=True, blank=True, help_text="The latest sending (after a pend, the re-send).")
    decision_due_at = models.DateTimeField(
        null=True, blank=True, help_text="When the payer's (or the appeal's) decision is due; empty: no fixed deadline."
    )
    decision_due_basis = models.CharField(max_length=300, blank=True)
    appeal_file_by = models.DateField(null=True, blank=True, help_text="Last day to file the next appeal level.")
    # Set by staff when the payer sets no clock: the day to chase the payer (the dashboard's queue).
    follow_up_on = models.DateField(
        null=True, blank=True, help_text="When to follow up with the payer, if it sets no decision deadline."
    )
    history = HistoricalRecords(excluded_fields=["criteria_statuses"])

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["practice", "status"], name="pa_request_practice_status"),
            models.Index(fields=["payer", "status"], name="pa_request_payer_status"),
            models.Index(fields=["status", "decision_due_at"], name="pa_request_status_due"),
            models.Index(fields=["status", "appeal_file_by"], name="pa_request_status_file_by"),
            # The worklist's default order (newest first) within a practice, read a page at a time.
            models.Index(fields=["practice", "-created_at", "-id"], name="pa_request_practice_created"),
            # The dashboard's queues: a practice's requests in one status, soonest due / oldest first.
            models.Index(fields=["practice", "status", "decision_due_at"], name="pa_request_practice_st_due"),
            models.Index(fields=["practice", "status", "appeal_file_by"], name="pa_request_practice_st_file"),
            models.Index(fields=["practice", "status", "created_at"], name="pa_request_practice_st_created"),
            # The queues "submitted, not yet sent" (oldest submission first) and "pended" / the
            # worklist's days-waiting order (longest waiting first): read in index order, not sorted.
            models.Index(fields=["practice", "status", "submitted_at"], name="pa_request_practice_st_subm"),
            models.Index(fields=["practice", "status", "sent_at"], name="pa_request_practice_st_sent"),
            # What the payer has (its clock or the follow-up day) and the appeal clocks, across their
            # statuses in one ordered scan (the dashboard's queues and deadlines); partial, so only
            # the open requests are in them.
            models.Index(
                fields=["practice", "decision_due_at", "follow_up_on", "id"],
                name="pa_request_awaiting_due",
                condition=models.Q(status__in=AWAITING_PAYER_STATUSES),
            ),
            models.Index(
                fields=["practice", "appeal_file_by", "id"],
                name="pa_request_appealable_file_by",
                condition=models.Q(status__in=APPEALABLE_STATUSES),
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_undecided(self) -> bool:
        return self.status in UNDECIDED_STATUSES


class StatusTransition(models.Model):
    request = models.ForeignKey(AuthorizationRequest, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=24, choices=Status.choices, blank=True, help_text="Empty: created.")
    to_status = models.CharField(max_length=24, choices=Status.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty: the system (e.g. expiry).",
    )
    at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["request", "at", "id"]

    def __str__(self) -> str:
        return f"{self.request}: {self.from_status or '∅'} → {self.to_status}"


class Appeal(models.Model):
    """One appeal level of a request. The level's name, deadlines and terms are copied from the
    payer's AppealLevel record when the appeal starts, so later edits of the policy do not rewrite
    them (nor what the appeal's letters, signed or not, state)."""

    class Outcome(models.TextChoices):
        PENDING = "", "Pending"
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"

    request = models.ForeignKey(AuthorizationRequest, on_delete=models.CASCADE, related_name="appeals")
    level_order = models.PositiveIntegerField()
    level_name = models.CharField(max_length=200)
    decided_by = models.CharField(max_length=200, blank=True)
    expedited = models.BooleanField(default=False)
    filed_at = models.DateTimeField()
    filing_deadline = models.DateField(null=True, blank=True, help_text="Empty: the policy sets no fixed deadline.")
    decision_due_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    # The level's terms at filing (services.appeal_level_terms): filing and decision days, expedited
    # hours, the sources cited and their review status, as the appeal's letters state them.
    level_terms = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["request", "level_order"]
        constraints = [
            models.UniqueConstraint(fields=["request", "level_order"], name="appeal_level_unique_per_request")
        ]

    def __str__(self) -> str:
        return f"{self.request} appeal {self.level_order}. {self.level_name}"


class PayerDecision(models.Model):
    """The payer's answer to the request (appeal empty) or to one of its appeals."""

    class Kind(models.TextChoices):
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"
        PENDED = "pended", "Pended for more information"

    request = models.ForeignKey(AuthorizationRequest, on_delete=models.CASCADE, related_name="decisions")
    appeal = models.OneToOneField(Appeal, null=True, blank=True, on_delete=models.CASCADE, related_name="decision")
    received_at = models.DateTimeField(help_text="Date (and time) of the payer's decision notice.")
    decision = models.CharField(max_length=10, choices=Kind.choices)
    payer_reference = models.CharField(
        max_length=64, blank=True, help_text="The payer's own case or denial number on the notice."
    )
    authorization_number = models.CharField(max_length=64, blank=True)
    valid_from = models.DateField(null=True, blank=True)
    valid_to = models.DateField(null=True, blank=True)
    stated_reason = models.TextField(blank=True, help_text="The payer's own words; for a pend, what it asks for.")
    reason_category = models.CharField(max_length=32, choices=DenialCategory.choices, blank=True)
    # What the denial says, so the appeal can answer it point by point: the payer's own code or a
    # CARC (e.g. 50, 56), and each deficiency it names: {"criterion": key or "", "text": words}.
    denial_code = models.CharField(
        max_length=32, blank=True, help_text="The payer's reason code or CARC, when the notice gives one."
    )
    deficiencies = models.JSONField(default=list, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["request", "received_at", "id"]

    def __str__(self) -> str:
        return f"{self.request}: {self.decision} ({self.received_at:%Y-%m-%d})"


# The extension a stored attachment gets, from its checked type: never the uploader's own (a
# "report.pdf.html" or ".svg" stored as such could be served as something else).
ATTACHMENT_SUFFIXES = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png", "image/tiff": ".tif"}


def attachment_path(instance: Attachment, filename: str) -> str:
    # No part of the original name (it may hold a patient's name) goes into the stored path, and a
    # random name leaves nothing to guess.
    suffix = ATTACHMENT_SUFFIXES.get(instance.content_type, "")
    return f"priorauth/{instance.request.practice_id}/{instance.request_id}/{uuid.uuid4().hex}{suffix}"


class Attachment(models.Model):
    class Kind(models.TextChoices):
        IMAGING_REPORT = "imaging_report", "Imaging report"
        THERAPY_NOTE = "therapy_note", "Therapy notes"
        CLINICAL_NOTE = "clinical_note", "Clinical notes"
        PAYER_CORRESPONDENCE = "payer_correspondence", "Payer correspondence"
        OTHER = "other", "Other"

    request = models.ForeignKey(AuthorizationRequest, on_delete=models.CASCADE, related_name="attachments")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    file = models.FileField(upload_to=attachment_path, max_length=300)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["request", "uploaded_at", "id"]

    def __str__(self) -> str:
        return f"Attachment #{self.pk} ({self.get_kind_display()})"


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit entries are append-only.")

    def delete(self):
        raise PermissionError("Audit entries are append-only.")


class AuditEntry(models.Model):
    """Who did what to which PHI-bearing record, when and from where. Append-only; never holds PHI
    (objects are named by type and primary key). Users with entries cannot be deleted (PROTECT):
    deactivate them instead."""

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        READ = "read", "Read"
        LIST = "list", "List"
        UPDATE = "update", "Update"
        DOWNLOAD = "download", "Download"
        DELETE = "delete", "Delete"
        # Access itself (priorauth.access_audit): signing in and out, API tokens, refusals.
        SIGN_IN = "sign_in", "Sign-in"
        SIGN_IN_FAILED = "sign_in_failed", "Failed sign-in"
        SIGN_OUT = "sign_out", "Sign-out"
        TOKEN_USE = "token_use", "API token use"
        TOKEN_REVOKE = "token_revoke", "API token revoked"
        REFUSED = "refused", "Access refused"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    username = models.CharField(max_length=150, blank=True)
    practice = models.ForeignKey(Practice, null=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=16, choices=Action.choices)
    object_type = models.CharField(max_length=100, help_text="app_label.model")
    object_id = models.CharField(max_length=64, blank=True, help_text="Empty for a list.")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True, help_text="Non-PHI detail: the operation, listed ids.")

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action} {self.object_type}#{self.object_id}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise PermissionError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit entries are append-only.")


class RecheckRun(models.Model):
    """The re-check of a payer's undecided requests against one newly published policy version."""

    version = models.OneToOneField("policies.PolicyVersion", on_delete=models.CASCADE, related_name="recheck_run")
    previous = models.ForeignKey(
        "policies.PolicyVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    checked = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    elapsed_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Re-check for {self.version}"


class RecheckResult(models.Model):
    """A request whose decision changed under the new version, with the criteria that changed:
    [{"key", "label", "old_status", "new_status", "reason"}]."""

    run = models.ForeignKey(RecheckRun, on_delete=models.CASCADE, related_name="results")
    request = models.ForeignKey(AuthorizationRequest, on_delete=models.CASCADE, related_name="recheck_results")
    old_decision = models.CharField(max_length=16, choices=Decision.choices)
    new_decision = models.CharField(max_length=16, choices=Decision.choices)
    changed_criteria = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(null=True, blank=True, help_text="When billing staff marked it seen.")
    seen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    superseded = models.BooleanField(default=False, help_text="A later re-check of the same payer replaced it.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["run", "request"], name="recheck_result_unique_per_run")]
        indexes = [models.Index(fields=["request", "seen_at"], name="recheck_request_seen")]

    def __str__(self) -> str:
        return f"{self.request}: {self.old_decision} → {self.new_decision}"


# ---------------------------------------------------------------------------------------------
# Sending: the record of each sending of a request (or of an appeal) to the payer, made by the send
# step (services.request_send), with or without a letter's fax packet (priorauth/letters/).


class SendMethod(models.TextChoices):
    FAX = "fax", "Fax"
    PORTAL = "portal", "Payer portal"
    MAIL = "mail", "Mail"
    ELECTRONIC = "electronic", "Electronic (X12 278 / API)"


class Sending(models.Model):
    """One sending of the request (or of what a pend asked for) to the payer: how, when, and the
    SHA-256 of the packet sent, so the practice can show exactly what the payer received."""

    request = models.ForeignKey(AuthorizationRequest, on_delete=models.CASCADE, related_name="sendings")
    # Set when what went out was an appeal (its letter and enclosures) rather than the request.
    appeal = models.ForeignKey("Appeal", null=True, blank=True, on_delete=models.PROTECT, related_name="sendings")
    method = models.CharField(max_length=16, choices=SendMethod.choices, blank=True, help_text="Empty: not recorded.")
    sent_at = models.DateTimeField()
    packet = models.ForeignKey(
        "priorauth.FaxPacket", null=True, blank=True, on_delete=models.PROTECT, related_name="sendings"
    )
    packet_sha256 = models.CharField(max_length=64, blank=True)
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["request", "sent_at", "id"]

    def __str__(self) -> str:
        return f"{self.request}: sent {self.method or '(method not recorded)'} {self.sent_at:%Y-%m-%d %H:%M}"


# Notifications (priorauth/notifications.py): what is someone's and due, in the app and by e-mail.


class Notification(models.Model):
    """One in-app notice to one user, and whether it went out by e-mail. `key` makes a notice
    happen once: the daily digest is `digest:<date>`, a letter waiting for signature
    `letter-signature:<letter>:<revision>`; a job that runs twice finds the row and sends nothing.
    `title` names records by reference only (no PHI)."""

    class Kind(models.TextChoices):
        DIGEST = "digest", "Daily digest"
        LETTER_SIGNATURE = "letter_signature", "Letter waiting for signature"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    key = models.CharField(max_length=100)
    title = models.CharField(max_length=300)
    url = models.CharField(max_length=300, help_text="Where the notice leads (a path in the app).")
    count = models.PositiveIntegerField(default=0, help_text="Items the notice counts (the digest).")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="notification_once_per_key")]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_user_unread")]

    def __str__(self) -> str:
        return f"Notification #{self.pk} ({self.kind})"


class RequestAmendment(models.Model):
    """A correction of a submitted, sent or pended request (priorauth/amendments.py): who, when,
    why, what changed, and the determination it replaced. Each is a new revision of the request's
    determination; the earlier ones stay here."""

    request = models.ForeignKey(AuthorizationRequest, on_delete=models.CASCADE, related_name="amendments")
    number = models.PositiveIntegerField(
        help_text="Revision of the determination this amendment made (the submission's is 1)."
    )
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    reason = models.TextField()
    status_at_amendment = models.CharField(max_length=24, choices=Status.choices)
    # [{"path", "label", "old", "new"}]: PHI may be among the values; shown only on the request's page.
    changes = models.JSONField(default=list)
    previous_determination = models.JSONField(null=True, blank=True)
    previous_decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    previous_policy_version = models.ForeignKey(
        "policies.PolicyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    new_decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    sent_to_payer = models.BooleanField(default=False, help_text="A pended request went back to the payer with it.")

    class Meta:
        ordering = ["request", "number"]
        constraints = [models.UniqueConstraint(fields=["request", "number"], name="amendment_number_unique")]

    def __str__(self) -> str:
        return f"{self.request} amendment r{self.number}"


class PublishedPayerMetrics(models.Model):
    """The figures a payer published for a year under CMS-0057-F, entered by an admin from the
    payer's own page (its URL and date kept), shown beside the practice's own (priorauth/scorecard.py).
    Percentages 0–100; times in hours. Empty: the payer did not publish that figure."""

    payer = models.ForeignKey("policies.Payer", on_delete=models.PROTECT, related_name="published_metrics")
    year = models.PositiveIntegerField()
    source_url = models.URLField(max_length=500)
    published_on = models.DateField()
    standard_approved_pct = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    standard_denied_pct = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    approved_after_appeal_pct = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    approved_after_extension_pct = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    expedited_approved_pct = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    expedited_denied_pct = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    standard_avg_hours = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True)
    standard_median_hours = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True)
    expedited_avg_hours = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True)
    expedited_median_hours = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    entered_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["payer", "-year"]
        verbose_name_plural = "published payer metrics"
        constraints = [models.UniqueConstraint(fields=["payer", "year"], name="published_metrics_once_per_year")]

    def __str__(self) -> str:
        return f"{self.payer} {self.year}"


class RequestStatusCount(models.Model):
    """How many requests of a practice, treating physician and payer are in each status: what the
    dashboard's counts and the worklist's total read instead of counting a busy practice's rows on
    every page (bench/worklist_bench.py). Kept exact by database triggers on the request table
    (migration 0008_worklist_speed), in the same transaction as the change itself, so every
    writer (services, the admin, bulk_create, raw SQL) is counted; never written by the application.
    A count may reach 0 and stay as a row."""

    practice = models.ForeignKey(Practice, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    treating_physician = models.ForeignKey(Provider, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    payer = models.ForeignKey("policies.Payer", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    status = models.CharField(max_length=24, choices=Status.choices)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "treating_physician", "payer", "status"], name="request_status_count_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.practice_id}/{self.treating_physician_id}/{self.payer_id} {self.status}: {self.n}"


# The letters' models live in their own package (priorauth/letters/models.py). They are imported
# here, at the end, only so that Django, which loads each app's `models` module, registers them
# under this app (label `priorauth`, their tables and migrations unchanged); packet_pdf_path is
# named by migration 0003. Letter code imports them from priorauth.letters.models; the few core
# reads that still name them through this module are listed in tests/test_architecture.py.
from priorauth.letters.models import (  # noqa: E402, F401
    FaxPacket,
    Letter,
    LetterJob,
    LetterKind,
    LetterRevision,
    LetterStatus,
    packet_pdf_path,
)
