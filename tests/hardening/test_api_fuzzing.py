"""Fuzzing of the whole API with schemathesis, against the OpenAPI schema the app itself serves.

Every operation of /api/v1/schema/ is called through the WSGI application with inputs generated from
the schema, valid ones and ones that break it, each sent as every persona (DRF token) and as a caller
who is not signed in. Whatever comes in, no answer is a 5xx, and every answer has a documented status
code, a documented content type and a body that matches the documented schema.

The world is made once for the module (two practices, requests in several states, attachments,
letters with a rendered draft, re-check results) and each test rolls its own writes back, so path
ids and body references sometimes name a real object of the persona's practice, sometimes one of the
other practice, and mostly none.

The number of generated inputs per operation is HARDENING_FUZZ_EXAMPLES (default 20);
HARDENING_FUZZ_COVERAGE=1 adds schemathesis' coverage phase (every boundary and type violation the
schema allows: thousands of requests, minutes, for a deeper run by hand).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import override_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from factories import CONTRACT, advance, draft_for, entered_case, personas
from policies.models import Payer, PolicyVersion
from policies.services import letters_seed, registry_seed
from priorauth import services
from priorauth.letters import services as letter_services
from priorauth.letters.models import LetterKind
from priorauth.models import RecheckResult, RecheckRun, Status

EXAMPLES = int(os.environ.get("HARDENING_FUZZ_EXAMPLES", "20"))
PERSONAS = ["alice", "bob", "dave", "adam", "charlie", "erin"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)
# Signing out revokes the very token every later call is made with; it takes no input to fuzz
# (tests/priorauth/test_api_tokens.py covers it).
schema = schema.exclude(path_regex=r"/auth/token/revoke")
schema.config.phases.coverage.enabled = os.environ.get("HARDENING_FUZZ_COVERAGE") == "1"

# Ids of the module's world by kind, own practice's and the other's alike, read by the hooks below
# while inputs are generated.
KNOWN: dict[str, list[Any]] = {}


@pytest.fixture(scope="module")
def fuzz_world(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[SimpleNamespace]:
    """Made once, in a transaction of its own that is rolled back after the module; each test's
    transaction (the `db` fixture) nests inside it, as with Django's TestCase.setUpTestData."""
    overrides = override_settings(MEDIA_ROOT=str(tmp_path_factory.mktemp("fuzz-media")))
    overrides.enable()
    outer = transaction.atomic()
    try:
        with django_db_blocker.unblock():
            outer.__enter__()
            world = build_world()
        yield world
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
        overrides.disable()
        KNOWN.clear()


def build_world() -> SimpleNamespace:
    registry_seed()
    letters_seed()
    w = personas()
    w.tokens = {p: AuthToken.objects.create(getattr(w, p))[1] for p in PERSONAS}
    requests, attachments, letters, appeals = [], [], [], []
    for practice, clerk in (("a", w.alice), ("b", w.erin)):
        drafted = draft_for(w, practice)
        sent = advance(draft_for(w, practice), Status.SENT, clerk)
        denied = advance(draft_for(w, practice), Status.DENIED, clerk)
        appealing = advance(draft_for(w, practice), Status.APPEAL_IN_PROGRESS, clerk)
        requests += [drafted, sent, denied, appealing]
        appeals += list(appealing.appeals.values_list("pk", flat=True))
        attachments.append(
            services.attachment_add(
                request=sent,
                kind="imaging_report",
                upload=SimpleUploadedFile("mri.pdf", PDF, content_type="application/pdf"),
                by=clerk,
            )
        )
        letter, _ = letter_services.letter_request_draft(request=sent, kind=LetterKind.PRIOR_AUTHORIZATION, by=clerk)
        # The draft made as the task makes it, with a stand-in PDF: WeasyPrint's first render alone
        # takes seconds, and what is under test here is the API around the file.
        with mock.patch("priorauth.letters.pdf.render_letter", return_value=PDF):
            letter_services.letter_render(revision_id=letter.current_revision_id, stage="draft")
        letters.append(letter)
        run, _ = RecheckRun.objects.get_or_create(
            version=PolicyVersion.objects.get(policy__payer__code="medicare-advantage")
        )
        RecheckResult.objects.create(run=run, request=sent, old_decision="meets_criteria", new_decision="not_met")
    KNOWN.update(
        requests=[r.pk for r in requests],
        attachment_paths=[{"id": a.request_id, "attachment_id": a.pk} for a in attachments],
        letters=[x.pk for x in letters],
        patients=[w.patient_a.pk, w.patient_b.pk],
        providers=[w.bob_provider.pk, w.dave_provider.pk, w.charlie_provider.pk],
        rechecks=list(RecheckResult.objects.values_list("pk", flat=True)),
        appeals=appeals,
        payers=list(Payer.objects.values_list("code", flat=True)),
        cases=[json.loads(f.read_text()) for f in sorted(CONTRACT.glob("*.json")) if f.name != "expected.json"],
        entered_cases=[entered_case(f.stem) for f in sorted(CONTRACT.glob("*.json")) if f.name != "expected.json"],
    )
    return w


