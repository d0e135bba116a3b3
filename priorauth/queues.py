"""The dashboard's queues: what is waiting on whom, counted in one query, with the first few of
each (soonest due first) and a link to the worklist that lists them all.

Billing staff's queues: drafts to finish, submitted but not sent, waiting for the payer (its clock,
or the follow-up date staff set when the payer has none), pended (what the payer asked for), denied
with the appeal clock, letters awaiting the physician's signature, signed letters ready to send.
A physician's queue: the letters waiting for their signature, and their patients' open requests.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import F, OuterRef, QuerySet, Subquery, Sum
from django.urls import reverse
from django.utils import timezone

from priorauth import selectors, worklist
from priorauth.models import (
    APPEALABLE_STATUSES,
    AWAITING_PAYER_STATUSES,
    Letter,
    LetterKind,
    LetterStatus,
    PayerDecision,
    Provider,
    RequestStatusCount,
    Role,
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


def status_counts(*, user: AbstractBaseUser, payer: str = "", physician: int | None = None) -> dict[str, int]:
    """How many of the user's visible requests are in each status, exact: read from the counts the
    database keeps per practice, physician, payer and status (models.RequestStatusCount), a few
    hundred rows at most, never the practice's requests themselves."""
    return {k: int(v) for k, v in _counts_queryset(user, payer=payer, physician=physician).values_list("status", "t")}


def _counts_queryset(user: AbstractBaseUser, *, payer: str = "", physician: int | None = None) -> QuerySet:
    membership = selectors.membership_of(user)
    if membership is None:
        return RequestStatusCount.objects.none().values("status").annotate(t=Sum("n"))
    qs = RequestStatusCount.objects.filter(practice_id=membership.practice_id)
    if membership.role == Role.PHYSICIAN:
        # The same scope as selectors.requests_visible_to: their own patients' requests.
        qs = qs.filter(
            treating_physician_id__in=Provider.objects.filter(practice_id=membership.practice_id, user=user).values(
                "pk"
            )
        )
    if payer:
        qs = qs.filter(payer__code=payer)
    if physician:
        qs = qs.filter(treating_physician_id=physician)
    return qs.order_by().values("status").annotate(t=Sum("n"))


def request_counts(*, user: AbstractBaseUser, by_status: dict[str, int] | None = None) -> dict[str, int]:
    """Counts per queue, from the per-status counts (given, or counted here)."""
    c = by_status if by_status is not None else status_counts(user=user)
    return {
        "drafts": c.get(Status.DRAFT, 0),
        "submitted": c.get(Status.SUBMITTED, 0),
        "waiting": sum(c.get(s, 0) for s in AWAITING_PAYER_STATUSES),
        "pended": c.get(Status.PENDED, 0),
        "denied": sum(c.get(s, 0) for s in APPEALABLE_STATUSES),
    }


def _letters(user: AbstractBaseUser, status: str) -> QuerySet[Letter]:
    # Scoped by a join on the request's practice (and physician), not "request IN (every visible
    # request)": a busy practice's 100,000 ids would be read to find a handful of letters.
    membership = selectors.membership_of(user)
    if membership is None:
        return Letter.objects.none()
    qs = Letter.objects.filter(status=status, request__practice_id=membership.practice_id)
    if membership.role == Role.PHYSICIAN:
        qs = qs.filter(request__treating_physician__user=user)
    return qs.select_related("request__patient", "request__payer")


_LABEL = re.compile(r"[a-z_:]+")


