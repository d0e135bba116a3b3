"""Reads of the prior-authorization workflow. Every queryset a user's action starts from is scoped
here to what that user may see, so that a foreign object is simply not found (404):

- billing staff and admins: their practice's records;
- a physician: the requests where they are the treating physician (and those requests' patients);
- a user without a membership (even a superuser): nothing.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Model, QuerySet
from django.http import Http404
from django.utils import timezone

from policies.models import AppealLevel
from priorauth import permissions
from priorauth.models import (
    APPEALABLE_STATUSES,
    AWAITING_PAYER_STATUSES,
    Attachment,
    AuditEntry,
    AuthorizationRequest,
    Membership,
    Patient,
    PayerDecision,
    Provider,
    RecheckResult,
    Role,
    Status,
)
from priorauth.permissions import User

if TYPE_CHECKING:
    from priorauth.models import FaxPacket, Letter

M = TypeVar("M", bound=Model)
MAX_ID = 2**63 - 1  # ids beyond a bigint are not found rather than a database error


def membership_of(user: AbstractBaseUser | AnonymousUser) -> Membership | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    # Read once per user object with its practice (every page names the practice): one query, not two.
    cache = user._state.fields_cache
    if "membership" not in cache:
        membership = Membership.objects.select_related("practice").filter(user=user).first()
        if membership is not None:
            membership._state.fields_cache["user"] = user
        cache["membership"] = membership
    return cache["membership"]


def role_of(user: AbstractBaseUser | AnonymousUser) -> str | None:
    membership = membership_of(user)
    return membership.role if membership else None


def requests_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[AuthorizationRequest]:
    membership = membership_of(user)
    qs = AuthorizationRequest.objects.select_related(
        "payer", "patient", "treating_physician", "practice", "policy_version"
    )
    if membership is None:
        return qs.none()
    qs = qs.filter(practice_id=membership.practice_id)
    if membership.role == Role.PHYSICIAN:
        qs = qs.filter(treating_physician__user=user)
    return qs


def patients_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Patient]:
    membership = membership_of(user)
    if membership is None:
        return Patient.objects.none()
    qs = Patient.objects.filter(practice_id=membership.practice_id)
    if membership.role == Role.PHYSICIAN:
        qs = qs.filter(requests__treating_physician__user=user).distinct()
    return qs


def providers_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Provider]:
    membership = membership_of(user)
    if membership is None:
        return Provider.objects.none()
    return Provider.objects.filter(practice_id=membership.practice_id)


def attachments_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Attachment]:
    return Attachment.objects.filter(request__in=requests_visible_to(user).values("pk"))


def recheck_results_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[RecheckResult]:
    return RecheckResult.objects.filter(request__in=requests_visible_to(user).values("pk")).select_related(
        "request__payer", "run__version"
    )


def audit_entries_visible_to(user: User) -> QuerySet[AuditEntry]:
    """Admins see their practice's audit trail; nobody else sees any."""
    if not permissions.can(user, "audit.list"):
        return AuditEntry.objects.none()
    return AuditEntry.objects.filter(practice_id=membership_of(user).practice_id)


