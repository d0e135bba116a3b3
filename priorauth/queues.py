"""The dashboard's queues: what is waiting on whom, counted in one query, with the first few of
each (soonest due first) and a link to the worklist that lists them all.

Billing staff's queues: drafts to finish, submitted but not sent, waiting for the payer (its clock,
or the follow-up date staff set when the payer has none), pended (what the payer asked for), denied
with the appeal clock, letters awaiting the physician's signature, signed letters ready to send.
A physician's queue: the letters waiting for their signature, and their patients' open requests.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import F, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone

from policies.models import Payer
from priorauth import prepared, selectors, worklist
from priorauth.models import (
    APPEALABLE_STATUSES,
    AWAITING_PAYER_STATUSES,
    AuthorizationRequest,
    Letter,
    LetterKind,
    LetterStatus,
    Patient,
    PayerDecision,
    Provider,
    RecheckResult,
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
    return worklist.url_path("pages:request-list") + "?" + urlencode(params)


def _request_item(r, *, now: dt.datetime, note: str = "", tz: dt.tzinfo | None = None) -> dict[str, Any]:
    return {
        "url": worklist.request_url(r.pk),
        "reference": r.reference,
        "patient": f"{r.patient.last_name}, {r.patient.first_name}",
        "payer": r.payer.name,
        "due": worklist.due_of(r, now=now, tz=tz),
        "note": note,
    }


def status_counts(*, user: AbstractBaseUser, payer: str = "", physician: int | None = None) -> dict[str, int]:
    """How many of the user's visible requests are in each status, exact: read from the counts the
    database keeps per practice, physician, payer and status (models.RequestStatusCount), a few
    hundred rows at most, never the practice's requests themselves."""
    return {
        k: int(v) for k, v in status_counts_queryset(user, payer=payer, physician=physician).values_list("status", "t")
    }


def status_counts_queryset(user: AbstractBaseUser, *, payer: str = "", physician: int | None = None) -> QuerySet:
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


def _in(values: tuple[str, ...] | list[str]) -> str:
    """A status list as SQL literals: our own constants (models.Status), never input."""
    assert all(v in Status.values or v in LetterStatus.values or v in LetterKind.values for v in values)
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _item_columns() -> list[tuple[str, Any]]:
    """The columns a queue or deadline item shows (ItemRow after its id), as SQL over the request
    (r), its patient (p) and payer (y), each with the model field that says how it is read back."""
    request, patient = AuthorizationRequest._meta, Patient._meta
    decision = PayerDecision._meta
    q = connection.ops.quote_name

    def col(meta, alias: str, name: str) -> tuple[str, Any]:
        field = meta.get_field(name)
        return f"{alias}.{q(field.column)}", field

    # The payer's question of a pended request: its latest "pended" decision's stated reason (looked
    # up for the pended rows only).
    asked = (
        f"CASE WHEN r.{q(request.get_field('status').column)} = '{Status.PENDED}' THEN "
        f"(SELECT d.{q(decision.get_field('stated_reason').column)} FROM {q(decision.db_table)} d "
        f"WHERE d.{q(decision.get_field('request').column)} = r.id AND d.{q(decision.get_field('decision').column)} "
        f"= '{PayerDecision.Kind.PENDED}' ORDER BY d.{q(decision.get_field('received_at').column)} DESC, d.id DESC "
        "LIMIT 1) END"
    )
    return [
        col(request, "r", "reference"),
        col(request, "r", "status"),
        col(request, "r", "decision_due_at"),
        col(request, "r", "appeal_file_by"),
        col(request, "r", "follow_up_on"),
        col(request, "r", "sent_at"),
        (asked, decision.get_field("stated_reason")),
        col(patient, "p", "first_name"),
        col(patient, "p", "last_name"),
        col(Payer._meta, "y", "name"),
    ]


@functools.lru_cache(maxsize=4)
def _converters(vendor: str) -> list[tuple[int, list[Any], Any]]:
    """Each item column's converters, as Django's own reads apply them (SQLite returns dates as
    text); per database vendor, made once."""
    out = []
    for i, (_, model_field) in enumerate(_item_columns()):
        expression = model_field.get_col(model_field.model._meta.db_table)
        convs = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        if convs:  # PostgreSQL needs none of them: its driver returns dates and moments typed
            out.append((i, convs, expression))
    return out