class Batch:
    """Several bounded lists (the first few ids of an ordered queryset) and counts, read in one
    round trip: one UNION ALL of the querysets' own SQL, each branch in a subquery so that its
    ORDER BY and LIMIT hold on SQLite too. The dashboard asks for some thirty of them; one query
    each was most of its time on a busy database (bench/worklist_bench.py)."""

    def __init__(self) -> None:
        self._sql: list[str] = []
        self._params: list[Any] = []

    def _add(self, label: str, select: str, qs: QuerySet) -> None:
        assert _LABEL.fullmatch(label), label  # a literal of ours, never input
        sql, params = qs.query.sql_with_params()
        self._sql.append(f"SELECT '{label}' AS k, {select} FROM ({sql}) AS b{len(self._sql)}")
        self._params += list(params)

    def first(self, label: str, qs: QuerySet, limit: int) -> None:
        # The branch's only column is the id (values_list): ORDER BY and LIMIT stay inside it.
        self._add(label, f"b{len(self._sql)}.*", qs.values_list("pk")[:limit])

    def count(self, label: str, qs: QuerySet) -> None:
        self._add(label, "COUNT(*)", qs.order_by().values_list("pk"))

    def grouped(self, prefix: str, qs: QuerySet) -> None:
        """A values(key).annotate(t=...) queryset: one row per key, labelled prefix + key."""
        assert _LABEL.fullmatch(prefix), prefix
        sql, params = qs.query.sql_with_params()
        n = len(self._sql)
        key = next(iter(qs.query.values_select))
        self._sql.append(f"SELECT '{prefix}' || b{n}.{key} AS k, b{n}.t FROM ({sql}) AS b{n}")
        self._params += list(params)

    def run(self) -> dict[str, list[int]]:
        """{label: [values]}: a list's ids in its order, a count as a one-item list."""
        out: dict[str, list[int]] = {}
        if not self._sql:
            return out
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(self._sql), self._params)
            for label, value in cursor.fetchall():
                out.setdefault(label, []).append(int(value or 0))
        return out


def _merged(rows: dict[int, Any], ids: list[int], keys: list[str], limit: int) -> list[Any]:
    """The first `limit` of rows read by status, merged: ascending by `keys`, empty last, then id."""
    far = dt.datetime.max.replace(tzinfo=dt.UTC)

    def sort_key(r: Any) -> tuple[Any, ...]:
        out: list[Any] = []
        for k in keys:
            value = getattr(r, k)
            if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
                value = dt.datetime.combine(value, dt.time.min, tzinfo=dt.UTC)
            out += [value is None, value or far]
        return (*out, r.pk)

    return sorted((rows[pk] for pk in dict.fromkeys(ids) if pk in rows), key=sort_key)[:limit]


