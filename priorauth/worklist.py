"""The worklist: one selector behind both `/requests/` and `GET /api/v1/requests`, so the page and
the API take the same parameters and answer the same rows.

Parameters (all optional): ``q`` (a patient's name, date of birth, member ID, our reference or the
payer's reference), ``status`` (one or several, comma-separated), ``payer`` (code), ``physician``
(provider id), ``patient`` (id), ``due`` (overdue | this_week), ``sort`` (due | waiting | created,
``-`` in front for descending), created_since / created_until.

Search on PostgreSQL uses the trigram GIN indexes of migration 0004 (``UPPER(col) LIKE``, which is
what Django's ``icontains`` asks for there); SQLite runs the same query without them.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.paginator import Paginator
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, Window
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from rest_framework import serializers

from priorauth import prepared, selectors
from priorauth.models import (
    APPEALABLE_STATUSES,
    AWAITING_PAYER_STATUSES,
    AuthorizationRequest,
    Patient,
    PayerDecision,
    RecheckResult,
    Role,
    Status,
)
from priorauth.templatetags.pages import DECISION_LABELS

PAGE_SIZE = 50
THIS_WEEK = dt.timedelta(days=7)
# A search matching more patients than this is not narrowed by patient ids in Python (a list that
# long would be a slower query than the subquery itself).
_PATIENT_ID_LIMIT = 2000
_DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d", "%m-%d-%Y", "%m/%d/%y")

SORTS: dict[str, str] = {
    "due": "Due date, soonest first",
    "-due": "Due date, latest first",
    "waiting": "Days waiting, longest first",
    "-waiting": "Days waiting, shortest first",
    "created": "Created, oldest first",
    "-created": "Created, newest first",
}
DUE_CHOICES: dict[str, str] = {"overdue": "Overdue", "this_week": "Due within 7 days"}


class WorklistFilterSerializer(serializers.Serializer):
    """The worklist's parameters, for the page and the API alike: bad input is a 400 (or an error
    next to the filter) naming the parameter."""

    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        trim_whitespace=True,
        help_text="patient name, date of birth (MM/DD/YYYY), member ID, our reference or the payer's reference",
    )
    status = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="one status or several, comma-separated",
    )
    payer = serializers.CharField(required=False, allow_blank=True, max_length=64, help_text="payer code")
    physician = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text="treating physician's provider id",
    )
    patient = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1)
    due = serializers.ChoiceField(choices=list(DUE_CHOICES.items()), required=False, allow_blank=True)
    sort = serializers.ChoiceField(choices=list(SORTS.items()), required=False, allow_blank=True)
    created_since = serializers.DateField(required=False)
    created_until = serializers.DateField(required=False)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # An empty form field (the page's "Any physician") means "not given", not an error.
        if hasattr(data, "dict"):
            data = data.dict()
        data = {k: v for k, v in dict(data).items() if v not in ("", None)}
        return super().to_internal_value(data)

    def validate_status(self, value: str) -> list[str]:
        statuses = [s.strip() for s in value.split(",") if s.strip()]
        unknown = [s for s in statuses if s not in Status.values]
        if unknown:
            labels = ", ".join(label.lower() for label in Status.labels)
            raise serializers.ValidationError(f"Unknown status {unknown[0]!r}; choose one of: {labels}.")
        return statuses


def _as_date(text: str) -> dt.date | None:
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _terms(q: str | None) -> str:
    """A search as typed, its runs of spaces made one."""
    return re.sub(r"\s+", " ", q or "").strip()


def _words(q: str) -> list[str]:
    """A search's words: "Last, First" or "First Last"."""
    return [w for w in re.split(r"[\s,]+", q) if w]


def _name_match(words: list[Any]) -> Q:
    """Every word must match the first or last name."""
    match = Q()
    for word in words:
        match &= Q(last_name__icontains=word) | Q(first_name__icontains=word)
    return match