@functools.lru_cache(maxsize=32)
def _board_sql(*, physician: bool, limit: int, count_cap: int | None, vendor: str) -> tuple[str, tuple[Any, ...]]:
    """The board's statement and its parameters by name ("practice", "user", "now", "horizon",
    "last_day"; other values as they are): the same text for every page of a kind of member (made
    once: building it on every page cost as much CPU as reading its rows)."""
    requests, counts = AuthorizationRequest._meta.db_table, RequestStatusCount._meta.db_table
    letters, results = Letter._meta.db_table, RecheckResult._meta.db_table
    providers, patients, payers = Provider._meta.db_table, Patient._meta.db_table, Payer._meta.db_table
    columns = _item_columns()
    nulls = ", ".join(f"CAST(NULL AS {f.cast_db_type(connection)})" for _, f in columns)
    scope, scope_params = "r.practice_id = %s", ["practice"]
    if physician:
        scope += f" AND r.treating_physician_id IN (SELECT id FROM {providers} WHERE user_id = %s)"
        scope_params.append("user")
    awaiting, appealable = _in(AWAITING_PAYER_STATUSES), _in(APPEALABLE_STATUSES)
    due_order = "r.decision_due_at ASC NULLS LAST, r.follow_up_on ASC NULLS LAST, r.id"
    file_order = "r.appeal_file_by ASC NULLS LAST, r.id"
    parts: list[tuple[str, list[Any]]] = [
        (
            f"SELECT 'status:' || r.status AS k, SUM(r.n) AS v, {nulls} FROM {counts} r WHERE {scope} "
            "GROUP BY r.status",
            scope_params,
        )
    ]

    row_columns = ", ".join(f"{sql} AS c{i}" for i, (sql, _) in enumerate(columns))
    row_names = ", ".join(f"b.c{i}" for i in range(len(columns)))

    def first(label: str, where: str, order: str, n: int, params: list[Any] = (), table: str = "") -> None:
        if table:  # letters: their ids only (read as models when there are any)
            sql = (
                f"SELECT '{label}' AS k, b.id AS v, {nulls} FROM (SELECT l.id FROM {table} "
                f"WHERE {scope} AND {where} ORDER BY {order} LIMIT {int(n)}) b"
            )
        else:
            sql = (
                f"SELECT '{label}' AS k, b.id AS v, {row_names} FROM (SELECT r.id, {row_columns} FROM {requests} r "
                f"JOIN {patients} p ON p.id = r.patient_id JOIN {payers} y ON y.id = r.payer_id "
                f"WHERE {scope} AND {where} ORDER BY {order} LIMIT {int(n)}) b"
            )
        parts.append((sql, [*scope_params, *params]))

    def count(label: str, where: str, params: list[Any] = (), table: str = "", cap: int | None = None) -> None:
        source = f"{table or requests + ' r'} WHERE {scope} AND {where}"
        if cap is not None:
            # Counted up to one past the cap: a page says "more than 1,000" rather than reading
            # every one of a backlog's index entries on every view.
            source = f"(SELECT 1 AS one FROM {source} LIMIT {int(cap) + 1}) c"
        parts.append((f"SELECT '{label}' AS k, COUNT(*) AS v, {nulls} FROM {source}", [*scope_params, *params]))

    first("drafts", f"r.status = '{Status.DRAFT}'", "r.created_at, r.id", FIRST_FEW)
    first("submitted", f"r.status = '{Status.SUBMITTED}'", "r.submitted_at, r.id", FIRST_FEW)
    first("waiting", f"r.status IN {awaiting}", due_order, FIRST_FEW)
    first("pended", f"r.status = '{Status.PENDED}'", "r.sent_at, r.id", FIRST_FEW)
    first("denied", f"r.status IN {appealable}", file_order, FIRST_FEW)
    overdue = f"r.status IN {awaiting} AND r.decision_due_at < %s"
    soon = f"r.status IN {awaiting} AND r.decision_due_at >= %s AND r.decision_due_at <= %s"
    appeals = f"r.status IN {appealable} AND r.appeal_file_by <= %s"
    first("overdue", overdue, due_order, limit, ["now"])
    first("soon", soon, due_order, limit, ["now", "horizon"])
    first("appeals", appeals, file_order, limit, ["last_day"])
    count("overdue_count", overdue, ["now"], cap=count_cap)
    count("soon_count", soon, ["now", "horizon"], cap=count_cap)
    count("appeals_count", appeals, ["last_day"], cap=count_cap)
    # Letters: awaiting the physician's signature; signed and ready to send (a prior-authorization
    # letter of a submitted request, an appeal letter of a denied one: two branches, not an OR).
    joined = f"{letters} l JOIN {requests} r ON r.id = l.request_id"
    awaiting_letters = f"l.status = '{LetterStatus.AWAITING_SIGNATURE}'"
    ready_pa = (
        f"l.status = '{LetterStatus.SIGNED}' AND l.kind = '{LetterKind.PRIOR_AUTHORIZATION}' "
        f"AND r.status = '{Status.SUBMITTED}'"
    )
    ready_appeal = f"l.status = '{LetterStatus.SIGNED}' AND l.kind = '{LetterKind.APPEAL}' AND r.status IN {appealable}"
    first("letters_awaiting", awaiting_letters, "l.updated_at, l.id", FIRST_FEW, table=joined)
    first("letters_ready", ready_pa, "l.updated_at, l.id", FIRST_FEW, table=joined)
    first("letters_ready", ready_appeal, "l.updated_at, l.id", FIRST_FEW, table=joined)
    count("letters_awaiting_count", awaiting_letters, table=joined)
    count("letters_ready_count", ready_pa, table=joined)
    count("letters_ready_count", ready_appeal, table=joined)
    count(
        "changes_count",
        "x.seen_at IS NULL AND x.superseded = %s",
        [False],
        table=f"{results} x JOIN {requests} r ON r.id = x.request_id",
    )
    return " UNION ALL ".join(sql for sql, _ in parts), tuple(p for _, ps in parts for p in ps)


