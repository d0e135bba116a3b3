"""The PDF helper and the letter context: one prior-authorization letter and one appeal letter per
seeded payer, rendered through priorauth.letters.pdf and read back with pypdf; nothing overflows a page."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from weasyprint.formatting_structure import boxes

from factories import advance, draft_for
from letter_helpers import flat, install_letter_texts, pdf_text
from policies.models import DenialCategory, RebuttalParagraph
from priorauth.letters import compose as letters
from priorauth.letters import pdf
from priorauth.letters.lint import letter_lint
from priorauth.models import Status

SEEDED_PAYERS = ("medicare", "medicare-advantage", "va-community-care", "tricare", "ihs-prc", "commercial")
STATUS_TEXT = {"met": "Met", "not_met": "Not met", "missing": "Not documented"}
POSITION_STATEMENT = 'NYSIPP Position Statement, "mild® Procedure", January 31, 2024'


@pytest.fixture
def letter_world(world):
    install_letter_texts()
    return world


def overflowing_boxes(document) -> list[str]:
    """Laid-out boxes of the page bodies that reach beyond the page's content area."""
    out = []
    for number, page in enumerate(document.pages, 1):
        page_box = page._page_box
        left = page_box.content_box_x()
        right = left + page_box.width
        for box in page_box.descendants():
            if isinstance(box, boxes.MarginBox) or not isinstance(
                box, (boxes.LineBox, boxes.TextBox, boxes.BlockBox, boxes.TableBox)
            ):
                continue
            x0 = box.position_x
            x1 = x0 + box.margin_width()
            if x0 < left - 0.5 or x1 > right + 0.5:
                out.append(
                    f"page {number}: {type(box).__name__} {x0:.1f}–{x1:.1f} outside {left:.1f}–{right:.1f} {getattr(box, 'text', '')[:40]!r}"
                )
    return out


class FakeLetter:
    """The records letter_context reads, for a letter not stored (the PDF helper alone)."""

    def __init__(self, request, kind, appeal=None):
        self.request, self.kind, self.appeal = request, kind, appeal
        self.appeal_id = appeal.pk if appeal is not None else None


class FakeRevision:
    def __init__(self, paragraphs, enclosures, number=1, signed_at=None, signed_by=None):
        self.paragraphs, self.enclosures, self.number, self.signed_at = paragraphs, enclosures, number, signed_at
        # The signed letter prints its signer's own provider record (issue 10).
        self.signed_by, self.signed_by_id = signed_by, getattr(signed_by, "pk", None)


def context_for(request, kind="prior_authorization", appeal=None, *, final=False):
    letter = FakeLetter(request, kind, appeal)
    paragraphs, enclosures = letters.draft_for(letter)
    return letters.letter_context(letter, FakeRevision(paragraphs, enclosures), final=final)


def criteria_of(determination):
    return [c for section in ("clinical", "payer_rules") for c in determination[section]["criteria"]]


@pytest.mark.parametrize("payer", [p for p in SEEDED_PAYERS if p != "medicare"])  # Original Medicare has no PA letter
def test_it_renders_a_prior_authorization_letter_for_each_seeded_payer(letter_world, payer):
    request = advance(draft_for(letter_world, payer=payer), Status.SUBMITTED, letter_world.alice)
    html = pdf.letter_html("prior_authorization", context_for(request))
    document = pdf.html_document(html)
    assert overflowing_boxes(document) == []

    text = pdf_text(pdf.html_pdf(html))
    assert "Ada Moreno" in text
    assert request.reference in text
    assert "NPI " + letter_world.bob_provider.npi in text
    assert "0275T" in text and "M48.062" in text
    # Issue 11: the payer reads the patient's facts, not the checker's table of statuses.
    for status in STATUS_TEXT.values():
        assert status not in text
    assert letter_lint(text) == []
    assert (
        "neurogenic claudication for 9 months" in text
        and "8 weeks of physical therapy did not relieve her symptoms" in text
    )
    if payer == "medicare-advantage":
        assert "NCD 150.13" in text
        assert "NCT03072927" in text  # the CED study the patient is enrolled in
    if payer == "commercial":
        assert "K233800" in text and "Grade A, Level I-A" in text
        assert "investigational" not in text  # other payers' labels are staff knowledge, never volunteered


