"""Every URL the project serves — the API, the pages, the downloads, the admin, the API schema and
docs, health, sign-in and sign-out — opened by each persona, failing on any answer the permission
rules do not give:

- anonymous: the API refuses (403, as everywhere in this API: session authentication comes first);
  pages send to the sign-in form; the admin sends to its own sign-in form;
- another practice's object (or, for a physician, another physician's request): 404 on the API and
  the pages; "does not exist" in the admin (its redirect to the admin index, or 404);
- a visible object the role may not touch: 403 (404 where the product hides that it exists:
  letters from admins, everything from a non-treating physician);
- a user without a practice, superusers included, sees no PHI;
- what the rules grant answers 2xx/3xx.

The URLs come from the resolver, not from a list kept here. Every pattern must have a rule in RULES
(or, for a model's admin pages, in ADMIN_MODELS): a newly added URL fails this file until someone
says who may open it. Path parameters are real objects of practice A and of practice B. Every
answer is also searched for the patient names, member ids and request references its persona may not
see. Every unsafe endpoint is then tried by every persona on practice A's objects: a refused write
changes nothing, and the granted one does change something (so the body would have gone through).

Persona   practice  role
anonymous —         not signed in
alice     A         billing clerk
bob       A         physician, treating A's requests
dave      A         physician treating none of them
adam      A         admin
erin      B         billing clerk
charlie   B         physician, treating B's requests
frank     B         admin
root      —         superuser without a practice
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.views import redirect_to_login
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client, TestCase, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone
from knox.models import AuthToken

from config.celery import app
from factories import (
    UserFactory,
    addressed,
    advance,
    draft_for,
    entered_case,
    install_shipped_policies,
    member,
    personas,
)
from policies.models import (
    CoverageParagraph,
    Criterion,
    EvidenceClaim,
    EvidenceSource,
    Payer,
    Policy,
    PolicyVersion,
    RebuttalParagraph,
)
from priorauth import services
from priorauth.fhir.models import PasEndpoint, PasExchange
from priorauth.letters import packet
from priorauth.letters import services as letter_services
from priorauth.letters.models import FaxPacket, Letter, LetterJob, LetterRevision, LetterStatus
from priorauth.models import (
    Appeal,
    Attachment,
    AuditEntry,
    AuthorizationRequest,
    Membership,
    Patient,
    PayerDecision,
    Practice,
    Provider,
    RecheckResult,
    RecheckRun,
    Role,
    Sending,
    Status,
    StatusTransition,
)

TESTS = Path(__file__).resolve().parents[1]
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _letter_helpers():
    """tests/priorauth/letter_helpers.py, loaded from its file: pytest puts only the folders of the
    tests it runs on the path."""
    path = TESTS / "priorauth" / "letter_helpers.py"
    spec = importlib.util.spec_from_file_location("url_walk_letter_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


letter_helpers = _letter_helpers()


# ---------------------------------------------------------------------------------------------
# Personas


@dataclass(frozen=True)
class Persona:
    name: str
    practice: str | None = None  # "a" or "b"
    role: str | None = None
    treating: bool = False  # the treating physician of their practice's requests
    superuser: bool = False

    @property
    def signed_in(self) -> bool:
        return self.name != "anonymous"

    @property
    def member(self) -> bool:
        return self.practice is not None

    @property
    def staff(self) -> bool:
        return self.role == Role.ADMIN or self.superuser


PERSONAS = {
    p.name: p
    for p in (
        Persona("anonymous"),
        Persona("alice", "a", Role.BILLING),
        Persona("bob", "a", Role.PHYSICIAN, treating=True),
        Persona("dave", "a", Role.PHYSICIAN),
        Persona("adam", "a", Role.ADMIN),
        Persona("erin", "b", Role.BILLING),
        Persona("charlie", "b", Role.PHYSICIAN, treating=True),
        Persona("frank", "b", Role.ADMIN),
        Persona("root", superuser=True),
    )
}


def sees_request(p: Persona, x: str | None) -> bool:
    """Requests, their patients, attachments and re-check results: the practice's billing staff and
    admins, and the treating physician."""
    return p.practice == x and (p.role in (Role.BILLING, Role.ADMIN) or p.treating)


def sees_letter(p: Persona, x: str | None) -> bool:
    """Letters carry the whole case: the practice's billing staff and the treating physician only."""
    return p.practice == x and (p.role == Role.BILLING or p.treating)


# ---------------------------------------------------------------------------------------------
# Expected answers


@dataclass(frozen=True)
class Expect:
    status: int
    location: str | None = None  # a redirect's target, when it matters
    gone: bool = False  # the admin's "does not exist": 404, or its redirect to the admin index

    def matches(self, response) -> bool:
        if self.gone:
            return response.status_code == 404 or (response.status_code == 302 and response["Location"] == "/admin/")
        if response.status_code != self.status:
            return False
        return self.location is None or response.get("Location") == self.location

    @property
    def granted(self) -> bool:
        return not self.gone and 200 <= self.status < 400 and "login/?next=" not in (self.location or "")

    def __str__(self) -> str:
        if self.gone:
            return "404 or 302 → /admin/"
        return f"{self.status} → {self.location}" if self.location else str(self.status)


GONE = Expect(404, gone=True)

# A rule for a signed-in member: (persona, practice of the object) → status or Expect.
Outcome = Callable[[Persona, Any], "int | Expect"]
# The whole answer: (persona, practice of the object, URL) → Expect.
Judge = Callable[[Persona, Any, str], Expect]


def _expect(value: int | Expect) -> Expect:
    return value if isinstance(value, Expect) else Expect(value)


def allow(p: Persona, x: Any) -> int:
    return 200


def only(*roles: str, ok: int = 200, refused: int = 403) -> Outcome:
    return lambda p, x: ok if p.role in roles else refused


def found(sees: Callable[[Persona, Any], bool], then: Outcome = allow) -> Outcome:
    return lambda p, x: then(p, x) if sees(p, x) else 404


def status(code: int) -> Outcome:
    return lambda p, x: code


def everyone(code: int) -> Judge:
    return lambda p, x, url: Expect(code)


def api(rule: Outcome) -> Judge:
    """DRF views: anonymous callers and users without a practice are refused with 403."""
    return lambda p, x, url: _expect(rule(p, x)) if p.member else Expect(403)


def page(rule: Outcome) -> Judge:
    """Pages: anonymous users go to the sign-in form; a user without a practice gets a 403 page."""

    def judge(p: Persona, x: Any, url: str) -> Expect:
        if not p.signed_in:
            return Expect(302, redirect_to_login(url, reverse("login"))["Location"])
        return _expect(rule(p, x)) if p.member else Expect(403)

    return judge


def post_only(p: Persona, x: Any, url: str) -> Expect:
    """A page that only takes a form (require_POST): GET is 405 for anybody."""
    return Expect(405)


