"""The pages. Each view finds its objects through the permission-scoped selectors of
priorauth.selectors (another practice's object, or another physician's request, is a 404), calls a
service for every change, and writes each read of patient data to the audit trail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from coverage.checker import CaseInvalid, check
from policies.models import EvidenceSource
from policies.snapshot import current_snapshot
from priorauth import downloads, permissions, selectors, services, stored_files, worklist
from priorauth.letters import compose as letters
from priorauth.letters import downloads as letter_downloads
from priorauth.letters import services as letter_services
from priorauth.letters.models import Letter, LetterJob, LetterKind, LetterStatus
from priorauth.models import (
    TRANSITIONS,
    AuditEntry,
    AuthorizationRequest,
    Patient,
    RecheckResult,
    Role,
    Status,
)
from priorauth.pages.case_form import CaseFormSet
from priorauth.pages.forms import (
    AmendForm,
    AppealForm,
    AttachmentForm,
    DecisionForm,
    FollowUpForm,
    LetterRequestForm,
    NarrativeForm,
    NoteForm,
    SendForm,
)
from priorauth.pages.signin import UNREAD_AT_LOAD

A = AuditEntry.Action
# How far ahead the dashboard looks for payer decisions and appeal filing deadlines.
DUE_SOON = dt.timedelta(days=7)
# The dashboard counts a backlog of deadlines up to this many, then says "more than" (it would
# otherwise read every one of them on every view; the worklist's due filter counts them all).
DEADLINE_COUNT_CAP = 1000
# How many of each deadline list the dashboard shows (the rest are a link to the worklist).
DASHBOARD_LIST_LIMIT = 20
# The physician's home lists their newest requests; the rest are in the worklist (it says how many).
PHYSICIAN_HOME_LIMIT = 200


# ---------------------------------------------------------------------------------------------
# Access


def practice_member_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in (else the sign-in form) and a member of a practice (else a page that says so). A
    POST is one transaction: a change and its audit entry are saved together or not at all."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if selectors.membership_of(request.user) is None:
            return render(request, "pages/no_practice.html", status=403)
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return view(request, *args, **kwargs)
        with stored_files.deleted_on_rollback():  # an uploaded file goes too if the POST rolls back
            return view(request, *args, **kwargs)

    return wrapped


def audit(request: HttpRequest, action: str, obj=None, *, model=None, detail: str = "") -> None:
    services.audit_record(user=request.user, action=action, obj=obj, model=model, request=request, detail=detail)


def audit_list(request: HttpRequest, objects, *, what: str) -> None:
    """A page that shows several requests' patient data: one entry naming them by primary key."""
    ids = ",".join(str(o.pk) for o in objects)
    audit(request, A.LIST, model=AuthorizationRequest, detail=f"{what} ids={ids}")


# ---------------------------------------------------------------------------------------------
# The shell: navigation, sign-in, home


_NAV = {
    Role.BILLING: (
        ("Dashboard", "pages:dashboard"),
        ("New request", "pages:request-new"),
        ("Requests", "pages:request-list"),
        ("Letters", "pages:letter-list"),
        ("Policy changes", "pages:policy-changes"),
        ("Payer scorecard", "pages:scorecard"),
    ),
    Role.PHYSICIAN: (
        ("Letters to review and sign", "pages:letter-list"),
        ("My patients' requests", "pages:physician-home"),
    ),
    Role.ADMIN: (
        ("Policy changes", "pages:policy-changes"),
        ("Requests", "pages:request-list"),
        ("Payer scorecard", "pages:scorecard"),
        ("Policy admin", "admin:index"),
    ),
}


def _nav_items(request: HttpRequest, role: str | None) -> list[dict[str, Any]]:
    items = [(label, worklist.url_path(name)) for label, name in _NAV.get(role, ())]
    if role in (Role.BILLING, Role.PHYSICIAN):
        from priorauth.models import Notification

        # Read with the user (priorauth.pages.signin.MemberLoadMixin) when the request is a GET: no
        # GET page changes its viewer's notifications before it is drawn (opening one is a POST).
        unread = getattr(request.user, UNREAD_AT_LOAD, None) if request.method in ("GET", "HEAD") else None
        if unread is None:
            unread = Notification.objects.filter(user=request.user, read_at__isnull=True).count()
        items.append(
            (
                f"Notifications ({unread} new)" if unread else "Notifications",
                worklist.url_path("pages:notification-list"),
            )
        )
    return [{"label": label, "url": url, "current": request.path == url} for label, url in items]