def _search(qs: QuerySet[AuthorizationRequest], *, user, q: str) -> QuerySet[AuthorizationRequest]:
    q = _terms(q)
    if not q:
        return qs
    born = _as_date(q)
    patients = selectors.patients_visible_to(user)
    if born is not None:
        return qs.filter(patient__birth_date=born)
    name_match = _name_match(_words(q))
    patient_ids = list(
        patients.filter(name_match | Q(member_id__icontains=q)).values_list("pk", flat=True)[: _PATIENT_ID_LIMIT + 1]
    )
    if len(patient_ids) > _PATIENT_ID_LIMIT:
        by_patient = Q(patient__in=patients.filter(name_match | Q(member_id__icontains=q)).values("pk"))
    else:
        by_patient = Q(patient_id__in=patient_ids)
    payer_refs = list(
        PayerDecision.objects.filter(request__in=qs.values("pk"), payer_reference__icontains=q).values_list(
            "request_id", flat=True
        )[:_PATIENT_ID_LIMIT]
    )
    return qs.filter(by_patient | Q(reference__icontains=q) | Q(pk__in=payer_refs))


def _due_filter(due: str, now: dt.datetime) -> Q:
    today = timezone.localdate(now)
    if due == "overdue":
        return (
            Q(status__in=AWAITING_PAYER_STATUSES, decision_due_at__lt=now)
            | Q(status__in=APPEALABLE_STATUSES, appeal_file_by__lt=today)
            | Q(
                status__in=AWAITING_PAYER_STATUSES,
                decision_due_at__isnull=True,
                follow_up_on__lt=today,
            )
        )
    horizon = now + THIS_WEEK
    last_day = timezone.localdate(horizon)
    return (
        Q(
            status__in=AWAITING_PAYER_STATUSES,
            decision_due_at__gte=now,
            decision_due_at__lte=horizon,
        )
        | Q(
            status__in=APPEALABLE_STATUSES,
            appeal_file_by__gte=today,
            appeal_file_by__lte=last_day,
        )
        | Q(
            status__in=AWAITING_PAYER_STATUSES,
            decision_due_at__isnull=True,
            follow_up_on__gte=today,
            follow_up_on__lte=last_day,
        )
    )


def _ordering(sort: str) -> list[Any]:
    descending = sort.startswith("-")
    key = sort.lstrip("-") or "created"
    if key == "due":
        fields = ["decision_due_at", "appeal_file_by", "follow_up_on"]
        return [(F(f).desc(nulls_last=True) if descending else F(f).asc(nulls_last=True)) for f in fields] + [
            "-created_at" if descending else "created_at",
            "id",
        ]
    if key == "waiting":
        # Longest waiting first: the earliest sending; a request never sent has not waited.
        return [
            F("sent_at").desc(nulls_last=True) if descending else F("sent_at").asc(nulls_last=True),
            "id",
        ]
    return ["-created_at", "-id"] if descending or not sort else ["created_at", "id"]


def requests_worklist(
    *,
    user,
    q: str = "",
    status: list[str] | None = None,
    payer: str = "",
    physician: int | None = None,
    patient: int | None = None,
    due: str = "",
    sort: str = "",
    created_since: dt.date | None = None,
    created_until: dt.date | None = None,
    now: dt.datetime | None = None,
) -> QuerySet[AuthorizationRequest]:
    """The requests the user may see that match, in the asked order (newest first by default)."""
    qs = selectors.request_list(
        user=user,
        statuses=status or None,
        payer=payer or None,
        physician=physician,
        patient=patient,
        created_since=created_since,
        created_until=created_until,
    )
    if q:
        qs = _search(qs, user=user, q=q)
    if due:
        qs = qs.filter(_due_filter(due, now or timezone.now()))
    return qs.order_by(*_ordering(sort or "-created"))


# What a list row shows: the request with its patient, payer and physician (not its practice or
# policy version, nor the JSON of its case and determination).
ROW_RELATED = ("patient", "payer", "treating_physician")