def admin_page(rule: Outcome) -> Judge:
    """The admin: only staff get in; everyone else goes to the admin's sign-in form."""

    def judge(p: Persona, x: Any, url: str) -> Expect:
        if not p.staff:
            return Expect(302, redirect_to_login(url, reverse("admin:login"))["Location"])
        return _expect(rule(p, x))

    return judge


def home(p: Persona, x: Any) -> Expect:
    return Expect(
        302, {Role.BILLING: "/dashboard/", Role.PHYSICIAN: "/letters/", Role.ADMIN: "/policy-changes/"}[p.role]
    )


def sign_in_form(p: Persona, x: Any, url: str) -> Expect:
    return Expect(200) if not p.signed_in else Expect(302, reverse("pages:home"))


def admin_sign_in_form(p: Persona, x: Any, url: str) -> Expect:
    # Signed in without staff rights: the form again, saying this account may not enter.
    return Expect(302, reverse("admin:index")) if p.staff else Expect(200)


def admin_sign_out(p: Persona, x: Any, url: str) -> Expect:
    # Signing out is a POST; the admin sends whoever may not enter to its index first.
    return Expect(405) if p.staff else Expect(302, reverse("admin:index"))


def letter_editor(p: Persona, x: Any) -> int:
    return 200 if p.treating else 403


# ---------------------------------------------------------------------------------------------
# URL fillers: (world) → [(practice of the objects, URL)]

Fill = Callable[[SimpleNamespace], list[tuple[Any, str]]]


def plain(name: str, query: str = "") -> Fill:
    return lambda w: [(None, reverse(name) + query)]


def at(name: str, query: str = "", **params: str) -> Fill:
    """The named URL filled with each practice's objects (`params`: URL kwarg → the attribute of
    the practice's objects that holds it)."""
    return lambda w: [
        (x, reverse(name, kwargs={k: getattr(w.of[x], attr).pk for k, attr in params.items()}) + query)
        for x in ("a", "b")
    ]


def crossed(name: str) -> Fill:
    """An attachment download URL for each practice, and one of practice A's request with practice
    B's file, which is nobody's."""

    def fill(w: SimpleNamespace) -> list[tuple[Any, str]]:
        a, b = w.of["a"], w.of["b"]
        mixed = reverse(name, kwargs={"pk": a.draft.pk, "attachment_id": b.attachment.pk})
        return at(name, pk="draft", attachment_id="attachment")(w) + [("crossed", mixed)]

    return fill


def letter_pdfs(w: SimpleNamespace) -> list[tuple[Any, str]]:
    return [
        (x, reverse("pages:letter-pdf", kwargs={"pk": w.of[x].signed_letter.pk, "number": 1, "stage": stage}))
        for x in ("a", "b")
        for stage in ("draft", "final")
    ]


@dataclass(frozen=True)
class Rule:
    fill: Fill
    judge: Judge


ONLY_POST_API = api(status(405))  # the API checks who you are before the method

