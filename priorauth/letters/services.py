"""Writes of letters: ask for a draft, edit its narrative, hand it to the physician, sign it, retry
a failed render, and the render steps that the Celery tasks (priorauth.letters.tasks) call.

Who may do what: the practice's billing staff ask for drafts and hand them for signature; the
treating physician (only that physician's user) edits the narrative and signs. Renders are
idempotent: a LetterJob row per revision and stage, a row lock around the render, and one fixed
file name per revision and stage, so a task that runs twice (redelivered after a worker died, or
retried) leaves one letter, one revision and one file.

The LetterJob rows, not the broker, are the record of which renders are owed: Redis runs without
persistence, so a restart empties its queues, and a render asked for while it is down never reaches
it. Such a job stays queued in the database and letter_jobs_resend (every minute, from Celery beat or
cron) sends it again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from policies.models import EvidenceSource
from priorauth import permissions, stored_files
from priorauth.letters import compose as letters
from priorauth.letters import pdf
from priorauth.letters.models import Letter, LetterJob, LetterKind, LetterRevision, LetterStatus, letter_pdf_path
from priorauth.models import Appeal, AuditEntry, AuthorizationRequest
from priorauth.permissions import User
from priorauth.services import audit_change

logger = logging.getLogger(__name__)

Stage = LetterJob.Stage
State = LetterJob.State
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
MAX_SENTENCE = 2000


def _publish(stage: str, revision_id: int) -> bool:
    """Hand one render to the broker. An unreachable broker fails neither the caller nor the job:
    the job stays queued in the database for letter_jobs_resend to send again."""
    from kombu.exceptions import OperationalError as BrokerUnavailable

    from priorauth.letters import tasks

    task = tasks.render_letter_draft if stage == Stage.DRAFT else tasks.render_letter_final
    try:
        task.delay(revision_id)
    except BrokerUnavailable as exc:
        logger.warning(
            "letter render not sent, broker unavailable (resent later): revision %s %s: %s", revision_id, stage, exc
        )
        return False
    return True


def _enqueue(stage: str, revision_id: int) -> None:
    transaction.on_commit(lambda: _publish(stage, revision_id))


def _queue_job(revision: LetterRevision, stage: str) -> LetterJob:
    job, _ = LetterJob.objects.get_or_create(revision=revision, stage=stage)
    job.state, job.queued_at, job.started_at, job.finished_at, job.error = State.QUEUED, timezone.now(), None, None, ""
    job.save()
    _enqueue(stage, revision.pk)
    return job


def _locked_letter(letter: Letter) -> Letter:
    return (
        Letter.objects.select_for_update(of=("self",))
        .select_related("request__treating_physician", "current_revision")
        .get(pk=letter.pk)
    )


# ---------------------------------------------------------------------------------------------
# Staff and physician actions


def letter_request_draft(
    *,
    request: AuthorizationRequest,
    kind: str,
    by: User,
    appeal: Appeal | None = None,
    http_request: HttpRequest | None = None,
) -> tuple[Letter, bool]:
    """The request's letter of that kind (the appeal's, for an appeal letter), created with its
    first draft queued if there is none yet. Returns (letter, created)."""
    # Who may (priorauth.permissions): the practice's billing staff and the treating physician, the
    # latter a physician member of the practice still (a provider's link alone is not a right).
    permissions.require(by, "letter.draft", request)
    letter, created = _letter_draft_find_or_create(request=request, kind=kind, by=by, appeal=appeal)
    action = AuditEntry.Action.CREATE if created else AuditEntry.Action.READ
    audit_change(by, action, letter, http_request, f"request {request.pk} {letter.kind}")
    return letter, created


def _letter_draft_find_or_create(
    *, request: AuthorizationRequest, kind: str, by: User, appeal: Appeal | None
) -> tuple[Letter, bool]:
    if kind not in LetterKind.values:
        raise ValidationError({"kind": f"Must be one of: {', '.join(LetterKind.values)}."})
    if kind == LetterKind.APPEAL:
        if appeal is None:
            raise ValidationError({"appeal": "An appeal letter needs the appeal (level) it is for."})
        if appeal.request_id != request.pk:
            raise ValidationError({"appeal": "No such appeal of this request."})
        if letters.denial_for(appeal) is None:
            raise ValidationError({"appeal": "There is no recorded denial for this appeal to answer."})
    elif appeal is not None:
        raise ValidationError({"appeal": "Only an appeal letter names an appeal."})
    if not request.determination or request.policy_version_id is None:
        raise ValidationError({"request": "Submit the request first: a letter cites its stored determination."})
    _require_instrument(request=request, kind=kind, appeal=appeal)

    lookup = {"request": request, "kind": kind, "appeal": appeal}
    existing = Letter.objects.filter(**lookup).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            letter = Letter.objects.create(**lookup, status=LetterStatus.DRAFTING, created_by=by)
            revision = LetterRevision.objects.create(letter=letter, number=1, created_by=by)
            letter.current_revision = revision
            letter.save(update_fields=["current_revision", "updated_at"])
            _queue_job(revision, Stage.DRAFT)
    except IntegrityError:
        # Asked twice at the same moment: the other request made it.
        return Letter.objects.get(**lookup), False
    return letter, True


# Bounds on what a physician may write into a letter (settings LETTER_MAX_*; README "Input limits").
# WeasyPrint's layout time grows faster than the text (a 100,000-character item took 11 minutes), so
# every part is bounded in number and length, and the whole narrative in total.
LETTER_LIMIT_DEFAULTS = {
    "LETTER_MAX_PARAGRAPHS": 30,
    "LETTER_MAX_SENTENCES": 30,  # per paragraph
    "LETTER_MAX_SENTENCE_CHARS": MAX_SENTENCE,
    "LETTER_MAX_ITEMS": 30,  # per paragraph
    "LETTER_MAX_ITEM_CHARS": 500,
    "LETTER_MAX_HEADING_CHARS": 200,
    "LETTER_MAX_CITATIONS": 20,  # per sentence
    "LETTER_MAX_ENCLOSURES": 30,
    "LETTER_MAX_ENCLOSURE_CHARS": 200,
    "LETTER_MAX_TEXT_CHARS": 40_000,  # headings, sentences, items and enclosures together
}


def letter_limits() -> dict[str, int]:
    return {name: getattr(settings, name, default) for name, default in LETTER_LIMIT_DEFAULTS.items()}


def _unstorable(text: str) -> bool:
    """NUL or a lone surrogate: PostgreSQL stores neither (the narrative is jsonb)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