def _board_read(
    *, user: AbstractBaseUser, now: dt.datetime, horizon: dt.datetime, limit: int, count_cap: int | None = None
) -> tuple[dict[str, list[int]], dict[int, ItemRow]]:
    """The dashboard's counts, first ids and their rows, in one UNION ALL query: ({label: [values]}
    (a list's ids in order, a count as a one-item list), {request id: ItemRow}).

    Written as SQL rather than some twenty querysets: building and compiling those took longer than
    the database took to answer them (bench/worklist_bench.py). Each list branch is a subquery with
    its own ORDER BY and LIMIT (so they hold on SQLite too) and reads one index in order: the
    (practice, status, key) indexes, and for the statuses the payer has or that can be appealed the
    partial indexes pa_request_awaiting_due and pa_request_appealable_file_by, whose conditions the
    status lists below repeat exactly. The same scope as selectors.requests_visible_to: the
    practice, and for a physician their own patients' requests. A request branch reads its rows'
    columns too (joined after its LIMIT, in its order); the other branches fill them with NULLs of
    the same types, so the union is one shape: one round trip for the whole board."""
    membership = selectors.membership_of(user)
    if membership is None:
        return {}, {}
    ops = connection.ops
    sql, names = _board_sql(
        physician=membership.role == Role.PHYSICIAN, limit=limit, count_cap=count_cap, vendor=connection.vendor
    )
    values = {
        "practice": membership.practice_id,
        "user": user.pk,
        "now": ops.adapt_datetimefield_value(now),
        "horizon": ops.adapt_datetimefield_value(horizon),
        "last_day": ops.adapt_datefield_value(timezone.localdate(horizon)),
    }
    params = [values[p] if isinstance(p, str) else p for p in names]
    out: dict[str, list[int]] = {}
    rows: dict[int, ItemRow] = {}
    converters = _converters(connection.vendor)
    # One prepared statement (priorauth.prepared): planning its twenty branches cost more than
    # running them.
    for label, value, *columns in prepared.execute(sql, params):
        out.setdefault(label, []).append(int(value or 0))
        if columns[0] is None or value in rows:  # a count, a letter, or a request listed twice
            continue
        for i, convs, expression in converters:
            for convert in convs:
                columns[i] = convert(columns[i], expression, connection)
        ref, status, due, file_by, follow, sent, asked, first_name, last_name, payer = columns
        rows[value] = ItemRow(
            value,
            ref,
            status,
            due,
            file_by,
            follow,
            sent,
            asked,
            _Named(first_name=first_name, last_name=last_name),
            _Named(payer),
        )
    return out, rows