RULES: dict[str, Rule] = {
    # Public: the API's description and its docs page (in development; in production they need a
    # signed-in user, tests/config/test_security_headers_and_schema.py), liveness, and the token
    # exchange, which takes anybody's POST with a username and password. The case checker takes PHI:
    # practice members only (issue 10). Revoking a token: anybody signed in.
    "api-schema": Rule(plain("api-schema"), everyone(200)),
    "api-docs": Rule(plain("api-docs"), everyone(200)),
    "health": Rule(plain("health"), everyone(200)),
    "coverage-check": Rule(plain("coverage-check"), api(status(405))),
    "auth-token": Rule(plain("auth-token"), everyone(405)),
    "auth-token-revoke": Rule(plain("auth-token-revoke"), lambda p, x, url: Expect(405 if p.signed_in else 403)),
    "auth-me": Rule(plain("auth-me"), api(allow)),
    "auth-token-revoke-all": Rule(
        plain("auth-token-revoke-all"), lambda p, x, url: Expect(405 if p.signed_in else 403)
    ),
    # The prior-authorization API
    "requests": Rule(plain("requests"), api(allow)),
    "request-detail": Rule(at("request-detail", pk="draft"), api(found(sees_request))),
    "request-submit": Rule(at("request-submit", pk="draft"), ONLY_POST_API),
    "request-send": Rule(at("request-send", pk="submitted"), ONLY_POST_API),
    "request-decision": Rule(at("request-decision", pk="sent"), ONLY_POST_API),
    "request-appeal": Rule(at("request-appeal", pk="denied"), ONLY_POST_API),
    "request-withdraw": Rule(at("request-withdraw", pk="draft"), ONLY_POST_API),
    "request-follow-up": Rule(at("request-follow-up", pk="sent"), ONLY_POST_API),
    "request-attachments": Rule(at("request-attachments", pk="draft"), api(found(sees_request))),
    "request-payer-contact": Rule(at("request-payer-contact", pk="draft"), api(found(sees_request))),
    "request-attachment-download": Rule(crossed("request-attachment-download"), api(found(sees_request))),
    "deadlines": Rule(plain("deadlines", "?within_days=365"), api(allow)),
    "rechecks": Rule(plain("rechecks", "?include_seen=true"), api(allow)),
    "recheck-seen": Rule(at("recheck-seen", pk="recheck"), ONLY_POST_API),
    "metrics-payers": Rule(plain("metrics-payers"), api(allow)),
    "metrics-scorecard": Rule(plain("metrics-scorecard"), api(only(Role.BILLING, Role.ADMIN))),
    "audit": Rule(plain("audit"), api(only(Role.ADMIN))),
    "patients": Rule(plain("patients"), api(allow)),
    "patient-detail": Rule(at("patient-detail", pk="patient"), api(found(sees_request))),
    "providers": Rule(plain("providers"), api(allow)),
    # The admin sees the request, but not its letters (an empty list).
    "request-letters": Rule(at("request-letters", pk="submitted"), api(found(sees_request))),
    "letter-detail": Rule(at("letter-detail", pk="signed_letter"), api(found(sees_letter))),
    "letter-paragraphs": Rule(at("letter-paragraphs", pk="signed_letter"), ONLY_POST_API),
    "letter-request-signature": Rule(at("letter-request-signature", pk="signed_letter"), ONLY_POST_API),
    "letter-sign": Rule(at("letter-sign", pk="signed_letter"), ONLY_POST_API),
    "letter-retry": Rule(at("letter-retry", pk="signed_letter"), ONLY_POST_API),
    "letter-pdf": Rule(
        lambda w: at("letter-pdf", pk="signed_letter")(w) + at("letter-pdf", "?stage=draft", pk="signed_letter")(w),
        api(found(sees_letter)),
    ),
    # Sending: a letter's DOCX draft and its fax packets are the letter's (billing builds, both download).
    "letter-docx": Rule(at("letter-docx", pk="signed_letter"), api(found(sees_letter))),
    "letter-packets": Rule(at("letter-packets", pk="signed_letter"), api(found(sees_letter))),
    "packet-detail": Rule(at("packet-detail", pk="packet"), api(found(sees_letter))),
    "packet-pdf": Rule(at("packet-pdf", pk="packet"), api(found(sees_letter))),
    # Signing in and out
    "login": Rule(plain("login"), sign_in_form),
    "logout": Rule(plain("logout"), everyone(405)),
    "keep-alive": Rule(plain("keep-alive"), everyone(405)),
    # Pages
    "pages:home": Rule(plain("pages:home"), page(home)),
    "pages:dashboard": Rule(plain("pages:dashboard"), page(only(Role.BILLING))),
    "pages:request-list": Rule(plain("pages:request-list"), page(allow)),
    "pages:request-new": Rule(plain("pages:request-new"), page(only(Role.BILLING))),
    "pages:patient-search": Rule(plain("pages:patient-search", "?q=Qu"), page(only(Role.BILLING))),
    "pages:request-detail": Rule(at("pages:request-detail", pk="draft"), page(found(sees_request))),
    "pages:request-edit": Rule(at("pages:request-edit", pk="draft"), page(found(sees_request, only(Role.BILLING)))),
    "pages:request-amend": Rule(
        at("pages:request-amend", pk="submitted"), page(found(sees_request, only(Role.BILLING)))
    ),
    "pages:request-submit": Rule(at("pages:request-submit", pk="draft"), post_only),
    "pages:request-send": Rule(at("pages:request-send", pk="submitted"), post_only),
    "pages:request-withdraw": Rule(at("pages:request-withdraw", pk="draft"), post_only),
    "pages:request-redetermine": Rule(at("pages:request-redetermine", pk="submitted"), post_only),
    "pages:request-follow-up": Rule(at("pages:request-follow-up", pk="sent"), post_only),
    "pages:request-decision": Rule(at("pages:request-decision", pk="sent"), post_only),
    "pages:request-payer-contact": Rule(at("pages:request-payer-contact", pk="draft"), post_only),
    "pages:request-appeal": Rule(at("pages:request-appeal", pk="denied"), post_only),
    "pages:attachment-upload": Rule(at("pages:attachment-upload", pk="draft"), post_only),
    "pages:attachment-download": Rule(crossed("pages:attachment-download"), page(found(sees_request))),
    "pages:letter-request": Rule(at("pages:letter-request", pk="denied"), post_only),
    "pages:letter-list": Rule(plain("pages:letter-list"), page(only(Role.BILLING, Role.PHYSICIAN))),
    "pages:letter-detail": Rule(at("pages:letter-detail", pk="signed_letter"), page(found(sees_letter))),
    "pages:letter-edit": Rule(at("pages:letter-edit", pk="signed_letter"), page(found(sees_letter, letter_editor))),
    "pages:letter-sign": Rule(at("pages:letter-sign", pk="signed_letter"), post_only),
    "pages:letter-hand-over": Rule(at("pages:letter-hand-over", pk="signed_letter"), post_only),
    "pages:letter-retry": Rule(at("pages:letter-retry", pk="signed_letter"), post_only),
    "pages:letter-pdf": Rule(letter_pdfs, page(found(sees_letter))),
    "pages:letter-docx": Rule(
        lambda w: [
            (x, reverse("pages:letter-docx", kwargs={"pk": w.of[x].signed_letter.pk, "number": 1})) for x in ("a", "b")
        ],
        page(found(sees_letter)),
    ),
    "pages:letter-packet": Rule(at("pages:letter-packet", pk="signed_letter"), post_only),
    "pages:packet-pdf": Rule(at("pages:packet-pdf", pk="packet"), page(found(sees_letter))),
    "pages:scorecard": Rule(plain("pages:scorecard"), page(only(Role.BILLING, Role.ADMIN))),
    "pages:notification-list": Rule(plain("pages:notification-list"), page(only(Role.BILLING, Role.PHYSICIAN))),
    "pages:notification-open": Rule(
        lambda w: [(x, reverse("pages:notification-open", kwargs={"pk": 1})) for x in ("a", "b")], post_only
    ),
    "pages:physician-home": Rule(plain("pages:physician-home"), page(only(Role.PHYSICIAN))),
    "pages:policy-changes": Rule(plain("pages:policy-changes"), page(only(Role.ADMIN, Role.BILLING))),
    "pages:recheck-seen": Rule(at("pages:recheck-seen", result_id="recheck"), post_only),
    # The admin site's own pages
    "admin:index": Rule(plain("admin:index"), admin_page(allow)),
    "admin:login": Rule(plain("admin:login"), admin_sign_in_form),
    "admin:logout": Rule(plain("admin:logout"), admin_sign_out),
    "admin:password_change": Rule(plain("admin:password_change"), admin_page(allow)),
    "admin:password_change_done": Rule(plain("admin:password_change_done"), admin_page(allow)),
    "admin:jsi18n": Rule(plain("admin:jsi18n"), admin_page(allow)),
    # The letter texts' claim picker (the only autocomplete field).
    "admin:autocomplete": Rule(
        plain("admin:autocomplete", "?app_label=policies&model_name=coverageparagraphclaim&field_name=claim"),
        admin_page(allow),
    ),
    # "View on site": no model has a public page, so nothing is found, whoever owns it.
    "admin:view_on_site": Rule(
        lambda w: [
            (x, reverse("admin:view_on_site", args=[ContentType.objects.get_for_model(Patient).pk, w.of[x].patient.pk]))
            for x in ("a", "b")
        ],
        admin_page(status(404)),
    ),
    "admin:app_list": Rule(
        lambda w: [(label, reverse("admin:app_list", args=[label])) for label in w.admin_apps],
        admin_page(lambda p, label: 200 if p.superuser or label in PRACTICE_ADMIN_APPS else 404),
    ),
    # Electronic prior authorization (priorauth/fhir): the bundle is read like the request detail;
    # the CDS Hooks service takes only a Bearer token, so a session is not signed in there (401).
    "request-pas-bundle": Rule(at("request-pas-bundle", pk="draft"), api(found(sees_request))),
    "request-pas-check": Rule(at("request-pas-check", pk="draft"), api(found(sees_request))),
    "request-pas-response": Rule(at("request-pas-response", pk="sent"), ONLY_POST_API),
    "request-pas-submit": Rule(at("request-pas-submit", pk="submitted"), ONLY_POST_API),
    "pas-notifications": Rule(plain("pas-notifications"), ONLY_POST_API),
    "cds-discovery": Rule(plain("cds-discovery"), everyone(200)),
    "cds-hook": Rule(lambda w: [(None, reverse("cds-hook", args=["mild-0275t-order-sign"]))], everyone(401)),
    "request-pas-review": Rule(at("request-pas-review", pk="submitted"), page(found(sees_request))),
    # The admin's catch-all: its sign-in form for outsiders, 404 for staff.
    "admin/(?P<url>.*)$": Rule(lambda w: [(None, "/admin/no-such-page/")], admin_page(status(404))),
}