def dashboard(
    *, user: AbstractBaseUser, within: dt.timedelta, limit: int = 20, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Everything the billing dashboard shows, in three queries whatever the practice's size: the
    per-status counts, the queues (count and first few) and the payer/appeal deadlines (the first
    `limit` and the full count of each), and the unseen policy-change results. Each list is one
    ordered index scan per status ((practice, status, key) indexes) that stops at its limit; the
    rows are then read once, with their joins."""
    now = now or timezone.now()
    horizon = now + within
    base = selectors.request_list(user=user).order_by()
    batch = Batch()
    batch.grouped("status:", _counts_queryset(user))
    batch.first("drafts", base.filter(status=Status.DRAFT).order_by("created_at", "id"), FIRST_FEW)
    batch.first("submitted", base.filter(status=Status.SUBMITTED).order_by("submitted_at", "id"), FIRST_FEW)
    # Across statuses, one ordered scan of a partial index each (pa_request_awaiting_due,
    # pa_request_appealable_file_by): the filter names the statuses exactly as the index does.
    awaiting_ = base.filter(status__in=AWAITING_PAYER_STATUSES)
    appealable = base.filter(status__in=APPEALABLE_STATUSES)
    due_order = [F("decision_due_at").asc(nulls_last=True), F("follow_up_on").asc(nulls_last=True), "id"]
    batch.first("waiting", awaiting_.order_by(*due_order), FIRST_FEW)
    batch.first("pended", base.filter(status=Status.PENDED).order_by("sent_at", "id"), FIRST_FEW)
    file_order = [F("appeal_file_by").asc(nulls_last=True), "id"]
    batch.first("denied", appealable.order_by(*file_order), FIRST_FEW)
    # The deadlines (selectors.requests_due, bounded).
    overdue = awaiting_.filter(decision_due_at__lt=now)
    soon = awaiting_.filter(decision_due_at__gte=now, decision_due_at__lte=horizon)
    appeals = appealable.filter(appeal_file_by__lte=timezone.localdate(horizon))
    batch.first("overdue", overdue.order_by(*due_order), limit)
    batch.first("soon", soon.order_by(*due_order), limit)
    batch.first("appeals", appeals.order_by(*file_order), limit)
    batch.count("overdue_count", overdue)
    batch.count("soon_count", soon)
    batch.count("appeals_count", appeals)
    awaiting = _letters(user, LetterStatus.AWAITING_SIGNATURE)
    # Signed letters ready to send: a prior-authorization letter of a submitted request, an appeal
    # letter of a denied one. Two branches, not one OR across the join (which PostgreSQL took ten
    # times longer to plan than to run).
    signed = _letters(user, LetterStatus.SIGNED)
    ready_pa = signed.filter(kind=LetterKind.PRIOR_AUTHORIZATION, request__status=Status.SUBMITTED)
    ready_appeal = signed.filter(kind=LetterKind.APPEAL, request__status__in=APPEALABLE_STATUSES)
    batch.first("letters_awaiting", awaiting.order_by("updated_at", "id"), FIRST_FEW)
    batch.first("letters_ready", ready_pa.order_by("updated_at", "id"), FIRST_FEW)
    batch.first("letters_ready", ready_appeal.order_by("updated_at", "id"), FIRST_FEW)
    batch.count("letters_awaiting_count", awaiting)
    batch.count("letters_ready_count", ready_pa)
    batch.count("letters_ready_count", ready_appeal)
    batch.count(
        "changes_count",
        selectors.recheck_results_visible_to(user).filter(seen_at__isnull=True, superseded=False),
    )
    found = batch.run()

    by_status = {label.split(":", 1)[1]: n[0] for label, n in found.items() if label.startswith("status:")}
    request_ids = [
        pk
        for key in ("drafts", "submitted", "waiting", "pended", "denied", "overdue", "soon", "appeals")
        for pk in found.get(key, [])
    ]
    asked = PayerDecision.objects.filter(request=OuterRef("pk"), decision=PayerDecision.Kind.PENDED).order_by(
        "-received_at", "-id"
    )
    rows = {
        r.pk: r
        for r in worklist.rows_by_ids(
            base.annotate(asked=Subquery(asked.values("stated_reason")[:1])), ids=list(dict.fromkeys(request_ids))
        )
    }
    letter_ids = found.get("letters_awaiting", []) + found.get("letters_ready", [])
    letters = (
        {
            letter.pk: letter
            for letter in Letter.objects.filter(pk__in=letter_ids).select_related("request__patient", "request__payer")
        }
        if letter_ids
        else {}
    )

    def in_order(key: str) -> list[Any]:
        return [rows[pk] for pk in found.get(key, []) if pk in rows]

    def due_items(key: str, keys: list[str], kind_of) -> list[selectors.DueItem]:
        out = []
        for r in _merged(rows, found.get(key, []), keys, limit):
            kind = kind_of(r)
            due = r.decision_due_at if kind != "appeal_filing" else selectors._end_of_day(r.appeal_file_by)
            out.append(selectors.DueItem(request=r, kind=kind, due_at=due, overdue=due < now))
        return out

    def decision_kind(r: Any) -> str:
        return "appeal_decision" if r.status == Status.APPEAL_IN_PROGRESS else "payer_decision"

    counts = request_counts(user=user, by_status=by_status)
    queues_ = [
        Queue(
            "drafts",
            "Drafts to finish",
            counts["drafts"],
            _worklist_url(status=Status.DRAFT, sort="created"),
            "todo",
            [_request_item(r, now=now) for r in in_order("drafts")],
            "No drafts.",
        ),
        Queue(
            "submitted",
            "Submitted, not yet sent",
            counts["submitted"],
            _worklist_url(status=Status.SUBMITTED, sort="created"),
            "todo",
            [_request_item(r, now=now) for r in in_order("submitted")],
            "Everything submitted has been sent.",
        ),
        Queue(
            "waiting",
            "Waiting for the payer",
            counts["waiting"],
            _worklist_url(status=",".join(AWAITING_PAYER_STATUSES), sort="due"),
            "waiting",
            [
                _request_item(
                    r,
                    now=now,
                    note="" if r.decision_due_at or r.follow_up_on else "No payer clock: set a follow-up date",
                )
                for r in _merged(rows, found.get("waiting", []), ["decision_due_at", "follow_up_on"], FIRST_FEW)
            ],
            "Nothing is with a payer.",
        ),
        Queue(
            "pended",
            "Pended: the payer asks for more",
            counts["pended"],
            _worklist_url(status=Status.PENDED, sort="waiting"),
            "attention",
            [_request_item(r, now=now, note=f"Asked for: {r.asked}" if r.asked else "") for r in in_order("pended")],
            "No pended requests.",
        ),
        Queue(
            "denied",
            "Denied: appeal clock running",
            counts["denied"],
            _worklist_url(status=",".join(APPEALABLE_STATUSES), sort="due"),
            "attention",
            [_request_item(r, now=now) for r in _merged(rows, found.get("denied", []), ["appeal_file_by"], FIRST_FEW)],
            "No denials to appeal.",
        ),
        Queue(
            "awaiting_signature",
            "Letters awaiting signature",
            found.get("letters_awaiting_count", [0])[0],
            reverse("pages:letter-list"),
            "waiting",
            [_letter_item(letters[pk]) for pk in found.get("letters_awaiting", []) if pk in letters],
            "No letter waits for a signature.",
        ),
        Queue(
            "ready_to_send",
            "Signed letters ready to send",
            sum(found.get("letters_ready_count", [])),
            reverse("pages:letter-list"),
            "todo",
            [
                _letter_item(letter)
                for letter in sorted(
                    (letters[pk] for pk in found.get("letters_ready", []) if pk in letters),
                    key=lambda letter: (letter.updated_at, letter.pk),
                )[:FIRST_FEW]
            ],
            "No signed letter waits to be sent.",
        ),
    ]
    return {
        "status_counts": by_status,
        "queues": queues_,
        "unseen_changes": found.get("changes_count", [0])[0],
        "decisions_overdue": due_items("overdue", ["decision_due_at"], decision_kind),
        "decisions_overdue_count": found.get("overdue_count", [0])[0],
        "decisions_soon": due_items("soon", ["decision_due_at"], decision_kind),
        "decisions_soon_count": found.get("soon_count", [0])[0],
        "appeals_soon": due_items("appeals", ["appeal_file_by"], lambda r: "appeal_filing"),
        "appeals_soon_count": found.get("appeals_count", [0])[0],
    }


def billing_queues(
    *, user: AbstractBaseUser, now: dt.datetime | None = None, by_status: dict[str, int] | None = None
) -> list[Queue]:
    """The billing staff's queues (see `dashboard`, which reads them with the rest of the page)."""
    return dashboard(user=user, within=dt.timedelta(days=7), now=now)["queues"]


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


def deadlines(
    *, user: AbstractBaseUser, within: dt.timedelta, limit: int = 20, now: dt.datetime | None = None
) -> dict[str, Any]:
    """selectors.requests_due, bounded for a practice with thousands of open requests: the payer
    decisions (overdue, then due soon) and the appeal filing days within `within`, soonest first,
    at most `limit` of each, with their full counts."""
    board = dashboard(user=user, within=within, limit=limit, now=now)
    keys = ("decisions_overdue", "decisions_soon", "appeals_soon")
    return {k: v for k, v in board.items() if k.startswith(keys)}
