"""The letters' records: a request's prior-authorization and appeal letters, their revisions, the
render jobs that make their PDFs and the fax packets built from a signed revision.

They belong to the `priorauth` app (app label, table names and migrations as before): Django loads
them through the import at the end of priorauth/models.py. They point at the request and the appeal
by name ("priorauth.AuthorizationRequest"), so this module imports nothing of the requests' models.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

# ---------------------------------------------------------------------------------------------
# Letters: the prior-authorization letter and the appeal letters of a request. A letter has
# revisions; a signed revision never changes (an edit makes a new one that supersedes it), and
# both stay. The PDFs are rendered by Celery tasks (priorauth.letters.tasks) into the default storage.


class LetterKind(models.TextChoices):
    PRIOR_AUTHORIZATION = "prior_authorization", "Prior-authorization request / letter of medical necessity"
    APPEAL = "appeal", "Appeal letter"


class LetterStatus(models.TextChoices):
    DRAFTING = "drafting", "Drafting"
    DRAFT_READY = "draft_ready", "Draft ready for review"
    AWAITING_SIGNATURE = "awaiting_signature", "Awaiting the physician's signature"
    SIGNING = "signing", "Signed; final PDF being made"
    SIGNED = "signed", "Signed"
    FAILED = "failed", "Failed (retry)"


class Letter(models.Model):
    request = models.ForeignKey("priorauth.AuthorizationRequest", on_delete=models.CASCADE, related_name="letters")
    kind = models.CharField(max_length=24, choices=LetterKind.choices)
    appeal = models.ForeignKey(
        "priorauth.Appeal",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="letters",
        help_text="The appeal level (appeal letters only).",
    )
    status = models.CharField(max_length=24, choices=LetterStatus.choices, default=LetterStatus.DRAFTING)
    current_revision = models.OneToOneField(
        "LetterRevision", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["request", "kind", "appeal__level_order", "id"]
        constraints = [
            # Asking twice for a letter finds the first one: at most one per request (PA) or appeal level.
            models.UniqueConstraint(
                fields=["request", "kind"], condition=models.Q(appeal__isnull=True), name="letter_unique_per_request"
            ),
            models.UniqueConstraint(
                fields=["appeal"], condition=models.Q(appeal__isnull=False), name="letter_unique_per_appeal"
            ),
            models.CheckConstraint(
                condition=models.Q(kind="appeal", appeal__isnull=False)
                | models.Q(kind="prior_authorization", appeal__isnull=True),
                name="letter_appeal_iff_appeal_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"Letter #{self.pk} ({self.kind})"


def letter_pdf_path(revision: LetterRevision, stage: str) -> str:
    """A new unguessable name for each render (no PHI, no sequence to walk): the PDF is only ever
    reached through the revision that records it, by a permission-checked download."""
    letter = revision.letter
    return f"letters/{letter.request.practice_id}/{letter.pk}/{uuid.uuid4().hex}-{stage}.pdf"


class LetterRevision(models.Model):
    """One version of a letter's narrative, its draft PDF and, once signed, its final PDF.

    paragraphs: [{"key", "heading", "sentences": [{"text", "citations": [evidence keys], "note"}]}]
    (see priorauth/letters/compose.py); null until the first draft is composed.
    """

    # Set once, by the final render, on an already signed revision; nothing else changes after signing.
    COMPLETES_SIGNATURE = ("final_pdf", "final_sha256")

    letter = models.ForeignKey(Letter, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    paragraphs = models.JSONField(null=True, blank=True)
    enclosures = models.JSONField(default=list, blank=True)
    draft_pdf = models.FileField(max_length=300, blank=True)
    draft_sha256 = models.CharField(max_length=64, blank=True)
    final_pdf = models.FileField(max_length=300, blank=True)
    final_sha256 = models.CharField(max_length=64, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    # The signing gate (issue 11): why the physician signed although required criteria were not met
    # or not documented (which ones in sign_overridden), and that unverified sources were acknowledged.
    sign_override_reason = models.TextField(blank=True)
    sign_overridden = models.JSONField(default=list, blank=True)
    unverified_acknowledged = models.BooleanField(default=False)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["letter", "number"]
        constraints = [models.UniqueConstraint(fields=["letter", "number"], name="letter_revision_number_unique")]

    def __str__(self) -> str:
        return f"Letter #{self.letter_id} r{self.number}"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            stored = LetterRevision.objects.filter(pk=self.pk).first()
            if stored is not None and stored.is_signed:
                self._refuse_change_of_signed(stored)
        super().save(*args, **kwargs)

    def _refuse_change_of_signed(self, stored: LetterRevision) -> None:
        for f in self._meta.concrete_fields:
            old, new = f.value_from_object(stored), f.value_from_object(self)
            if f.name in self.COMPLETES_SIGNATURE and not old:
                continue
            if str(old or "") != str(new or ""):
                raise ValidationError(
                    {f.name: "A signed letter revision cannot be changed; edit the letter to make a new revision."}
                )

    def delete(self, *args, **kwargs):
        if self.is_signed:
            raise ValidationError("A signed letter revision cannot be deleted.")
        return super().delete(*args, **kwargs)


class LetterJob(models.Model):
    """One render of one revision (its draft or its final PDF): what staff see of the worker's
    progress, attempts and last error, and what a retry restarts."""

    class Stage(models.TextChoices):
        DRAFT = "draft", "Draft PDF"
        FINAL = "final", "Final PDF"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    revision = models.ForeignKey(LetterRevision, on_delete=models.CASCADE, related_name="jobs")
    stage = models.CharField(max_length=8, choices=Stage.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    render_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="The last failure, for staff (no PHI: the error type and message).")

    class Meta:
        ordering = ["revision", "stage"]
        constraints = [models.UniqueConstraint(fields=["revision", "stage"], name="letter_job_unique_per_stage")]

    def __str__(self) -> str:
        return f"{self.revision} {self.stage}: {self.state}"


# ---------------------------------------------------------------------------------------------
# The fax-ready packet of a signed letter (priorauth/letters/packet.py); the send step records it
# on the request's Sending (priorauth/models.py).


def packet_pdf_path(packet: FaxPacket, filename: str) -> str:
    # No PHI in the stored name: the practice, the letter and a random part only.
    return f"packets/{packet.letter.request.practice_id}/{packet.letter_id}/{uuid.uuid4().hex}.pdf"


class FaxPacket(models.Model):
    """One PDF as it goes to the payer: a cover sheet, the signed letter, an index of the enclosures
    and the enclosures themselves. Never changed once built (a new choice of attachments builds a
    new packet); `sha256` is the stored file's, and the send step copies it onto its Sending."""

    letter = models.ForeignKey(Letter, on_delete=models.CASCADE, related_name="packets")
    revision = models.ForeignKey(LetterRevision, on_delete=models.PROTECT, related_name="packets")
    file = models.FileField(upload_to=packet_pdf_path, max_length=300)
    sha256 = models.CharField(max_length=64)
    page_count = models.PositiveIntegerField(help_text="Including the cover sheet.")
    # What the index lists and what was merged, from the same list: [{"attachment", "kind", "title",
    # "content_type", "sha256", "pages", "first_page", "last_page"}], in packet order.
    enclosures = models.JSONField(default=list, blank=True)
    recipient = models.JSONField(default=dict, blank=True, help_text="The cover sheet's To: name, department, fax.")
    build_seconds = models.FloatField(null=True, blank=True)
    built_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    built_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["letter", "-built_at", "-id"]

    def __str__(self) -> str:
        return f"Packet #{self.pk} of letter #{self.letter_id} r{self.revision.number if self.revision_id else '?'}"