def get_visible(queryset: QuerySet[M], pk: Any) -> M:
    """The object with that primary key in the (scoped) queryset, or 404."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404 from None
    if not 0 < pk <= MAX_ID:
        raise Http404
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


def request_get(*, user: AbstractBaseUser | AnonymousUser, pk: Any) -> AuthorizationRequest:
    return get_visible(requests_visible_to(user), pk)


def request_detail_get(*, user: AbstractBaseUser | AnonymousUser, pk: Any) -> AuthorizationRequest:
    """The request with everything its detail shows (history, decisions, appeals, attachments)."""
    qs = requests_visible_to(user).prefetch_related(
        "transitions__by", "decisions__appeal", "appeals", "attachments__uploaded_by", "sendings"
    )
    return get_visible(qs, pk)


def request_list(
    *,
    user: AbstractBaseUser | AnonymousUser,
    statuses: list[str] | None = None,
    payer: str | None = None,
    physician: int | None = None,
    patient: int | None = None,
    created_since: dt.date | None = None,
    created_until: dt.date | None = None,
    decision_due_before: dt.datetime | None = None,
) -> QuerySet[AuthorizationRequest]:
    qs = requests_visible_to(user)
    if statuses:
        qs = qs.filter(status__in=statuses)
    if payer:
        qs = qs.filter(payer__code=payer)
    if physician:
        qs = qs.filter(treating_physician_id=physician)
    if patient:
        qs = qs.filter(patient_id=patient)
    if created_since:
        qs = qs.filter(created_at__date__gte=created_since)
    if created_until:
        qs = qs.filter(created_at__date__lte=created_until)
    if decision_due_before:
        qs = qs.filter(decision_due_at__lt=decision_due_before)
    # A list shows summaries: leave out the JSON a row does not show (about 25 kB a row with the
    # policy snapshot, decoded for nothing; bench/load_bench.py). Read on access if anyone needs it.
    qs = qs.defer("case", "determination", "criteria_statuses", "policy_version__snapshot")
    return qs.order_by("-created_at", "-id")


def next_appeal_level(request: AuthorizationRequest) -> AppealLevel | None:
    """The payer's appeal level after the last one this request went through (the first if none)."""
    last = request.appeals.order_by("-level_order").values_list("level_order", flat=True).first() or 0
    return AppealLevel.objects.filter(policy__payer_id=request.payer_id, order__gt=last).order_by("order").first()


# ---------------------------------------------------------------------------------------------
# Deadlines


@dataclass(frozen=True)
class DueItem:
    request: AuthorizationRequest
    kind: str  # payer_decision | appeal_decision | appeal_filing
    due_at: dt.datetime
    overdue: bool


def _end_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(23, 59, 59)))


DUE_LIMIT = 100


class DueItems(list):
    """At most a limit of DueItems, soonest first; `total` counts every one due, `more` those left off."""

    total: int = 0

    @property
    def more(self) -> int:
        return self.total - len(self)


def requests_due(
    *,
    user: AbstractBaseUser | AnonymousUser,
    within: dt.timedelta,
    now: dt.datetime | None = None,
    limit: int = DUE_LIMIT,
) -> DueItems:
    """Deadlines that have passed or fall within `within`: the payer's decision on a sent request or
    on an appeal, and the last day to file the next appeal level after a denial. Soonest first, at
    most `limit` of them (a practice may have thousands open), with how many there are in all."""
    now = now or timezone.now()
    horizon = now + within
    visible = requests_visible_to(user)
    # Each kind soonest first in the database, at most `limit` of each; then the two merged.
    decisions = visible.filter(status__in=AWAITING_PAYER_STATUSES, decision_due_at__lte=horizon)
    appeals = visible.filter(status__in=APPEALABLE_STATUSES, appeal_file_by__lte=timezone.localdate(horizon))
    items = []
    for request in decisions.order_by("decision_due_at", "id")[:limit]:
        kind = "appeal_decision" if request.status == Status.APPEAL_IN_PROGRESS else "payer_decision"
        items.append(
            DueItem(request=request, kind=kind, due_at=request.decision_due_at, overdue=request.decision_due_at < now)
        )
    for request in appeals.order_by("appeal_file_by", "id")[:limit]:
        due = _end_of_day(request.appeal_file_by)
        items.append(DueItem(request=request, kind="appeal_filing", due_at=due, overdue=due < now))
    out = DueItems(sorted(items, key=lambda item: (item.due_at, item.request.pk))[:limit])
    out.total = decisions.count() + appeals.count()
    return out


