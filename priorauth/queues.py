"""The dashboard's queues: what is waiting on whom, counted in one query, with the first few of
each (soonest due first) and a link to the worklist that lists them all.

Billing staff's queues: drafts to finish, submitted but not sent, waiting for the payer (its clock,
or the follow-up date staff set when the payer has none), pended (what the payer asked for), denied
with the appeal clock, letters awaiting the physician's signature, signed letters ready to send.
A physician's queue: the letters waiting for their signature, and their patients' open requests.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, F, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from priorauth import selectors, worklist
from priorauth.models import (
    APPEALABLE_STATUSES,
    AWAITING_PAYER_STATUSES,
    LetterKind,
    LetterStatus,
    PayerDecision,
    Status,
)

FIRST_FEW = 5


@dataclass
class Queue:
    key: str
    title: str
    count: int
    url: str
    tone: str  # attention | waiting | todo (the left border; the count and title say it in words)
    items: list[dict[str, Any]] = field(default_factory=list)
    empty: str = "Nothing here."


def _worklist_url(**params: str) -> str:
    return reverse("pages:request-list") + "?" + urlencode(params)


def _request_item(r, *, now: dt.datetime, note: str = "") -> dict[str, Any]:
    return {
        "url": reverse("pages:request-detail", args=[r.pk]),
        "reference": r.reference,
        "patient": f"{r.patient.last_name}, {r.patient.first_name}",
        "payer": r.payer.name,
        "due": worklist.due_of(r, now=now),
        "note": note,
    }


def status_counts(*, user) -> dict[str, int]:
    """How many of the user's visible requests are in each status (one grouped count)."""
    qs = selectors.requests_visible_to(user).order_by()
    return dict(qs.values_list("status").annotate(n=Count("id")))


def request_counts(*, user, by_status: dict[str, int] | None = None) -> dict[str, int]:
    """Counts per queue, from the per-status counts (given, or counted here)."""
    c = by_status if by_status is not None else status_counts(user=user)
    return {
        "drafts": c.get(Status.DRAFT, 0),
        "submitted": c.get(Status.SUBMITTED, 0),
        "waiting": sum(c.get(s, 0) for s in AWAITING_PAYER_STATUSES),
        "pended": c.get(Status.PENDED, 0),
        "denied": sum(c.get(s, 0) for s in APPEALABLE_STATUSES),
    }


def _letters(user, status: str):
    from priorauth.models import Letter

    return Letter.objects.filter(
        request__in=selectors.requests_visible_to(user).values("pk"), status=status
    ).select_related("request__patient", "request__payer")


def billing_queues(*, user, now: dt.datetime | None = None, by_status: dict[str, int] | None = None) -> list[Queue]:
    now = now or timezone.now()
    counts = request_counts(user=user, by_status=by_status)
    base = selectors.request_list(user=user)
    queues: list[Queue] = []

    first = worklist.rows_by_ids
    drafts = first(base.filter(status=Status.DRAFT).order_by("created_at", "id"), FIRST_FEW)
    queues.append(
        Queue(
            "drafts",
            "Drafts to finish",
            counts["drafts"],
            _worklist_url(status=Status.DRAFT, sort="created"),
            "todo",
            [_request_item(r, now=now) for r in drafts],
            "No drafts.",
        )
    )
    submitted = first(base.filter(status=Status.SUBMITTED).order_by("submitted_at", "id"), FIRST_FEW)
    queues.append(
        Queue(
            "submitted",
            "Submitted, not yet sent",
            counts["submitted"],
            _worklist_url(status=Status.SUBMITTED, sort="created"),
            "todo",
            [_request_item(r, now=now) for r in submitted],
            "Everything submitted has been sent.",
        )
    )
    waiting = worklist.first_by_status(base, AWAITING_PAYER_STATUSES, ["decision_due_at", "follow_up_on"], FIRST_FEW)
    waiting_items = []
    for r in waiting:
        note = "" if r.decision_due_at or r.follow_up_on else "No payer clock: set a follow-up date"
        waiting_items.append(_request_item(r, now=now, note=note))
    queues.append(
        Queue(
            "waiting",
            "Waiting for the payer",
            counts["waiting"],
            _worklist_url(status=",".join(AWAITING_PAYER_STATUSES), sort="due"),
            "waiting",
            waiting_items,
            "Nothing is with a payer.",
        )
    )
    asked = PayerDecision.objects.filter(request=OuterRef("pk"), decision=PayerDecision.Kind.PENDED).order_by(
        "-received_at", "-id"
    )
    pended = first(
        base.filter(status=Status.PENDED)
        .annotate(asked=Subquery(asked.values("stated_reason")[:1]))
        .order_by("sent_at", "id"),
        FIRST_FEW,
    )
    queues.append(
        Queue(
            "pended",
            "Pended: the payer asks for more",
            counts["pended"],
            _worklist_url(status=Status.PENDED, sort="waiting"),
            "attention",
            [_request_item(r, now=now, note=f"Asked for: {r.asked}" if r.asked else "") for r in pended],
            "No pended requests.",
        )
    )
    denied = worklist.first_by_status(base, APPEALABLE_STATUSES, ["appeal_file_by"], FIRST_FEW)
    queues.append(
        Queue(
            "denied",
            "Denied: appeal clock running",
            counts["denied"],
            _worklist_url(status=",".join(APPEALABLE_STATUSES), sort="due"),
            "attention",
            [_request_item(r, now=now) for r in denied],
            "No denials to appeal.",
        )
    )

    letters_url = reverse("pages:letter-list")
    awaiting = _letters(user, LetterStatus.AWAITING_SIGNATURE)
    queues.append(
        Queue(
            "awaiting_signature",
            "Letters awaiting signature",
            awaiting.count(),
            letters_url,
            "waiting",
            [_letter_item(letter) for letter in awaiting.order_by("updated_at", "id")[:FIRST_FEW]],
            "No letter waits for a signature.",
        )
    )
    ready = _letters(user, LetterStatus.SIGNED).filter(
        Q(kind=LetterKind.PRIOR_AUTHORIZATION, request__status=Status.SUBMITTED)
        | Q(kind=LetterKind.APPEAL, request__status__in=APPEALABLE_STATUSES)
    )
    queues.append(
        Queue(
            "ready_to_send",
            "Signed letters ready to send",
            ready.count(),
            letters_url,
            "todo",
            [_letter_item(letter) for letter in ready.order_by("updated_at", "id")[:FIRST_FEW]],
            "No signed letter waits to be sent.",
        )
    )
    return queues