def test_it_numbers_references_in_order_of_first_citation_and_cites_every_sourced_sentence(letter_world):
    request = advance(draft_for(letter_world, payer="medicare-advantage"), Status.SUBMITTED, letter_world.alice)
    context = context_for(request)
    order = []
    for block in context["blocks"]:
        rows = block.get("sentences") or [c for s in block.get("sections", []) for c in s["criteria"]]
        for row in rows:
            order += [n for n in row["refs"] if n not in order]
    assert order == list(range(1, len(context["references"]) + 1))
    assert [r["number"] for r in context["references"]] == order
    # every sentence drawn from the evidence library carries its sources
    from policies.models import EvidenceClaim

    claim_texts = set(EvidenceClaim.objects.values_list("text", flat=True))
    for block in context["blocks"]:
        for s in block.get("sentences", []):
            if f"{s['body']}{s['end']}" in claim_texts:
                assert s["refs"], s["body"]


def test_it_lists_unverified_statements_for_staff_and_never_in_the_draft_or_the_signed_letter(letter_world):
    request = advance(draft_for(letter_world, payer="tricare"), Status.SUBMITTED, letter_world.alice)
    letter = FakeLetter(request, "prior_authorization")
    paragraphs, enclosures = letters.draft_for(letter)
    # Issue 11: the staff's findings (the draft page) list them; the PDFs, draft or final, do not.
    assert letters.unverified_in(letter, paragraphs)
    draft = pdf_text(pdf.render_letter("prior_authorization", context_for(request)))
    assert "Check before signing" not in draft and "unverified" not in draft.lower()
    assert "DRAFT 1" in draft

    from django.utils import timezone

    final = letters.letter_context(
        letter, FakeRevision(paragraphs, enclosures, signed_at=timezone.now(), signed_by=letter_world.bob), final=True
    )
    text = pdf_text(pdf.render_letter("prior_authorization", final))
    assert "Check before signing" not in text and "DRAFT" not in text
    assert "Electronically signed by Bob Baker, MD" in text


@pytest.mark.parametrize("category", DenialCategory.values)
def test_it_answers_the_stated_denial_reason_first_in_the_appeal_letter(letter_world, category):
    request = advance(draft_for(letter_world, payer="commercial"), Status.SUBMITTED, letter_world.alice)
    advance_denied(request, letter_world, category)
    appeal = request.appeals.get()
    context = context_for(request, "appeal", appeal)
    text = pdf_text(pdf.render_letter("appeal", context))

    reason = f"Denied: {DenialCategory(category).label} per plan policy"
    rebuttal = (
        RebuttalParagraph.objects.filter(category=category, program__in=["", "commercial"]).order_by("-program").first()
    )
    assert text.index("The denial") < text.index(flat(rebuttal.lead))
    assert reason in text
    assert "peer-to-peer" in text  # commercial plans have one
    assert appeal.level_name.lower() in text and "Enclosures" in text
    assert letter_lint(text, payer_words=[reason]) == []


def advance_denied(request, w, category):
    import datetime as dt

    from django.utils import timezone

    from priorauth import services

    at = timezone.now() - dt.timedelta(days=2)
    services.request_send(request=request, by=w.alice, sent_at=at)
    services.decision_record(
        request=request,
        by=w.alice,
        decision="denied",
        received_at=at + dt.timedelta(hours=1),
        stated_reason=f"Denied: {DenialCategory(category).label} per plan policy",
        reason_category=category,
    )
    services.appeal_start(request=request, by=w.alice, filed_at=at + dt.timedelta(hours=2))


def test_it_reuses_one_parsed_stylesheet_and_font_configuration():
    assert pdf.stylesheet() is pdf.stylesheet()
    assert pdf.font_config() is pdf.font_config()


def test_it_writes_the_configured_pdf_variant(letter_world, settings):
    request = advance(draft_for(letter_world, payer="medicare-advantage"), Status.SUBMITTED, letter_world.alice)
    content = pdf.render_letter("prior_authorization", context_for(request))
    reader = PdfReader(io.BytesIO(content))
    assert settings.LETTER_PDF_VARIANT == "pdf/ua-1"
    assert "/StructTreeRoot" in reader.trailer["/Root"]  # tagged for screen readers
    assert reader.metadata.title.startswith("Request for an organization determination")
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    assert b"pdfuaid:part" in xmp  # the PDF/UA identification in the XMP metadata
