"""`manage.py seed_policies`: loads the six shipped payer policies as first versions; running it
again changes nothing, not even an admin's edit; --reset restores the shipped content as a new
version. Facts the research rates M or L are seeded unverified, with the reason."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command

from policies.models import AppealLevel, Criterion, EvidenceSource, Payer, Policy, PolicyVersion, PriorAuthRule
from policies.selectors import SEED_FILE, export_document
from policies.services import policy_publish

PAYERS = ["commercial", "ihs-prc", "medicare", "medicare-advantage", "tricare", "va-community-care"]


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_policies", *args, stdout=out)
    return out.getvalue()


def registry_rows() -> dict[str, int]:
    """Rows of every table of the registry app, history tables included."""
    return {m._meta.label: m._default_manager.count() for m in apps.get_app_config("policies").get_models()}


def ligament(payer: str = "medicare") -> Criterion:
    return Criterion.objects.get(policy__payer__code=payer, key="ligamentum_flavum")


def test_it_loads_the_six_payers_each_with_a_first_published_version(db):
    out = seed()
    assert sorted(Payer.objects.values_list("code", flat=True)) == PAYERS
    assert sorted(line.removeprefix("created ") for line in out.splitlines() if line.startswith("created ")) == PAYERS
    for policy in Policy.objects.all():
        assert policy.revision == 1
        assert list(policy.versions.values_list("revision", flat=True)) == [1]
    assert EvidenceSource.objects.filter(key="nysipp-2024").exists()


def test_running_it_twice_changes_nothing(db):
    seed()
    before = registry_rows()
    out = seed()
    assert "nothing changed" in out
    assert registry_rows() == before
    assert PolicyVersion.objects.count() == 6


def test_the_policies_it_loads_are_those_the_checker_ships(db):
    seed()
    shipped = json.loads(SEED_FILE.read_text())
    exported = {p["code"]: p for p in export_document()["payers"]}
    for entry in shipped["payers"]:
        criteria = {c["key"]: c["value"] for c in exported[entry["code"]]["policy"]["criteria"]}
        assert criteria == {c["key"]: c.get("value") for c in entry["policy"]["criteria"]}


def test_uncertain_facts_are_seeded_unverified_with_their_reason(db):
    seed()
    tricare = Policy.objects.get(payer__code="tricare")
    assert tricare.review_status == "unverified"
    assert "Category III" in tricare.review_reason
    medicare_pa = PriorAuthRule.objects.get(policy__payer__code="medicare")
    assert medicare_pa.review_status == "unverified"
    assert "WISeR" in medicare_pa.review_reason
    assert Policy.objects.get(payer__code="va-community-care").review_status == "unverified"
    assert Policy.objects.get(payer__code="medicare").review_status == "verified"


def test_every_unverified_record_says_why(db):
    seed()
    for model in (Policy, PriorAuthRule, AppealLevel):
        for record in model.objects.filter(review_status="unverified"):
            assert record.review_reason.strip(), record


def test_evidence_keeps_its_certainty(db):
    seed()
    assert EvidenceSource.objects.get(key="ncd-150-13").certainty == "H"
    assert EvidenceSource.objects.get(key="wiser-model").certainty == "M"


@pytest.fixture
def edited(db) -> PolicyVersion:
    """An admin raised Medicare's ligamentum flavum threshold to 3.0 mm (revision 2)."""
    seed()
    criterion = ligament()
    criterion.value = 3.0
    criterion.save()
    return policy_publish(policy=criterion.policy, summary="admin edit")


def test_a_second_run_keeps_an_admins_edit(edited):
    before = registry_rows()
    seed()
    assert ligament().value == 3.0
    assert Policy.objects.get(payer__code="medicare").revision == 2
    assert registry_rows() == before


def test_a_second_run_adds_a_payer_an_admin_deleted_and_leaves_the_rest(edited):
    Payer.objects.get(code="tricare").delete()
    out = seed()
    assert "created tricare" in out
    assert Policy.objects.get(payer__code="tricare").revision == 1
    assert ligament().value == 3.0


def test_reset_restores_the_shipped_content_as_a_new_version(edited):
    out = seed("--reset")
    assert [line for line in out.splitlines() if line.startswith("new version of")] == ["new version of medicare"]
    assert ligament().value == 2.5
    medicare = Policy.objects.get(payer__code="medicare")
    assert medicare.revision == 3
    assert list(medicare.versions.values_list("revision", flat=True)) == [3, 2, 1]
    reset = medicare.versions.get(revision=3)
    assert "seed_policies --reset" in reset.summary
    assert "criterion ligamentum_flavum value: 3.0 → 2.5" in reset.summary
    # The edit stays in the history of the record and in the version it made.
    assert medicare.versions.get(revision=2).snapshot["payer"]["policy"]["criteria"][2]["value"] == 3.0
    values = [h.value for h in ligament().history.order_by("history_date", "history_id")]
    assert values[0] == 2.5 and 3.0 in values and values[-1] == 2.5


def test_reset_of_an_unedited_registry_changes_nothing(db):
    seed()
    before = registry_rows()
    seed("--reset")
    assert registry_rows() == before
