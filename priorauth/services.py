"""Writes of the prior-authorization workflow. Every function takes keyword-only arguments, runs in
one transaction and raises django ValidationError keyed by field on bad input or an illegal step.

Deadlines come from the payer's policy records (policies.PriorAuthRule, policies.AppealLevel) at the
moment the step happens; nothing here knows a number of days.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone

from coverage.checker import CaseInvalid, check
from coverage.engine import compile_policy, evaluate
from coverage.validation import validate_case
from policies.models import AppealLevel, DenialCategory, Payer, PolicyVersion, PriorAuthRule
from policies.snapshot import current_snapshot
from priorauth import permissions, stored_files
from priorauth.models import (
    TRANSITIONS,
    UNDECIDED_STATUSES,
    Appeal,
    Attachment,
    AuditEntry,
    AuthorizationRequest,
    FaxPacket,
    Membership,
    Patient,
    PayerDecision,
    Practice,
    Provider,
    RecheckResult,
    RecheckRun,
    Role,
    Sending,
    SendMethod,
    Status,
    StatusTransition,
)
from priorauth.pdf_safety import pdf_active_content
from priorauth.permissions import User
from priorauth.prepared import PreparedInsert
from priorauth.selectors import next_appeal_level

logger = logging.getLogger(__name__)

# The parts of the case that come from the related records, not from what billing staff type.
RECORD_PARTS = ("payer", "patient", "provider")


def _raise(field: str, message: str) -> None:
    raise ValidationError({field: message})


def _user_or_none(by: User | None) -> AbstractBaseUser | None:
    """The acting user, or None for the system (and for an anonymous caller, which has no row)."""
    return by if getattr(by, "pk", None) else None


def audit_change(by: User | None, action: str, obj: Model, http_request: HttpRequest | None, detail: str = "") -> None:
    """The service's own audit entry, in its transaction: a change is never saved without it. Written
    for a call made on behalf of an HTTP request (the API, the pages, the admin: `http_request`, which
    also gives the address); a command or task that calls a service records its own entry."""
    if http_request is not None:
        audit_record(user=by, action=action, obj=obj, request=http_request, detail=detail)


# ---------------------------------------------------------------------------------------------
# People


PRACTICE_ADMIN_GROUP = "Practice admins"
# The payer policies are shared by every practice: one practice's admin reads them, and only the
# platform's policy editors (this group, given by a superuser) change them.
POLICY_EDITOR_GROUP = "Platform policy editors"
# What a practice admin manages in the Django admin: users and their practice's records, and a
# read-only view of the payer policies. The ModelAdmins narrow every PHI queryset to the admin's own
# practice.
_ADMIN_PERMISSIONS = {
    "policies": "view",  # the view permission of every model of the app
    "auth": {"add_user", "change_user", "view_user"},
    "priorauth": {
        "view_practice",
        "change_practice",
        "add_membership",
        "change_membership",
        "view_membership",
        "add_provider",
        "change_provider",
        "view_provider",
        "view_patient",
        "change_patient",
        "view_authorizationrequest",
        "view_attachment",
        "view_auditentry",
        "view_recheckrun",
        "view_recheckresult",
        # The payers' published CMS-0057-F figures (the scorecard's comparison).
        "add_publishedpayermetrics",
        "change_publishedpayermetrics",
        "view_publishedpayermetrics",
    },
}


def practice_admin_group() -> Group:
    group, _ = Group.objects.get_or_create(name=PRACTICE_ADMIN_GROUP)
    wanted = []
    for app_label, codenames in _ADMIN_PERMISSIONS.items():
        perms = Permission.objects.filter(content_type__app_label=app_label)
        if codenames == "view":
            perms = perms.filter(codename__startswith="view_")
        elif codenames is not None:
            perms = perms.filter(codename__in=codenames)
        wanted.extend(perms)
    group.permissions.set(wanted)
    return group


def policy_editor_group() -> Group:
    """The platform's policy editors: every permission on the payer registry (policies/). Members
    must also be staff to reach the admin; superusers add people to the group."""
    group, _ = Group.objects.get_or_create(name=POLICY_EDITOR_GROUP)
    group.permissions.set(Permission.objects.filter(content_type__app_label="policies"))
    return group


def permission_groups_sync() -> None:
    """Both groups as the code defines them (after every migrate: an upgrade narrows an existing
    practice admins group to reading the policies)."""
    with transaction.atomic():
        practice_admin_group()
        policy_editor_group()


def membership_set(*, user: AbstractBaseUser, practice: Practice, role: str) -> Membership:
    """Put the user in the practice with the role. Admins get the Django admin (staff + the practice
    admin group); other roles lose it unless they are superusers."""
    if role not in Role.values:
        _raise("role", f"Must be one of: {', '.join(Role.values)}.")
    with transaction.atomic():
        membership, _ = Membership.objects.update_or_create(user=user, defaults={"practice": practice, "role": role})
        group = practice_admin_group()
        if role == Role.ADMIN:
            user.is_staff = True
            user.groups.add(group)
        else:
            user.is_staff = user.is_superuser
            user.groups.remove(group)
        user.save(update_fields=["is_staff"])
        return membership


def provider_create(*, practice: Practice, npi: str, name: str, user: AbstractBaseUser | None = None) -> Provider:
    with transaction.atomic():
        if Provider.objects.filter(practice=practice, npi=npi).exists():
            _raise("npi", "This practice already has a provider with this NPI.")
        provider = Provider(practice=practice, npi=npi, name=name, user=user)
        provider.full_clean()
        provider.save()
        return provider


def provider_save(*, provider: Provider, by: User, request: HttpRequest | None = None) -> Provider:
    """Save a provider (the admin's form). Its user must be a physician member of its practice
    (Provider.clean); linking, changing or unlinking that user is written to the audit trail, since
    whoever it is signs letters in the provider's name. The practice's admins and superusers only."""
    permissions.require(by, "provider.manage", provider.practice)
    with transaction.atomic():
        previous = (
            Provider.objects.filter(pk=provider.pk).values_list("user_id", flat=True).first() if provider.pk else None
        )
        adding = provider.pk is None
        provider.full_clean()
        provider.save()
        if adding or previous != provider.user_id:
            audit_record(
                user=by,
                action=AuditEntry.Action.CREATE if adding else AuditEntry.Action.UPDATE,
                obj=provider,
                request=request,
                detail=f"linked user {previous or '-'} -> {provider.user_id or '-'}",
            )
        return provider


# ---------------------------------------------------------------------------------------------
# Patients


PATIENT_FIELDS = ("first_name", "last_name", "birth_date", "sex", "member_id")


def patient_create(*, practice: Practice, by: User, http_request: HttpRequest | None = None, **fields: Any) -> Patient:
    permissions.require(by, "patient.create", practice)
    with transaction.atomic():
        patient = Patient(practice=practice, **{k: fields[k] for k in PATIENT_FIELDS if k in fields})
        patient.full_clean()
        patient.save()
        audit_change(by, AuditEntry.Action.CREATE, patient, http_request)
        return patient


def patient_update(*, patient: Patient, by: User, http_request: HttpRequest | None = None, **fields: Any) -> Patient:
    """Edit a patient's details; the cases of their drafts follow (submitted cases stay as sent).
    Billing staff (`patient.update`), or a practice admin in the Django admin (`patient.admin_correct`)."""
    if not permissions.can(by, "patient.admin_correct", patient):
        permissions.require(by, "patient.update", patient)
    with transaction.atomic():
        for name in PATIENT_FIELDS:
            if name in fields:
                setattr(patient, name, fields[name])
        patient.full_clean()
        patient.save()
        for request in patient.requests.filter(status=Status.DRAFT).select_related("payer", "treating_physician"):
            request.case = case_build(request=request, entered=request.case)
            _preview(request)
            request.save(update_fields=["case", "decision", "criteria_statuses", "updated_at"])
        audit_change(by, AuditEntry.Action.UPDATE, patient, http_request, "edit " + ",".join(sorted(fields)))
        return patient


# ---------------------------------------------------------------------------------------------
# The case


MAX_CASE_DEPTH = 32  # the contract's case nests four levels; deeper is not a case


def _text_problems(value: Any, path: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    """Strings a database cannot store (NUL, lone surrogates) anywhere in a JSON value, and nesting
    too deep to be a case."""
    if depth > MAX_CASE_DEPTH:
        yield path, "is nested too deeply"
        return
    if isinstance(value, str):
        if "\x00" in value:
            yield path, "must not contain NUL characters"
        else:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                yield path, "must be valid Unicode text"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _text_problems(key, f"{path}.{key}" if "\x00" not in key else path, depth + 1)
            yield from _text_problems(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _text_problems(item, f"{path}.{index}", depth + 1)


def case_build(*, request: AuthorizationRequest, entered: dict[str, Any]) -> dict[str, Any]:
    """The contract's case: payer, patient and provider from the records, the rest as entered, and
    administrative.expedited from the request's flag."""
    case = {key: value for key, value in entered.items() if key not in RECORD_PARTS}
    administrative = dict(case.get("administrative") or {})
    if request.expedited or "expedited" in administrative:
        administrative["expedited"] = request.expedited
    if administrative:
        case["administrative"] = administrative
    return {
        "payer": request.payer.code,
        "patient": request.patient.case_part(),
        "provider": request.treating_physician.case_part(),
        **case,
    }


def _case_errors(case: dict[str, Any], *, payer_codes: Iterable[str], today: dt.date) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for path, message in _text_problems(case, "case"):
        errors.setdefault(path, []).append(message)
    if errors:
        return errors
    for error in validate_case(case, payer_codes=set(payer_codes), today=today):
        root = error.path.split(".", 1)[0]
        # The record parts are checked by their own models; a problem there names the record.
        field = {"patient": "patient", "provider": "treating_physician", "payer": "payer"}.get(
            root, f"case.{error.path}"
        )
        errors.setdefault(field, []).append(error.message if root not in RECORD_PARTS else str(error))
    return errors


def _entered_case(case: Any) -> dict[str, Any]:
    if not isinstance(case, dict):
        _raise("case", "Must be a JSON object.")
    for key in RECORD_PARTS:
        if key in case:
            source = "treating_physician" if key == "provider" else key
            _raise(f"case.{key}", f"Comes from the request's {source.replace('_', ' ')}; leave it out of the case.")
    return case


def _preview(request: AuthorizationRequest) -> None:
    """A draft's decision on record: what the checker says now (blank when the payer has no
    published policy), so a later policy change can tell billing staff what changed."""
    try:
        determination = check(request.case, snapshot=current_snapshot(), today=request.practice.localdate())
    except CaseInvalid:
        request.decision, request.criteria_statuses = "", {}
        return
    request.decision = determination["decision"]
    request.criteria_statuses = _criteria_statuses(determination)


def _check_same_practice(practice: Practice, patient: Patient, physician: Provider) -> None:
    if patient.practice_id != practice.pk:
        _raise("patient", "No such patient in this practice.")
    if physician.practice_id != practice.pk:
        _raise("treating_physician", "No such provider in this practice.")


def request_create(
    *,
    practice: Practice,
    patient: Patient,
    payer: Payer,
    treating_physician: Provider,
    case: dict[str, Any],
    by: User,
    http_request: HttpRequest | None = None,
) -> AuthorizationRequest:
    """A new draft. The case may be incomplete (an absent fact is `missing`), never invalid."""
    permissions.require(by, "request.create", practice)
    _check_same_practice(practice, patient, treating_physician)
    entered = _entered_case(case)
    with transaction.atomic():
        request = AuthorizationRequest(
            practice=practice,
            patient=patient,
            payer=payer,
            treating_physician=treating_physician,
            created_by=_user_or_none(by),
        )
        request.expedited = (entered.get("administrative") or {}).get("expedited") is True
        request.case = case_build(request=request, entered=entered)
        errors = _case_errors(request.case, payer_codes=[payer.code], today=practice.localdate())
        if errors:
            raise ValidationError(errors)
        _preview(request)
        request.save()
        StatusTransition.objects.create(
            request=request, from_status="", to_status=Status.DRAFT, by=_user_or_none(by), note="created"
        )
        audit_change(by, AuditEntry.Action.CREATE, request, http_request)
        return request


def request_update(
    *,
    request: AuthorizationRequest,
    by: User,
    patient: Patient | None = None,
    payer: Payer | None = None,
    treating_physician: Provider | None = None,
    case: dict[str, Any] | None = None,
    http_request: HttpRequest | None = None,
) -> AuthorizationRequest:
    """Edit a draft; only a draft can be edited."""
    permissions.require(by, "request.update", request)
    changed = [name for name, value in (("case", case), ("patient", patient), ("payer", payer)) if value is not None]
    changed += ["treating_physician"] if treating_physician is not None else []
    with transaction.atomic():
        request = (
            AuthorizationRequest.objects.select_for_update(of=("self",))
            .select_related("payer", "patient", "treating_physician")
            .get(pk=request.pk)
        )
        if request.status != Status.DRAFT:
            _raise("status", f"Only a draft can be edited; this request is {request.get_status_display().lower()}.")
        request.patient = patient or request.patient
        request.payer = payer or request.payer
        request.treating_physician = treating_physician or request.treating_physician
        _check_same_practice(request.practice, request.patient, request.treating_physician)
        entered = _entered_case(case) if case is not None else request.case
        if case is not None:
            request.expedited = (entered.get("administrative") or {}).get("expedited") is True
        request.case = case_build(request=request, entered=entered)
        errors = _case_errors(request.case, payer_codes=[request.payer.code], today=request.practice.localdate())
        if errors:
            raise ValidationError(errors)
        _preview(request)
        request.save()
        audit_change(by, AuditEntry.Action.UPDATE, request, http_request, "edit " + ",".join(sorted(changed)))
        return request


class PatientInvalid(ValidationError):
    """The new patient entered with a request was refused: its messages name the patient's fields."""


def request_draft_save(
    *,
    by: User,
    practice: Practice,
    request: AuthorizationRequest | None,
    patient: Patient | None,
    new_patient: dict[str, Any] | None,
    payer: Payer,
    treating_physician: Provider,
    case: dict[str, Any],
    submit: bool = False,
    http_request: HttpRequest | None = None,
) -> AuthorizationRequest:
    """The case form's one step (the new-request and edit pages): the patient added when none was
    chosen (`new_patient`), the draft created (or, given `request`, edited) and, if asked, submitted,
    all or nothing. A refused new patient raises PatientInvalid."""
    with transaction.atomic():
        if patient is None:
            try:
                patient = patient_create(practice=practice, by=by, http_request=http_request, **(new_patient or {}))
            except ValidationError as exc:
                raise PatientInvalid(exc.error_dict if hasattr(exc, "error_dict") else exc.error_list) from None
        records = {"patient": patient, "payer": payer, "treating_physician": treating_physician, "case": case}
        if request is None:
            request = request_create(practice=practice, by=by, http_request=http_request, **records)
        else:
            request = request_update(request=request, by=by, http_request=http_request, **records)
        if submit:
            request = request_submit(request=request, by=by, http_request=http_request)
        return request


# ---------------------------------------------------------------------------------------------
# The status machine


def transition_error(current: str, target: str) -> str:
    labels = dict(Status.choices)
    allowed = sorted(labels[to] for frm, to in TRANSITIONS if frm == current)
    then = (
        f" From {labels[current].lower()} it can become: {', '.join(a.lower() for a in allowed)}."
        if allowed
        else (f" {labels[current]} is final.")
    )
    return f"A request that is {labels[current].lower()} cannot become {labels[target].lower()}.{then}"


def _transition(
    request: AuthorizationRequest, target: str, *, by: User, note: str = "", at: dt.datetime | None = None
) -> None:
    """Move the (locked) request to `target` if the table allows it, recording who and when."""
    if (request.status, target) not in TRANSITIONS:
        _raise("status", transition_error(request.status, target))
    StatusTransition.objects.create(
        request=request,
        from_status=request.status,
        to_status=target,
        by=_user_or_none(by),
        at=at or timezone.now(),
        note=note,
    )
    request.status = target


def _locked(request: AuthorizationRequest) -> AuthorizationRequest:
    # Only the request's row: FOR UPDATE on the joined practice, payer, patient and provider rows
    # made every step of a practice's requests wait for each other, and deadlocked with a request
    # being created (its foreign-key checks lock the same practice row; bench/load_bench.py).
    return (
        AuthorizationRequest.objects.select_for_update(of=("self",))
        .select_related("payer", "patient", "treating_physician", "practice")
        .get(pk=request.pk)
    )


def _criteria_statuses(determination: dict[str, Any]) -> dict[str, str]:
    return {
        c["key"]: c["status"]
        for section in ("clinical", "payer_rules")
        for c in determination.get(section, {}).get("criteria", [])
    }


def request_submit(
    *,
    request: AuthorizationRequest,
    by: User,
    note: str = "",
    submitted_at: dt.datetime | None = None,
    http_request: HttpRequest | None = None,
) -> AuthorizationRequest:
    """Check the case under the payer's published policy and store the determination with the
    policy version it used. Submitting does not require `meets_criteria`: the determination shows
    what is missing or not met, and billing staff decide whether to send. `submitted_at` (default:
    now) is for a request entered after the fact: its sending must not precede it."""
    permissions.require(by, "request.submit", request)
    if submitted_at is not None and submitted_at > timezone.now():
        _raise("submitted_at", "Must not be in the future.")
    with transaction.atomic():
        request = _locked(request)
        if request.status != Status.DRAFT:
            _raise("status", transition_error(request.status, Status.SUBMITTED))
        request.case = case_build(request=request, entered=request.case)
        try:
            determination = check(request.case, snapshot=current_snapshot(), today=request.practice.localdate())
        except CaseInvalid as exc:
            errors: dict[str, list[str]] = {}
            for error in exc.errors:
                root = error.path.split(".", 1)[0]
                errors.setdefault(root if root in RECORD_PARTS else f"case.{error.path}", []).append(error.message)
            raise ValidationError(errors) from None
        revision = determination["policy"].get("revision")
        version = PolicyVersion.objects.filter(policy__payer=request.payer, revision=revision).first()
        if version is None:
            _raise("payer", "This payer has no published policy version; an admin must publish one first.")
        now = submitted_at or timezone.now()
        _transition(request, Status.SUBMITTED, by=by, note=note, at=now)
        request.determination = determination
        request.decision = determination["decision"]
        request.criteria_statuses = _criteria_statuses(determination)
        request.policy_version = version
        request.submitted_at = now
        request.save()
        audit_change(by, AuditEntry.Action.UPDATE, request, http_request, "submit")
        return request


def _decision_due(*, payer: Payer, start: dt.datetime, expedited: bool) -> tuple[dt.datetime | None, str]:
    """The payer's decision due date from its prior-authorization timeline record."""
    rule = PriorAuthRule.objects.filter(policy__payer=payer).select_related("policy").first()
    if rule is None:
        return None, "the payer's policy has no prior-authorization timeline"
    if expedited and rule.expedited_decision_hours:
        return start + dt.timedelta(hours=rule.expedited_decision_hours), (
            f"{rule.expedited_decision_hours} hours (expedited), {rule.policy.code}"
        )
    if rule.standard_decision_days:
        return start + dt.timedelta(days=rule.standard_decision_days), (
            f"{rule.standard_decision_days} calendar days (standard), {rule.policy.code}"
        )
    return None, f"{rule.policy.code} sets no decision time"


def request_send(
    *,
    request: AuthorizationRequest,
    by: User,
    sent_at: dt.datetime | None = None,
    note: str = "",
    method: str = "",
    packet: FaxPacket | None = None,
    http_request: HttpRequest | None = None,
) -> AuthorizationRequest:
    """Record that the request (or, after a pend, the requested information) reached the payer, and
    set the decision due date: expedited hours or standard calendar days, where the policy sets them.
    `sent_at` is when the payer received it, which may precede its entry here (a fax sent earlier).
    A Sending records how (`method`; empty: not said) and the SHA-256 of the `packet` sent, which
    must be one of this request's, of its letter's current signed revision, and its file unchanged."""
    permissions.require(by, "request.send", request)
    detail = f"send {method or '-'}" + (f" packet {packet.pk}" if packet else "")
    with transaction.atomic():
        request = _locked(request)
        now = timezone.now()
        sent_at = sent_at or now
        if sent_at > now:
            _raise("sent_at", "Must not be in the future.")
        if method and method not in SendMethod.values:
            _raise("method", f"Must be one of: {', '.join(SendMethod.values)}.")
        packet_sha256 = _sent_packet_sha256(request, packet)
        if request.status == Status.APPEAL_IN_PROGRESS:
            _appeal_sent(request, by=by, sent_at=sent_at, note=note, method=method, packet=packet, sha256=packet_sha256)
            audit_change(by, AuditEntry.Action.UPDATE, request, http_request, detail)
            return request
        _check_sent_in_order(request, sent_at)
        _transition(request, Status.SENT, by=by, note=note, at=sent_at)
        Sending.objects.create(
            request=request,
            method=method,
            sent_at=sent_at,
            packet=packet,
            packet_sha256=packet_sha256,
            note=note,
            recorded_by=_user_or_none(by),
        )
        request.sent_at = sent_at
        request.first_sent_at = request.first_sent_at or sent_at
        request.decision_due_at, request.decision_due_basis = _decision_due(
            payer=request.payer, start=sent_at, expedited=request.expedited
        )
        request.save()
        audit_change(by, AuditEntry.Action.UPDATE, request, http_request, detail)
        return request


def _appeal_sent(
    request: AuthorizationRequest,
    *,
    by: User,
    sent_at: dt.datetime,
    note: str,
    method: str,
    packet: FaxPacket | None,
    sha256: str,
) -> AuthorizationRequest:
    """An appeal in progress went out (its letter, its packet): recorded like a sending of the request,
    tied to the appeal. The status stays; the appeal's decision clock runs from its filing."""
    appeal = request.appeals.order_by("-level_order", "-id").first()
    if appeal is None:
        _raise("status", "This request has no appeal to send.")
    if sent_at < appeal.filed_at:
        _raise(
            "sent_at",
            f"The date sent ({_day(sent_at)}) is before the appeal was filed ({_day(appeal.filed_at)}).",
        )
    if packet is not None and packet.letter.appeal_id != appeal.pk:
        _raise("packet", "This packet is not of the appeal in progress; build the appeal letter's packet.")
    Sending.objects.create(
        request=request,
        appeal=appeal,
        method=method,
        sent_at=sent_at,
        packet=packet,
        packet_sha256=sha256,
        note=note,
        recorded_by=_user_or_none(by),
    )
    return request


def _sent_packet_sha256(request: AuthorizationRequest, packet: FaxPacket | None) -> str:
    """The packet's SHA-256, hashed again from the stored file: what is recorded as sent is what
    the file holds now, and a file changed since it was built is refused."""
    if packet is None:
        return ""
    packet = FaxPacket.objects.select_related("letter").filter(pk=packet.pk).first()
    if packet is None or packet.letter.request_id != request.pk:
        _raise("packet", "No such packet of this request.")
    if packet.letter.current_revision_id != packet.revision_id:
        _raise("packet", "The letter was edited after this packet was built; build the packet again.")
    digest = hashlib.sha256()
    try:
        with packet.file.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        _raise("packet", "The stored packet cannot be read; build it again.")
    if digest.hexdigest() != packet.sha256:
        _raise("packet", "The stored packet does not match its recorded SHA-256; build it again.")
    return packet.sha256


def _day(at: dt.datetime) -> str:
    """A moment as staff read it in a message: the practice's local date and time."""
    return timezone.localtime(at).strftime("%m/%d/%Y %H:%M")


def _check_sent_in_order(request: AuthorizationRequest, sent_at: dt.datetime) -> None:
    """Submitted ≤ sent ≤ decided: a sending is not before the submission, nor (a re-send after a
    pend) before the pend it answers; otherwise History would list the steps out of order."""
    if request.submitted_at and sent_at < request.submitted_at:
        _raise(
            "sent_at",
            f"The date sent ({_day(sent_at)}) is before the request was submitted ({_day(request.submitted_at)}): "
            "dates run submitted, then sent, then decided.",
        )
    if request.status == Status.PENDED:
        pend = request.decisions.filter(decision=PayerDecision.Kind.PENDED).order_by("-received_at", "-id").first()
        if pend is not None and sent_at < pend.received_at:
            _raise(
                "sent_at",
                f"The date sent ({_day(sent_at)}) is before the payer's request for more information "
                f"({_day(pend.received_at)}) that it answers.",
            )


def appeal_level_terms(level: AppealLevel) -> dict[str, Any]:
    """What an appeal keeps of its level when it is filed (Appeal.level_terms): the figures and
    sources its letters state, so an admin's later edit of the policy does not rewrite them."""
    return {
        "filing_deadline_days": level.filing_deadline_days,
        "decision_deadline_days": level.decision_deadline_days,
        "expedited_decision_hours": level.expedited_decision_hours,
        "citations": [e.key for e in level.citations.all()],
        "review_status": level.review_status,
        "review_reason": level.review_reason,
    }


def _file_by(level: AppealLevel | None, denied_at: dt.datetime, practice: Practice) -> dt.date | None:
    """The last day to file: days counted from the denial's day on the practice's calendar."""
    if level is None or level.filing_deadline_days is None:
        return None
    return practice.localdate(denied_at) + dt.timedelta(days=level.filing_deadline_days)


def deficiencies_errors(deficiencies: Any, determination: dict[str, Any]) -> dict[str, str]:
    """Problems of a denial's deficiencies, named by their path (deficiencies[1].criterion)."""
    if not isinstance(deficiencies, list) or len(deficiencies) > 30:
        return {"deficiencies": "Must be a list of at most 30 deficiencies."}
    keys = {
        c.get("key")
        for section in ("clinical", "payer_rules")
        for c in determination.get(section, {}).get("criteria", [])
    }
    errors: dict[str, str] = {}
    for i, d in enumerate(deficiencies):
        at = f"deficiencies[{i}]"
        if not isinstance(d, dict) or set(d) - {"criterion", "text"}:
            errors[at] = "Must be an object with criterion and/or text."
            continue
        criterion, text = d.get("criterion") or "", d.get("text") or ""
        if not isinstance(criterion, str) or (criterion and criterion not in keys):
            errors[f"{at}.criterion"] = (
                f"Must be one of this request's criteria: {', '.join(sorted(k for k in keys if k))}."
            )
        if not isinstance(text, str) or len(text) > 2000:
            errors[f"{at}.text"] = "Must be a text of at most 2000 characters."
        elif not criterion and not text.strip():
            errors[at] = "Name the criterion it concerns, or give the notice's words."
    return errors


def decision_record(
    *,
    request: AuthorizationRequest,
    by: User,
    decision: str,
    received_at: dt.datetime,
    authorization_number: str = "",
    payer_reference: str = "",
    valid_from: dt.date | None = None,
    valid_to: dt.date | None = None,
    stated_reason: str = "",
    reason_category: str = "",
    denial_code: str = "",
    deficiencies: list[dict[str, str]] | None = None,
    http_request: HttpRequest | None = None,
) -> PayerDecision:
    """The payer's answer to the request, or to the appeal in progress.

    A denial keeps the payer's words verbatim (stated_reason), its category, the payer's or CARC
    code when the notice gives one, and each deficiency it names: {"criterion": the key of a
    criterion of the request's determination, or "", "text": the notice's words} (issue 11), which
    the appeal letter answers point by point."""
    permissions.require(by, "request.decision", request)
    with transaction.atomic():
        request = _locked(request)
        errors: dict[str, str] = {}
        if decision not in PayerDecision.Kind.values:
            errors["decision"] = f"Must be one of: {', '.join(PayerDecision.Kind.values)}."
        if received_at > timezone.now():
            errors["received_at"] = "Must not be in the future."
        elif request.sent_at and received_at < request.sent_at:
            errors["received_at"] = (
                f"The decision date ({_day(received_at)}) is before the request was sent to the payer "
                f"({_day(request.sent_at)}): dates run submitted, then sent, then decided."
            )
        if decision == PayerDecision.Kind.DENIED:
            if not stated_reason.strip():
                errors["stated_reason"] = "Give the payer's stated reason for the denial."
            if reason_category not in DenialCategory.values:
                errors["reason_category"] = f"Must be one of: {', '.join(DenialCategory.values)}."
        elif reason_category:
            errors["reason_category"] = "Only a denial has a reason category."
        deficiencies = deficiencies or []
        if decision != PayerDecision.Kind.DENIED and (deficiencies or denial_code):
            errors["deficiencies" if deficiencies else "denial_code"] = (
                "Only a denial names deficiencies and a reason code."
            )
        elif deficiencies:
            errors.update(deficiencies_errors(deficiencies, request.determination or {}))
        if not isinstance(denial_code, str) or len(denial_code) > 32:
            errors["denial_code"] = (
                "Must be a text of at most 32 characters (a CARC such as 50, or the payer's own code)."
            )
        if decision != PayerDecision.Kind.APPROVED:
            for name, value in (
                ("authorization_number", authorization_number),
                ("valid_from", valid_from),
                ("valid_to", valid_to),
            ):
                if value:
                    errors[name] = "Only an approval has an authorization number and validity window."
        if valid_from and valid_to and valid_to < valid_from:
            errors["valid_to"] = "Must not be before valid_from."
        if errors:
            raise ValidationError(errors)

        appeal = None
        if request.status == Status.APPEAL_IN_PROGRESS:
            appeal = request.appeals.order_by("-level_order").first()
            if decision == PayerDecision.Kind.PENDED:
                _raise("decision", "An appeal is decided approved or denied.")
            if received_at < appeal.filed_at:
                _raise("received_at", "Must not be before the appeal was filed.")
            target = Status.APPEAL_APPROVED if decision == PayerDecision.Kind.APPROVED else Status.APPEAL_DENIED
        else:
            target = {"approved": Status.APPROVED, "denied": Status.DENIED, "pended": Status.PENDED}[decision]
        _transition(request, target, by=by, at=received_at, note=stated_reason if decision != "approved" else "")

        result = PayerDecision.objects.create(
            request=request,
            appeal=appeal,
            received_at=received_at,
            decision=decision,
            payer_reference=payer_reference,
            authorization_number=authorization_number,
            valid_from=valid_from,
            valid_to=valid_to,
            stated_reason=stated_reason,
            reason_category=reason_category,
            denial_code=denial_code.strip(),
            deficiencies=[
                {"criterion": (d.get("criterion") or "").strip(), "text": (d.get("text") or "").strip()}
                for d in deficiencies
            ],
            recorded_by=_user_or_none(by),
        )
        if appeal is not None:
            appeal.outcome = decision
            appeal.decided_at = received_at
            appeal.save(update_fields=["outcome", "decided_at"])
        request.decision_due_at, request.decision_due_basis = None, ""
        request.appeal_file_by = (
            _file_by(next_appeal_level(request), received_at, request.practice)
            if decision == PayerDecision.Kind.DENIED
            else None
        )
        request.save()
        audit_change(by, AuditEntry.Action.UPDATE, request, http_request, f"decision {result.decision} #{result.pk}")
        return result


def appeal_start(
    *,
    request: AuthorizationRequest,
    by: User,
    filed_at: dt.datetime | None = None,
    expedited: bool = False,
    note: str = "",
    http_request: HttpRequest | None = None,
) -> Appeal:
    """File the next appeal level the payer's policy allows, within its filing deadline; the
    appeal's decision is due after the level's decision time (expedited hours where set)."""
    permissions.require(by, "request.appeal", request)
    with transaction.atomic():
        request = _locked(request)
        if (request.status, Status.APPEAL_IN_PROGRESS) not in TRANSITIONS:
            _raise("status", transition_error(request.status, Status.APPEAL_IN_PROGRESS))
        now = timezone.now()
        filed_at = filed_at or now
        if filed_at > now:
            _raise("filed_at", "Must not be in the future.")
        level = next_appeal_level(request)
        if level is None:
            _raise("level", f"{request.payer.name}'s policy allows no further appeal level.")
        denial = request.decisions.filter(decision=PayerDecision.Kind.DENIED).order_by("-received_at", "-id").first()
        if filed_at < denial.received_at:
            _raise("filed_at", "Must not be before the denial.")
        deadline = _file_by(level, denial.received_at, request.practice)
        if deadline is not None and request.practice.localdate(filed_at) > deadline:
            _raise("filed_at", f"The filing deadline for {level.name} was {deadline.isoformat()}.")
        if expedited and level.expedited_decision_hours:
            due = filed_at + dt.timedelta(hours=level.expedited_decision_hours)
            basis = f"{level.expedited_decision_hours} hours (expedited), {level.name}"
        elif level.decision_deadline_days:
            due = filed_at + dt.timedelta(days=level.decision_deadline_days)
            basis = f"{level.decision_deadline_days} days, {level.name}"
        else:
            due, basis = None, f"{level.name} has no fixed decision time"
        _transition(
            request,
            Status.APPEAL_IN_PROGRESS,
            by=by,
            at=filed_at,
            note=note or f"appeal level {level.order}: {level.name}",
        )
        appeal = Appeal.objects.create(
            request=request,
            level_order=level.order,
            level_name=level.name,
            decided_by=level.decided_by,
            expedited=expedited,
            filed_at=filed_at,
            filing_deadline=deadline,
            decision_due_at=due,
            started_by=_user_or_none(by),
            level_terms=appeal_level_terms(level),
        )
        request.decision_due_at, request.decision_due_basis = due, basis
        request.appeal_file_by = None
        request.save()
        audit_change(by, AuditEntry.Action.UPDATE, request, http_request, f"appeal level {appeal.level_order}")
        return appeal


def request_withdraw(
    *, request: AuthorizationRequest, by: User, note: str = "", http_request: HttpRequest | None = None
) -> AuthorizationRequest:
    permissions.require(by, "request.withdraw", request)
    with transaction.atomic():
        request = _locked(request)
        _transition(request, Status.WITHDRAWN, by=by, note=note)
        request.decision_due_at, request.decision_due_basis, request.appeal_file_by = None, "", None
        request.save()
        audit_change(by, AuditEntry.Action.UPDATE, request, http_request, "withdraw")
        return request


def request_choose_payer_contact(
    *,
    request: AuthorizationRequest,
    payer_contact_id: int | None,
    by: User,
    http_request: HttpRequest | None = None,
) -> AuthorizationRequest:
    """The payer desk (payer directory) the request's letters are addressed to; None clears it.
    Only an entry of the request's own payer can be chosen."""
    from policies.models import PayerContact

    permissions.require(by, "request.payer_contact", request)
    with transaction.atomic():
        request = _locked(request)
        contact = None
        if payer_contact_id is not None:
            contact = PayerContact.objects.filter(pk=payer_contact_id, payer_id=request.payer_id).first()
            if contact is None:
                _raise("payer_contact", f"Must be one of {request.payer.name}'s entries in the payer directory.")
        request.payer_contact = contact
        request.save(update_fields=["payer_contact", "updated_at"])
        audit_change(by, AuditEntry.Action.UPDATE, request, http_request, f"payer contact {payer_contact_id}")
        return request


def authorizations_expire(*, today: dt.date | None = None) -> list[int]:
    """Approved requests whose authorization's validity window has ended become expired.
    Returns their primary keys."""
    # Each request's day is its practice's; none is later than the day at UTC+14.
    latest = today or (timezone.now() + dt.timedelta(hours=14)).date()
    candidates = (
        AuthorizationRequest.objects.filter(
            status__in=[Status.APPROVED, Status.APPEAL_APPROVED],
            decisions__decision=PayerDecision.Kind.APPROVED,
            decisions__valid_to__lt=latest,
        )
        .values_list("pk", flat=True)
        .distinct()
    )
    expired = []
    for pk in list(candidates):
        with transaction.atomic():
            request = _locked(AuthorizationRequest(pk=pk))
            last_approval = (
                request.decisions.filter(decision=PayerDecision.Kind.APPROVED).order_by("-received_at").first()
            )
            if (
                request.status not in (Status.APPROVED, Status.APPEAL_APPROVED)
                or not last_approval.valid_to
                or last_approval.valid_to >= (today or request.practice.localdate())
            ):
                continue
            _transition(
                request, Status.EXPIRED, by=None, note=f"authorization valid to {last_approval.valid_to.isoformat()}"
            )
            request.save()
            expired.append(pk)
    return expired


# ---------------------------------------------------------------------------------------------
# Attachments


# Declared type → the file's first bytes, so a renamed executable is not accepted as a PDF.
ATTACHMENT_TYPES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
}