def rows_by_ids(
    qs: QuerySet[AuthorizationRequest],
    limit: int | None = None,
    *,
    ids: list[int] | None = None,
) -> list[AuthorizationRequest]:
    """The rows of an ordered queryset, found in two steps: the ids in order from the request table
    alone (an index scan that stops at `limit`), then those rows with their patient, payer and
    physician. One query joining first and sorting after reads every match of a busy practice
    (bench/worklist_bench.py)."""
    if ids is None:
        ids = list(qs.values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    found = qs.order_by().select_related(None).select_related(*ROW_RELATED).filter(pk__in=ids)
    by_pk = {r.pk: r for r in found}
    return [by_pk[pk] for pk in ids if pk in by_pk]


@dataclass
class _Named:
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    birth_date: dt.date | None = None


@dataclass
class ListRow:
    """A request as a list row shows it, read as plain values: a page of 50 model instances with
    their patient, payer and physician cost more to build than the query that read them
    (bench/worklist_bench.py). The attributes are the model's, for the templates and helpers."""

    pk: int
    reference: str
    status: str
    decision: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    decision_due_at: dt.datetime | None
    appeal_file_by: dt.date | None
    follow_up_on: dt.date | None
    open_recheck: bool
    patient: _Named
    payer: _Named
    treating_physician: _Named

    @property
    def id(self) -> int:
        return self.pk


_LIST_FIELDS = (
    "pk",
    "reference",
    "status",
    "decision",
    "created_at",
    "sent_at",
    "decision_due_at",
    "appeal_file_by",
    "follow_up_on",
    "open_recheck",
    "patient__first_name",
    "patient__last_name",
    "patient__birth_date",
    "payer__name",
    "treating_physician__name",
)


def list_rows(qs: QuerySet[AuthorizationRequest], ids: list[int]) -> list[ListRow]:
    """The rows of `ids` (found in order by the worklist's query), in that order, as ListRows."""
    if not ids:
        return []
    found = {}
    for values in with_open_recheck(qs.order_by().select_related(None)).filter(pk__in=ids).values_list(*_LIST_FIELDS):
        row = _list_row(values)
        found[row.pk] = row
    return [found[pk] for pk in ids if pk in found]


def _list_row(values: tuple[Any, ...]) -> ListRow:
    """A ListRow from the values of _LIST_FIELDS (in that order)."""
    *own, first, last, born, payer, physician = values
    return ListRow(
        *own,
        patient=_Named(first_name=first, last_name=last, birth_date=born),
        payer=_Named(name=payer),
        treating_physician=_Named(name=physician),
    )


@functools.lru_cache(maxsize=64)
def _path(name: str, script_prefix: str) -> str:
    return reverse(name)


def url_path(name: str) -> str:
    """reverse(name) for a URL without arguments, resolved once per deployment prefix: every page
    links the navigation and the queues, and resolving the URLconf each time showed in profiles."""
    return _path(name, get_script_prefix())


_DETAIL_PATH: str | None = None


def request_url(pk: int) -> str:
    """reverse("pages:request-detail", args=[pk]), without resolving the URLconf for every row of
    a list (a list of 50 rows spent more time in reverse() than in its query)."""
    global _DETAIL_PATH
    if _DETAIL_PATH is None:
        _DETAIL_PATH = reverse("pages:request-detail", args=[987654321])
    return _DETAIL_PATH.replace("987654321", str(int(pk)))


# ---------------------------------------------------------------------------------------------
# The decision on record, and whether a newer policy version has made it stale: one answer for
# the request list, the API list, the request page's determination box and its policy-change
# banner, so that they always say the same thing in the same words.

RECHECK_NEEDED = "Re-check needed"


@dataclass(frozen=True)
class DecisionState:
    """The latest determination revision's decision (the submission's, or the last correction's or
    re-run's; a draft's as last saved) and, when a published policy change found it would now be
    different and nobody has re-run it or marked the change seen, that newer answer."""

    decision: str
    recheck: RecheckResult | None = None

    @property
    def label(self) -> str:
        return DECISION_LABELS.get(self.decision, "—") if self.decision else "—"

    @property
    def recheck_needed(self) -> bool:
        return self.recheck is not None

    @property
    def new_decision(self) -> str:
        return self.recheck.new_decision if self.recheck else ""

    @property
    def new_label(self) -> str:
        return DECISION_LABELS.get(self.new_decision, "") if self.recheck else ""

    @property
    def policy_label(self) -> str:
        """The newer policy version, as staff name it ("Original Medicare's policy, revision 2")."""
        if self.recheck is None:
            return ""
        version = self.recheck.run.version
        payer = getattr(version.policy, "payer", None)
        return f"{getattr(payer, 'name', '') or version.policy}'s policy, revision {version.revision}"

    @property
    def recheck_text(self) -> str:
        """ "Re-check needed: Not met under Original Medicare's policy, revision 2" (or nothing)."""
        if self.recheck is None:
            return ""
        return f"{RECHECK_NEEDED}: {self.new_label} under {self.policy_label}"

    @property
    def text(self) -> str:
        """The words every place shows: "Meets criteria", or "Meets criteria — Re-check needed:
        Not met under Original Medicare's policy, revision 2"."""
        return f"{self.label} — {self.recheck_text}" if self.recheck else self.label


def _open_rechecks(request_ids: list[int]) -> dict[int, RecheckResult]:
    """The newest open (unseen, not superseded) re-check result of each request."""
    out: dict[int, RecheckResult] = {}
    if not request_ids:
        return out
    results = (
        RecheckResult.objects.filter(request_id__in=request_ids, seen_at__isnull=True, superseded=False)
        .select_related("run__version__policy__payer")
        .order_by("request_id", "-created_at", "-id")
    )
    for result in results:
        out.setdefault(result.request_id, result)
    return out


def with_open_recheck(qs: QuerySet[AuthorizationRequest]) -> QuerySet[AuthorizationRequest]:
    """The rows annotated with whether an open re-check result exists (decision_states then looks
    up only those: usually none, and no query)."""
    return qs.annotate(
        open_recheck=Exists(
            RecheckResult.objects.filter(request=OuterRef("pk"), seen_at__isnull=True, superseded=False)
        )
    )


def decision_states(requests: list[AuthorizationRequest]) -> dict[int, DecisionState]:
    """{request id: DecisionState} for a page of requests, in one query. A re-check result makes
    the stored decision stale only while that decision is still the one it compared against (a
    draft saved again, a correction or a re-run records a newer one)."""
    # Rows read with OPEN_RECHECK annotated say whether they have one: only those are looked up.
    rechecks = _open_rechecks([r.pk for r in requests if getattr(r, "open_recheck", True)])
    out = {}
    for r in requests:
        result = rechecks.get(r.pk)
        if result is not None and result.old_decision != r.decision:
            result = None
        out[r.pk] = DecisionState(decision=r.decision, recheck=result)
    return out


def decision_state(request: AuthorizationRequest) -> DecisionState:
    return decision_states([request])[request.pk]


# The filters a total can be read for from the database's per-status counts (RequestStatusCount).
_COUNTED_FILTERS = frozenset({"status", "payer", "physician", "sort"})


def requests_total(*, user: AbstractBaseUser, qs: QuerySet[AuthorizationRequest], filters: dict[str, Any]) -> int:
    """The exact number of requests the worklist's filters match. With no filter, or only status,
    payer and physician ones, the sum of the counts the database keeps per practice, physician,
    payer and status (a few hundred rows, where COUNT(*) reads every request of a busy practice);
    with a search, a due filter or dates, COUNT(*) of the query, which those filters keep small."""
    given = {k for k, v in filters.items() if v not in (None, "", [])}
    if given <= _COUNTED_FILTERS:
        from priorauth.queues import status_counts

        counts = status_counts(user=user, payer=filters.get("payer") or "", physician=filters.get("physician"))
        wanted = filters.get("status") or None
        return sum(n for status, n in counts.items() if wanted is None or status in wanted)
    return qs.order_by().count()


def page_ids(
    *, user: AbstractBaseUser, qs: QuerySet[AuthorizationRequest], filters: dict[str, Any], number: int
) -> tuple[list[int], int]:
    """The ids of page `number` (1-based) in order, and the exact total (requests_total). Where the
    total comes from the kept counts it is read in the same query as the ids (an uncorrelated
    subquery, computed once): one round trip for the page's order and its count."""
    offset = max(number - 1, 0) * PAGE_SIZE
    given = {k for k, v in filters.items() if v not in (None, "", [])}
    if not given <= _COUNTED_FILTERS:
        if filters.get("q"):
            # A search matches few requests (it is an index lookup of patients or references): the
            # total of all matches rides on the page's ids as COUNT(*) OVER (), one round trip.
            # Not for the due or date filters alone, which can match most of a busy practice:
            # there a window would read every match before the LIMIT.
            rows = list(
                qs.annotate(_total=Window(Count("pk"))).values_list("pk", "_total")[offset : offset + PAGE_SIZE]
            )
            if rows:
                return [pk for pk, _ in rows], int(rows[0][1])
            return [], requests_total(user=user, qs=qs, filters=filters)
        ids = list(qs.values_list("pk", flat=True)[offset : offset + PAGE_SIZE])
        return ids, requests_total(user=user, qs=qs, filters=filters)
    from priorauth.queues import status_counts_queryset

    counts = status_counts_queryset(user, payer=filters.get("payer") or "", physician=filters.get("physician"))
    if filters.get("status"):
        counts = counts.filter(status__in=filters["status"])
    total = Subquery(counts.values("practice_id").annotate(all=Sum("n")).values("all")[:1])
    rows = list(qs.annotate(_total=total).values_list("pk", "_total")[offset : offset + PAGE_SIZE])
    if not rows:  # past the last page, or nothing at all: the count alone
        return [], requests_total(user=user, qs=qs, filters=filters)
    return [pk for pk, _ in rows], int(rows[0][1] or 0)


def _placeholder_user(*, user_id: int, practice_id: int, role: str) -> Any:
    """A user standing for any member of `role` (ids are PreparedQuery placeholders): the scope
    selectors.requests_visible_to gives a member is built from it, as for a real user."""
    from django.contrib.auth import get_user_model

    from priorauth.models import Membership

    user = get_user_model()(pk=user_id, is_active=True)
    membership = Membership(user_id=user_id, practice_id=practice_id, role=role)
    user._state.fields_cache["membership"] = membership
    return user


@dataclass
class _Shaped:
    """The worklist of a prepared page's shape (_page_shape) for a placeholder member."""

    user: Any
    qs: QuerySet[AuthorizationRequest]
    payer: str
    physician: int | None


def _shaped_worklist(
    *,
    user_id: int,
    practice_id: int,
    payer: str,
    physician: int,
    role: str,
    statuses: tuple[str, ...],
    with_payer: bool,
    with_physician: bool,
    sort: str,
) -> _Shaped:
    user = _placeholder_user(user_id=user_id, practice_id=practice_id, role=role)
    payer_, physician_ = (payer if with_payer else ""), (physician if with_physician else None)
    qs = requests_worklist(user=user, status=list(statuses) or None, payer=payer_, physician=physician_, sort=sort)
    return _Shaped(user, qs, payer_, physician_)


def _build_counted_page(*, statuses: tuple[str, ...], offset: int, limit: int, **shape: Any) -> QuerySet:
    from priorauth.queues import status_counts_queryset

    shaped = _shaped_worklist(statuses=statuses, **shape)
    qs = shaped.qs
    page = qs.values("pk")[offset : offset + limit]
    counts = status_counts_queryset(shaped.user, payer=shaped.payer, physician=shaped.physician)
    if statuses:
        counts = counts.filter(status__in=statuses)
    total = Subquery(counts.values("practice_id").annotate(all=Sum("n")).values("all")[:1])
    return (
        with_open_recheck(qs.select_related(None))
        .filter(pk__in=Subquery(page))
        .annotate(_total=total)
        .values_list(*_LIST_FIELDS, "_total")
    )


# Whose requests a prepared worklist query reads: the member and their practice (with the role as
# part of the shape, _placeholder_user).
SCOPE_SLOTS = (prepared.Slot("user_id", int), prepared.Slot("practice_id", int))

_COUNTED_PAGE = prepared.PreparedQuery(
    "worklist page",
    _build_counted_page,
    *SCOPE_SLOTS,
    prepared.Slot("payer", str),
    prepared.Slot("physician", int),
)


def _shape_role(role: str) -> str:
    """The scope a member's role gives, as a shape names it: a physician's own patients, or the
    whole practice (billing staff and admins alike)."""
    return Role.PHYSICIAN if role == Role.PHYSICIAN else Role.BILLING


def _page_shape(role: str, filters: dict[str, Any], number: int) -> dict[str, Any]:
    """What of a worklist page's filters makes its SQL text (the values themselves are slots)."""
    return {
        "role": role,
        "statuses": tuple(filters.get("status") or ()),
        "with_payer": bool(filters.get("payer")),
        "with_physician": bool(filters.get("physician")),
        "sort": filters.get("sort") or "-created",
        "offset": (number - 1) * PAGE_SIZE,
        "limit": PAGE_SIZE,
    }


def counted_page(*, user: AbstractBaseUser, filters: dict[str, Any], number: int) -> tuple[list[ListRow], int] | None:
    """Page `number` of the worklist and the exact total, in one query, for the filters the kept
    counts answer (none, status, payer, physician, an order): the first page a clerk opens and its
    status / payer / physician narrowings. None for the other filters (page_ids and list_rows then).

    The query is the same as page_ids' and list_rows' put together (the page's ids as a subquery,
    its rows with their joins, the total from RequestStatusCount), compiled once per shape
    (priorauth.prepared): building and compiling those querysets on every page cost more CPU than
    the database took to answer them (bench/worklist_bench.py)."""
    given = {k for k, v in filters.items() if v not in (None, "", [])}
    membership = selectors.membership_of(user)
    if not given <= _COUNTED_FILTERS or membership is None or number < 1:
        return None
    role = _shape_role(membership.role)
    payer, physician = filters.get("payer") or "", filters.get("physician")
    shape = _page_shape(role, filters, number)
    found = _COUNTED_PAGE.rows(
        tuple(shape.values()),
        shape=shape,
        # In date order one plan serves every practice and filter (an index scan in that order);
        # ordered by a due date or days waiting, the best plan depends on how many rows the
        # filters leave, so the database plans each run with its values.
        plan_once=shape["sort"] in ("created", "-created"),
        user_id=user.pk,
        practice_id=membership.practice_id,
        payer=payer,
        physician=physician or 0,
    )
    if not found:  # past the last page, or nothing at all: the count alone
        return [], requests_total(user=user, qs=AuthorizationRequest.objects.none(), filters=filters)
    return _list_rows_of(found), int(found[0][-1] or 0)


# The search as prepared queries (search_page): at most this many words; more go the ordinary way.
_SEARCH_WORDS = 8
_SEARCH_FILTERS = _COUNTED_FILTERS | {"q"}


def _build_search_patients(*, user_id: int, practice_id: int, role: str, q: str, n_words: int, **words: str):
    user = _placeholder_user(user_id=user_id, practice_id=practice_id, role=role)
    match = _name_match([words[f"word{i}"] for i in range(n_words)])
    return (
        selectors.patients_visible_to(user)
        .filter(match | Q(member_id__icontains=q))
        .values_list("pk")[: _PATIENT_ID_LIMIT + 1]
    )


def _build_search_references(*, user_id: int, practice_id: int, role: str, q: str):
    user = _placeholder_user(user_id=user_id, practice_id=practice_id, role=role)
    scope = selectors.requests_visible_to(user).order_by().values("pk")
    return PayerDecision.objects.filter(request__in=scope, payer_reference__icontains=q).values_list("request_id")[
        :_PATIENT_ID_LIMIT
    ]


def _build_search_page(*, q: str, offset: int, limit: int, n_patients: int, n_refs: int, **rest: Any):
    # `rest`: the ids' slots (pid0…, rid0…), and the shape's and the scope's arguments.
    ids = {k: rest.pop(k) for k in [k for k in rest if k.startswith(("pid", "rid"))]}
    qs = _shaped_worklist(**rest).qs
    match = Q(reference__icontains=q)
    if n_patients:
        match |= Q(patient_id__in=prepared.ids_of(ids, n_patients, "pid"))
    if n_refs:
        match |= Q(pk__in=prepared.ids_of(ids, n_refs, "rid"))
    return (
        with_open_recheck(qs.filter(match).select_related(None))
        .annotate(_total=Window(Count("pk")))
        .values_list(*_LIST_FIELDS, "_total")[offset : offset + limit]
    )


_SEARCH_PATIENTS = prepared.PreparedQuery(
    "worklist search: patients",
    _build_search_patients,
    *SCOPE_SLOTS,
    prepared.Slot("q", str),
    *(prepared.Slot(f"word{i}", str) for i in range(_SEARCH_WORDS)),
)
_SEARCH_REFERENCES = prepared.PreparedQuery(
    "worklist search: payer references",
    _build_search_references,
    *SCOPE_SLOTS,
    prepared.Slot("q", str),
)
_SEARCH_PAGE = prepared.PreparedQuery(
    "worklist search: page",
    _build_search_page,
    *SCOPE_SLOTS,
    prepared.Slot("payer", str),
    prepared.Slot("physician", int),
    prepared.Slot("q", str),
    *prepared.id_slots("pid"),
    *prepared.id_slots("rid"),
    # Planned with each search's values: a plan made for any values scans the practice's requests
    # in date order, where the ids and the reference's trigram index find the few that match.
    plan_once=False,
)


def search_page(*, user: AbstractBaseUser, filters: dict[str, Any], number: int) -> tuple[list[ListRow], int] | None:
    """Page `number` of a search by name, member ID or reference (with any status, payer or
    physician filter and order) and its exact total, as the ordinary path (requests_worklist,
    page_ids, list_rows) answers them, in three prepared queries (priorauth.prepared): the matching
    patients, the matching payer references, then the page with its rows and the count of all
    matches. None where this path does not apply (a date of birth, many words, more matching
    patients than a prepared IN list holds, a page past the last), and the ordinary path answers."""
    given = {k for k, v in filters.items() if v not in (None, "", [])}
    membership = selectors.membership_of(user)
    q = _terms(filters.get("q"))
    if not q or not given <= _SEARCH_FILTERS or membership is None or number < 1 or _as_date(q) is not None:
        return None
    words = _words(q)
    if len(words) > _SEARCH_WORDS:
        return None
    role = _shape_role(membership.role)
    scope = {"user_id": user.pk, "practice_id": membership.practice_id}
    patients = _SEARCH_PATIENTS.rows(
        (role, len(words)),
        shape={"role": role, "n_words": len(words)},
        q=q,
        **{f"word{i}": w for i, w in enumerate(words)},
        **scope,
    )
    refs = _SEARCH_REFERENCES.rows(role, shape={"role": role}, q=q, **scope)
    by_patient = prepared.id_values([row[0] for row in patients], "pid")
    by_ref = prepared.id_values(sorted({row[0] for row in refs}), "rid")
    if by_patient is None or by_ref is None:
        return None
    payer, physician = filters.get("payer") or "", filters.get("physician")
    shape = {**_page_shape(role, filters, number), "n_patients": by_patient[0], "n_refs": by_ref[0]}
    found = _SEARCH_PAGE.rows(
        tuple(shape.values()),
        shape=shape,
        payer=payer,
        physician=physician or 0,
        q=q,
        **by_patient[1],
        **by_ref[1],
        **scope,
    )
    if not found:  # no match at all (page 1), or past the last page (the ordinary path says which)
        return ([], 0) if number == 1 else None
    return _list_rows_of(found), int(found[0][-1])


def _list_rows_of(found: list[tuple[Any, ...]]) -> list[ListRow]:
    """The rows of a prepared page (each _LIST_FIELDS and then the total)."""
    return [_list_row(values[:-1]) for values in found]


def counted_paginator(total: int) -> Callable[..., Paginator]:
    """A Paginator class for DRF's pagination whose count is `total`, known already."""

    def make(object_list: Any, per_page: int, **kwargs: Any) -> Paginator:
        paginator = Paginator(object_list, per_page, **kwargs)
        paginator.count = total
        return paginator

    return make


def days_waiting(request: AuthorizationRequest, *, now: dt.datetime | None = None) -> int | None:
    """Whole days since the request was (last) sent to the payer, while the payer has it."""
    if request.sent_at is None or request.status not in AWAITING_PAYER_STATUSES + (Status.PENDED,):
        return None
    return ((now or timezone.now()) - request.sent_at).days


def patient_matches(*, user, q: str, limit: int = 8) -> list[Patient]:
    """A few patients for the new-request page's search-as-you-type: name words, date of birth or
    member ID. Two characters at least, so one keystroke does not list the practice."""
    q = _terms(q)[:100]
    if len(q) < 2:
        return []
    patients = selectors.patients_visible_to(user)
    born = _as_date(q)
    if born is not None:
        return list(patients.filter(birth_date=born)[:limit])
    match = _name_match(_words(q))
    return list(patients.filter(match | Q(member_id__icontains=q)).order_by("last_name", "first_name", "id")[:limit])


def due_of(
    request: AuthorizationRequest, *, now: dt.datetime | None = None, tz: dt.tzinfo | None = None
) -> dict[str, Any] | None:
    """What is due next on the request and when: the payer's decision (its clock), the last day to
    file the next appeal, or the follow-up day staff set when the payer has no clock. Days are the
    current time zone's (`tz`, given by a caller that asks for many rows)."""
    now = now or timezone.now()
    tz = tz or timezone.get_current_timezone()
    today = timezone.localdate(now, tz)
    if request.status in AWAITING_PAYER_STATUSES and request.decision_due_at:
        return {
            "what": "Payer's decision",
            "on": timezone.localdate(request.decision_due_at, tz),
            "overdue": request.decision_due_at < now,
        }
    if request.status in APPEALABLE_STATUSES and request.appeal_file_by:
        return {
            "what": "File the appeal by",
            "on": request.appeal_file_by,
            "overdue": request.appeal_file_by < today,
        }
    if request.status in AWAITING_PAYER_STATUSES and request.follow_up_on:
        return {
            "what": "Follow up with the payer",
            "on": request.follow_up_on,
            "overdue": request.follow_up_on < today,
        }
    return None