# ---------------------------------------------------------------------------------------------
# The admin's model pages. Scopes:
#   global     payer policy records, re-check runs: the same for every practice's admins
#   practice   their practice's only; superusers (no PHI) see every practice's
#   phi        their practice's only, for everyone, superusers included
#   superuser  only superusers have any permission
# `admin` is what a practice admin may do, `superuser` what a superuser may do.

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"
ALL = frozenset({VIEW, ADD, CHANGE, DELETE})
PRACTICE_ADMIN_APPS = {"auth", "policies", "priorauth"}


@dataclass(frozen=True)
class AdminModel:
    scope: str
    objects: Callable[[SimpleNamespace], list[tuple[Any, Any]]]
    admin: frozenset[str] = frozenset()
    superuser: frozenset[str] = ALL


def one(attr: str) -> Callable[[SimpleNamespace], list[tuple[Any, Any]]]:
    return lambda w: [(None, getattr(w, attr))]


def each(attr: str) -> Callable[[SimpleNamespace], list[tuple[Any, Any]]]:
    return lambda w: [(x, getattr(w.of[x], attr)) for x in ("a", "b")]


ADMIN_MODELS: dict[str, AdminModel] = {
    "auth.group": AdminModel("superuser", one("group")),
    "knox.authtoken": AdminModel("superuser", one("token")),
    "axes.accessattempt": AdminModel("superuser", one("access_attempt"), superuser=frozenset({VIEW, CHANGE, DELETE})),
    "axes.accesslog": AdminModel("superuser", one("access_log"), superuser=frozenset({VIEW, CHANGE, DELETE})),
    "axes.accessfailurelog": AdminModel(
        "superuser", one("access_failure_log"), superuser=frozenset({VIEW, CHANGE, DELETE})
    ),
    "policies.policy": AdminModel("global", one("policy"), frozenset({VIEW})),
    "policies.criterion": AdminModel("global", one("criterion"), frozenset({VIEW})),
    "policies.payer": AdminModel("global", one("payer"), frozenset({VIEW})),
    "policies.evidencesource": AdminModel("global", one("evidence"), frozenset({VIEW})),
    "policies.policyversion": AdminModel("global", one("policy_version"), frozenset({VIEW}), frozenset({VIEW})),
    "policies.evidenceclaim": AdminModel("global", one("claim"), frozenset({VIEW})),
    "policies.coverageparagraph": AdminModel("global", one("coverage_paragraph"), frozenset({VIEW})),
    "policies.rebuttalparagraph": AdminModel("global", one("rebuttal_paragraph"), frozenset({VIEW})),
    "policies.payercontact": AdminModel("global", one("payer_contact"), frozenset({VIEW})),
    "priorauth.practice": AdminModel("practice", each("practice"), frozenset({VIEW, CHANGE})),
    "priorauth.membership": AdminModel("practice", each("membership"), frozenset({VIEW, ADD, CHANGE})),
    "priorauth.provider": AdminModel("practice", each("provider"), frozenset({VIEW, ADD, CHANGE})),
    "auth.user": AdminModel("practice", each("clerk"), frozenset({VIEW, ADD, CHANGE})),
    # Patients are added by billing staff in the application and never deleted.
    "priorauth.patient": AdminModel("phi", each("patient"), frozenset({VIEW, CHANGE}), frozenset({VIEW, CHANGE})),
    # The workflow is read-only in the admin; it changes only through the services.
    "priorauth.authorizationrequest": AdminModel("phi", each("draft"), frozenset({VIEW}), frozenset({VIEW})),
    "priorauth.attachment": AdminModel("phi", each("attachment"), frozenset({VIEW}), frozenset({VIEW})),
    # Append-only, without PHI: superusers read every practice's.
    "priorauth.auditentry": AdminModel("practice", each("audit_entry"), frozenset({VIEW}), frozenset({VIEW})),
    "priorauth.recheckrun": AdminModel("global", one("recheck_run"), frozenset({VIEW}), frozenset({VIEW})),
    # Payers' PAS endpoints are kept by superusers; the exchange log is read-only.
    "pas.pasendpoint": AdminModel("superuser", one("pas_endpoint")),
    "pas.pasexchange": AdminModel("superuser", one("pas_exchange"), superuser=frozenset({VIEW})),
    # Payers' published CMS-0057-F figures (the scorecard): payer data, entered by practice admins.
    "priorauth.publishedpayermetrics": AdminModel("global", one("published_metrics"), frozenset({VIEW, ADD, CHANGE})),
}

ADMIN_ROUTE = re.compile(r"^admin/(?P<app>\w+)/(?P<model>\w+)/(?P<view>.*)$")
ADMIN_VIEWS = {
    "": "changelist",
    "add/": "add",
    "<path:object_id>/change/": "change",
    "<path:object_id>/delete/": "delete",
    "<path:object_id>/history/": "history",
    "^([^/]+)/history/([^/]+)/$": "history_version",  # django-simple-history's record of one version
    "<path:object_id>/": "object",  # redirects to the change page
    "<id>/password/": "password",  # auth.user
}


def admin_may(p: Persona, m: AdminModel, action: str) -> bool:
    return action in (m.superuser if p.superuser else m.admin)


def in_scope(p: Persona, m: AdminModel, x: Any) -> bool:
    if m.scope == "phi":
        return p.practice == x
    if m.scope == "practice":
        return p.superuser or p.practice == x
    return True


def admin_model_rule(label: str, view: str) -> Rule:
    m = ADMIN_MODELS[label]
    app, model = label.split(".")
    info, objects = f"admin:{app}_{model}", m.objects
    if view == "changelist":
        return Rule(plain(f"{info}_changelist"), admin_page(lambda p, x: 200 if admin_may(p, m, VIEW) else 403))
    if view == "add":
        return Rule(plain(f"{info}_add"), admin_page(lambda p, x: 200 if admin_may(p, m, ADD) else 403))

    def object_urls(name: str, suffix: Callable[[Any], list] = lambda obj: []) -> Fill:
        return lambda w: [(x, reverse(name, args=[obj.pk, *suffix(obj)])) for x, obj in objects(w)]

    def checked(action: str, *, scope_first: bool) -> Outcome:
        # The change and delete pages check the permission before they look the object up, the
        # history pages the other way round; an object out of scope is never shown either way.
        def decide(p: Persona, x: Any) -> int | Expect:
            allowed, visible = admin_may(p, m, action), in_scope(p, m, x)
            if scope_first and not visible:
                return GONE
            if not allowed:
                return 403
            return 200 if visible else GONE

        return decide

    if view == "change":
        return Rule(object_urls(f"{info}_change"), admin_page(checked(VIEW, scope_first=False)))
    if view == "delete":
        return Rule(object_urls(f"{info}_delete"), admin_page(checked(DELETE, scope_first=False)))
    if view == "history":
        return Rule(object_urls(f"{info}_history"), admin_page(checked(VIEW, scope_first=True)))
    if view == "history_version":
        return Rule(
            object_urls(f"{info}_simple_history", lambda obj: [obj.history.earliest().history_id]),
            admin_page(checked(VIEW, scope_first=True)),
        )
    if view == "password":
        return Rule(object_urls(f"{info}_password_change"), admin_page(checked(CHANGE, scope_first=False)))
    if view == "object":
        # A bare object URL only redirects to the change page, which then decides.
        def fill(w: SimpleNamespace) -> list[tuple[Any, str]]:
            return [(x, reverse(f"{info}_change", args=[obj.pk]).removesuffix("change/")) for x, obj in objects(w)]

        def to_the_change_page(p: Persona, x: Any, url: str) -> Expect:
            return admin_page(lambda p, x: Expect(302, url + "change/"))(p, x, url)

        return Rule(fill, to_the_change_page)
    raise AssertionError(view)


