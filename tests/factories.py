"""factory_boy factories for the project's records. Requests are made through the services, so a
factory-made request is exactly what the application would have stored."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import factory
from django.contrib.auth import get_user_model
from stdnum import luhn

from priorauth import services
from priorauth.models import AuthorizationRequest, Patient, Practice, Provider, Role

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
