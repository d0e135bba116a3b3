"""The contract's examples (copied from shared/contract/examples) get exactly their expected decisions,
through the checker, the check_case command and the API."""

import json

import pytest
from django.core.management import call_command
from sample_case import CONTRACT, contract_example

from coverage.checker import CaseInvalid, check
from factories import signed_in_member
from policies.snapshot import current_snapshot

EXAMPLES = CONTRACT
EXPECTED = json.loads((EXAMPLES / "expected.json").read_text())
VALID = sorted(name for name, exp in EXPECTED.items() if "exit" not in exp)
INVALID = sorted(name for name, exp in EXPECTED.items() if "exit" in exp)


@pytest.fixture
def client(client, db):
    # The check takes PHI: a signed-in practice member (issue 10).
    return signed_in_member(client)


def load(name: str) -> dict:
    return contract_example(name)


def assert_matches(determination: dict, expected: dict) -> None:
    assert determination["decision"] == expected["decision"]
    if "clinical" in expected:
        assert determination["clinical"]["decision"] == expected["clinical"]
    if "payer_rules" in expected:
        assert determination["payer_rules"]["decision"] == expected["payer_rules"]
    statuses = {c["key"]: c["status"] for s in ("clinical", "payer_rules") for c in determination[s]["criteria"]}
    for key, status in expected.get("criteria", {}).items():
        assert statuses[key] == status


@pytest.mark.parametrize("name", VALID)
def test_it_decides_each_contract_example_as_expected(seeded, name):
    assert_matches(check(load(name), snapshot=current_snapshot()), EXPECTED[name])


@pytest.mark.parametrize("name", VALID)
def test_it_decides_each_contract_example_from_the_command(seeded, name, capsys):
    call_command("check_case", str(EXAMPLES / f"{name}.json"))
    out = capsys.readouterr()
    assert_matches(json.loads(out.out), EXPECTED[name])
    assert out.err == ""


@pytest.mark.parametrize("name", VALID)
def test_it_decides_each_contract_example_over_the_api(seeded, name, client):
    response = client.post("/api/v1/coverage/check", data=load(name), content_type="application/json")
    assert response.status_code == 200
    assert_matches(response.json(), EXPECTED[name])


@pytest.mark.parametrize("name", INVALID)
def test_it_rejects_each_invalid_contract_example_naming_the_field(seeded, name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command("check_case", str(EXAMPLES / f"{name}.json"))
    out = capsys.readouterr()
    assert exit_info.value.code == EXPECTED[name]["exit"]
    assert out.out == ""
    lines = out.err.strip().splitlines()
    assert lines and all(line.startswith(EXPECTED[name]["field"] + ":") for line in lines)
    with pytest.raises(CaseInvalid) as invalid:
        check(load(name), snapshot=current_snapshot())
    assert [e.path for e in invalid.value.errors] == [EXPECTED[name]["field"]]


@pytest.mark.parametrize("name", INVALID)
def test_it_answers_400_naming_the_field_for_each_invalid_example(seeded, name, client):
    response = client.post("/api/v1/coverage/check", data=load(name), content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()) == [EXPECTED[name]["field"]]


def test_the_medicare_example_carries_the_ced_claim_requirements_and_policy_version(seeded):
    determination = check(load("medicare-meets-criteria"), snapshot=current_snapshot())
    assert determination["claim_requirements"][:4] == [
        "CPT 0275T",
        "Modifier Q0",
        "Secondary diagnosis Z00.6",
        "NCT03072927 on the claim",
    ]
    assert determination["policy"]["code"] == "NCD 150.13"
    assert determination["policy"]["version"] == "2"
    assert determination["policy"]["revision"] == 1
    assert determination["prior_authorization"]["required"] is False
    ligament = next(c for c in determination["clinical"]["criteria"] if c["key"] == "ligamentum_flavum")
    assert ligament["reason"] == "4.1 mm is at least 2.5 mm"
    assert any("NYSIPP" in c for c in ligament["citations"])


def test_the_clinical_section_always_holds_the_contract_keys(seeded):
    for payer in ("medicare", "medicare-advantage", "va-community-care", "tricare", "ihs-prc", "commercial"):
        keys = [
            c["key"]
            for c in check(load("medicare-meets-criteria"), payer=payer, snapshot=current_snapshot())["clinical"][
                "criteria"
            ]
        ]
        assert {"symptoms", "stenosis_level", "ligamentum_flavum", "spondylolisthesis", "conservative_care"} <= set(
            keys
        )
