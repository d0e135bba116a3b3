"""The /requests/ page's part that is not rendering: parse the worklist's parameters (the API's
serializer), run the one selector, page it, and name each filter's error in words staff use."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import AbstractBaseUser
from django.core.paginator import EmptyPage, Paginator
from django.db.models import CharField, Value
from django.db.models.functions import Cast
from django.http import HttpRequest
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from policies.models import Payer
from priorauth import selectors, worklist
from priorauth.models import Provider, Role, Status
from priorauth.prepared import PreparedQuery, Slot
from priorauth.templatetags.pages import DUE_LABELS

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
    tz = timezone.get_current_timezone()  # once: each lookup of it goes through a context-local
    rows = []
    for r in requests:
        patient = r.patient
        due = worklist.due_of(r, now=now, tz=tz)
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
                "created": timezone.localtime(r.created_at, tz).strftime("%m/%d/%Y"),
                "decision": states[r.pk],
            }
        )
        rows[-1]["html"] = row_html(rows[-1])
    return rows


def escape(value: Any) -> str:
    """Django's escape without its lazy-string wrapper (the same characters escaped, the same way)."""
    return html.escape(str(value))


def row_html(row: dict[str, Any]) -> SafeString:
    """One row of the worklist's table (templates/pages/_worklist_table.html), every value escaped.
    Made in Python: through the template engine a page of 50 rows took some 700 variable lookups,
    more of the page's CPU than all its queries."""
    r = row["request"]
    d = row["decision"]
    if d.decision:
        decision = f'<span class="decision decision-{escape(d.decision)}">{escape(d.label)}</span>'
        if d.recheck_needed:
            decision += f' — <strong class="recheck-needed">{escape(d.recheck_text)}</strong>'
    else:
        decision = "—"
    due = row["due"]
    if due:
        overdue = due["overdue"]
        due_cell = (
            f'<span class="{"overdue" if overdue else ""}">{"Overdue — " if overdue else ""}'
            f"{escape(due['what'])}: {escape(row['due_on'])}</span>"
        )
    else:
        due_cell = "—"
    return mark_safe(
        "<tr>"
        f'<td data-label="Reference"><a href="{escape(row["url"])}">{escape(r.reference)}</a></td>'
        f'<td data-label="Patient">{escape(row["patient"])} <span class="muted">(born {escape(row["born"])})</span></td>'
        f'<td data-label="Payer">{escape(r.payer.name)}</td>'
        f'<td data-label="Physician">{escape(r.treating_physician.name)}</td>'
        f'<td data-label="Status"><span class="badge st st-{escape(r.status)}">{escape(row["status_label"])}</span></td>'
        f'<td data-label="Determination">{decision}</td>'
        f'<td data-label="Due">{due_cell}</td>'
        f'<td data-label="Waiting">{escape(row["waiting"] or "—")}</td>'
        f'<td data-label="Created">{escape(row["created"])}</td>'
        "</tr>"
    )


def _day(value: Any, fmt: str, tz: dt.tzinfo | None = None) -> str:
    """The template's |date for our formats: an aware moment in the current time zone (`tz`, given
    by a caller that draws many). Digits and separators only: no escaping needed."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value, tz)
    return value.strftime(fmt)


def queue_item_html(item: dict[str, Any], tz: dt.tzinfo | None = None) -> SafeString:
    """A queue's item (priorauth.queues: a request's or a letter's), as queues_html
    lists it: the link, the patient, the payer, what is due and the note."""
    out = (
        f'<a href="{escape(item["url"])}">{escape(item["reference"])}</a> {escape(item["patient"])} '
        f'<span class="muted">({escape(item["payer"])})</span>'
    )
    due = item.get("due")
    if due:
        overdue = due["overdue"]
        out += (
            f' — <span class="{"overdue" if overdue else ""}">{"Overdue: " if overdue else ""}'
            f"{escape(due['what'])} {_day(due['on'], '%m/%d/%Y', tz)}</span>"
        )
    if item.get("note"):
        out += f" — {escape(item['note'])}"
    return mark_safe(out)


def options_html(choices: list[tuple[Any, str]], selected: Any) -> SafeString:
    """A select's options, the one whose value is `selected` (compared as text) marked selected."""
    chosen = "" if selected is None else str(selected)
    return mark_safe(
        "".join(
            f'<option value="{escape(value)}"{" selected" if str(value) == chosen else ""}>{escape(label)}</option>'
            for value, label in choices
        )
    )


def queues_html(queues: list[Any]) -> SafeString:
    """The dashboard's and a physician's queues (priorauth.queues.Queue): each a count in words, its
    first few items and a link to all. Made in Python, as the worklist's rows are: through the
    template engine the dashboard spent more CPU drawing them than reading them."""
    out = ['<ul class="queues">']
    tz = timezone.get_current_timezone()
    for q in queues:
        key, url = escape(q.key), escape(q.url)
        out.append(
            f'<li class="queue q-{escape(q.tone if q.count else "empty")}" id="queue-{key}" '
            f'aria-labelledby="queue-{key}-h">'
            f'<h3 id="queue-{key}-h"><a href="{url}">{escape(q.title)}</a></h3>'
            f'<p class="n" aria-label="{q.count} in this queue">{q.count}</p>'
        )
        if q.items:
            out.append("<ul>" + "".join(f"<li>{queue_item_html(item, tz)}</li>" for item in q.items) + "</ul>")
            if q.count > len(q.items):
                out.append(f'<p><a href="{url}">All {q.count}</a></p>')
        else:
            out.append(f'<p class="muted">{escape(q.empty)}</p>')
        out.append("</li>")
    out.append("</ul>")
    return mark_safe("".join(out))


