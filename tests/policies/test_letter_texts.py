"""Letter texts in the registry: claims with their sources, coverage paragraphs per program or
payer, rebuttals per denial category; seeded idempotently, edited with history, validated."""

from __future__ import annotations

import copy
import json

import pytest
from django.core.exceptions import ValidationError

from factories import install_shipped_policies
from policies import selectors
from policies.models import (
    CoverageParagraph,
    DenialCategory,
    EvidenceClaim,
    Payer,
    RebuttalParagraph,
)
from policies.services import letters_import, letters_seed

SHIPPED = json.loads(selectors.LETTERS_SEED_FILE.read_text(encoding="utf-8"))


@pytest.fixture
def registry(db):
    # The payer registry as seed_policies leaves it (restored rows: tests/policies/test_seed.py
    # tests the seeding itself); the letter texts, this file's subject, seeded for real.
    install_shipped_policies()
    letters_seed()


def test_it_seeds_every_shipped_text_once(registry):
    assert EvidenceClaim.objects.count() == len(SHIPPED["claims"])
    assert CoverageParagraph.objects.count() == len(SHIPPED["coverage_paragraphs"])
    assert RebuttalParagraph.objects.count() == len(SHIPPED["rebuttals"])
    history = EvidenceClaim.history.count()
    again = letters_seed()
    assert again.created == [] and again.updated == []
    assert EvidenceClaim.history.count() == history  # an unchanged record gets no history row


def test_it_keeps_an_admins_edit_unless_reset_and_keeps_the_history(registry):
    claim = EvidenceClaim.objects.get(key="fda-clearance")
    shipped = claim.text
    claim.text = "Edited by an admin."
    claim.save()
    letters_seed()
    assert EvidenceClaim.objects.get(key="fda-clearance").text == "Edited by an admin."
    result = letters_seed(reset=True)
    assert "claim fda-clearance" in result.updated
    assert EvidenceClaim.objects.get(key="fda-clearance").text == shipped
    assert [h.text for h in claim.history.order_by("history_date")][-2:] == ["Edited by an admin.", shipped]


def test_every_claim_cites_a_source_and_weak_sources_are_flagged_unverified(registry):
    for claim in EvidenceClaim.objects.prefetch_related("citations"):
        sources = list(claim.citations.all())
        assert sources, claim.key
        if any(s.certainty in ("M", "L") for s in sources):
            assert claim.review_status == "unverified" and claim.review_reason, claim.key


def test_every_denial_category_has_a_general_rebuttal_and_every_program_a_coverage_paragraph(registry):
    for category in DenialCategory.values:
        assert RebuttalParagraph.objects.filter(category=category, program="", payer=None).exists(), category
    for program in Payer.Program.values:
        assert CoverageParagraph.objects.filter(program=program).exists(), program


def test_it_picks_the_most_specific_rebuttal_and_coverage_paragraph(registry):
    medicare = Payer.objects.get(code="medicare")
    commercial = Payer.objects.get(code="commercial")
    assert [r.key for r in selectors.rebuttal_paragraphs_for(medicare, "investigational")] == [
        "investigational-medicare"
    ]
    assert [r.key for r in selectors.rebuttal_paragraphs_for(commercial, "investigational")] == ["investigational"]
    own = RebuttalParagraph.objects.create(
        key="commercial-own", category="investigational", program="commercial", payer=commercial, lead="Ours."
    )
    assert selectors.rebuttal_paragraphs_for(commercial, "investigational") == [own]

    assert [p.key for p in selectors.coverage_paragraphs_for(medicare)] == ["medicare-ncd"]
    mine = CoverageParagraph.objects.create(key="medicare-own", program="medicare", payer=medicare, heading="Our MAC")
    assert selectors.coverage_paragraphs_for(medicare) == [mine]
    claims = [link.claim.key for link in selectors.coverage_paragraphs_for(commercial)[0].claim_links.all()]
    # Issue 11: a letter never volunteers other payers' investigational labels (staff knowledge).
    assert claims[0] == "fda-clearance" and "commercial-labels" not in claims


def test_the_evidence_summary_cites_the_position_statement_and_the_trials_results(registry):
    summary = selectors.evidence_summary_claims()
    assert summary and any(c.citations.filter(key="nysipp-2024").exists() for c in summary)
    # Issue 11: outcome figures with their trials, and safety/durability claims cite the trials.
    cited = {e.key for c in summary for e in c.citations.all()}
    assert {"midas-encore-2yr", "motion-1yr", "mekhail-5yr", "staats-2024-claims"} <= cited
    assert any("22.7 points" in c.text for c in summary)
    assert [c.order for c in summary] == sorted(c.order for c in summary)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["claims"][0].update(citations=["no-such-source"]), "claims.0.citations"),
        (lambda d: d["claims"][0].update(citations=[]), "claims.0.citations"),
        (lambda d: d["claims"][40].update(review_status="verified", review_reason=""), "claims.40.review_status"),
        (lambda d: d["claims"][1].update(topic="gossip"), "claims.1.topic"),
        (lambda d: d["coverage_paragraphs"][0].update(program="nowhere"), "coverage_paragraphs.0.program"),
        (
            lambda d: d["coverage_paragraphs"][0].update(patient_sentence="Study {administrative..bad}"),
            "coverage_paragraphs.0.patient_sentence",
        ),
        (lambda d: d["coverage_paragraphs"][0].update(payer="commercial"), "coverage_paragraphs.0.payer"),
        (lambda d: d["rebuttals"][0].update(category="because"), "rebuttals.0.category"),
        (lambda d: d["rebuttals"][0].update(claims=["no-such-claim"]), "rebuttals.0.claims"),
        (lambda d: d["rebuttals"][1].update(key=d["rebuttals"][0]["key"]), "rebuttals.1.key"),
    ],
)
def test_it_refuses_a_bad_letter_document_naming_the_field_and_writes_nothing(db, mutate, field):
    install_shipped_policies()
    document = copy.deepcopy(SHIPPED)
    assert SHIPPED["claims"][24]["key"] == "midas-encore-2yr"  # an M source, shipped unverified
    mutate(document)
    with pytest.raises(ValidationError) as caught:
        letters_import(document=document)
    assert field in caught.value.message_dict
    assert not EvidenceClaim.objects.exists()


def test_the_admin_lists_searches_and_filters_letter_texts(registry, admin_client):
    for url in (
        "/admin/policies/evidenceclaim/?q=K233800&review_status__exact=verified",
        "/admin/policies/evidenceclaim/?citations__certainty=M",
        "/admin/policies/coverageparagraph/?program__exact=medicare",
        "/admin/policies/rebuttalparagraph/?q=investigational&category__exact=investigational",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    claim = EvidenceClaim.objects.get(key="fda-clearance")
    assert admin_client.get(f"/admin/policies/evidenceclaim/{claim.pk}/history/").status_code == 200
    paragraph = RebuttalParagraph.objects.get(key="investigational")
    page = admin_client.get(f"/admin/policies/rebuttalparagraph/{paragraph.pk}/change/")
    assert page.status_code == 200 and b"fda-clearance" in page.content


def test_it_names_every_problem_of_a_field_not_only_the_last(db):
    install_shipped_policies()
    document = copy.deepcopy(SHIPPED)
    document["rebuttals"][0].update(claims=["no-such-claim", "nor-this-one"])
    with pytest.raises(ValidationError) as caught:
        letters_import(document=document)
    problems = caught.value.message_dict["rebuttals.0.claims"]
    assert len(problems) == 2 and "no-such-claim" in problems[0] and "nor-this-one" in problems[1]