def page_context(request: HttpRequest) -> dict[str, Any]:
    """Context processor: the idle time-out for idle.js, the lockout time for the sign-in pages, the
    role's navigation and who is signed in."""
    context: dict[str, Any] = {
        "idle_timeout": settings.SESSION_IDLE_TIMEOUT,
        "cooloff_minutes": round(settings.AXES_COOLOFF_TIME.total_seconds() / 60),
    }
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return context
    membership = selectors.membership_of(user)
    role = membership.role if membership else None
    context.update(
        nav=_nav_items(request, role),
        role_label=membership.get_role_display() if membership else "",
        practice_name=membership.practice.name if membership else "",
    )
    return context


class SignInView(LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            idle_minutes=round(settings.SESSION_IDLE_TIMEOUT / 60),
            failure_limit=settings.AXES_FAILURE_LIMIT,
        )
        return context


@practice_member_required
def home(request: HttpRequest) -> HttpResponse:
    role = selectors.role_of(request.user)
    if role == Role.PHYSICIAN:
        return redirect("pages:letter-list")
    if role == Role.ADMIN:
        return redirect("pages:policy-changes")
    return redirect("pages:dashboard")


# ---------------------------------------------------------------------------------------------
# Billing staff: dashboard and requests


@practice_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    permissions.require(request.user, "dashboard.view")
    from priorauth import queues

    # One read for the whole page (counts, queues, bounded deadline lists): a busy practice has
    # thousands of open requests (priorauth/queues.py, bench/worklist_bench.py).
    board = queues.dashboard(
        user=request.user, within=DUE_SOON, limit=DASHBOARD_LIST_LIMIT, count_cap=DEADLINE_COUNT_CAP
    )
    counts = board.pop("status_counts")
    by_status = [{"status": value, "label": label, "count": counts.get(value, 0)} for value, label in Status.choices]
    shown = [d.request for key in ("decisions_overdue", "decisions_soon", "appeals_soon") for d in board[key]]
    audit_list(request, shown, what="dashboard deadlines")
    return render(
        request,
        "pages/dashboard.html",
        {
            "by_status": by_status,
            "total": sum(counts.values()),
            "list_url": worklist.url_path("pages:request-list"),
            "count_cap": DEADLINE_COUNT_CAP,
            "count_cap_text": f"{DEADLINE_COUNT_CAP:,}",
            **board,
            "due_soon_days": DUE_SOON.days,
            "now": timezone.now(),
        },
    )


@practice_member_required
def request_list(request: HttpRequest) -> HttpResponse:
    """The worklist: the API's parameters and selector (priorauth.worklist), a page at a time."""
    from priorauth.pages.worklist_page import worklist_context

    context = worklist_context(request)
    audit_list(request, context["page"].object_list if context["page"] else [], what="request list")
    return render(request, "pages/request_list.html", context, status=400 if context["errors"] else 200)


@practice_member_required
def patient_search(request: HttpRequest) -> JsonResponse:
    """The new-request page's patient combobox: a few matches (never the whole list), each with its
    part of the case for the checklist. Billing staff only; the listing is audited by id."""
    from priorauth.pages.case_form import patient_label
    from priorauth.worklist import patient_matches

    permissions.require(request.user, "patient.search")
    matches = patient_matches(user=request.user, q=request.GET.get("q", ""))
    if matches:
        audit(request, A.LIST, model=Patient, detail="patient search ids=" + ",".join(str(p.pk) for p in matches))
    response = JsonResponse(
        {"results": [{"id": p.pk, "label": patient_label(p), "case": p.case_part()} for p in matches]}
    )
    response["Cache-Control"] = "private, no-store"
    return response


def _case_page(request: HttpRequest, formset: CaseFormSet, *, obj: AuthorizationRequest | None) -> HttpResponse:
    return render(
        request,
        "pages/request_form.html",
        {"formset": formset, "form": formset.form, "obj": obj, "check_url": reverse("coverage-check")},
    )


def _case_form(request: HttpRequest, obj: AuthorizationRequest | None) -> HttpResponse:
    """The new-request page (obj None) and a draft's edit page: parse the case form, save it through
    services.request_draft_save, show the form again with each refusal next to its input."""
    formset = CaseFormSet(request.POST or None, user=request.user, request=obj)
    if request.method == "POST" and formset.is_valid():
        data = formset.form.cleaned_data
        submit = "submit" in request.POST
        try:
            saved = services.request_draft_save(
                by=request.user,
                practice=selectors.membership_of(request.user).practice,
                request=obj,
                patient=data["patient"],
                new_patient=formset.new_patient_fields() if data["patient"] is None else None,
                payer=formset.payer(),
                treating_physician=data["provider"],
                case=formset.entered_case(),
                submit=submit,
                http_request=request,
            )
        except services.PatientInvalid as exc:
            formset.add_service_errors(exc, patient_fields=True)
        except ValidationError as exc:
            formset.add_service_errors(exc)
        else:
            done = "submitted." if submit else ("saved as a draft." if obj is None else "saved.")
            messages.success(request, f"Request {saved.reference} {done}")
            for note in formset.read_as_notes():
                messages.info(request, note)
            return redirect("pages:request-detail", pk=saved.pk)
    return _case_page(request, formset, obj=obj)


