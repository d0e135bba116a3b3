"""factory_boy factories for the project's records. Requests are made through the services, so a
factory-made request is exactly what the application would have stored."""

from __future__ import annotations

import copy
import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone
from sample_case import CONTRACT as CONTRACT  # re-exported: some tests import it from here
from sample_case import contract_example
from stdnum import luhn

from priorauth import services
from priorauth.models import AuthorizationRequest, Patient, PayerDecision, Practice, Provider, Role, Status

PASSWORD = "correct-horse-battery-staple-7"


def valid_npi(n: int) -> str:
    first9 = f"{100_000_000 + n:09d}"
    return first9 + luhn.calc_check_digit("80840" + first9)


def entered_case(name: str = "medicare-meets-criteria", **overrides: Any) -> dict[str, Any]:
    """A contract example without the parts the request's records supply, with top-level overrides."""
    case = contract_example(name)
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


class _JsonText(str):
    """A JSON value PostgreSQL returned as a dict or list, kept as its text: hashable, and inserted
    back as text that PostgreSQL casts to the column's json type."""

    @classmethod
    def of(cls, value):
        return cls(json.dumps(value, sort_keys=True)) if isinstance(value, (dict, list)) else value


class _SeedRows:
    """The rows `registry_seed()` adds to a freshly migrated database, table by table."""

    def __init__(self) -> None:
        self.tables: list[tuple[str, list[str], list[tuple]]] = []
        self.captured_at: dt.datetime | None = None

    @staticmethod
    def _dump(connection) -> dict[str, tuple[list[str], set[tuple]]]:
        out = {}
        with connection.cursor() as cursor:
            for table in connection.introspection.table_names(cursor):
                cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
                rows = {tuple(_JsonText.of(v) for v in row) for row in cursor.fetchall()}
                out[table] = ([c[0] for c in cursor.description], rows)
        return out

    def capture(self, connection) -> None:
        from django.db import transaction

        from policies.services import registry_seed

        class _Undo(Exception):
            pass

        try:
            with transaction.atomic():
                before = self._dump(connection)
                registry_seed()
                after = self._dump(connection)
                # Taken once the seed is done: shifted by now minus this, every seeded moment is in
                # the past (a test's own edits then come after the seed's history, as they would).
                self.captured_at = timezone.now()
                raise _Undo
        except _Undo:
            pass
        from policies.models import RegistryState

        for table, (columns, rows) in after.items():
            if table == RegistryState._meta.db_table:
                continue  # a counter, not content: install_shipped_policies() bumps it instead
            added = rows - before.get(table, ([], set()))[1]
            changed = before.get(table, ([], set()))[1] - rows
            # Seeding only adds rows; if it ever changes one, this shortcut no longer holds.
            assert not changed, f"registry_seed() changed existing rows of {table}; restore would be wrong"
            if added:
                self.tables.append((table, columns, sorted(added, key=repr)))

    def restore(self, connection) -> None:
        from django.db import transaction

        quote = connection.ops.quote_name
        # The rows' moments move to now, as if seed_policies had just run: a test that asks what
        # was published more than a few minutes ago must not find the seed (captured at the start).
        shift = timezone.now() - self.captured_at

        def moved(row: tuple) -> tuple:
            return tuple(v + shift if isinstance(v, dt.datetime) else v for v in row)

        # One transaction: the foreign keys are checked at its end (Django makes them deferrable),
        # so the tables' order does not matter, also for a transactional test in autocommit.
        with transaction.atomic(), connection.cursor() as cursor:
            for table, columns, rows in self.tables:
                marks = ", ".join(["%s"] * len(columns))
                names = ", ".join(quote(c) for c in columns)
                cursor.executemany(f"INSERT INTO {quote(table)} ({names}) VALUES ({marks})", [moved(r) for r in rows])
            if connection.vendor == "postgresql":
                # Explicit ids do not move PostgreSQL's sequences; the test's own inserts must not collide.
                for table, columns, _rows in self.tables:
                    for column in columns:
                        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [quote(table), column])
                        (sequence,) = cursor.fetchone()
                        if sequence:
                            cursor.execute(
                                f"SELECT setval(%s, (SELECT MAX({quote(column)}) FROM {quote(table)}))", [sequence]
                            )

    @staticmethod
    def present() -> bool:
        from policies.models import Payer

        return Payer.objects.exists()


SEED_ROWS = _SeedRows()


def install_shipped_policies() -> None:
    """The shipped policies exactly as `seed_policies` leaves a fresh database (one seeder for every
    test): the rows captured once per run, inserted again into this test's transaction."""
    from django.db import connection

    if not SEED_ROWS.tables:
        SEED_ROWS.capture(connection)
    if not SEED_ROWS.present():
        SEED_ROWS.restore(connection)
        from policies.services import registry_bump

        registry_bump()  # a checker snapshot compiled before this test must not be reused


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
            services.request_submit(request=request, by=by, submitted_at=when)
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


def signed_in_member(client, username: str = "checker", role: str = Role.BILLING):
    """The Django test client signed in as a member of a practice (issue 10: the coverage check, like
    every endpoint that takes PHI, needs one)."""
    client.force_login(member(username, PracticeFactory(), role))
    return client


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
    contact, _ = PayerContact.objects.get_or_create(
        key=f"test-{request.payer.code}", payer=request.payer, defaults={**defaults, **fields}
    )
    request.payer_contact = contact
    request.save(update_fields=["payer_contact"])
    return request
