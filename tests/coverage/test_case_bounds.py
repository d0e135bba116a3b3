"""Bounded input to the coverage check (issue 10, items 3 and 4): every string, list and number of a
case is bounded, text a database cannot store is refused naming its field, and the API reads no
body over API_MAX_BODY_BYTES. Every contract example still gets its decision
(tests/coverage/test_contract_examples.py)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sample_case import CONTRACT, SAMPLE, contract_example

from coverage.validation import (
    MAX_DIAGNOSES,
    MAX_LIST,
    MAX_OPEN_KEYS,
    MAX_STRING,
    validate_case,
)
from factories import signed_in_member

EXAMPLES = CONTRACT
PAYERS = frozenset({"medicare", "medicare-advantage", "va-community-care", "tricare", "ihs-prc", "commercial"})
URL = "/api/v1/coverage/check"


def example(name: str = SAMPLE) -> dict:
    return contract_example(name)


def problems(case: dict) -> list[str]:
    return [str(e) for e in validate_case(case, payer_codes=PAYERS, today=date(2026, 11, 25))]


@pytest.fixture
def client(client, db):
    """The check takes PHI: only a signed-in practice member may call it (issue 10)."""
    return signed_in_member(client)


def post_raw(client, body: str | bytes):
    return client.post(URL, data=body, content_type="application/json")


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("clinical", "symptoms", "duration_months"), 1201, "must be between 0 and 1200"),
        (("clinical", "symptoms", "duration_months"), 1e308, "must be between 0 and 1200"),
        (("patient", "birth_date"), "1899-12-31", "must be on or after 1900-01-01"),
        (("procedure", "planned_date"), "0001-01-01", "must be between 1900-01-01 and 2199-12-31"),
        (("patient", "first_name"), "A" * (MAX_STRING + 1), f"must be at most {MAX_STRING} characters"),
        (("diagnoses",), ["M48.062"] * (MAX_DIAGNOSES + 1), f"must have at most {MAX_DIAGNOSES} items"),
        (("procedure", "levels"), ["L4-L5"] * 25, "must have at most 24 items"),
        (
            ("clinical", "conservative_care"),
            [{"type": "other"}] * (MAX_LIST + 1),
            f"must have at most {MAX_LIST} items",
        ),
    ],
)
def test_it_refuses_a_value_beyond_its_bound_naming_the_field(path, value, message):
    case = example()
    node = case
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert problems(case) == [f"{'.'.join(path)}: {message}"]


def test_it_bounds_the_open_administrative_object():
    case = example()
    case["administrative"]["extra"] = {f"k{i}": i for i in range(MAX_OPEN_KEYS + 1)}
    case["administrative"]["text"] = "x" * (MAX_STRING + 1)
    case["administrative"]["deep"] = [[[[["too deep"]]]]]
    assert problems(case) == [
        f"administrative.extra: must have at most {MAX_OPEN_KEYS} fields",
        f"administrative.text: must be at most {MAX_STRING} characters",
        "administrative.deep.0.0.0: must not nest more than 4 levels",
    ]


@pytest.mark.parametrize("bad", ["\x00", "\ud800"])
def test_it_refuses_nul_and_lone_surrogates_in_any_string_or_key(bad):
    case = example()
    case["patient"]["member_id"] = f"1EG{bad}"
    case["administrative"]["referral_number"] = f"R{bad}"
    case["administrative"][f"note{bad}"] = "x"
    case["administrative"]["free"] = {"text": f"y{bad}"}
    escaped = "\\x00" if bad == "\x00" else "\\ud800"
    assert problems(case) == [
        "patient.member_id: must not contain NUL characters or lone surrogates",
        "administrative.referral_number: must not contain NUL characters or lone surrogates",
        f"administrative.note{escaped}: field name must not contain NUL characters or lone surrogates",
        "administrative.free.text: must not contain NUL characters or lone surrogates",
    ]


def test_the_bounds_leave_every_contract_example_valid():
    for file in sorted(EXAMPLES.glob("*.json")):
        if file.name in ("expected.json", "invalid-npi.json"):
            continue
        assert problems(json.loads(file.read_text())) == [], file.name


# ------------------------------------------------------------------------------------------ API


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"\\ud800x": 1}', "\\ud800x"),
        ('{"payer": "medicare", "administrative": {"\\udfffk": true}}', "administrative.\\udfffk"),
        ('{"payer": "medicare", "administrative": {"note": "a\\ud800"}}', "administrative.note"),
        ('{"payer": "medicare", "patient": {"first_name": "A\\u0000"}}', "patient.first_name"),
    ],
)
def test_the_check_answers_400_naming_the_field_that_holds_a_surrogate_or_nul(seeded, client, body, field):
    response = post_raw(client, body)
    assert response.status_code == 400, response.content
    assert field in response.json()
    json.dumps(response.json(), ensure_ascii=False).encode("utf-8")  # the answer itself is storable text


def test_a_valid_escaped_pair_is_an_ordinary_character(seeded, client):
    case = example()
    case["administrative"]["note"] = "\U0001f600"
    response = post_raw(client, json.dumps(case))  # ensure_ascii: sent as "\ud83d\ude00"
    assert response.status_code == 200


def test_the_check_refuses_a_body_over_the_limit_with_a_json_413_naming_it(seeded, client, settings):
    settings.API_MAX_BODY_BYTES = 2000
    case = example()
    case["administrative"]["padding"] = "x" * 3000
    response = post_raw(client, json.dumps(case))
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "2000 bytes" in response.json()["detail"]


def test_the_default_body_limit_is_one_megabyte(seeded, client, settings):
    assert settings.API_MAX_BODY_BYTES == 1024 * 1024
    response = post_raw(client, json.dumps({"payer": "medicare", "administrative": {"x": "y" * (1024 * 1024)}}))
    assert response.status_code == 413
    assert "1048576 bytes" in response.json()["detail"]