@practice_member_required
def request_new(request: HttpRequest) -> HttpResponse:
    permissions.require(request.user, "request.create")
    return _case_form(request, None)


@practice_member_required
def request_edit(request: HttpRequest, pk: int) -> HttpResponse:
    obj = selectors.request_get(user=request.user, pk=pk)
    permissions.require(request.user, "request.update", obj)
    if obj.status != Status.DRAFT:
        messages.error(request, "Only a draft can be edited.")
        return redirect("pages:request-detail", pk=obj.pk)
    if request.method == "GET":
        audit(request, A.READ, obj, detail="edit form")
    return _case_form(request, obj)


def _allowed(obj: AuthorizationRequest, target: str) -> bool:
    return (obj.status, target) in TRANSITIONS


def _determination(obj: AuthorizationRequest) -> tuple[dict[str, Any] | None, bool]:
    """The stored determination of a submitted request; for a draft, the checker's answer now."""
    if obj.determination:
        return obj.determination, False
    try:
        return check(obj.case, snapshot=current_snapshot(), today=obj.practice.localdate()), True
    except CaseInvalid:
        return None, True


def _request_page(
    request: HttpRequest, obj: AuthorizationRequest, forms: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    def may(action: str) -> bool:
        return permissions.can(request.user, action, obj)

    determination, preview = _determination(obj)
    is_billing = selectors.role_of(request.user) == Role.BILLING
    next_level = selectors.next_appeal_level(obj)
    forms = forms or {}
    letters = list(selectors.letters_visible_to(request.user).filter(request=obj))
    # One query for every appeal (not one per appeal): those with a letter, whoever may see it.
    appeals_with_letter = set(obj.letters.exclude(appeal=None).values_list("appeal_id", flat=True))
    context = {
        "obj": obj,
        "determination": determination,
        "preview": preview,
        "is_billing": is_billing,
        "can_upload": permissions.can(request.user, "attachment.upload", obj),
        "attachments": list(obj.attachments.select_related("uploaded_by")),
        "decisions": list(obj.decisions.select_related("appeal")),
        "appeals": list(obj.appeals.all()),
        "transitions": list(obj.transitions.select_related("by")),
        "recheck_results": list(obj.recheck_results.filter(superseded=False).select_related("run__version")),
        # The one answer the list, the determination box and the policy-change banner all show.
        "decision_state": worklist.decision_state(obj),
        "next_level": next_level,
        "can_submit": may("request.submit") and _allowed(obj, Status.SUBMITTED),
        "can_send": may("request.send") and (_allowed(obj, Status.SENT) or obj.status == Status.APPEAL_IN_PROGRESS),
        "can_withdraw": may("request.withdraw") and _allowed(obj, Status.WITHDRAWN),
        "can_record_decision": may("request.decision")
        and (_allowed(obj, Status.APPROVED) or _allowed(obj, Status.APPEAL_APPROVED)),
        "can_appeal": may("request.appeal") and _allowed(obj, Status.APPEAL_IN_PROGRESS) and next_level is not None,
        "can_edit": may("request.update") and obj.status == Status.DRAFT,
        "send_form": forms.get("send") or SendForm(packets=_packets_of(request.user, obj)),
        "sendings": list(obj.sendings.all()),
        "can_amend": may("request.amend") and obj.status in (Status.SUBMITTED, Status.SENT, Status.PENDED),
        "amendments": list(obj.amendments.select_related("by")),
        "withdraw_form": forms.get("withdraw") or NoteForm(prefix="withdraw"),
        "decision_form": forms.get("decision") or DecisionForm(criteria=_criteria_choices(obj)),
        "payer_contacts": list(obj.payer.contacts.order_by("kind", "name", "key")),
        "contact_errors": forms.get("contact_errors") or [],
        "is_billing_here": is_billing,
        "appeal_form": forms.get("appeal") or AppealForm(),
        "attachment_form": forms.get("attachment") or AttachmentForm(),
        "submit_errors": forms.get("submit_errors"),
        "letter_errors": forms.get("letter_errors"),
        "letters": letters,
        "has_pa_letter": any(letter.kind == LetterKind.PRIOR_AUTHORIZATION for letter in letters),
        "can_ask_letter": may("letter.draft") and obj.determination is not None,
        "appeals_without_letter": [a for a in obj.appeals.all() if a.pk not in appeals_with_letter],
        "letter_kinds": LetterKind,
        "can_follow_up": may("request.follow_up")
        and obj.status in (Status.SENT, Status.APPEAL_IN_PROGRESS, Status.PENDED),
        "follow_up_form": forms.get("follow_up") or FollowUpForm(initial={"follow_up_on": obj.follow_up_on}),
    }
    return render(request, "pages/request_detail.html", context, status=status)


def _packets_of(user, obj: AuthorizationRequest) -> list:
    return list(selectors.packets_visible_to(user).filter(letter__request=obj).order_by("-built_at", "-id"))


@practice_member_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    obj = selectors.request_get(user=request.user, pk=pk)
    audit(request, A.READ, obj)
    return _request_page(request, obj)


def _action(request: HttpRequest, pk: int, action: str) -> AuthorizationRequest:
    """The request named by the URL (404 if the user may not see it), if the user may do the action
    to it (else 403)."""
    obj = selectors.request_get(user=request.user, pk=pk)
    permissions.require(request.user, action, obj)
    return obj


@require_POST
@practice_member_required
def request_submit(request: HttpRequest, pk: int) -> HttpResponse:
    obj = _action(request, pk, "request.submit")
    form = NoteForm(request.POST, prefix="submit")
    if form.is_valid():
        try:
            obj = services.request_submit(
                request=obj, by=request.user, note=form.cleaned_data["note"], http_request=request
            )
        except ValidationError as exc:
            return _request_page(request, obj, {"submit_errors": exc.messages}, status=400)
        messages.success(request, "Submitted: the determination below is now on record.")
    return redirect("pages:request-detail", pk=obj.pk)


def _request_step(
    request: HttpRequest,
    pk: int,
    action: str,
    *,
    form: Callable[[AuthorizationRequest], Any],
    key: str,
    run: Callable[[AuthorizationRequest, Any], Any],
    done: Callable[[Any, dict[str, Any]], str],
) -> HttpResponse:
    """A workflow step of the request page: the request (404/403 from priorauth.permissions), its
    form parsed, the service run (which checks again, saves and audits), then back to the page with
    a message, or the page again with the form's errors (400)."""
    obj = _action(request, pk, action)
    bound = form(obj)
    if bound.is_valid():
        try:
            result = run(obj, bound)
        except ValidationError as exc:
            bound.add_service_errors(exc)
        else:
            messages.success(request, done(result, bound.cleaned_data))
            return redirect("pages:request-detail", pk=obj.pk)
    return _request_page(request, obj, {key: bound}, status=400)


@require_POST
@practice_member_required
def request_send(request: HttpRequest, pk: int) -> HttpResponse:
    def run(obj: AuthorizationRequest, form: SendForm) -> AuthorizationRequest:
        data = form.cleaned_data
        packet = next((p for p in _packets_of(request.user, obj) if p.pk == data["packet"]), None)
        return services.request_send(
            request=obj,
            by=request.user,
            sent_at=data["sent_at"],
            note=data["note"],
            method=data["method"],
            packet=packet,
            http_request=request,
        )

    return _request_step(
        request,
        pk,
        "request.send",
        form=lambda obj: SendForm(request.POST, packets=_packets_of(request.user, obj)),
        key="send",
        run=run,
        done=lambda result, data: "Recorded as sent to the payer.",
    )


def _follow_up_done(result: Any, data: dict[str, Any]) -> str:
    day = data["follow_up_on"]
    return f"Follow-up date set to {day:%m/%d/%Y}." if day else "Follow-up date cleared."


@require_POST
@practice_member_required
def request_follow_up(request: HttpRequest, pk: int) -> HttpResponse:
    return _request_step(
        request,
        pk,
        "request.follow_up",
        form=lambda obj: FollowUpForm(request.POST),
        key="follow_up",
        run=lambda obj, form: services.request_follow_up_set(
            request=obj, on=form.cleaned_data["follow_up_on"], by=request.user, http_request=request
        ),
        done=_follow_up_done,
    )


@require_POST
@practice_member_required
def request_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _request_step(
        request,
        pk,
        "request.withdraw",
        form=lambda obj: NoteForm(request.POST, prefix="withdraw"),
        key="withdraw",
        run=lambda obj, form: services.request_withdraw(
            request=obj, by=request.user, note=form.cleaned_data["note"], http_request=request
        ),
        done=lambda result, data: "The request was withdrawn.",
    )


@require_POST
@practice_member_required
def request_payer_contact(request: HttpRequest, pk: int) -> HttpResponse:
    """Billing staff choose the payer desk (payer directory) the request's letters go to."""
    obj = selectors.request_get(user=request.user, pk=pk)
    permissions.require(request.user, "request.payer_contact", obj)
    raw = request.POST.get("payer_contact", "").strip()
    try:
        chosen = int(raw) if raw else None
        services.request_choose_payer_contact(
            request=obj, payer_contact_id=chosen, by=request.user, http_request=request
        )
    except (ValueError, ValidationError) as exc:
        messages_ = exc.messages if isinstance(exc, ValidationError) else ["Choose one of the payer's desks."]
        return _request_page(request, obj, {"contact_errors": messages_}, status=400)
    messages.success(request, "The addressee is recorded.")
    return redirect("pages:request-detail", pk=obj.pk)


def _criteria_choices(obj) -> list[tuple[str, str]]:
    determination = obj.determination or {}
    return [
        (c["key"], c["label"])
        for section in ("clinical", "payer_rules")
        for c in determination.get(section, {}).get("criteria", [])
    ]


@require_POST
@practice_member_required
def request_decision(request: HttpRequest, pk: int) -> HttpResponse:
    return _request_step(
        request,
        pk,
        "request.decision",
        form=lambda obj: DecisionForm(request.POST, criteria=_criteria_choices(obj)),
        key="decision",
        run=lambda obj, form: services.decision_record(
            request=obj, by=request.user, http_request=request, **form.service_kwargs()
        ),
        done=lambda result, data: "The payer's answer is recorded.",
    )


@require_POST
@practice_member_required
def request_appeal(request: HttpRequest, pk: int) -> HttpResponse:
    return _request_step(
        request,
        pk,
        "request.appeal",
        form=lambda obj: AppealForm(request.POST),
        key="appeal",
        run=lambda obj, form: services.appeal_start(
            request=obj, by=request.user, http_request=request, **form.cleaned_data
        ),
        done=lambda appeal, data: f"Appeal started: {appeal.level_name}.",
    )


@require_POST
@practice_member_required
def attachment_upload(request: HttpRequest, pk: int) -> HttpResponse:
    return _request_step(
        request,
        pk,
        "attachment.upload",
        form=lambda obj: AttachmentForm(request.POST, request.FILES),
        key="attachment",
        run=lambda obj, form: services.attachment_add(
            request=obj,
            kind=form.cleaned_data["kind"],
            upload=form.cleaned_data["file"],
            by=request.user,
            http_request=request,
        ),
        done=lambda result, data: "The file is attached.",
    )


@practice_member_required
def attachment_download(request: HttpRequest, pk: int, attachment_id: int) -> FileResponse:
    return downloads.attachment_download(
        by=request.user, request_pk=pk, attachment_id=attachment_id, http_request=request
    )


# ---------------------------------------------------------------------------------------------
# Physicians


@practice_member_required
def physician_home(request: HttpRequest) -> HttpResponse:
    """The requests of the physician's patients (the selector keeps them to their own)."""
    from priorauth import queues

    permissions.require(request.user, "physician_home.view")
    requests = list(selectors.request_list(user=request.user)[:PHYSICIAN_HOME_LIMIT])
    audit_list(request, requests, what="physician's requests")
    # The newest 200 here, and how many there are in all (the rest in the worklist, never dropped silently).
    total = sum(queues.status_counts(user=request.user).values())
    return render(
        request,
        "pages/physician_home.html",
        {"requests": requests, "total": total, "queues": queues.physician_queues(user=request.user)},
    )


# ---------------------------------------------------------------------------------------------
# Policy changes (admins and billing staff)


def _admin_links(request: HttpRequest) -> list[dict[str, str]]:
    """The Django admin's pages for the payer registry (policies, evidence, letter paragraphs, ...)
    that this user may view, from the admin's own registry."""
    links = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "policies" or not model_admin.has_view_permission(request):
            continue
        try:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        except NoReverseMatch:
            continue
        links.append({"label": str(model._meta.verbose_name_plural).capitalize(), "url": url})
    return sorted(links, key=lambda link: link["label"])


@practice_member_required
def policy_changes(request: HttpRequest) -> HttpResponse:
    """Which open requests each published policy change affected: the re-check results, newest
    policy version first, with the criteria that changed and the admin's history of the policy."""
    permissions.require(request.user, "policy_changes.view")
    show_seen = request.GET.get("seen") == "1"
    results = (
        selectors.recheck_results_visible_to(request.user)
        .filter(superseded=False)
        .select_related("request__treating_physician", "run__version__policy", "seen_by")
    )
    if not show_seen:
        results = results.filter(seen_at__isnull=True)
    runs: dict[int, dict[str, Any]] = {}
    for result in results.order_by("-run__started_at", "-run_id", "request__reference")[:500]:
        run = result.run
        entry = runs.setdefault(
            run.pk,
            {
                "run": run,
                "version": run.version,
                "policy_url": reverse("admin:policies_policy_change", args=[run.version.policy_id]),
                "history_url": reverse("admin:policies_policy_history", args=[run.version.policy_id]),
                "results": [],
            },
        )
        entry["results"].append(result)
    audit(
        request,
        A.LIST,
        model=RecheckResult,
        detail="policy changes ids=" + ",".join(str(r.pk) for e in runs.values() for r in e["results"]),
    )
    return render(
        request,
        "pages/policy_changes.html",
        {
            "runs": list(runs.values()),
            "show_seen": show_seen,
            "admin_links": _admin_links(request) if selectors.role_of(request.user) == Role.ADMIN else [],
            "is_billing": selectors.role_of(request.user) == Role.BILLING,
        },
    )


@require_POST
@practice_member_required
def recheck_seen(request: HttpRequest, result_id: int) -> HttpResponse:
    result = selectors.get_visible(selectors.recheck_results_visible_to(request.user), result_id)
    permissions.require(request.user, "recheck.seen", result)
    services.recheck_result_mark_seen(result=result, by=request.user, http_request=request)
    messages.success(request, f"Marked as seen: {result.request.reference}.")
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect("pages:policy-changes")


# ---------------------------------------------------------------------------------------------
# Letters (billing staff and the treating physician)

# While a PDF is being made the letter page reloads itself, a bounded number of times, so that a
# page left open while no worker runs does not keep its user signed in for ever.
LETTER_REFRESH_SECONDS = 3
LETTER_REFRESH_LIMIT = 40
AWAITING_PHYSICIAN = (LetterStatus.DRAFT_READY, LetterStatus.AWAITING_SIGNATURE)
BUSY = (LetterStatus.DRAFTING, LetterStatus.SIGNING)


@practice_member_required
def letter_list(request: HttpRequest) -> HttpResponse:
    permissions.require(request.user, "letter.list")
    letters = list(
        selectors.letters_visible_to(request.user)
        .select_related("request__patient", "request__payer", "request__treating_physician")
        .order_by("-updated_at", "-id")[:300]
    )
    audit(request, A.LIST, model=Letter, detail="letter list ids=" + ",".join(str(x.pk) for x in letters))
    is_physician = selectors.role_of(request.user) == Role.PHYSICIAN
    return render(
        request,
        "pages/letter_list.html",
        {
            "awaiting": [x for x in letters if x.status in AWAITING_PHYSICIAN] if is_physician else [],
            "letters": [x for x in letters if not is_physician or x.status not in AWAITING_PHYSICIAN],
            "is_physician": is_physician,
        },
    )


def _sources() -> dict[str, str]:
    return dict(EvidenceSource.objects.values_list("key", "short"))


def _letter_page(
    request: HttpRequest, letter: Letter, *, status: int = 200, errors: list[str] | None = None
) -> HttpResponse:
    revision = letter.current_revision
    waited = _int(request.GET.get("waited"))
    refresh = letter.status in BUSY and waited < LETTER_REFRESH_LIMIT
    is_physician = permissions.can(request.user, "letter.sign", letter)
    is_billing = selectors.role_of(request.user) == Role.BILLING
    return render(
        request,
        "pages/letter_detail.html",
        {
            "letter": letter,
            "revision": revision,
            "revisions": list(letter.revisions.all()),
            "sources": _sources(),
            "is_physician": is_physician,
            "is_billing": is_billing,
            "can_edit": permissions.can(request.user, "letter.edit", letter)
            and revision is not None
            and revision.paragraphs is not None
            and letter.status not in BUSY,
            "can_sign": is_physician and letter.status in AWAITING_PHYSICIAN,
            "can_hand_over": letter.status == LetterStatus.DRAFT_READY
            and is_billing
            and permissions.can(request.user, "letter.hand_over", letter),
            "can_retry": letter.status == LetterStatus.FAILED and permissions.can(request.user, "letter.retry", letter),
            "failed_jobs": [job for job in revision.jobs.all() if job.state == LetterJob.State.FAILED]
            if revision
            else [],
            # The staff's findings (issue 11): what the payer's letter never shows.
            "findings": letters.staff_findings(letter, revision),
            "lint": _draft_lint(revision),
            "refresh": refresh,
            "refresh_seconds": LETTER_REFRESH_SECONDS,
            "refresh_url": f"{request.path}?waited={waited + 1}",
            "gave_up_waiting": letter.status in BUSY and not refresh,
            "errors": errors,
            # Sending (priorauth/pages/packet_views.py): the letter's packets and, for billing staff
            # once it is signed, the attachments they may enclose.
            "packets": list(
                selectors.packets_visible_to(request.user).filter(letter=letter).order_by("-built_at", "-id")
            ),
            "can_build_packet": permissions.can(request.user, "packet.build", letter)
            and letter.status == LetterStatus.SIGNED,
            "packet_attachments": list(letter.request.attachments.all()),
        },
        status=status,
    )


def _draft_lint(revision) -> list[str]:
    """Internal markers the physician's own edits put into the narrative, shown before signing."""
    from priorauth.letters.lint import letter_lint

    if revision is None or not revision.paragraphs:
        return []
    return letter_lint(" ".join(s.get("text", "") for p in revision.paragraphs for s in p.get("sentences", [])))


def _int(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


@practice_member_required
def letter_detail(request: HttpRequest, pk: int) -> HttpResponse:
    letter = selectors.letter_get(user=request.user, pk=pk)
    audit(request, A.READ, letter)
    return _letter_page(request, letter)


@require_POST
@practice_member_required
def letter_request(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask for the request's prior-authorization letter, or an appeal's letter."""
    obj = selectors.request_get(user=request.user, pk=pk)
    permissions.require(request.user, "letter.draft", obj)
    form = LetterRequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose which letter to ask for.")
        return redirect("pages:request-detail", pk=obj.pk)
    appeal = None
    if form.cleaned_data["appeal"]:
        appeal = selectors.get_visible(obj.appeals.all(), form.cleaned_data["appeal"])
    try:
        letter, created = letter_services.letter_request_draft(
            request=obj, kind=form.cleaned_data["kind"], by=request.user, appeal=appeal, http_request=request
        )
    except ValidationError as exc:
        return _request_page(request, obj, {"letter_errors": exc.messages}, status=400)
    messages.success(request, "The draft is being written." if created else "This letter was already asked for.")
    return redirect("pages:letter-detail", pk=letter.pk)


@practice_member_required
def letter_edit(request: HttpRequest, pk: int) -> HttpResponse:
    letter = selectors.letter_get(user=request.user, pk=pk)
    permissions.require(request.user, "letter.edit", letter)
    revision = letter.current_revision
    if revision is None or revision.paragraphs is None or letter.status in BUSY:
        messages.error(request, "The letter is being written; edit it once its draft is ready.")
        return redirect("pages:letter-detail", pk=letter.pk)
    form = NarrativeForm(request.POST or None, revision=revision, sources=_sources())
    if request.method == "GET":
        audit(request, A.READ, letter, detail="edit form")
    if request.method == "POST" and form.is_valid():
        try:
            letter_services.letter_edit(
                letter=letter,
                by=request.user,
                paragraphs=form.paragraphs(),
                enclosures=form.enclosure_list(),
                http_request=request,
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, "Saved. The draft PDF is being made again.")
            return redirect("pages:letter-detail", pk=letter.pk)
    return render(
        request,
        "pages/letter_edit.html",
        {"letter": letter, "revision": revision, "form": form},
        status=400 if form.errors else 200,
    )


def _letter_action(request: HttpRequest, pk: int, action: Callable[..., Any], *, done: str) -> HttpResponse:
    letter = selectors.letter_get(user=request.user, pk=pk)
    try:
        action(letter=letter, by=request.user, http_request=request)
    except ValidationError as exc:
        letter.refresh_from_db()
        return _letter_page(request, letter, status=400, errors=exc.messages)
    messages.success(request, done)
    return redirect("pages:letter-detail", pk=letter.pk)


@require_POST
@practice_member_required
def letter_sign(request: HttpRequest, pk: int) -> HttpResponse:
    """The sign form carries the signing gate's answers: an override reason when required criteria
    are not met or not documented, and the acknowledgement of unverified sources."""
    letter = selectors.letter_get(user=request.user, pk=pk)
    reason = request.POST.get("override_reason", "").strip()
    acknowledged = request.POST.get("acknowledge_unverified") in ("on", "true", "1")
    try:
        letter_services.letter_sign(
            letter=letter,
            by=request.user,
            override_reason=reason,
            acknowledge_unverified=acknowledged,
            http_request=request,
        )
    except ValidationError as exc:
        letter.refresh_from_db()
        return _letter_page(request, letter, status=400, errors=exc.messages)
    messages.success(request, "Signed. The final PDF is being made.")
    return redirect("pages:letter-detail", pk=letter.pk)


@require_POST
@practice_member_required
def letter_hand_over(request: HttpRequest, pk: int) -> HttpResponse:
    return _letter_action(
        request,
        pk,
        letter_services.letter_request_signature,
        done="Sent to the physician for signature.",
    )


@require_POST
@practice_member_required
def letter_retry(request: HttpRequest, pk: int) -> HttpResponse:
    return _letter_action(request, pk, letter_services.letter_retry, done="The render is queued again.")


@practice_member_required
def letter_pdf(request: HttpRequest, pk: int, number: int, stage: str) -> FileResponse:
    letter = selectors.letter_get(user=request.user, pk=pk)
    return letter_downloads.letter_pdf_download(
        by=request.user, letter=letter, number=number, stage=stage, http_request=request
    )


# ---------------------------------------------------------------------------------------------
# Notifications (priorauth.notifications): the user's own notices; opening one marks it read.


@practice_member_required
def notification_list(request: HttpRequest) -> HttpResponse:
    from priorauth.notifications import notifications_for

    permissions.require(request.user, "notification.list")
    items = list(notifications_for(request.user)[:100])
    return render(request, "pages/notification_list.html", {"notifications": items})


@require_POST
@practice_member_required
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    from priorauth import notifications

    notification = selectors.get_visible(notifications.notifications_for(request.user), pk)
    url = notifications.notification_open(notification=notification, by=request.user)
    if not url_has_allowed_host_and_scheme(url, allowed_hosts=None):
        url = reverse("pages:home")
    return redirect(url)


# ---------------------------------------------------------------------------------------------
# Corrections after submission (priorauth.amendments)


@practice_member_required
def request_amend(request: HttpRequest, pk: int) -> HttpResponse:
    from priorauth.amendments import AMENDABLE_STATUSES
    from priorauth.amendments import request_amend as amend

    obj = selectors.request_get(user=request.user, pk=pk)
    permissions.require(request.user, "request.amend", obj)
    if obj.status not in AMENDABLE_STATUSES:
        messages.error(request, "Only a submitted, sent or pended request can be corrected.")
        return redirect("pages:request-detail", pk=obj.pk)
    pended = obj.status == Status.PENDED
    formset = CaseFormSet(request.POST or None, user=request.user, request=obj)
    amend_form = AmendForm(
        request.POST or None, pended=pended, initial={"member_id": obj.patient.member_id, "send_to_payer": pended}
    )
    if request.method == "GET":
        audit(request, A.READ, obj, detail="correction form")
    status = 200
    if request.method == "POST":
        valid = formset.is_valid() & amend_form.is_valid()
        status = 400
        if valid:
            data = amend_form.cleaned_data
            patient_fields = {"member_id": data["member_id"]} if data["member_id"] != obj.patient.member_id else None
            try:
                amendment = amend(
                    request=obj,
                    by=request.user,
                    reason=data["reason"],
                    case=formset.entered_case(),
                    patient_fields=patient_fields,
                    send_to_payer=data.get("send_to_payer", False),
                    http_request=request,
                )
            except ValidationError as exc:
                for key in list(getattr(exc, "error_dict", {})):
                    if key in amend_form.fields or key == "reason":
                        for message in exc.error_dict.pop(key):
                            amend_form.add_error(key if key in amend_form.fields else None, message)
                if getattr(exc, "error_dict", None) or not hasattr(exc, "error_dict"):
                    formset.add_service_errors(exc)
            else:
                sent = " and sent back to the payer" if amendment.sent_to_payer else ""
                messages.success(
                    request,
                    f"Correction saved{sent}; the determination was checked again (revision {amendment.number}).",
                )
                return redirect("pages:request-detail", pk=obj.pk)
    return render(
        request,
        "pages/request_amend.html",
        {
            "formset": formset,
            "form": formset.form,
            "amend_form": amend_form,
            "obj": obj,
            "check_url": reverse("coverage-check"),
        },
        status=status,
    )


@require_POST
@practice_member_required
def request_redetermine(request: HttpRequest, pk: int) -> HttpResponse:
    """From the policy-change banner: re-run the determination under the new policy version."""
    from priorauth.amendments import request_redetermine as redetermine

    obj = _action(request, pk, "request.redetermine")
    try:
        amendment = redetermine(request=obj, by=request.user, http_request=request)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            f"Determination re-run under the new policy: {amendment.get_new_decision_display()} (revision {amendment.number}).",
        )
    return redirect("pages:request-detail", pk=obj.pk)


# ---------------------------------------------------------------------------------------------
# Payer scorecard (priorauth.scorecard)


@practice_member_required
def payer_scorecard(request: HttpRequest) -> HttpResponse:
    from priorauth.scorecard import payer_scorecard as scorecard

    permissions.require(request.user, "metrics.scorecard")
    this_year = timezone.localdate().year
    try:
        year = int(request.GET.get("year") or this_year)
    except ValueError:
        year = 0
    if not 2000 <= year <= this_year:
        return render(
            request,
            "pages/scorecard.html",
            {"rows": [], "year": this_year, "error": f"Choose a year from 2000 to {this_year}."},
            status=400,
        )
    rows = scorecard(requests=selectors.requests_visible_to(request.user), year=year)
    for row in rows:
        for m in row["measures"]:
            values = [v for v in (m["ours"], m["published"]) if v is not None]
            top = 100.0 if m["unit"] == "%" else (max(values) if values else 0) or 1.0
            m["ours_width"] = round(100 * m["ours"] / top, 1) if m["ours"] is not None else 0
            m["published_width"] = round(100 * m["published"] / top, 1) if m["published"] is not None else 0
    audit(request, A.LIST, model=AuthorizationRequest, detail=f"payer scorecard {year}")
    return render(
        request,
        "pages/scorecard.html",
        {"rows": rows, "year": year, "years": list(range(this_year, this_year - 5, -1))},
    )