UNSTORABLE = "Must not contain NUL characters or lone surrogates."


def _text_error(value: Any, limit: int, *, blank: bool = False) -> str | None:
    """The problem of one text of the narrative, or None."""
    if not isinstance(value, str) or (not blank and not value.strip()):
        return "Must be a non-empty text." if not blank else "Must be a text."
    if len(value) > limit:
        return f"Must be at most {limit} characters."
    if _unstorable(value):
        return UNSTORABLE
    return None


def _list_error(value: Any, limit: int, what: str) -> str | None:
    if not isinstance(value, list):
        return f"Must be a list of {what}."
    if len(value) > limit:
        return f"Must have at most {limit} {what}."
    return None


def _require_instrument(*, request: AuthorizationRequest, kind: str, appeal: Appeal | None) -> None:
    """Each program's own instrument (domain.md §3, §5): refuse a letter the program has no use for,
    and say what staff do instead."""
    from policies.models import AppealLevel, DenialCategory, Payer

    program = request.payer.program
    gaps = {g["key"] for g in letters.required_gaps(request.determination or {})}
    if kind == LetterKind.PRIOR_AUTHORIZATION and program == Payer.Program.MEDICARE:
        raise ValidationError(
            {
                "kind": "Original Medicare has no prior authorization for this procedure: there is no letter to send before it. "
                "Check the CED conditions on the request instead (enrolled in the CMS-approved study; Q0, Z00.6 and the NCT number ready for the claim). "
                "After a claim denial, draft the redetermination request (an appeal letter)."
            }
        )
    if kind != LetterKind.APPEAL or appeal is None:
        return
    level = AppealLevel.objects.filter(policy__payer=request.payer, order=appeal.level_order).first()
    if level is not None and not level.provider_files:
        raise ValidationError(
            {
                "appeal": f"{level.name}: the payer forwards the case to this level itself; the provider files nothing, so no letter is drafted."
            }
        )
    if program == Payer.Program.MEDICARE:
        denial = letters.denial_for(appeal)
        if denial is not None and denial.reason_category == DenialCategory.CED_CODING:
            raise ValidationError(
                {
                    "appeal": "A claim returned for CED coding (NCT number, Q0, Z00.6) is unprocessable, not denied: correct the claim and resubmit it; it is not appealed."
                }
            )
        if "ced_study_enrollment" in gaps:
            raise ValidationError(
                {
                    "appeal": "The patient is not enrolled in a CMS-approved study, so Medicare does not cover the procedure for them and an appeal cannot succeed. "
                    "The routes are enrolment at a study site, or an Advance Beneficiary Notice (CMS-R-131) signed before the service and modifier GA on the claim."
                }
            )