@dataclass
class _Named:
    name: str = ""
    first_name: str = ""
    last_name: str = ""


@dataclass
class ItemRow:
    """What a queue or deadline item shows of a request: read as plain values (the dashboard's
    hundred rows cost more as model instances, with their patient, payer and physician, than the
    queries that found them)."""

    pk: int
    reference: str
    status: str
    decision_due_at: dt.datetime | None
    appeal_file_by: dt.date | None
    follow_up_on: dt.date | None
    sent_at: dt.datetime | None
    asked: str | None
    patient: _Named
    payer: _Named

    @property
    def get_status_display(self) -> str:
        return _STATUS_LABELS.get(self.status, self.status)


_STATUS_LABELS = dict(Status.choices)


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
    *,
    user: AbstractBaseUser,
    within: dt.timedelta,
    limit: int = 20,
    now: dt.datetime | None = None,
    count_cap: int | None = None,
) -> dict[str, Any]:
    """Everything the billing dashboard shows, in one query whatever the practice's size (two when
    letters are listed): the per-status counts, the queues (count and first few), the payer/appeal
    deadlines (the first `limit` and the full count of each), the letters, the unseen
    policy-change results and the listed requests' rows (_board_read). With
    `count_cap`, the deadline counts stop one past it (the page says "more than"); without, exact."""
    now = now or timezone.now()
    horizon = now + within
    found, rows = _board_read(user=user, now=now, horizon=horizon, limit=limit, count_cap=count_cap)
    tz = timezone.get_current_timezone()  # once for all items (each lookup goes through a context-local)

    by_status = {label.split(":", 1)[1]: n[0] for label, n in found.items() if label.startswith("status:")}
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
            [_request_item(r, tz=tz, now=now) for r in in_order("drafts")],
            "No drafts.",
        ),
        Queue(
            "submitted",
            "Submitted, not yet sent",
            counts["submitted"],
            _worklist_url(status=Status.SUBMITTED, sort="created"),
            "todo",
            [_request_item(r, tz=tz, now=now) for r in in_order("submitted")],
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
                    tz=tz,
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
            [
                _request_item(r, tz=tz, now=now, note=f"Asked for: {r.asked}" if r.asked else "")
                for r in in_order("pended")
            ],
            "No pended requests.",
        ),
        Queue(
            "denied",
            "Denied: appeal clock running",
            counts["denied"],
            _worklist_url(status=",".join(APPEALABLE_STATUSES), sort="due"),
            "attention",
            [
                _request_item(r, tz=tz, now=now)
                for r in _merged(rows, found.get("denied", []), ["appeal_file_by"], FIRST_FEW)
            ],
            "No denials to appeal.",
        ),
        Queue(
            "awaiting_signature",
            "Letters awaiting signature",
            found.get("letters_awaiting_count", [0])[0],
            worklist.url_path("pages:letter-list"),
            "waiting",
            [_letter_item(letters[pk]) for pk in found.get("letters_awaiting", []) if pk in letters],
            "No letter waits for a signature.",
        ),
        Queue(
            "ready_to_send",
            "Signed letters ready to send",
            sum(found.get("letters_ready_count", [])),
            worklist.url_path("pages:letter-list"),
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
            worklist.url_path("pages:letter-list"),
            "attention",
            [_letter_item(letter) for letter in awaiting.order_by("updated_at", "id")[:FIRST_FEW]],
            "No letter waits for your signature.",
        ),
        Queue(
            "open",
            "Your patients' open requests",
            counts["submitted"] + counts["waiting"] + counts["pended"] + counts["denied"],
            worklist.url_path("pages:request-list"),
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