_DUE_HEAD = "".join(
    f'<th scope="col">{label}</th>' for label in ("Due", "What", "Reference", "Patient", "Payer", "Status")
)


def due_table_html(items: list[Any], *, caption: str, empty: str) -> SafeString:
    """A table of deadlines (selectors.DueItem) on the dashboard, a row each (due_row_html)."""
    tz = timezone.get_current_timezone()
    rows = "".join(due_row_html(item, tz) for item in items) or f'<tr><td colspan="6">{escape(empty)}</td></tr>'
    return mark_safe(
        f'<table class="list"><caption>{escape(caption)}</caption><thead><tr>{_DUE_HEAD}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def due_row_html(item: Any, tz: dt.tzinfo | None = None) -> SafeString:
    """A deadline's row (selectors.DueItem) in the dashboard's tables (due_table_html). The link is
    our own path and the moment digits: neither needs escaping."""
    r = item.request
    status = r.get_status_display
    status = status() if callable(status) else status
    overdue = item.overdue
    return mark_safe(
        "<tr>"
        f'<td><span class="{"overdue" if overdue else "due-soon"}">{"Overdue since " if overdue else ""}'
        f"{_day(item.due_at, '%m/%d/%Y %H:%M', tz)}</span></td>"
        f"<td>{escape(DUE_LABELS.get(item.kind, item.kind))}</td>"
        f'<td><a href="{worklist.request_url(r.pk)}">{escape(r.reference)}</a></td>'
        f"<td>{escape(r.patient.last_name)}, {escape(r.patient.first_name)}</td>"
        f"<td>{escape(r.payer.name)}</td>"
        f"<td>{escape(status)}</td>"
        "</tr>"
    )


def _build_filter_choices(*, practice_id: int, with_physicians: bool):
    payers = Payer.objects.order_by().values_list(Value("payer"), "code", "name")
    if not with_physicians:
        return payers
    providers = (
        Provider.objects.filter(practice_id=practice_id)
        .order_by()
        .values_list(Value("physician"), Cast("pk", output_field=CharField()), "name")
    )
    return payers.union(providers, all=True)


_FILTER_CHOICES = PreparedQuery("worklist filter choices", _build_filter_choices, Slot("practice_id", int))


def _filter_choices(user: AbstractBaseUser, *, with_physicians: bool) -> dict[str, list[tuple[Any, str]]]:
    """The payer and physician filters' options, in one query (a UNION of the two lists; the
    practice's providers, as selectors.providers_visible_to scopes them), compiled once."""
    membership = selectors.membership_of(user)
    out: dict[str, list[tuple[Any, str]]] = {"payer_choices": [], "physician_choices": []}
    with_physicians = with_physicians and membership is not None
    found = _FILTER_CHOICES.rows(
        with_physicians,
        shape={"with_physicians": with_physicians},
        practice_id=membership.practice_id if membership else 0,
    )
    for kind, key, name in found:
        out[f"{kind}_choices"].append((int(key) if kind == "physician" else key, name))
    for options in out.values():
        options.sort(key=lambda option: (option[1], str(option[0])))
    return out


def _page(user: AbstractBaseUser, filters: dict[str, Any], number: int) -> tuple[Any, Paginator]:
    """Page `number` of the worklist (None past the last) and its paginator, whose count is the
    exact total. The first page and its status / payer / physician narrowings, and searches, are
    prepared queries (worklist.counted_page, worklist.search_page); other filters are the worklist's
    queryset, paged over ids (the request table alone) and then read with their joins."""
    found = worklist.counted_page(user=user, filters=filters, number=number) or worklist.search_page(
        user=user, filters=filters, number=number
    )
    if found is None:
        qs = worklist.requests_worklist(user=user, **filters)
        ids, total = worklist.page_ids(user=user, qs=qs, filters=filters, number=number)
    else:
        rows, total = found
    paginator = Paginator([], worklist.PAGE_SIZE)
    paginator.count = total
    try:
        page = paginator.page(number)  # checks the number against the total; reads nothing
    except EmptyPage:
        return None, paginator
    page.object_list = rows if found is not None else worklist.list_rows(qs, ids)
    return page, paginator


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
        raw_number = request.GET.get("page") or 1
        try:
            number = int(raw_number)
        except (TypeError, ValueError):
            errors["page"] = "Page must be a whole number."
        else:
            page, paginator = _page(request.user, filters, number)
            if page is None:
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
        # Newest first is the list's order when none is chosen: the select's first, empty option.
        "sort_choices": [(value, label) for value, label in worklist.SORTS.items() if value != "-created"],
        "filtered": bool(kept),
        "now": now,
    }