def sign_blockers(
    letter: Letter, revision: LetterRevision, *, override_reason: str, acknowledge_unverified: bool
) -> dict[str, str]:
    """Why this revision cannot be signed yet, by the field of the sign call that answers it."""
    errors: dict[str, str] = {}
    findings = letters.staff_findings(letter, revision)
    if findings["addressee_missing"]:
        errors["payer_contact"] = (
            "No letter is final without a named addressee: choose the payer's desk on the request "
            "(its entry in the payer directory needs a name and an address)."
        )
    gaps = findings["gaps"]
    if gaps and not override_reason.strip():
        named = "; ".join(f"{g['label']} ({'not met' if g['status'] == 'not_met' else 'not documented'})" for g in gaps)
        errors["override_reason"] = (
            f"Required criteria not met or not documented: {named}. Document them on the request, or sign with an "
            "override_reason saying why the letter should go as it is (the audit trail keeps it)."
        )
    if findings["unverified"] and not acknowledge_unverified:
        errors["acknowledge_unverified"] = (
            f"The draft has {len(findings['unverified'])} statement(s) resting on unverified sources (listed on the draft page): "
            "check them and sign with acknowledge_unverified set to true."
        )
    return errors


def paragraphs_errors(value: Any, *, known_keys: set[str]) -> dict[str, str]:
    """Problems of an edited narrative, keyed by the field's path (paragraphs[1].sentences[0].text)."""
    limits = letter_limits()
    errors: dict[str, str] = {}
    if not isinstance(value, list) or not value:
        return {"paragraphs": "Must be a non-empty list of paragraphs."}
    if len(value) > limits["LETTER_MAX_PARAGRAPHS"]:
        return {"paragraphs": f"Must have at most {limits['LETTER_MAX_PARAGRAPHS']} paragraphs."}
    seen: set[str] = set()
    for i, p in enumerate(value):
        at = f"paragraphs[{i}]"
        if not isinstance(p, dict):
            errors[at] = "Must be an object with key, heading and sentences."
            continue
        unknown = set(p) - {"key", "heading", "sentences", "items"}
        if unknown:
            errors[at] = f"Unknown field(s): {', '.join(sorted(map(ascii, unknown)))}."
        key = p.get("key")
        if not isinstance(key, str) or not _SLUG.match(key) or len(key) > 64:
            errors[f"{at}.key"] = "Must be a slug (lower-case letters, digits, - and _) of at most 64 characters."
        elif key in seen:
            errors[f"{at}.key"] = f"Duplicate paragraph {key!r}."
        seen.add(key)
        if problem := _text_error(p.get("heading", ""), limits["LETTER_MAX_HEADING_CHARS"], blank=True):
            errors[f"{at}.heading"] = problem
        items = p.get("items", [])
        if problem := _list_error(items, limits["LETTER_MAX_ITEMS"], "items"):
            errors[f"{at}.items"] = problem
        else:
            for k, item in enumerate(items):
                if problem := _text_error(item, limits["LETTER_MAX_ITEM_CHARS"]):
                    errors[f"{at}.items[{k}]"] = problem
        sentences = p.get("sentences")
        if not isinstance(sentences, list) or not sentences:
            errors[f"{at}.sentences"] = "Must be a non-empty list of sentences."
            continue
        if len(sentences) > limits["LETTER_MAX_SENTENCES"]:
            errors[f"{at}.sentences"] = f"Must have at most {limits['LETTER_MAX_SENTENCES']} sentences."
            continue
        for j, s in enumerate(sentences):
            sat = f"{at}.sentences[{j}]"
            if not isinstance(s, dict):
                errors[sat] = "Must be an object with text and citations."
                continue
            unknown = set(s) - {"text", "citations", "note"}
            if unknown:
                errors[sat] = f"Unknown field(s): {', '.join(sorted(map(ascii, unknown)))}."
            if problem := _text_error(s.get("text"), limits["LETTER_MAX_SENTENCE_CHARS"]):
                errors[f"{sat}.text"] = problem
            cites = s.get("citations", [])
            if not isinstance(cites, list) or not all(isinstance(k, str) for k in cites):
                errors[f"{sat}.citations"] = "Must be a list of evidence keys."
            elif len(cites) > limits["LETTER_MAX_CITATIONS"]:
                errors[f"{sat}.citations"] = f"Must have at most {limits['LETTER_MAX_CITATIONS']} evidence keys."
            elif unknown_keys := [k for k in cites if k not in known_keys]:
                errors[f"{sat}.citations"] = f"Unknown evidence key(s): {', '.join(map(ascii, unknown_keys))}."
    return errors


