"""Personas (healthchecks-style) and helpers for the prior-authorization tests.

alice   billing clerk of practice A
bob     physician of practice A, the treating physician of A's requests
dave    physician of practice A who is not the treating physician
charlie physician of practice B (the outsider who must be refused), treating B's requests
erin    billing clerk of practice B
adam    admin of practice A
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.utils import timezone
from factories import AuthorizationRequestFactory, PatientFactory, PracticeFactory, ProviderFactory, member
from rest_framework.test import APIClient

from priorauth import services
from priorauth.models import AuthorizationRequest, PayerDecision, Role, Status


@pytest.fixture(autouse=True)
def _media_root_and_fast_passwords(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    # The default hasher is slow by design; the personas' passwords need not be.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def install_shipped_policies() -> None:
    """The shipped policies as the records this app reads (payer, policy, prior-authorization
    timeline, appeal levels) and one published version holding the shipped snapshot, which is what
    the checker evaluates. A fraction of a second, where the full `seeded` import (criteria rows,
    evidence, history) takes seconds; tests that publish a changed policy use `seeded`."""
    from decimal import Decimal

    from policies.models import AppealLevel, Payer, Policy, PolicyVersion, PriorAuthRule
    from policies.selectors import shipped_snapshots
    from policies.services import registry_bump

    for snapshot in shipped_snapshots():
        entry, p = snapshot["payer"], snapshot["payer"]["policy"]
        payer = Payer.objects.create(code=entry["code"], name=entry["name"], program=entry["program"])
        policy = Policy.objects.create(
            payer=payer,
            code=p["code"],
            title=p["title"],
            version=p["version"],
            effective_date=p["effective_date"],
            review_status=p["review_status"],
            review_reason=p["review_reason"],
            revision=1,
        )
        pa = p["prior_authorization"]
        PriorAuthRule.objects.create(
            policy=policy,
            **{
                k: pa[k]
                for k in (
                    "required",
                    "standard_decision_days",
                    "expedited_decision_hours",
                    "notes",
                    "review_status",
                    "review_reason",
                )
            },
        )
        AppealLevel.objects.bulk_create(
            AppealLevel(
                policy=policy,
                **{
                    k: a[k]
                    for k in (
                        "order",
                        "name",
                        "decided_by",
                        "filing_deadline_days",
                        "decision_deadline_days",
                        "expedited_decision_hours",
                        "notes",
                        "review_status",
                        "review_reason",
                    )
                },
                amount_in_controversy=None
                if a["amount_in_controversy"] is None
                else Decimal(str(a["amount_in_controversy"])),
            )
            for a in p["appeal_levels"]
        )
        PolicyVersion.objects.create(policy=policy, revision=1, snapshot=snapshot, summary="first version")
    registry_bump()


@pytest.fixture
def registry(db):
    install_shipped_policies()


@pytest.fixture
def world(registry):
    a = PracticeFactory(name="Lakeside Pain Center")
    b = PracticeFactory(name="Hillcrest Spine")
    w = SimpleNamespace(practice_a=a, practice_b=b)
    w.alice = member("alice", a, Role.BILLING)
    w.bob = member("bob", a, Role.PHYSICIAN)
    w.dave = member("dave", a, Role.PHYSICIAN)
    w.adam = member("adam", a, Role.ADMIN)
    w.charlie = member("charlie", b, Role.PHYSICIAN)
    w.erin = member("erin", b, Role.BILLING)
    w.bob_provider = ProviderFactory(practice=a, name="Bob Baker, MD", user=w.bob)
    w.dave_provider = ProviderFactory(practice=a, name="Dave Diaz, MD", user=w.dave)
    w.charlie_provider = ProviderFactory(practice=b, name="Charlie Chen, MD", user=w.charlie)
    w.patient_a = PatientFactory(practice=a, first_name="Ada", last_name="Moreno")
    w.patient_b = PatientFactory(practice=b, first_name="Basil", last_name="Quist")
    return w


def draft_for(w, practice: str = "a", **kwargs) -> AuthorizationRequest:
    if practice == "a":
        defaults = {
            "practice": w.practice_a,
            "patient": w.patient_a,
            "treating_physician": w.bob_provider,
            "by": w.alice,
        }
    else:
        defaults = {
            "practice": w.practice_b,
            "patient": w.patient_b,
            "treating_physician": w.charlie_provider,
            "by": w.erin,
        }
    return AuthorizationRequestFactory(**{**defaults, **kwargs})


def advance(request: AuthorizationRequest, target: str, by, *, at: dt.datetime | None = None) -> AuthorizationRequest:
    """Take a draft along the usual road to `target` through the services."""
    at = at or timezone.now() - dt.timedelta(days=2)
    road = {
        Status.DRAFT: [],
        Status.SUBMITTED: ["submit"],
        Status.SENT: ["submit", "send"],
        Status.APPROVED: ["submit", "send", "approve"],
        Status.DENIED: ["submit", "send", "deny"],
        Status.PENDED: ["submit", "send", "pend"],
        Status.APPEAL_IN_PROGRESS: ["submit", "send", "deny", "appeal"],
        Status.APPEAL_APPROVED: ["submit", "send", "deny", "appeal", "approve"],
        Status.APPEAL_DENIED: ["submit", "send", "deny", "appeal", "deny"],
        Status.WITHDRAWN: ["withdraw"],
        Status.EXPIRED: ["submit", "send", "approve", "expire"],
    }[target]
    for i, step in enumerate(road):
        when = at + dt.timedelta(hours=i)
        if step == "submit":
            services.request_submit(request=request, by=by)
        elif step == "send":
            services.request_send(request=request, by=by, sent_at=when)
        elif step == "approve":
            services.decision_record(
                request=request,
                by=by,
                decision=PayerDecision.Kind.APPROVED,
                received_at=when,
                authorization_number="AUTH-1",
                valid_from=when.date(),
                valid_to=when.date() + dt.timedelta(days=1),
            )
        elif step == "deny":
            services.decision_record(
                request=request,
                by=by,
                decision=PayerDecision.Kind.DENIED,
                received_at=when,
                stated_reason="Experimental/investigational",
                reason_category="investigational",
            )
        elif step == "pend":
            services.decision_record(
                request=request,
                by=by,
                decision=PayerDecision.Kind.PENDED,
                received_at=when,
                stated_reason="Send the MRI report",
            )
        elif step == "appeal":
            services.appeal_start(request=request, by=by, filed_at=when)
        elif step == "withdraw":
            services.request_withdraw(request=request, by=by)
        elif step == "expire":
            services.authorizations_expire(today=timezone.localdate() + dt.timedelta(days=3))
    request.refresh_from_db()
    assert request.status == target
    return request


@pytest.fixture
def api():
    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for