# ---------------------------------------------------------------------------------------------
# The URL patterns, from the resolver


@dataclass(frozen=True)
class Pattern:
    route: str
    name: str | None
    callback: Callable

    @property
    def key(self) -> str:
        return self.name or self.route


def url_patterns(patterns=None, prefix: str = "", namespace: str | None = None) -> Iterator[Pattern]:
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            ns = p.namespace if not namespace else (f"{namespace}:{p.namespace}" if p.namespace else namespace)
            yield from url_patterns(p.url_patterns, prefix + str(p.pattern), ns)
        else:
            assert isinstance(p, URLPattern)
            name = f"{namespace}:{p.name}" if namespace and p.name else p.name
            yield Pattern(prefix + str(p.pattern), name, p.callback)


def rule_for(pattern: Pattern) -> Rule | None:
    """The pattern's rule, or None when nobody said who may open it."""
    if pattern.key in RULES:
        return RULES[pattern.key]
    match = ADMIN_ROUTE.match(pattern.route)
    if match and match["view"] in ADMIN_VIEWS:
        label = f"{match['app']}.{match['model']}"
        if label in ADMIN_MODELS:
            return admin_model_rule(label, ADMIN_VIEWS[match["view"]])
    return None


def test_every_url_pattern_has_a_rule():
    patterns = list(url_patterns())
    unclassified = [p.route for p in patterns if rule_for(p) is None]
    assert not unclassified, "URL patterns nobody said who may open (add them to RULES or ADMIN_MODELS):\n" + "\n".join(
        unclassified
    )
    stale = set(RULES) - {p.key for p in patterns}
    assert not stale, f"rules for URLs the project no longer serves: {sorted(stale)}"
    registered = {m._meta.label_lower for m in admin.site._registry}
    assert registered == set(ADMIN_MODELS), (
        f"admin models without a rule, or rules for none: {registered ^ set(ADMIN_MODELS)}"
    )


# ---------------------------------------------------------------------------------------------
# The world: every object a URL can name, of practice A and of practice B (built once; each test
# runs in a savepoint inside this module's transaction, which is rolled back at the end)


def _practice(w: SimpleNamespace, x: str) -> SimpleNamespace:
    o = SimpleNamespace(x=x)
    o.practice, o.clerk = getattr(w, f"practice_{x}"), w.alice if x == "a" else w.erin
    o.physician, o.provider = (w.bob, w.bob_provider) if x == "a" else (w.charlie, w.charlie_provider)
    o.membership = o.clerk.membership
    patient = getattr(w, f"patient_{x}")
    earlier_last_name = patient.last_name
    # Names found nowhere else (every page is searched for them), and a second version in the
    # patient's history, which the admin could revert to the first.
    last_name, member_id = ("Oyelaran", "MWA77310") if x == "a" else ("Thibodeaux", "MWB88420")
    o.patient = services.patient_update(patient=patient, by=o.clerk, last_name=last_name, member_id=member_id)

    def request(state: str, payer: str = "medicare-advantage") -> AuthorizationRequest:
        return advance(draft_for(w, x, payer=payer), state, o.clerk)

    o.draft = request(Status.DRAFT)
    # Medicare Advantage: Original Medicare has no prior-authorization letter (issue 11); a letter is
    # signed only with a named addressee.
    o.submitted = addressed(request(Status.SUBMITTED))
    o.sent = addressed(request(Status.SENT))
    o.denied = request(Status.DENIED)
    o.attachment = services.attachment_add(
        request=o.draft,
        kind="imaging_report",
        upload=SimpleUploadedFile("mri.pdf", PDF, content_type="application/pdf"),
        by=o.clerk,
    )
    o.audit_entry = services.audit_record(user=o.clerk, action=AuditEntry.Action.READ, obj=o.patient)
    # Letters, rendered by their tasks in this process: one signed (draft and final PDFs) and, in
    # practice A, one whose draft is ready for review.
    with TestCase.captureOnCommitCallbacks(execute=True):
        o.signed_letter, _ = letter_services.letter_request_draft(
            request=o.submitted, kind="prior_authorization", by=o.clerk
        )
    with TestCase.captureOnCommitCallbacks(execute=True):
        letter_services.letter_sign(letter=o.signed_letter, by=o.physician, acknowledge_unverified=True)
    letters = [(o.signed_letter, LetterStatus.SIGNED)]
    o.signed_letter.refresh_from_db()
    o.packet = packet.packet_build(letter=o.signed_letter, attachment_ids=[], by=o.clerk)
    if x == "a":  # for the writes, which act on practice A's objects
        with TestCase.captureOnCommitCallbacks(execute=True):
            o.ready_letter, _ = letter_services.letter_request_draft(
                request=o.sent, kind="prior_authorization", by=o.clerk
            )
        letters.append((o.ready_letter, LetterStatus.DRAFT_READY))
    for letter, expected in letters:
        letter.refresh_from_db()
        assert letter.status == expected, list(letter.current_revision.jobs.values("stage", "state", "error"))
    o.sentinels = [last_name, earlier_last_name, member_id] + [
        r.reference for r in (o.draft, o.submitted, o.sent, o.denied)
    ]
    return o


