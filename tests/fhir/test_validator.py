"""The offline PAS validator: the guide's own example request bundles pass, every bundle built from
the seeds and the contract examples passes, broken bundles fail with the FHIR path named."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from pas_helpers import FIXTURES, fixture, with_documents

from factories import draft_for, entered_case
from priorauth.fhir.bundle import request_bundle
from priorauth.fhir.validator import PACKAGE, validate_bundle
from priorauth.models import AuthorizationRequest

GUIDE_REQUEST_BUNDLES = [
    "Bundle-SurgicalRequestBundleExample.json",
    "Bundle-MedicalServicesAuthorizationBundleExample.json",
    "Bundle-HomecareAuthorizationBundleExample.json",
    "Bundle-HomecareAuthorizationUpdateBundleExample.json",
    "Bundle-ReferralAuthorizationBundleExample.json",
]
GUIDE_RESPONSE_BUNDLES = [
    "Bundle-ReferralAuthorizationResponseBundleExample.json",
    "Bundle-ReferralPendingAuthorizationResponseBundleExample.json",
    "Bundle-RejectionResponseBundleExample.json",
]
CONTRACT = Path(__file__).resolve().parent.parent / "fixtures" / "contract"


def paths(report):
    return {p.path: p.message for p in report.errors}


def test_the_guide_package_ships_with_the_project():
    assert PACKAGE.is_file() and PACKAGE.stat().st_size < 2_000_000


@pytest.mark.parametrize("name", GUIDE_REQUEST_BUNDLES)
def test_the_guides_example_request_bundles_pass(name):
    report = validate_bundle(fixture(name))
    assert report.valid, report.errors


@pytest.mark.parametrize("name", GUIDE_RESPONSE_BUNDLES)
def test_the_guides_example_response_bundles_pass_as_responses(name):
    report = validate_bundle(fixture(name), kind="response")
    assert report.valid, report.errors


@pytest.mark.parametrize(
    "name",
    sorted(p.stem for p in CONTRACT.glob("*.json") if p.stem not in ("expected", "invalid-npi")),
)
def test_bundles_built_from_the_contract_examples_pass(world, name):
    request = draft_for(
        world,
        case=entered_case(name),
        payer=json.loads((CONTRACT / f"{name}.json").read_text())["payer"],
    )
    report = validate_bundle(request_bundle(request))
    assert report.valid, report.errors


def test_bundles_built_from_the_demo_seed_pass(world):
    call_command("seed_demo", verbosity=0)
    requests = list(AuthorizationRequest.objects.all())
    assert len(requests) > 3
    for request in requests:
        report = validate_bundle(request_bundle(request))
        assert report.valid, (request.reference, report.errors)


@pytest.fixture
def good():
    return fixture("Bundle-SurgicalRequestBundleExample.json")


def test_a_bundle_whose_claim_is_not_first_fails_at_the_first_entry(good):
    good["entry"].append(good["entry"].pop(0))
    problems = paths(validate_bundle(good))
    assert "ClaimFirst" in problems["Bundle.entry[0].resource"]


def test_a_claim_without_insurance_fails_naming_it(good):
    del good["entry"][0]["resource"]["insurance"]
    problems = paths(validate_bundle(good))
    assert problems["Bundle.entry[0].resource.insurance"] == "minimum cardinality is 1, found 0"


def test_a_claim_of_the_wrong_use_fails_naming_it(good):
    good["entry"][0]["resource"]["use"] = "claim"
    problems = paths(validate_bundle(good))
    assert "preauthorization" in problems["Bundle.entry[0].resource.use"]


def test_a_dangling_reference_fails_naming_it(good):
    good["entry"][0]["resource"]["insurer"] = {"reference": "Organization/nowhere"}
    problems = paths(validate_bundle(good))
    assert "does not resolve" in problems["Bundle.entry[0].resource.insurer.reference"]


def test_a_reference_to_the_wrong_type_fails(good):
    patient_url = next(e["fullUrl"] for e in good["entry"] if e["resource"]["resourceType"] == "Patient")
    good["entry"][0]["resource"]["insurer"] = {"reference": patient_url}
    problems = paths(validate_bundle(good))
    assert "points at a Patient" in problems["Bundle.entry[0].resource.insurer.reference"]


def test_a_wrong_bundle_type_and_missing_identifier_fail(good):
    good["type"] = "transaction"
    del good["identifier"]
    problems = paths(validate_bundle(good))
    assert "collection" in problems["Bundle.type"]
    assert problems["Bundle.identifier"] == "minimum cardinality is 1, found 0"


def test_a_required_binding_and_a_required_extension_are_checked(world):
    bundle = request_bundle(draft_for(world))
    claim = bundle["entry"][0]["resource"]
    claim["type"]["coding"][0]["code"] = "pharmacy"
    claim["item"][0]["extension"] = [
        e for e in claim["item"][0]["extension"] if not e["url"].endswith("certificationType")
    ]
    problems = paths(validate_bundle(bundle))
    assert "ClaimTypes" in problems["Bundle.entry[0].resource.type"]
    assert (
        problems["Bundle.entry[0].resource.item[0].extension:certificationType"] == "minimum cardinality is 1, found 0"
    )


def test_an_unknown_element_and_a_bad_date_are_named(world):
    bundle = request_bundle(draft_for(world))
    patient = bundle["entry"][1]["resource"]
    patient["birthdate"] = "1949-03-02"
    patient["birthDate"] = "03/02/1949"
    problems = paths(validate_bundle(bundle))
    assert "not an element" in problems["Bundle.entry[1].resource.birthdate"]
    assert "not a valid date" in problems["Bundle.entry[1].resource.birthDate"]


def test_a_document_without_its_data_fails_against_the_pas_profile(world):
    bundle = request_bundle(with_documents(world))
    index = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "DocumentReference")
    del bundle["entry"][index]["resource"]["content"][0]["attachment"]["data"]
    problems = paths(validate_bundle(bundle))
    assert problems[f"Bundle.entry[{index}].resource.content[0].attachment.data"] == "minimum cardinality is 1, found 0"


def test_must_support_elements_are_warnings_not_errors(good):
    report = validate_bundle(copy.deepcopy(good), must_support=True)
    assert report.valid and report.warnings
    assert all(w.severity == "warning" for w in report.warnings)


def test_something_that_is_not_a_bundle_is_named():
    assert paths(validate_bundle({"resourceType": "Claim"})) == {
        "Bundle": "not a FHIR Bundle (resourceType must be Bundle)"
    }
    assert not validate_bundle([]).valid


def test_the_inferno_fixtures_response_with_the_wrong_first_entry_fails():
    report = validate_bundle(fixture("invalid_first_entry_response_bundle.json"), kind="response")
    assert "ClaimResponseFirst" in paths(report)["Bundle.entry[0].resource"]


def test_fixtures_are_the_shared_material():
    assert (FIXTURES / "LICENSE").is_file()


def test_a_practice_without_phone_or_fax_is_named_by_the_pd1_rule(world):
    world.practice_a.phone = world.practice_a.fax = ""
    world.practice_a.save()
    bundle = request_bundle(draft_for(world))
    index = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "PractitionerRole")
    problems = paths(validate_bundle(bundle))
    assert "(pd-1)" in problems[f"Bundle.entry[{index}].resource"]


def test_a_practitioner_npi_with_a_bad_check_digit_is_named(good):
    practitioner = next(e["resource"] for e in good["entry"] if e["resource"]["resourceType"] == "Practitioner")
    practitioner["identifier"] = [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567890"}]
    problems = paths(validate_bundle(good))
    assert any("(us-core-17)" in m for m in problems.values())


def test_a_coverage_of_a_dependent_needs_its_subscriber(good):
    coverage = next(e["resource"] for e in good["entry"] if e["resource"]["resourceType"] == "Coverage")
    coverage["relationship"] = {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                "code": "child",
            }
        ]
    }
    problems = paths(validate_bundle(good))
    assert any("self-beneficiary" in m for m in problems.values())
