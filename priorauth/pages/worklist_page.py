"""The /requests/ page's part that is not rendering: parse the worklist's parameters (the API's
serializer), run the one selector, page it, and name each filter's error in words staff use."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import AbstractBaseUser
from django.core.paginator import EmptyPage, Paginator
from django.db.models import CharField, Value
from django.db.models.functions import Cast
from django.http import HttpRequest
from django.utils import timezone

from policies.models import Payer
from priorauth import selectors, worklist
from priorauth.models import Role, Status

FILTER_NAMES = ("q", "status", "payer", "physician", "due", "sort")
_LABELS = {
    "q": "Search",
    "status": "Status",
    "payer": "Payer",
    "physician": "Physician",
    "due": "Due",
    "sort": "Order",
    "page": "Page",
    "patient": "Patient",
    "created_since": "Created since",
    "created_until": "Created until",
}


def _error_text(name: str, messages: list[Any]) -> str:
    text = " ".join(str(m) for m in messages)
    # DRF's wording names the value in quotes ('"x" is not a valid choice.'); staff need the filter.
    return text.replace("is not a valid choice", "is not one of the choices")


def _rows(requests: list, *, now) -> list[dict[str, Any]]:
    """Each row's words, made here once rather than looked up piece by piece in the template (a
    page of 50 rows spent more time in template lookups and filters than in its queries)."""
    statuses = dict(Status.choices)
    states = worklist.decision_states(requests)
    rows = []
    for r in requests:
        patient = r.patient
        due = worklist.due_of(r, now=now)
        waiting = worklist.days_waiting(r, now=now)
        rows.append(
            {
                "request": r,
                "url": worklist.request_url(r.pk),
                "patient": f"{patient.last_name}, {patient.first_name}",
                "born": patient.birth_date.strftime("%m/%d/%Y") if patient.birth_date else "",
                "status_label": statuses.get(r.status, r.status),
                "due": due,
                "due_on": due["on"].strftime("%m/%d/%Y") if due else "",
                "days_waiting": waiting,
                "waiting": "" if waiting is None else f"{waiting} day{'' if waiting == 1 else 's'}",
                "created": timezone.localtime(r.created_at).strftime("%m/%d/%Y"),
                "decision": states[r.pk],
            }
        )
    return rows


def _filter_choices(user: AbstractBaseUser, *, with_physicians: bool) -> dict[str, list[tuple[Any, str]]]:
    """The payer and physician filters' options, in one query (a UNION of the two lists)."""
    payers = Payer.objects.order_by().values_list(Value("payer"), "code", "name")
    if with_physicians:
        providers = (
            selectors.providers_visible_to(user)
            .order_by()
            .values_list(Value("physician"), Cast("pk", output_field=CharField()), "name")
        )
        payers = payers.union(providers, all=True)
    out: dict[str, list[tuple[Any, str]]] = {"payer_choices": [], "physician_choices": []}
    for kind, key, name in payers:
        out[f"{kind}_choices"].append((int(key) if kind == "physician" else key, name))
    for options in out.values():
        options.sort(key=lambda option: (option[1], str(option[0])))
    return out


def worklist_context(request: HttpRequest) -> dict[str, Any]:
    serializer = worklist.WorklistFilterSerializer(data=request.GET)
    errors: dict[str, str] = {}
    filters: dict[str, Any] = {}
    if serializer.is_valid():
        filters = dict(serializer.validated_data)
    else:
        errors = {name: _error_text(name, msgs) for name, msgs in serializer.errors.items()}
    page = None
    paginator = None
    if not errors:
        qs = worklist.requests_worklist(user=request.user, **filters)
        # Paged over ids (the request table alone), with the exact total in the same query where
        # the kept counts give it; the page's rows are then read with their joins.
        paginator = Paginator(qs.values_list("pk", flat=True), worklist.PAGE_SIZE)
        raw_number = request.GET.get("page") or 1
        try:
            number = int(raw_number)
        except (TypeError, ValueError):
            errors["page"] = "Page must be a whole number."
        else:
            ids, paginator.count = worklist.page_ids(user=request.user, qs=qs, filters=filters, number=number)
            try:
                page = paginator.page(number)  # checks the number against the total; reads nothing
                page.object_list = worklist.list_rows(qs, ids)
            except EmptyPage:
                errors["page"] = f"There is no page {raw_number}; the last page is {paginator.num_pages}."
    # Links to other pages keep the filters.
    kept = [(name, request.GET.get(name, "")) for name in FILTER_NAMES if request.GET.get(name)]
    base_query = urlencode(kept)
    now = timezone.now()
    rows = _rows(page.object_list, now=now) if page is not None else []
    role = selectors.role_of(request.user)
    return {
        "page": page,
        "paginator": paginator,
        "rows": rows,
        "errors": errors,
        "error_labels": {name: _LABELS.get(name, name) for name in errors},
        "values": {name: request.GET.get(name, "") for name in FILTER_NAMES},
        "base_query": base_query,
        "status_choices": Status.choices,
        **_filter_choices(request.user, with_physicians=role != Role.PHYSICIAN),
        "due_choices": list(worklist.DUE_CHOICES.items()),
        "sort_choices": list(worklist.SORTS.items()),
        "filtered": bool(kept),
        "now": now,
    }