def _build_world(media: str) -> SimpleNamespace:
    install_shipped_policies()
    letter_helpers.install_letter_texts()
    w = personas()
    w.frank = member("frank", w.practice_b, Role.ADMIN)
    w.root = UserFactory(username="root", is_superuser=True, is_staff=True)
    w.users = {name: getattr(w, name) for name in PERSONAS if name != "anonymous"}
    w.media = media
    w.of = {x: _practice(w, x) for x in ("a", "b")}
    medicare_advantage = PolicyVersion.objects.get(policy__payer__code="medicare-advantage")
    w.recheck_run = RecheckRun.objects.create(version=medicare_advantage)
    for o in w.of.values():
        o.recheck = RecheckResult.objects.create(
            run=w.recheck_run, request=o.draft, old_decision="meets_criteria", new_decision="not_met"
        )
    # The payer registry (the same for every practice) and the superusers' records.
    w.policy = Policy.objects.get(payer__code="medicare")
    w.payer = w.policy.payer
    w.policy_version = PolicyVersion.objects.get(policy=w.policy)
    from priorauth.models import PublishedPayerMetrics

    w.published_metrics = PublishedPayerMetrics.objects.create(
        payer=w.payer, year=2026, source_url="https://payer.example/metrics", published_on="2026-03-31"
    )
    w.criterion = Criterion.objects.create(
        policy=w.policy, key="walk-probe", section="payer", label="Probe", path="administrative.expedited",
        operator="eq", value=True, required=False, reason_met="-", reason_not_met="-", reason_missing="-",
    )  # fmt: skip
    w.evidence = EvidenceSource.objects.order_by("pk").first()
    w.claim = EvidenceClaim.objects.order_by("pk").first()
    w.coverage_paragraph = CoverageParagraph.objects.order_by("pk").first()
    w.rebuttal_paragraph = RebuttalParagraph.objects.order_by("pk").first()
    from policies.models import PayerContact

    w.payer_contact = PayerContact.objects.create(
        payer=w.policy.payer, key="walk-desk", kind="appeals", name="Walk plan", review_status="verified"
    )
    for record in (w.evidence, w.claim, w.coverage_paragraph, w.rebuttal_paragraph):
        if not record.history.exists():  # bulk-created by the seed: give its history page a version
            record.save()
    w.group = Group.objects.get(name=services.PRACTICE_ADMIN_GROUP)
    w.pas_endpoint = PasEndpoint.objects.create(
        payer=w.payer, base_url="https://payer.example.com/fhir", credential_env="PAS_TOKEN"
    )
    w.pas_exchange = PasExchange.objects.create(operation="import", outcome="received")
    AuthToken.objects.create(w.erin)
    # The token admin names a token by its digest.
    w.token, _ = AuthToken.objects.create(w.alice)
    access = {
        "user_agent": "walk",
        "ip_address": "127.0.0.1",
        "username": "alice",
        "http_accept": "*/*",
        "path_info": "/",
    }
    w.access_attempt = AccessAttempt.objects.create(**access, get_data="", post_data="", failures_since_start=1)
    w.access_log = AccessLog.objects.create(**access)
    w.access_failure_log = AccessFailureLog.objects.create(**access)
    w.admin_apps = sorted({m._meta.app_label for m in admin.site._registry})
    return w