def enclosures_errors(value: Any) -> dict[str, str]:
    """Problems of an edited list of enclosures, keyed like paragraphs_errors."""
    limits = letter_limits()
    if problem := _list_error(value, limits["LETTER_MAX_ENCLOSURES"], "enclosures"):
        return {"enclosures": problem}
    return {
        f"enclosures[{k}]": problem
        for k, item in enumerate(value)
        if (problem := _text_error(item, limits["LETTER_MAX_ENCLOSURE_CHARS"]))
    }


def narrative_length(paragraphs: list[dict[str, Any]], enclosures: list[str]) -> int:
    """Characters of a (valid) narrative: headings, sentences, items and enclosures."""
    return sum(
        len(p.get("heading", "")) + sum(len(s["text"]) for s in p["sentences"]) + sum(map(len, p.get("items", [])))
        for p in paragraphs
    ) + sum(map(len, enclosures))


def _with_notes(paragraphs: list[dict[str, Any]], previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep a sentence's "unverified" note while its text and sources are unchanged; an edited
    sentence is the physician's own and carries none."""
    notes = {
        (s["text"], tuple(s.get("citations", []))): s.get("note", "") for p in previous for s in p.get("sentences", [])
    }
    return [
        {
            "key": p["key"],
            "heading": p.get("heading", ""),
            "items": p.get("items", []),
            "sentences": [
                {
                    "text": s["text"].strip(),
                    "citations": s.get("citations", []),
                    "note": notes.get((s["text"].strip(), tuple(s.get("citations", []))), ""),
                }
                for s in p["sentences"]
            ],
        }
        for p in paragraphs
    ]


def letter_edit(
    *, letter: Letter, by: User, paragraphs: Any, enclosures: Any = None, http_request: HttpRequest | None = None
) -> LetterRevision:
    """The treating physician's edit of the narrative. An unsigned revision is changed in place and
    its draft rendered again; a signed one stays as it is and a new revision supersedes it."""
    known = set(EvidenceSource.objects.values_list("key", flat=True))
    errors = paragraphs_errors(paragraphs, known_keys=known)
    if enclosures is not None:
        errors.update(enclosures_errors(enclosures))
    if not errors:
        limit = letter_limits()["LETTER_MAX_TEXT_CHARS"]
        if (total := narrative_length(paragraphs, enclosures or [])) > limit:
            errors["paragraphs"] = f"The letter's text is {total} characters; the limit is {limit}."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        letter = _locked_letter(letter)
        permissions.require(by, "letter.edit", letter)
        current = LetterRevision.objects.select_for_update(of=("self",)).get(pk=letter.current_revision_id)
        if current.paragraphs is None:
            raise ValidationError({"status": "The first draft is still being written; edit it once it is ready."})
        if letter.status == LetterStatus.SIGNING:
            raise ValidationError({"status": "The signed letter's final PDF is being made; edit it once it is signed."})
        paragraphs = _with_notes(paragraphs, current.paragraphs)
        enclosures = current.enclosures if enclosures is None else [x.strip() for x in enclosures]
        now = timezone.now()
        if current.is_signed:
            revision = LetterRevision.objects.create(
                letter=letter,
                number=current.number + 1,
                paragraphs=paragraphs,
                enclosures=enclosures,
                supersedes=current,
                created_by=by,
                edited_by=by,
                edited_at=now,
            )
            letter.current_revision = revision
        else:
            revision = current
            if revision.draft_pdf:  # once this commits: a rollback would leave the row naming a missing file
                stored_files.deleted_on_commit(revision.draft_pdf.storage, revision.draft_pdf.name)
            revision.paragraphs, revision.enclosures = paragraphs, enclosures
            revision.draft_pdf, revision.draft_sha256 = None, ""
            revision.edited_by, revision.edited_at = by, now
            revision.save()
        letter.status = LetterStatus.DRAFTING
        letter.save(update_fields=["current_revision", "status", "updated_at"])
        _queue_job(revision, Stage.DRAFT)
        audit_change(by, AuditEntry.Action.UPDATE, letter, http_request, f"revision {revision.number}")
        return revision


def letter_request_signature(*, letter: Letter, by: User, http_request: HttpRequest | None = None) -> Letter:
    """Billing staff hand a reviewed draft to the treating physician."""
    with transaction.atomic():
        letter = _locked_letter(letter)
        permissions.require(by, "letter.hand_over", letter)
        if letter.status != LetterStatus.DRAFT_READY:
            raise ValidationError(
                {
                    "status": f"Only a ready draft can be handed for signature (the letter is {letter.get_status_display().lower()})."
                }
            )
        letter.status = LetterStatus.AWAITING_SIGNATURE
        letter.save(update_fields=["status", "updated_at"])
        audit_change(by, AuditEntry.Action.UPDATE, letter, http_request, "request signature")
        return letter


def letter_sign(
    *,
    letter: Letter,
    by: User,
    override_reason: str = "",
    acknowledge_unverified: bool = False,
    http_request: HttpRequest | None = None,
) -> LetterRevision:
    """The treating physician signs the current draft; the final PDF is rendered from it.

    The signing gate (issue 11): refused, naming each reason, while the request names no addressee,
    while a required criterion is not met or not documented (unless override_reason says why the
    physician signs anyway), and while the draft rests on unverified sources the physician has not
    acknowledged. The override and the acknowledgement stay on the signed revision."""
    if not isinstance(override_reason, str) or len(override_reason) > 2000:
        raise ValidationError({"override_reason": "Must be a text of at most 2000 characters."})
    if not isinstance(acknowledge_unverified, bool):
        raise ValidationError({"acknowledge_unverified": "Must be true or false."})
    with transaction.atomic():
        letter = _locked_letter(letter)
        permissions.require(by, "letter.sign", letter)
        if letter.status not in (LetterStatus.DRAFT_READY, LetterStatus.AWAITING_SIGNATURE):
            raise ValidationError(
                {"status": f"Only a ready draft can be signed (the letter is {letter.get_status_display().lower()})."}
            )
        revision = LetterRevision.objects.select_for_update(of=("self",)).get(pk=letter.current_revision_id)
        errors = sign_blockers(
            letter, revision, override_reason=override_reason, acknowledge_unverified=acknowledge_unverified
        )
        if errors:
            raise ValidationError(errors)
        gaps = letters.required_gaps(letter.request.determination or {})
        revision.signed_by, revision.signed_at = by, timezone.now()
        revision.sign_override_reason = override_reason.strip() if gaps else ""
        revision.sign_overridden = [g["key"] for g in gaps]
        revision.unverified_acknowledged = bool(acknowledge_unverified)
        revision.save(
            update_fields=[
                "signed_by",
                "signed_at",
                "sign_override_reason",
                "sign_overridden",
                "unverified_acknowledged",
            ]
        )
        letter.status = LetterStatus.SIGNING
        letter.save(update_fields=["status", "updated_at"])
        _queue_job(revision, Stage.FINAL)
        audit_change(by, AuditEntry.Action.UPDATE, letter, http_request, sign_audit_detail(revision))
        return revision


def sign_audit_detail(revision: LetterRevision) -> str:
    """The audit entry of a signature: the revision, and any override with the physician's reason."""
    detail = f"sign revision {revision.number}"
    if revision.unverified_acknowledged:
        detail += "; unverified sources acknowledged"
    if revision.sign_overridden:
        detail += f"; override of {', '.join(revision.sign_overridden)}: "
        detail += revision.sign_override_reason[: max(0, 500 - len(detail))]
    return detail[:500]


def letter_retry(*, letter: Letter, by: User, http_request: HttpRequest | None = None) -> LetterJob:
    """Queue a failed render of the current revision again."""
    with transaction.atomic():
        letter = _locked_letter(letter)
        permissions.require(by, "letter.retry", letter)
        job = (
            LetterJob.objects.filter(revision_id=letter.current_revision_id, state=State.FAILED)
            .order_by("-stage")
            .first()
        )
        if job is None:
            raise ValidationError({"status": "No failed render to retry."})
        letter.status = LetterStatus.DRAFTING if job.stage == Stage.DRAFT else LetterStatus.SIGNING
        letter.save(update_fields=["status", "updated_at"])
        job = _queue_job(job.revision, job.stage)
        audit_change(by, AuditEntry.Action.UPDATE, letter, http_request, f"retry {job.stage}")
        return job


# ---------------------------------------------------------------------------------------------
# Rendering (called by the tasks)


def _job_start(revision_id: int, stage: str) -> LetterJob | None:
    """Count the attempt where staff can see it (its own short transaction); None when there is
    nothing to do: the revision is gone or this stage is already rendered."""
    with transaction.atomic():
        job = LetterJob.objects.select_for_update(of=("self",)).filter(revision_id=revision_id, stage=stage).first()
        if job is None or job.state == State.DONE:
            return None
        job.state, job.attempts, job.started_at, job.error = State.RUNNING, job.attempts + 1, timezone.now(), ""
        job.save(update_fields=["state", "attempts", "started_at", "error"])
        return job


def _store(revision: LetterRevision, stage: str, content: bytes) -> tuple[str, str]:
    """Write the PDF under a new unguessable name (letter_pdf_path) for the revision and stage."""
    storage = revision._meta.get_field(f"{stage}_pdf").storage
    saved = storage.save(letter_pdf_path(revision, stage), ContentFile(content))
    return saved, hashlib.sha256(content).hexdigest()


def _job_done(job: LetterJob) -> None:
    job.state, job.finished_at = State.DONE, job.finished_at or timezone.now()
    job.save(update_fields=["state", "finished_at"])


def _render_input(revision_id: int, stage: str) -> tuple[LetterRevision, dict[str, Any]] | None:
    """The revision and its letter's context, read in one short transaction (the first draft's text
    is composed and saved here, under the revision's row lock so that two deliveries compose it
    once); None when there is nothing to render."""
    with transaction.atomic():
        revision = (
            LetterRevision.objects.select_related(
                "letter__request__practice",
                "letter__request__treating_physician",
                "letter__request__payer",
                "letter__appeal",
            )
            .filter(pk=revision_id)
            .first()
        )
        if revision is None:
            return None
        if getattr(revision, f"{stage}_pdf"):
            job = LetterJob.objects.filter(revision=revision, stage=stage).first()
            if job is not None:
                _job_done(job)
            return None
        if stage == Stage.FINAL and not revision.is_signed:
            raise ValidationError({"revision": "Only a signed revision has a final PDF."})
        letter = revision.letter
        if revision.paragraphs is None:
            locked = LetterRevision.objects.select_for_update(of=("self",)).get(pk=revision_id)
            if locked.paragraphs is None:
                locked.paragraphs, locked.enclosures = letters.draft_for(letter)
                locked.save(update_fields=["paragraphs", "enclosures"])
            revision.paragraphs, revision.enclosures = locked.paragraphs, locked.enclosures
        return revision, letters.letter_context(letter, revision, final=stage == Stage.FINAL)


def letter_render(*, revision_id: int, stage: str) -> bool:
    """Render one stage of one revision, once. True when this call made the PDF.

    No transaction is open while WeasyPrint works (seconds, up to its time limit): on SQLite an
    open write transaction locks the whole database for everyone, and on PostgreSQL row locks held
    that long stall the physician's edits. So: claim the job (its own short transaction), read
    what the letter needs (another), render with none open, then store the PDF in a last short one
    that keeps it only if the claim still stands — an edit queued the job again meanwhile (the PDF
    shows old text) or a later delivery of the task took it over (it stores its own), and a stage
    already rendered keeps its PDF.
    """
    claimed = _job_start(revision_id, stage)
    if claimed is None:
        return False
    loaded = _render_input(revision_id, stage)
    if loaded is None:
        return False
    revision, context = loaded
    started = time.perf_counter()
    content = pdf.render_letter(revision.letter.kind, context)
    delay = settings.LETTER_RENDER_DELAY_SECONDS
    if delay:
        time.sleep(delay)  # tests only: lets a test kill the worker in the middle of a render
    seconds = time.perf_counter() - started
    name = None
    try:
        with transaction.atomic():
            job = LetterJob.objects.select_for_update(of=("self",)).filter(revision_id=revision_id, stage=stage).first()
            revision = (
                LetterRevision.objects.select_for_update(of=("self",))
                .select_related("letter")
                .filter(pk=revision_id)
                .first()
            )
            if job is None or revision is None:
                return False
            if getattr(revision, f"{stage}_pdf"):
                _job_done(job)
                return False
            if job.state != State.RUNNING or job.started_at != claimed.started_at:
                return False
            name, digest = _store(revision, stage, content)
            setattr(revision, f"{stage}_pdf", name)
            setattr(revision, f"{stage}_sha256", digest)
            revision.save(update_fields=[f"{stage}_pdf", f"{stage}_sha256"])
            job.state, job.finished_at, job.render_seconds = State.DONE, timezone.now(), seconds
            job.save(update_fields=["state", "finished_at", "render_seconds"])
            letter = revision.letter
            if letter.current_revision_id == revision.pk:
                letter.status = LetterStatus.DRAFT_READY if stage == Stage.DRAFT else LetterStatus.SIGNED
                letter.save(update_fields=["status", "updated_at"])
    except BaseException:
        if name is not None:  # written, then not recorded: no PDF of a patient's letter is left behind
            revision._meta.get_field(f"{stage}_pdf").storage.delete(name)
        raise
    return True


def letter_jobs_resend(*, older_than: dt.timedelta | None = None, limit: int = 500) -> list[int]:
    """Send again the renders whose message the broker may have lost: jobs queued, or started by a
    worker that has since died, longer than `older_than` ago (LETTER_RESEND_AFTER_SECONDS). A render
    in progress holds its job's row lock and is skipped. Sending one message too many is harmless
    (a render finds its PDF made and stops), so the age only keeps a long but healthy queue from
    being doubled. Returns the ids of the jobs sent again."""
    if older_than is None:
        older_than = dt.timedelta(seconds=settings.LETTER_RESEND_AFTER_SECONDS)
    cutoff = timezone.now() - older_than
    with transaction.atomic():
        jobs = list(
            LetterJob.objects.select_for_update(skip_locked=True)
            .filter(Q(state=State.QUEUED, queued_at__lt=cutoff) | Q(state=State.RUNNING, started_at__lt=cutoff))
            .order_by("queued_at", "pk")[:limit]
        )
        now = timezone.now()
        for job in jobs:
            job.state, job.queued_at, job.started_at = State.QUEUED, now, None
            _enqueue(job.stage, job.revision_id)
        LetterJob.objects.bulk_update(jobs, ["state", "queued_at", "started_at"])
    if jobs:
        logger.warning("letter renders sent again: jobs %s", ",".join(str(job.pk) for job in jobs))
    return [job.pk for job in jobs]


def render_failure_reason(error: BaseException) -> str:
    """What staff and the physician read on the letter: a render past its time limit says so and
    what to do; anything else is the error's type and message (no PHI)."""
    from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

    if isinstance(error, (SoftTimeLimitExceeded, TimeLimitExceeded)):
        if isinstance(error, SoftTimeLimitExceeded):
            limit = settings.LETTER_RENDER_SOFT_TIME_LIMIT
        else:  # the worker's own figure when it has one (the sender's setting travels with the task)
            limit = (
                error.args[0]
                if error.args and isinstance(error.args[0], (int, float))
                else settings.LETTER_RENDER_TIME_LIMIT
            )
        return (
            f"The PDF took longer than its time limit of {limit:g} seconds to render and was stopped. "
            "Shorten the letter's text and save it again, or retry."
        )
    return f"{type(error).__name__}: {error}"


def letter_render_failed(*, revision_id: int, stage: str, error: BaseException) -> None:
    """A render that will not be retried: show it to staff, who can retry it."""
    with transaction.atomic():
        job = (
            LetterJob.objects.select_for_update(of=("self",))
            .select_related("revision__letter")
            .filter(revision_id=revision_id, stage=stage)
            .first()
        )
        if job is None or job.state == State.DONE:
            return
        job.state, job.finished_at = State.FAILED, timezone.now()
        job.error = render_failure_reason(error)[:1000]
        job.save(update_fields=["state", "finished_at", "error"])
        letter = job.revision.letter
        if letter.current_revision_id == revision_id:
            letter.status = LetterStatus.FAILED
            letter.save(update_fields=["status", "updated_at"])
    logger.warning("letter render failed: revision %s %s: %s", revision_id, stage, type(error).__name__)