def attachment_max_bytes() -> int:
    return getattr(settings, "PRIORAUTH_ATTACHMENT_MAX_BYTES", 20 * 1024 * 1024)


def attachment_add(
    *,
    request: AuthorizationRequest,
    kind: str,
    upload: UploadedFile,
    by: User,
    http_request: HttpRequest | None = None,
) -> Attachment:
    """Store an imaging report, therapy notes, ... through Django's storage API, after checking its
    type (declared and actual) and size."""
    permissions.require(by, "attachment.upload", request)
    errors: dict[str, str] = {}
    if kind not in Attachment.Kind.values:
        errors["kind"] = f"Must be one of: {', '.join(Attachment.Kind.values)}."
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    limit = attachment_max_bytes()
    if upload.size == 0:
        errors["file"] = "The file is empty."
    elif upload.size > limit:
        errors["file"] = f"The file is {upload.size} bytes; the limit is {limit} bytes."
    elif content_type not in ATTACHMENT_TYPES:
        errors["file"] = (
            f"Type {content_type or 'unknown'} is not accepted; send one of: {', '.join(ATTACHMENT_TYPES)}."
        )
    else:
        upload.seek(0)
        head = upload.read(16)
        if not head.startswith(ATTACHMENT_TYPES[content_type]):
            errors["file"] = f"The file's content is not {content_type}."
    name = (upload.name or "attachment").replace("\x00", "")[-255:]
    if not errors and content_type == "application/pdf":
        upload.seek(0)
        if found := pdf_active_content(upload.read()):
            errors["file"] = f"{name!a} carries {found}; attach a PDF without it (print it to a new PDF)."
    if errors:
        raise ValidationError(errors)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    attachment, watched = None, False
    try:
        with transaction.atomic():
            attachment = Attachment(
                request=request,
                kind=kind,
                original_name=name,
                content_type=content_type,
                size=upload.size,
                sha256=digest.hexdigest(),
                uploaded_by=_user_or_none(by),
            )
            # Stored under a random name with the extension of the checked type, never the uploader's.
            attachment.file.save(name, upload, save=False)
            watched = stored_files.written(attachment.file.storage, attachment.file.name)
            attachment.save()
            audit_change(by, AuditEntry.Action.CREATE, attachment, http_request, f"request {request.pk}")
    except BaseException:
        # The file is kept only with its record: deleted here if this transaction failed, or by
        # the caller's stored_files.deleted_on_rollback() if an outer one rolls back later.
        if attachment is not None and attachment.file.name and not watched:
            attachment.file.storage.delete(attachment.file.name)
        raise
    return attachment


