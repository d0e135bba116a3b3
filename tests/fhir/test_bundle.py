"""The PAS request bundle: what it holds, who may read it (audited like the request detail), the
pas_export command, and the page where staff review it before it goes."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.management import call_command
from pas_helpers import PDF, with_documents

from factories import advance, draft_for, entered_case
from priorauth.fhir.bundle import PAS, request_bundle
from priorauth.fhir.validator import validate_bundle
from priorauth.models import AuditEntry, Status


def resources(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_it_builds_a_collection_with_the_claim_first_and_everything_the_issue_lists(
    world,
):
    request = with_documents(world)
    bundle = request_bundle(request)

    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    assert bundle["identifier"]["value"] == request.reference and bundle["timestamp"]
    claim = bundle["entry"][0]["resource"]
    assert claim["resourceType"] == "Claim"
    assert claim["meta"]["profile"] == [PAS + "profile-claim"]
    assert claim["use"] == "preauthorization"
    assert claim["priority"]["coding"][0]["code"] == "normal"
    (patient,) = resources(bundle, "Patient")
    assert patient["name"][0]["family"] == "Moreno" and patient["birthDate"] == "1949-03-02"
    (coverage,) = resources(bundle, "Coverage")
    assert coverage["subscriberId"] == world.patient_a.member_id
    assert coverage["identifier"][0]["type"]["coding"][0]["code"] == "MB"
    insurer, requestor = resources(bundle, "Organization")
    assert insurer["name"] == request.payer.name and requestor["name"] == world.practice_a.name
    assert coverage["payor"] == [claim["insurer"]]
    (role,) = resources(bundle, "PractitionerRole")
    (practitioner,) = resources(bundle, "Practitioner")
    assert practitioner["identifier"] == [{"system": "http://hl7.org/fhir/sid/us-npi", "value": world.bob_provider.npi}]
    conditions = resources(bundle, "Condition")
    assert [c["code"]["coding"][0] for c in conditions] == [
        {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code} for code in request.case["diagnoses"]
    ]
    assert [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in claim["diagnosis"]] == request.case["diagnoses"]
    (service,) = resources(bundle, "ServiceRequest")
    assert service["code"]["coding"][0] == {
        "system": "http://www.ama-assn.org/go/cpt",
        "code": "0275T",
    }
    assert [b["text"] for b in service["bodySite"]] == [
        f"Lumbar level {lv}" for lv in request.case["procedure"]["levels"]
    ]
    assert service["occurrenceTiming"]["event"] == [request.case["procedure"]["planned_date"]]
    item = claim["item"][0]
    assert item["productOrService"]["coding"][0]["code"] == "0275T"
    assert item["servicedDate"] == request.case["procedure"]["planned_date"]
    documents = resources(bundle, "DocumentReference")
    assert [base64.b64decode(d["content"][0]["attachment"]["data"]) for d in documents] == [PDF, PDF + b"signed"]
    supporting = [s for s in claim["supportingInfo"] if s["category"]["coding"][0]["code"] == "additionalInformation"]
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    assert {s["valueReference"]["reference"] for s in supporting} == {
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"
    }
    for ref in json.dumps(bundle).split('"reference": "')[1:]:
        assert ref.split('"')[0] in full_urls  # every reference resolves inside the bundle
    assert role["practitioner"]["reference"] in full_urls
    report = validate_bundle(bundle)
    assert report.valid, report.errors


def test_an_expedited_case_asks_for_stat_priority(world):
    case = entered_case()
    case["administrative"] = {**case.get("administrative", {}), "expedited": True}
    request = draft_for(world, case=case)
    assert request.expedited
    claim = request_bundle(request)["entry"][0]["resource"]
    assert claim["priority"]["coding"][0]["code"] == "stat"
    assert validate_bundle(request_bundle(request)).valid


def test_building_twice_gives_the_same_references(world):
    request = draft_for(world)
    first, second = request_bundle(request), request_bundle(request)
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]


def test_it_answers_fhir_json_and_audits_the_read(world, api):
    request = draft_for(world)
    response = api(world.alice).get(f"/api/v1/requests/{request.pk}/pas-bundle")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    assert json.loads(response.content)["entry"][0]["resource"]["resourceType"] == "Claim"
    entry = AuditEntry.objects.filter(object_id=str(request.pk), detail="pas-bundle").get()
    assert entry.user == world.alice and entry.action == AuditEntry.Action.READ
    assert api(world.bob).get(f"/api/v1/requests/{request.pk}/pas-bundle").status_code == 200  # treating physician


@pytest.mark.parametrize("persona", ["charlie", "erin", "dave"])
def test_another_practice_or_another_physician_gets_404(world, api, persona):
    request = draft_for(world)
    response = api(getattr(world, persona)).get(f"/api/v1/requests/{request.pk}/pas-bundle")
    assert response.status_code == 404
    assert api(getattr(world, persona)).get(f"/api/v1/requests/{request.pk}/pas-bundle/check").status_code == 404
    assert not AuditEntry.objects.filter(detail="pas-bundle").exists()


def test_an_anonymous_caller_is_refused(world, api):
    request = draft_for(world)
    assert api().get(f"/api/v1/requests/{request.pk}/pas-bundle").status_code in (
        401,
        403,
    )


def test_the_check_endpoint_reports_by_fhir_path(world, api):
    request = draft_for(world)
    body = api(world.alice).get(f"/api/v1/requests/{request.pk}/pas-bundle/check").json()
    assert body["valid"] is True and body["errors"] == []
    assert all(w["path"].startswith("Bundle.") for w in body["warnings"])


def test_pas_export_prints_the_checked_bundle(world, capsys):
    request = draft_for(world)
    call_command("pas_export", request.reference)
    bundle = json.loads(capsys.readouterr().out)
    assert bundle["identifier"]["value"] == request.reference
    assert AuditEntry.objects.filter(object_id=str(request.pk), detail="pas_export").exists()


def test_pas_export_names_an_unknown_reference(world):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No request with reference 'PA-NOPE'"):
        call_command("pas_export", "PA-NOPE")


def test_staff_review_the_bundle_on_a_page_before_it_goes(world, client):
    request = advance(draft_for(world), Status.SUBMITTED, world.alice)
    client.force_login(world.alice)
    page = client.get(f"/requests/{request.pk}/pas/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "conforms to the PAS request profiles" in text
    assert "CPT 0275T" in text and world.patient_a.member_id in text
    assert "has no enabled PAS endpoint" in text
    assert AuditEntry.objects.filter(object_id=str(request.pk), detail="pas-bundle review").exists()
    detail = client.get(f"/requests/{request.pk}/").content.decode()
    assert f"/requests/{request.pk}/pas/" in detail
    client.force_login(world.charlie)
    assert client.get(f"/requests/{request.pk}/pas/").status_code == 404


def test_must_support_elements_are_sent_when_the_records_hold_the_data(world):
    from policies.models import Payer
    from priorauth.fhir.models import PasEndpoint

    PasEndpoint.objects.create(
        payer=Payer.objects.get(code="medicare-advantage"),
        base_url="https://payer.example.com/fhir",
        credential_env="X",
        payer_identifier_system="urn:oid:2.16.840.1.113883.6.300",
        payer_identifier_value="12345",
    )
    bundle = request_bundle(with_documents(world))
    report = validate_bundle(bundle, must_support=True)
    assert report.valid, report.errors
    insurer, requestor = resources(bundle, "Organization")
    assert insurer["identifier"] == [{"system": "urn:oid:2.16.840.1.113883.6.300", "value": "12345"}]
    assert requestor["identifier"][0]["value"] == world.practice_a.npi
    warned = {w.path for w in report.warnings}
    index = {
        e["resource"]["resourceType"] + e["resource"].get("name", "")
        if isinstance(e["resource"].get("name"), str)
        else e["resource"]["resourceType"]: i
        for i, e in enumerate(bundle["entry"])
    }
    for path in (
        f"Bundle.entry[{index[insurer['resourceType'] + insurer['name']]}].resource.identifier",
        f"Bundle.entry[{index[requestor['resourceType'] + requestor['name']]}].resource.identifier",
        f"Bundle.entry[{index[requestor['resourceType'] + requestor['name']]}].resource.telecom",
        f"Bundle.entry[{index[requestor['resourceType'] + requestor['name']]}].resource.address",
        "Bundle.entry[0].resource.supportingInfo",
        "Bundle.entry[0].resource.diagnosis",
        "Bundle.entry[0].resource.item[0].serviced",
    ):
        assert path not in warned


def test_a_draft_with_little_in_its_case_still_builds_from_the_records(world):
    request = draft_for(world, case={})
    bundle = request_bundle(request)
    claim = bundle["entry"][0]["resource"]
    assert "diagnosis" not in claim and "servicedDate" not in claim["item"][0]
    (patient,) = resources(bundle, "Patient")
    assert patient["identifier"][0]["value"] == world.patient_a.member_id
    assert validate_bundle(bundle).valid


def test_pas_export_refuses_a_bundle_that_does_not_conform_naming_the_path(world, capsys):
    world.practice_a.phone = world.practice_a.fax = ""
    world.practice_a.save()
    request = draft_for(world)
    with pytest.raises(SystemExit) as exit_:
        call_command("pas_export", request.reference)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "(pd-1)" in captured.err and captured.err.startswith("Bundle.entry[")
    call_command("pas_export", request.reference, "--no-check")
    assert json.loads(capsys.readouterr().out)["resourceType"] == "Bundle"