def _letter_item(letter) -> dict[str, Any]:
    r = letter.request
    return {
        "url": reverse("pages:letter-detail", args=[letter.pk]),
        "reference": r.reference,
        "patient": f"{r.patient.last_name}, {r.patient.first_name}",
        "payer": r.payer.name,
        "due": None,
        "note": letter.get_kind_display().split(" /")[0],
    }


def physician_queues(*, user, now: dt.datetime | None = None) -> list[Queue]:
    """The physician's own queue: letters for them to sign, and their patients' open requests."""
    now = now or timezone.now()
    awaiting = _letters(user, LetterStatus.AWAITING_SIGNATURE)
    counts = request_counts(user=user)
    open_requests = worklist.rows_by_ids(
        selectors.request_list(user=user)
        .filter(
            status__in=(
                Status.SUBMITTED,
                *AWAITING_PAYER_STATUSES,
                Status.PENDED,
                *APPEALABLE_STATUSES,
            )
        )
        .order_by(F("decision_due_at").asc(nulls_last=True), "-created_at"),
        FIRST_FEW,
    )
    return [
        Queue(
            "awaiting_signature",
            "Letters waiting for your signature",
            awaiting.count(),
            reverse("pages:letter-list"),
            "attention",
            [_letter_item(letter) for letter in awaiting.order_by("updated_at", "id")[:FIRST_FEW]],
            "No letter waits for your signature.",
        ),
        Queue(
            "open",
            "Your patients' open requests",
            counts["submitted"] + counts["waiting"] + counts["pended"] + counts["denied"],
            reverse("pages:request-list"),
            "waiting",
            [_request_item(r, now=now) for r in open_requests],
            "No open requests.",
        ),
    ]


def deadlines(*, user, within: dt.timedelta, limit: int = 20, now: dt.datetime | None = None) -> dict[str, Any]:
    """selectors.requests_due, bounded for a practice with thousands of open requests: the payer
    decisions (overdue, then due soon) and the appeal filing days within `within`, soonest first,
    at most `limit` of each, with their full counts."""
    now = now or timezone.now()
    horizon = now + within
    visible = selectors.request_list(user=user)
    decisions = visible.filter(status__in=AWAITING_PAYER_STATUSES, decision_due_at__lte=horizon)
    overdue = decisions.filter(decision_due_at__lt=now).order_by("decision_due_at", "id")
    soon = decisions.filter(decision_due_at__gte=now).order_by("decision_due_at", "id")
    appeals = visible.filter(status__in=APPEALABLE_STATUSES, appeal_file_by__lte=timezone.localdate(horizon)).order_by(
        "appeal_file_by", "id"
    )
    key_of = {
        id(overdue): ["decision_due_at"],
        id(soon): ["decision_due_at"],
        id(appeals): ["appeal_file_by"],
    }
    statuses_of = {
        id(overdue): AWAITING_PAYER_STATUSES,
        id(soon): AWAITING_PAYER_STATUSES,
        id(appeals): APPEALABLE_STATUSES,
    }

    def items(qs, kind_of) -> list[selectors.DueItem]:
        out = []
        for r in worklist.first_by_status(qs.order_by(), statuses_of[id(qs)], key_of[id(qs)], limit):
            kind = kind_of(r)
            due = r.decision_due_at if kind != "appeal_filing" else selectors._end_of_day(r.appeal_file_by)
            out.append(selectors.DueItem(request=r, kind=kind, due_at=due, overdue=due < now))
        return out

    def decision_kind(r) -> str:
        return "appeal_decision" if r.status == Status.APPEAL_IN_PROGRESS else "payer_decision"

    return {
        "decisions_overdue": items(overdue, decision_kind),
        "decisions_overdue_count": overdue.count(),
        "decisions_soon": items(soon, decision_kind),
        "decisions_soon_count": soon.count(),
        "appeals_soon": items(appeals, lambda r: "appeal_filing"),
        "appeals_soon_count": appeals.count(),
    }