# ---------------------------------------------------------------------------------------------
# Audit


def client_address(http_request: HttpRequest | None) -> str | None:
    """The caller's address: REMOTE_ADDR, or behind a trusted proxy (AUDIT_TRUST_X_FORWARDED_FOR) the
    address the proxy appended last. Anything that is not an IP address is recorded as unknown."""
    if http_request is None:
        return None
    address = http_request.META.get("REMOTE_ADDR", "")
    if getattr(settings, "AUDIT_TRUST_X_FORWARDED_FOR", False):
        forwarded = http_request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            address = forwarded.split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def client_address_for_throttle(http_request: HttpRequest) -> str:
    """django-axes's client address: the audit trail's, so both follow TRUST_X_FORWARDED_FOR."""
    return client_address(http_request) or http_request.META.get("REMOTE_ADDR", "")


# Every page that shows PHI writes one (priorauth.prepared.PreparedInsert: no per-call compiling).
_AUDIT_INSERT = PreparedInsert(AuditEntry)


def audit_record(
    *,
    user: User | None,
    action: str,
    obj: Model | None = None,
    model: type[Model] | None = None,
    request: HttpRequest | None = None,
    detail: str = "",
    username: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
) -> AuditEntry:
    """Append who did `action` to `obj` (or listed `model` objects), when and from where. `detail`
    must hold no PHI: operation names and primary keys only. `username` names who tried when there
    is no user (a failed sign-in); `object_type`/`object_id` name an object that was not loaded (a
    refused access)."""
    membership = None
    if getattr(user, "pk", None):
        try:
            membership = user.membership
        except Membership.DoesNotExist:
            membership = None
    if object_type is None:
        # obj._meta, not type(obj): a signed-in user may still be Django's lazy wrapper of one.
        object_type = (model._meta if model is not None else obj._meta).label_lower
    if object_id is None:
        object_id = str(obj.pk) if obj is not None and obj.pk is not None else ""
    return _AUDIT_INSERT.insert(
        AuditEntry(
            user=user if getattr(user, "pk", None) else None,
            username=(username if username is not None else getattr(user, "username", "")) or "",
            practice_id=membership.practice_id if membership else None,
            action=action,
            object_type=object_type[:100],
            object_id=object_id[:64],
            ip_address=client_address(request),
            detail=detail[:500],
        )
    )