# ---------------------------------------------------------------------------------------------
# Payer metrics


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def payer_metrics(
    *, requests: QuerySet[AuthorizationRequest], since: dt.date | None = None, until: dt.date | None = None
) -> list[dict[str, Any]]:
    """The figures CMS-0057-F asks payers to publish, from the practice's side, per payer, for the
    requests first sent to the payer between `since` and `until` (inclusive, local dates):

    - requests: how many were sent; decided: how many got a final answer (approved or denied; a pend
      is not one); pending: sent and not yet decided;
    - approval_pct / denial_pct: initial approvals / denials as a share of decided requests;
    - approved_after_appeal_pct: requests denied, then approved at some appeal level, as a share of
      decided requests;
    - avg_days_to_decision / median_days_to_decision: from first sending to the initial final answer.
    """
    qs = requests.filter(first_sent_at__isnull=False)
    if since:
        qs = qs.filter(first_sent_at__date__gte=since)
    if until:
        qs = qs.filter(first_sent_at__date__lte=until)
    sent = {
        pk: (code, name, at)
        for pk, code, name, at in qs.values_list("pk", "payer__code", "payer__name", "first_sent_at")
    }
    initial: dict[int, tuple[str, dt.datetime]] = {}
    approved_on_appeal: set[int] = set()
    decisions = (
        # A subquery, not a list of ids: SQLite refuses more than 32,766 parameters in one statement.
        PayerDecision.objects.filter(request__in=qs.values("pk"))
        .exclude(decision=PayerDecision.Kind.PENDED)
        .order_by("received_at", "id")
        .values_list("request_id", "appeal_id", "decision", "received_at")
    )
    for request_id, appeal_id, decision, received_at in decisions:
        if appeal_id is None:
            initial.setdefault(request_id, (decision, received_at))
        elif decision == PayerDecision.Kind.APPROVED:
            approved_on_appeal.add(request_id)

    by_payer: dict[str, dict[str, Any]] = {}
    for pk, (code, name, first_sent_at) in sent.items():
        row = by_payer.setdefault(
            code,
            {
                "payer": code,
                "payer_name": name,
                "requests": 0,
                "approved": 0,
                "denied": 0,
                "approved_after_appeal": 0,
                "days": [],
            },
        )
        row["requests"] += 1
        if pk in initial:
            decision, received_at = initial[pk]
            row[decision] += 1
            row["days"].append((received_at - first_sent_at).total_seconds() / 86400)
            if decision == PayerDecision.Kind.DENIED and pk in approved_on_appeal:
                row["approved_after_appeal"] += 1

    result = []
    for code in sorted(by_payer):
        row = by_payer[code]
        days = row.pop("days")
        decided = row["approved"] + row["denied"]
        result.append(
            {
                **row,
                "decided": decided,
                "pending": row["requests"] - decided,
                "approval_pct": _pct(row["approved"], decided),
                "denial_pct": _pct(row["denied"], decided),
                "approved_after_appeal_pct": _pct(row["approved_after_appeal"], decided),
                "avg_days_to_decision": round(statistics.fmean(days), 2) if days else None,
                "median_days_to_decision": round(statistics.median(days), 2) if days else None,
            }
        )
    return result


# ---------------------------------------------------------------------------------------------
# Letters: the practice's billing staff and the treating physician only (letters carry the whole
# case); admins and other physicians of the practice find none.


def letters_visible_to(user: User) -> QuerySet[Letter]:
    from django.db.models import Prefetch

    from priorauth.models import Letter, LetterRevision

    if not permissions.can(user, "letter.list"):  # billing staff and physicians; not admins
        return Letter.objects.none()
    revisions = LetterRevision.objects.order_by("number").select_related("superseded_by").prefetch_related("jobs")
    return (
        Letter.objects.filter(request__in=requests_visible_to(user).values("pk"))
        .select_related("request", "appeal", "current_revision")
        .prefetch_related(Prefetch("revisions", queryset=revisions))
    )


def letter_get(*, user: AbstractBaseUser | AnonymousUser, pk: Any) -> Letter:
    return get_visible(letters_visible_to(user), pk)


def packets_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[FaxPacket]:
    """Fax packets of the letters the user may see (billing staff and the treating physician)."""
    from priorauth.models import FaxPacket

    return FaxPacket.objects.filter(letter__in=letters_visible_to(user).values("pk")).select_related(
        "letter__request", "revision"
    )


def packet_get(*, user: AbstractBaseUser | AnonymousUser, pk: Any) -> FaxPacket:
    return get_visible(packets_visible_to(user), pk)