@pytest.fixture(scope="module")
def _world(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[SimpleNamespace]:
    media = str(tmp_path_factory.mktemp("url-walk-media"))
    # Renders run in this process even when REDIS_URL names a broker (as tests/pages/conftest.py's
    # eager_tasks does: the CELERY_-namespaced keys are the ones the app reads).
    saved = app.conf.CELERY_TASK_ALWAYS_EAGER, app.conf.CELERY_TASK_EAGER_PROPAGATES
    app.conf.CELERY_TASK_ALWAYS_EAGER, app.conf.CELERY_TASK_EAGER_PROPAGATES = True, True
    fast = override_settings(MEDIA_ROOT=media)
    try:
        with django_db_blocker.unblock(), fast, transaction.atomic():
            yield _build_world(media)
            transaction.set_rollback(True)
    finally:
        app.conf.CELERY_TASK_ALWAYS_EAGER, app.conf.CELERY_TASK_EAGER_PROPAGATES = saved


@pytest.fixture
def world(_world, db, settings) -> SimpleNamespace:
    """The module's world; what a test writes is rolled back after it (pytest-django's savepoint)."""
    # Set again after any folder-wide fixture that points MEDIA_ROOT elsewhere: the files are here.
    settings.MEDIA_ROOT = _world.media
    return _world


def client_for(world: SimpleNamespace, persona: Persona) -> Client:
    client = Client()
    if persona.signed_in:
        client.force_login(world.users[persona.name])
    return client


def hidden_sentinels(world: SimpleNamespace, persona: Persona) -> list[str]:
    """Patient names, member ids and request references this persona may not see anywhere."""
    return [s for x, o in world.of.items() if not sees_request(persona, x) for s in o.sentinels]


FINGERPRINTED = [
    AuthorizationRequest, Patient, Attachment, Letter, LetterRevision, LetterJob, RecheckResult, StatusTransition,
    PayerDecision, Appeal, Membership, Provider, Practice, Criterion, Payer, Policy, FaxPacket, Sending,
]  # fmt: skip


def fingerprint() -> dict[str, list]:
    """Every row a write could change (audit entries, sessions and sign-in times aside), read with
    plain SQL: it runs after every write, and the ORM's query building would double the time."""
    user = get_user_model()._meta
    tables = {m._meta.db_table: "*" for m in FINGERPRINTED}
    tables[user.db_table] = "id, username, password, is_active, is_staff, is_superuser"
    state = {}
    with connection.cursor() as cursor:
        for table, columns in tables.items():
            cursor.execute(f"SELECT {columns} FROM {connection.ops.quote_name(table)} ORDER BY id")
            state[table] = cursor.fetchall()
    return state


# ---------------------------------------------------------------------------------------------
# The walk


def answer(response) -> str:
    return (
        f"{response.status_code} → {response['Location']}"
        if response.has_header("Location")
        else str(response.status_code)
    )


def walk(world: SimpleNamespace) -> Iterator[tuple[Pattern, Any, str, Rule]]:
    for pattern in url_patterns():
        rule = rule_for(pattern)
        assert rule is not None, f"no rule for {pattern.route} (see test_every_url_pattern_has_a_rule)"
        for x, url in rule.fill(world):
            yield pattern, x, url, rule


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_every_url_answers_as_the_rules_say(world, persona):
    p = PERSONAS[persona]
    client = client_for(world, p)
    hidden = hidden_sentinels(world, p)
    before = fingerprint()
    wrong, leaks, walked = [], [], 0
    for pattern, x, url, rule in walk(world):
        if p.practice == "b" and x == "b":
            continue  # practice B's users act on practice A's objects; A's users cover both sides
        match = resolve(url.split("?")[0])
        assert match.func is pattern.callback, f"{url} does not reach {pattern.route}"
        expected = rule.judge(p, x, url)
        response = client.get(url)
        walked += 1
        if not expected.matches(response):
            wrong.append(f"GET {url}  [{pattern.key}, {x or '-'}]  got {answer(response)}, the rules say {expected}")
        if not response.streaming and "pdf" not in response.get("Content-Type", ""):
            text = response.content.decode(errors="replace")
            leaks += [f"GET {url} shows {s!r}" for s in hidden if s in text]
    assert walked > 200
    assert not wrong and not leaks, f"{p.name}:\n" + "\n".join(wrong + leaks)
    assert fingerprint() == before, "a GET changed something"


# ---------------------------------------------------------------------------------------------
# Writes: each unsafe endpoint, by every persona, on practice A's objects. A write the rules do not
# grant is refused and changes nothing; the granted persona's same write does change something,
# which shows the body and the object's state would have let the write through.


@dataclass(frozen=True)
class Write:
    key: str
    method: str  # post, put, patch
    url: Callable[[SimpleNamespace], str]  # from practice A's objects
    body: Callable[[SimpleNamespace], dict[str, Any]]
    judge: Judge
    encoding: str = "json"  # json | form (multipart, as browsers post the pages' forms)
    changes_when_granted: bool = True


def named(name: str, **params: str) -> Callable[[SimpleNamespace], str]:
    return lambda o: reverse(name, kwargs={k: getattr(o, attr).pk for k, attr in params.items()})


def admin_url(name: str, attr: str, version: Callable[[Any], Any] | None = None) -> Callable[[SimpleNamespace], str]:
    def url(o: SimpleNamespace) -> str:
        obj = getattr(o, attr)
        return reverse(name, args=[obj.pk] + ([version(obj)] if version else []))

    return url


def pdf_upload(o: SimpleNamespace) -> dict[str, Any]:
    return {"kind": "therapy_note", "file": SimpleUploadedFile("pt.pdf", PDF, content_type="application/pdf")}


def narrative(o: SimpleNamespace) -> dict[str, str]:
    """The ready letter's narrative as the edit form posts it."""
    data = {"enclosures": ""}
    for i, paragraph in enumerate(o.ready_letter.current_revision.paragraphs):
        data[f"p{i}_heading"] = paragraph.get("heading", "")
        for j, sentence in enumerate(paragraph["sentences"]):
            data[f"p{i}_s{j}"] = sentence["text"]
    return data


def patient_fields(patient: Patient, **changes: Any) -> dict[str, Any]:
    fields = {name: getattr(patient, name) for name in services.PATIENT_FIELDS}
    return {**fields, "birth_date": patient.birth_date.isoformat(), **changes}


def now_local() -> str:
    return timezone.localtime().strftime("%Y-%m-%dT%H:%M")


def nothing(o: SimpleNamespace) -> dict[str, Any]:
    return {}


BILLING_ON_REQUEST = found(sees_request, only(Role.BILLING))
BILLING_ON_REQUEST_PAGE = found(sees_request, only(Role.BILLING, ok=302))


def in_practice_admin(ok: Expect, refused_elsewhere: Expect = GONE, *, superuser_sees: bool = False) -> Judge:
    return admin_page(lambda p, x: ok if p.practice == x or (superuser_sees and p.superuser) else refused_elsewhere)


WRITES = [
    # The API
    Write(
        "api create request", "post", lambda o: reverse("requests"),
        lambda o: {"patient": o.patient.pk, "treating_physician": o.provider.pk, "payer": "medicare-advantage", "case": entered_case()},
        # Another practice's billing clerk names records they do not see: "No such patient" (400).
        api(lambda p, x: (201 if p.practice == x else 400) if p.role == Role.BILLING else 403),
    ),
    Write("api edit draft", "patch", named("request-detail", pk="draft"), lambda o: {"case": entered_case()}, api(BILLING_ON_REQUEST)),
    Write("api submit", "post", named("request-submit", pk="draft"), nothing, api(BILLING_ON_REQUEST)),
    Write("api send", "post", named("request-send", pk="submitted"), nothing, api(BILLING_ON_REQUEST)),
    Write(
        "api decision", "post", named("request-decision", pk="sent"),
        lambda o: {"decision": "approved", "received_at": timezone.now().isoformat(), "authorization_number": "AUTH-9"},
        api(BILLING_ON_REQUEST),
    ),
    Write("api appeal", "post", named("request-appeal", pk="denied"), nothing, api(BILLING_ON_REQUEST)),
    Write("api withdraw", "post", named("request-withdraw", pk="draft"), lambda o: {"note": "duplicate"}, api(BILLING_ON_REQUEST)),
    Write(
        "api follow-up", "post", named("request-follow-up", pk="sent"), lambda o: {"follow_up_on": None},
        api(BILLING_ON_REQUEST),
    ),
    Write(
        "api upload", "post", named("request-attachments", pk="draft"), pdf_upload,
        api(found(sees_request, only(Role.BILLING, Role.PHYSICIAN, ok=201))), encoding="form",
    ),
    Write("api recheck seen", "post", named("recheck-seen", pk="recheck"), nothing, api(BILLING_ON_REQUEST)),
    Write(
        "api create patient", "post", lambda o: reverse("patients"),
        lambda o: {"first_name": "Nia", "last_name": "Newcombe", "birth_date": "1950-01-01", "sex": "F", "member_id": "NEW-2"},
        api(only(Role.BILLING, ok=201)),  # into the clerk's own practice, whichever it is
    ),
    Write("api edit patient", "patch", named("patient-detail", pk="patient"), lambda o: {"member_id": "NEW-1"}, api(BILLING_ON_REQUEST)),
    Write(
        "api ask for letter", "post", named("request-letters", pk="denied"), lambda o: {"kind": "prior_authorization"},
        api(found(sees_request, lambda p, x: 202 if sees_letter(p, x) else 404)),
    ),
    Write(
        "api edit letter", "put", named("letter-paragraphs", pk="ready_letter"),
        lambda o: {"paragraphs": o.ready_letter.current_revision.paragraphs},
        api(found(sees_letter, lambda p, x: 202 if p.treating else 403)),
    ),
    Write("api hand letter over", "post", named("letter-request-signature", pk="ready_letter"), nothing, api(found(sees_letter))),
    Write(
        "api sign letter", "post", named("letter-sign", pk="ready_letter"), lambda o: {"acknowledge_unverified": True},
        api(found(sees_letter, lambda p, x: 202 if p.treating else 403)),
    ),
    # Nothing failed, so those who may retry get a 400 and nothing changes either way.
    Write("api retry letter", "post", named("letter-retry", pk="ready_letter"), nothing, api(found(sees_letter, status(400)))),
    Write(
        "api build packet", "post", named("letter-packets", pk="signed_letter"), lambda o: {"attachments": []},
        api(found(sees_letter, only(Role.BILLING, ok=201))),
    ),
    # The pages
    Write("page new request", "post", lambda o: reverse("pages:request-new"), nothing, page(only(Role.BILLING)), "form", False),
    Write(
        "page edit draft", "post", named("pages:request-edit", pk="draft"), nothing,
        page(found(sees_request, only(Role.BILLING))), "form", False,
    ),
    Write("page submit", "post", named("pages:request-submit", pk="draft"), nothing, page(BILLING_ON_REQUEST_PAGE), "form"),
    Write("page send", "post", named("pages:request-send", pk="submitted"), lambda o: {"sent_at": ""}, page(BILLING_ON_REQUEST_PAGE), "form"),
    Write(
        "page withdraw", "post", named("pages:request-withdraw", pk="draft"), lambda o: {"withdraw-note": "duplicate"},
        page(BILLING_ON_REQUEST_PAGE), "form",
    ),
    Write(
        "page decision", "post", named("pages:request-decision", pk="sent"),
        lambda o: {"decision": "approved", "received_at": now_local(), "authorization_number": "AUTH-9"},
        page(BILLING_ON_REQUEST_PAGE), "form",
    ),
    Write("page appeal", "post", named("pages:request-appeal", pk="denied"), nothing, page(BILLING_ON_REQUEST_PAGE), "form"),
    Write(
        "page upload", "post", named("pages:attachment-upload", pk="draft"), pdf_upload,
        page(found(sees_request, only(Role.BILLING, Role.PHYSICIAN, ok=302))), "form",
    ),
    Write(
        "page ask for letter", "post", named("pages:letter-request", pk="denied"), lambda o: {"kind": "prior_authorization"},
        # As the API: letters are not an admin's to see, so asking for one is a 404 (issue 12: the
        # page answered 403, the API 404; the one permission rule keeps the non-revealing answer).
        page(found(sees_request, lambda p, x: 302 if sees_letter(p, x) else 404)), "form",
    ),
    Write(
        "page edit letter", "post", named("pages:letter-edit", pk="ready_letter"), narrative,
        page(found(sees_letter, lambda p, x: 302 if p.treating else 403)), "form",
    ),
    Write(
        "page sign letter", "post", named("pages:letter-sign", pk="ready_letter"), lambda o: {"acknowledge_unverified": "on"},
        page(found(sees_letter, lambda p, x: 302 if p.treating else 403)), "form",
    ),
    Write("page hand letter over", "post", named("pages:letter-hand-over", pk="ready_letter"), nothing, page(found(sees_letter, status(302))), "form"),
    Write("page retry letter", "post", named("pages:letter-retry", pk="ready_letter"), nothing, page(found(sees_letter, status(400))), "form"),
    Write(
        "page build packet", "post", named("pages:letter-packet", pk="signed_letter"), nothing,
        page(found(sees_letter, only(Role.BILLING, ok=302))), "form",
    ),
    Write("page recheck seen", "post", named("pages:recheck-seen", result_id="recheck"), nothing, page(BILLING_ON_REQUEST_PAGE), "form"),
    # Electronic prior authorization: a pend answered by PAS; a submission with no enabled endpoint
    # (refused 400, nothing sent); a handshake notification (logged only); a hook without a token.
    Write(
        "api pas response", "post", named("request-pas-response", pk="sent"),
        lambda o: {
            "resourceType": "ClaimResponse", "identifier": [{"value": o.sent.reference}],
            "item": [{"itemSequence": 1, "adjudication": [{"extension": [{
                "url": "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewAction",
                "extension": [{"url": "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewActionCode",
                               "valueCodeableConcept": {"coding": [{"code": "A4"}]}}],
            }]}]}],
        },
        api(BILLING_ON_REQUEST),
    ),
    Write("api pas submit", "post", named("request-pas-submit", pk="submitted"), nothing, api(found(sees_request, only(Role.BILLING, ok=400)))),
    Write(
        "api pas notification", "post", lambda o: reverse("pas-notifications"),
        lambda o: {"resourceType": "Bundle", "type": "history", "entry": [{"resource": {"resourceType": "Parameters", "parameter": [{"name": "type", "valueCode": "handshake"}]}}]},
        api(only(Role.BILLING)), changes_when_granted=False,
    ),
    Write("cds hook", "post", lambda o: reverse("cds-hook", args=["mild-0275t-order-sign"]), nothing, everyone(401), changes_when_granted=False),
    Write("page pas submit", "post", named("request-pas-review", pk="submitted"), nothing, page(BILLING_ON_REQUEST_PAGE), "form", False),
    # The admin
    Write(
        "admin edit patient", "post", admin_url("admin:priorauth_patient_change", "patient"),
        lambda o: patient_fields(o.patient, first_name="Changed"),
        in_practice_admin(Expect(302, "/admin/priorauth/patient/")), "form",
    ),
    Write(
        "admin revert patient", "post", admin_url("admin:priorauth_patient_simple_history", "patient", lambda obj: obj.history.earliest().history_id),
        lambda o: patient_fields(o.patient.history.earliest().instance),
        in_practice_admin(Expect(302, "/admin/priorauth/patient/")), "form",
    ),
    # Read-only in the admin: nobody reverts a request to an earlier status (the denial back to a draft).
    Write(
        "admin revert request", "post",
        admin_url("admin:priorauth_authorizationrequest_simple_history", "denied", lambda obj: obj.history.earliest().history_id),
        nothing, in_practice_admin(Expect(403)), "form",
    ),
    Write(
        "admin delete request", "post", admin_url("admin:priorauth_authorizationrequest_delete", "draft"), lambda o: {"post": "yes"},
        admin_page(status(403)), "form",
    ),
    Write(
        "admin revert membership", "post",
        admin_url("admin:priorauth_membership_simple_history", "membership", lambda obj: obj.history.earliest().history_id),
        lambda o: {"practice": o.practice.pk, "role": Role.BILLING},
        in_practice_admin(Expect(302, "/admin/priorauth/membership/"), superuser_sees=True), "form", False,
    ),
    Write(
        "admin set password", "post", admin_url("admin:auth_user_password_change", "clerk"),
        lambda o: {"password1": "another-long-passphrase-31", "password2": "another-long-passphrase-31", "usable_password": "true"},
        in_practice_admin(Expect(302), Expect(404), superuser_sees=True), "form",
    ),
]  # fmt: skip


def send(client: Client, write: Write, url: str, o: SimpleNamespace):
    body = write.body(o)
    if write.encoding == "form":
        return getattr(client, write.method)(url, body)
    return getattr(client, write.method)(url, json.dumps(body, default=str), content_type="application/json")


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_a_write_the_rules_do_not_grant_changes_nothing(world, persona):
    p, o = PERSONAS[persona], world.of["a"]
    client = client_for(world, p)
    before = fingerprint()
    wrong = []
    for write in WRITES:
        url = write.url(o)
        expected = write.judge(p, "a", url)
        with transaction.atomic():  # each write is undone before the next
            response = send(client, write, url, o)
            changed = fingerprint() != before
            transaction.set_rollback(True)
        what = f"{write.key}: {write.method.upper()} {url}"
        if not expected.matches(response):
            wrong.append(f"{what} got {answer(response)}, the rules say {expected}")
        if expected.granted and write.changes_when_granted and not changed:
            wrong.append(f"{what} is granted but changed nothing (a bad body or state?)")
        elif not expected.granted and changed:
            wrong.append(f"{what} is refused but changed something")
    assert not wrong, f"{p.name}:\n" + "\n".join(wrong)