# ---------------------------------------------------------------------------------------------
# Re-check after a policy change


def _changed_criteria(old: dict[str, str], determination: dict[str, Any]) -> list[dict[str, Any]]:
    changed = []
    seen = set()
    for section in ("clinical", "payer_rules"):
        for c in determination[section]["criteria"]:
            seen.add(c["key"])
            if old.get(c["key"]) != c["status"]:
                changed.append(
                    {
                        "key": c["key"],
                        "label": c["label"],
                        "old_status": old.get(c["key"]),
                        "new_status": c["status"],
                        "reason": c["reason"],
                    }
                )
    for key in sorted(old.keys() - seen):
        changed.append(
            {"key": key, "label": key, "old_status": old[key], "new_status": None, "reason": "criterion removed"}
        )
    return changed


def _batches(iterable: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(iterable)
    while batch := list(islice(iterator, size)):
        yield batch


RECHECK_CHUNK = 2000


def requests_recheck(*, version: PolicyVersion) -> RecheckRun:
    """Re-check every undecided request of the version's payer under the version, and record those
    whose decision differs from the decision on record, with the criteria that changed. Earlier
    unseen results for the payer are superseded (this run compares against the same records).
    Idempotent per version.

    The policy is compiled once and evaluated per request with no query inside the loop; rows are
    streamed in chunks and results written in bulk.
    """
    started = time.perf_counter()
    with transaction.atomic():
        run, _ = RecheckRun.objects.select_for_update().get_or_create(version=version)
        if run.finished_at is not None:
            return run
        payer_id = version.policy.payer_id
        run.previous = (
            PolicyVersion.objects.filter(policy_id=version.policy_id, revision__lt=version.revision)
            .order_by("-revision")
            .first()
        )
        compiled = compile_policy(version.snapshot, revision=version.revision)
        RecheckResult.objects.filter(request__payer_id=payer_id, seen_at__isnull=True, superseded=False).exclude(
            run=run
        ).update(superseded=True)
        rows = (
            AuthorizationRequest.objects.filter(payer_id=payer_id, status__in=UNDECIDED_STATUSES)
            .exclude(decision="")
            .order_by()
            .values_list("pk", "case", "decision", "criteria_statuses")
            .iterator(chunk_size=RECHECK_CHUNK)
        )
        checked = changed = 0
        for batch in _batches(rows, RECHECK_CHUNK):
            results = []
            for pk, case, old_decision, old_statuses in batch:
                new = evaluate(case, compiled)
                if new["decision"] != old_decision:
                    results.append(
                        RecheckResult(
                            run=run,
                            request_id=pk,
                            old_decision=old_decision,
                            new_decision=new["decision"],
                            changed_criteria=_changed_criteria(old_statuses, new),
                        )
                    )
            RecheckResult.objects.bulk_create(results, batch_size=RECHECK_CHUNK)
            checked += len(batch)
            changed += len(results)
        run.checked, run.changed = checked, changed
        run.finished_at = timezone.now()
        run.elapsed_seconds = time.perf_counter() - started
        run.save()
    logger.info(
        "re-check of policy version %s: %s checked, %s changed in %.1f s",
        version.pk,
        checked,
        changed,
        run.elapsed_seconds,
    )
    return run


def recheck_result_mark_seen(
    *, result: RecheckResult, by: User, http_request: HttpRequest | None = None
) -> RecheckResult:
    permissions.require(by, "recheck.seen", result)
    with transaction.atomic():
        result = RecheckResult.objects.select_for_update().get(pk=result.pk)
        if result.seen_at is None:
            result.seen_at = timezone.now()
            result.seen_by = by
            result.save(update_fields=["seen_at", "seen_by"])
        audit_change(by, AuditEntry.Action.UPDATE, result, http_request, "seen")
        return result


# ---------------------------------------------------------------------------------------------
# Follow-up (the dashboard's queues): when the payer sets no clock, staff set the day to chase it.


def request_follow_up_set(
    *, request: AuthorizationRequest, on: dt.date | None, by: User, http_request: HttpRequest | None = None
) -> AuthorizationRequest:
    """Set (or clear, with None) the day to follow up with the payer on a request it has and for
    which its policy sets no decision deadline. Billing staff only; recorded in the request's history."""
    permissions.require(by, "request.follow_up", request)
    with transaction.atomic():
        request = _locked(request)
        if request.status not in (Status.SENT, Status.APPEAL_IN_PROGRESS, Status.PENDED):
            _raise("follow_up_on", "A follow-up date is for a request the payer has (sent, pended or under appeal).")
        if on is not None and on < request.practice.localdate():
            _raise("follow_up_on", "Must be today or later.")
        if on is not None and request.decision_due_at and on > request.practice.localdate(request.decision_due_at):
            _raise(
                "follow_up_on",
                f"The payer's decision is due by {_day(request.decision_due_at)}; follow up by then.",
            )
        request.follow_up_on = on
        request.save(update_fields=["follow_up_on", "updated_at"])
        audit_change(by, AuditEntry.Action.UPDATE, request, http_request, "follow-up date")
        return request
