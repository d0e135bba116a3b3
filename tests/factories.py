"""factory_boy factories for the project's records. Requests are made through the services, so a
factory-made request is exactly what the application would have stored."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone
from stdnum import luhn

from priorauth import services
from priorauth.models import AuthorizationRequest, Patient, PayerDecision, Practice, Provider, Role, Status

PASSWORD = "correct-horse-battery-staple-7"
CONTRACT = Path(__file__).resolve().parent / "fixtures" / "contract"


def valid_npi(n: int) -> str:
    first9 = f"{100_000_000 + n:09d}"
    return first9 + luhn.calc_check_digit("80840" + first9)


def entered_case(name: str = "medicare-meets-criteria", **overrides: Any) -> dict[str, Any]:
    """A contract example without the parts the request's records supply, with top-level overrides."""
    case = json.loads((CONTRACT / f"{name}.json").read_text())
    for key in ("payer", "patient", "provider"):
        case.pop(key, None)
    case.update(copy.deepcopy(overrides))
    return case


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            obj.save()


class PracticeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Practice
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Practice {n}")


def member(username: str, practice: Practice, role: str = Role.BILLING):
    user = UserFactory(username=username)
    services.membership_set(user=user, practice=practice, role=role)
    user.refresh_from_db()
    return user


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    practice = factory.SubFactory(PracticeFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    birth_date = dt.date(1949, 3, 2)
    sex = "F"
    member_id = factory.Sequence(lambda n: f"1EG4TE5MK{n:04d}")


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider

    practice = factory.SubFactory(PracticeFactory)
    npi = factory.Sequence(valid_npi)
    name = factory.Faker("name")
    user = None


class AuthorizationRequestFactory(factory.Factory):
    """A draft made by services.request_create (payer by code, case as entered)."""

    class Meta:
        model = AuthorizationRequest

    practice = factory.SubFactory(PracticeFactory)
    patient = factory.SubFactory(PatientFactory, practice=factory.SelfAttribute("..practice"))
    treating_physician = factory.SubFactory(ProviderFactory, practice=factory.SelfAttribute("..practice"))
    payer = "medicare-advantage"
    case = factory.LazyFunction(entered_case)
    by = None

    @classmethod
    def _create(cls, model_class, *, payer: str, **kwargs: Any) -> AuthorizationRequest:
        from policies.models import Payer

        return services.request_create(payer=Payer.objects.get(code=payer), **kwargs)

    _build = _create


# ---------------------------------------------------------------------------------------------
# Worlds for the permission, API and fuzzing tests


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
                provider_files=a.get("provider_files", True),
                amount_in_controversy=None
                if a["amount_in_controversy"] is None
                else Decimal(str(a["amount_in_controversy"])),
            )
            for a in p["appeal_levels"]
        )
        PolicyVersion.objects.create(policy=policy, revision=1, snapshot=snapshot, summary="first version")
    registry_bump()


def personas() -> SimpleNamespace:
    """Two practices with their personas (see tests/priorauth/conftest.py), providers and one patient
    each; the payer policies must be installed first."""
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


# ---------------------------------------------------------------------------------------------
# The payer directory (issue 11): a letter is final only with a named addressee


def addressed(request: AuthorizationRequest, **fields: Any) -> AuthorizationRequest:
    """The request with a payer desk chosen, as staff do before a letter is signed."""
    from policies.models import PayerContact

    defaults = {
        "kind": PayerContact.Kind.APPEALS,
        "name": "Example Health Plan",
        "department": "Appeals and Grievances",
        "address": "PO Box 1000\nSpringfield, IL 62701",
        "fax": "217-555-0100",
        "review_status": "verified",
    }
    contact, _ = PayerContact.objects.get_or_create(key=f"test-{request.payer.code}", payer=request.payer, defaults={**defaults, **fields})
    request.payer_contact = contact
    request.save(update_fields=["payer_contact"])
    return request
