"""The corrections of 2026-12-01 (issue 11) reach a database seeded from the content shipped
before them, through seed_policies, record by record, wherever an admin has not edited the record;
an admin's edit stays as the admin left it."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from policies.models import (
    AppealLevel,
    Criterion,
    EvidenceClaim,
    EvidenceSource,
    PayerContact,
    PolicyVersion,
    PriorAuthRule,
)
from policies.services import SHIPPED_BEFORE, letters_seed, registry_seed


def seeded_before() -> None:
    registry_seed(path=SHIPPED_BEFORE / "policies-2026-11-25.json")
    letters_seed(path=SHIPPED_BEFORE / "letters-2026-11-25.json")


def criterion(payer: str, key: str) -> Criterion:
    return Criterion.objects.get(policy__payer__code=payer, key=key)


def test_it_brings_unedited_records_to_the_corrected_content_and_keeps_admins_edits(db):
    seeded_before()
    assert criterion("medicare", "ced_study_enrollment").value == ["NCT03072927", "NCT02093520", "NCT02079038"]
    # An admin's edits before the upgrade.
    edited = criterion("medicare", "symptom_duration")
    edited.reason_met = "Our own wording"
    edited.save()
    claim = EvidenceClaim.objects.get(key="ps-safety")
    claim.text = "Our own safety sentence."
    claim.save()
    versions = PolicyVersion.objects.count()

    out = StringIO()
    call_command("seed_policies", stdout=out)

    assert criterion("medicare", "ced_study_enrollment").value == ["NCT03072927"]
    assert criterion("medicare", "procedure_code").value == ["0275T"]  # G0276 never with NCT03072927
    assert criterion("medicare-advantage", "symptom_duration").required is True
    kept = criterion("medicare", "symptom_duration")
    assert kept.reason_met == "Our own wording" and kept.required is False  # edited: left as the admin left it
    assert {"study_therapy_pt", "study_therapy_home_exercise", "study_therapy_analgesics"} <= set(
        Criterion.objects.filter(policy__payer__code="medicare").values_list("key", flat=True)
    )
    assert not criterion("medicare", "study_therapy_pt").required
    assert PriorAuthRule.objects.get(policy__payer__code="commercial").standard_decision_days == 15
    internal = AppealLevel.objects.get(policy__payer__code="commercial", order=1)
    assert (internal.filing_deadline_days, internal.decision_deadline_days) == (180, 30)
    assert AppealLevel.objects.get(policy__payer__code="medicare-advantage", order=2).provider_files is False
    assert EvidenceSource.objects.filter(key="motion-3yr").exists()
    assert "22.7 points" in EvidenceClaim.objects.get(key="midas-encore-2yr").text
    assert "Coverage with Evidence Development" in EvidenceClaim.objects.get(key="ps-ncd").text
    assert EvidenceClaim.objects.get(key="ps-safety").text == "Our own safety sentence."
    assert PolicyVersion.objects.count() > versions  # published, so the checker uses the corrections
    assert PayerContact.objects.filter(payer__code="tricare", kind="appeals").exists()
    assert all(c.phone == "" and c.fax == "" for c in PayerContact.objects.all())  # never invented

    versions = PolicyVersion.objects.count()
    call_command("seed_policies", stdout=StringIO())
    assert PolicyVersion.objects.count() == versions  # idempotent