def sometimes_known(value: Any, kind: str) -> st.SearchStrategy:
    """The generated value, or one of the world's (own or foreign) of that kind."""
    return st.one_of(st.just(value), st.sampled_from(KNOWN[kind])) if KNOWN.get(kind) else st.just(value)


@schema.hook
def flatmap_path_parameters(context, path_parameters: dict[str, Any] | None) -> st.SearchStrategy:
    if not path_parameters:
        return st.just(path_parameters)
    if "attachment_id" in path_parameters:  # found only under its own request
        return sometimes_known(path_parameters, "attachment_paths")
    kind = context.operation.path.split("/")[3]  # /api/v1/<kind>/{id}...
    return st.fixed_dictionaries(
        {name: sometimes_known(value, kind if name == "id" else "") for name, value in path_parameters.items()}
    )


# Body fields that name a record or hold a case, and the kind of the world's values to try there.
BODY_REFERENCES = {
    "patient": "patients",
    "treating_physician": "providers",
    "payer": "payers",
    "appeal": "appeals",
    "case": "entered_cases",
}


# Text no database stores (PostgreSQL refuses NUL in text and surrogates anywhere) and that JSON
# can still carry, as \u escapes: each must be a 400 naming its field, never a 500.
UNSTORABLE = st.sampled_from(["\x00", "\ud800", "\udfff", "\udbff"])


@st.composite
def poisoned(draw, value: Any) -> Any:
    """The body with NUL or a lone surrogate put into one of its strings or keys, at any depth."""
    bad = draw(UNSTORABLE)
    if isinstance(value, dict) and value:
        key = draw(st.sampled_from(sorted(value, key=str)))
        if draw(st.booleans()):  # the key itself
            return {**{k: v for k, v in value.items() if k != key}, f"{key}{bad}": value[key]}
        return {**value, key: draw(poisoned(value[key]))}
    if isinstance(value, list) and value:
        index = draw(st.integers(0, len(value) - 1))
        return [*value[:index], draw(poisoned(value[index])), *value[index + 1 :]]
    if isinstance(value, str):
        at = draw(st.integers(0, len(value)))
        return value[:at] + bad + value[at:]
    return {f"note{bad}": bad} if isinstance(value, dict) else bad


@schema.hook
def flatmap_body(context, body: Any) -> st.SearchStrategy:
    if context.operation.path == "/api/v1/coverage/check":
        # a whole contract case, so that checks get as far as a determination
        known = sometimes_known(body, "cases")
    elif not isinstance(body, dict):
        known = st.just(body)
    else:
        known = st.fixed_dictionaries(
            {name: sometimes_known(value, BODY_REFERENCES.get(name, "")) for name, value in body.items()}
        )
    return st.one_of(known, known.flatmap(poisoned))


def without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {without_surrogates(k): without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_surrogates(v) for v in value]
    return value


@schemathesis.hook
def before_call(context, case, **kwargs) -> None:
    # A form or multipart body is sent as UTF-8 bytes, which cannot hold a lone surrogate (a browser
    # sends "?" instead): only a JSON body carries one, as a \u escape. NUL goes in every kind.
    if case.media_type and "json" not in case.media_type and isinstance(case.body, (dict, list, str)):
        case.body = without_surrogates(case.body)


@pytest.fixture
def in_process_requests(db) -> Iterator[None]:
    # Django's test client does the same: the request signals would otherwise close the connection
    # that holds the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_it_answers_every_operation_within_its_schema(case, fuzz_world, in_process_requests):
    # Each generated input is sent as every persona and as an anonymous caller, so that every input
    # reaches as far as the most privileged role gets with it.
    for persona in [*PERSONAS, None]:
        headers = {"Authorization": f"Token {fuzz_world.tokens[persona]}"} if persona else {}
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except FailureGroup as failures:
            # Name the caller in the report: its curl command shows the token filtered out.
            caller = f"Signed in as {persona}" if persona else "Not signed in"
            raise FailureGroup(list(failures.exceptions), f"{caller}. {failures.message}") from None
