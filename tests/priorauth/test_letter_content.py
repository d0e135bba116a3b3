"""What the payer reads (issue 11), over every letter the seeds can produce: each program × kind ×
representative cases (the contract examples, a case with null and absent optional facts, a case
without conservative care), and for appeals each denial category, with and without the deficiencies
the denial names.

- the lint refuses internal markers in every one of them (statuses, advisory marks, review and
  unverified notes, field paths, snake_case, template names, ISO dates);
- golden texts per program and kind (tests/fixtures/letters/*.txt). After a deliberate change of
  the letters or the seeds, regenerate them and read the diff:

      UPDATE_GOLDEN_LETTERS=1 .venv/bin/python -m pytest tests/priorauth/test_letter_content.py -k golden

  (with LETTER_SAMPLES_DIR=/some/dir the same run also writes each letter's PDF there: docs/letters/)

- lengths: a prior-authorization letter at most 3 pages, an appeal at most 4 with its references,
  counted in the rendered PDF; no level or code split across a line or page.
"""

from __future__ import annotations

import datetime as dt
import html as html_module
import io
import os
import re
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from pypdf import PdfReader

from factories import addressed, draft_for, entered_case
from letter_helpers import install_letter_texts
from policies.models import AppealLevel, DenialCategory, Payer
from priorauth import services
from priorauth.letters import compose as letters
from priorauth.letters import pdf
from priorauth.letters import services as letter_services
from priorauth.letters.lint import letter_lint

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "letters"
PAYERS = ("medicare", "medicare-advantage", "va-community-care", "tricare", "ihs-prc", "commercial")
SIGNED_AT = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)


def _sparse_case() -> dict:
    """Optional facts sent as null or left out, as the contract allows."""
    case = entered_case()
    case["clinical"]["pain"] = {"vas_leg": None, "nprs": 6, "odi": None}
    case["clinical"]["imaging"] = {"modality": None, "date": "2026-09-01", "ligamentum_flavum_mm": None}
    case["clinical"]["symptoms"]["duration_months"] = None
    case["clinical"].pop("spondylolisthesis_grade", None)
    case["clinical"]["prior_lumbar_surgeries"] = [{"type": None, "months_ago": None}]
    case["procedure"]["planned_date"] = None
    return case


def _no_care_case() -> dict:
    case = entered_case()
    case["clinical"]["conservative_care"] = []
    case["administrative"] = {"expedited": True}
    return case


CASES = {
    "meets-criteria": lambda: entered_case("medicare-meets-criteria"),
    "commercial-investigational": lambda: entered_case("commercial-investigational"),
    "ligament-too-thin": lambda: entered_case("ligament-too-thin"),
    "imaging-missing": lambda: entered_case("imaging-missing"),
    "no-study-enrollment": lambda: entered_case("medicare-no-study-enrollment"),
    "sparse": _sparse_case,
    "no-conservative-care": _no_care_case,
}


class FakeLetter:
    def __init__(self, request, kind, appeal=None):
        self.request, self.kind, self.appeal = request, kind, appeal
        self.appeal_id = appeal.pk if appeal is not None else None


class FakeRevision:
    def __init__(self, paragraphs, enclosures):
        self.paragraphs, self.enclosures, self.number, self.signed_at = paragraphs, enclosures, 1, SIGNED_AT
        # Not signed by a user: the letter prints the treating physician (issue 10 prints a signer's own record).
        self.signed_by = self.signed_by_id = None


@pytest.fixture
def letter_world(world):
    install_letter_texts()
    return world


def submitted(world, payer: str, case: dict):
    request = draft_for(world, payer=payer, case=case)
    # Submitted before the fixed sending dates below (dates run submitted, sent, decided).
    request = services.request_submit(
        request=request, by=world.alice, submitted_at=dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.UTC)
    )
    return addressed(
        request, name="Example Health Plan", department="Appeals", address="PO Box 1000\nSpringfield, IL 62701"
    )


def denied_appeal(world, request, *, category: str, deficiencies: list[dict] | None = None, code: str = ""):
    # Fixed dates, so that the golden texts (deadlines, denial dates) do not move with the calendar.
    at = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
    services.request_send(request=request, by=world.alice, sent_at=at)
    services.decision_record(
        request=request,
        by=world.alice,
        decision="denied",
        received_at=at + dt.timedelta(hours=1),
        payer_reference="DN-20261120-7",
        stated_reason="Requested service is not medically necessary: no 6 months of conservative therapy documented.",
        reason_category=category,
        deficiencies=deficiencies or [],
        denial_code=code,
    )
    return services.appeal_start(request=request, by=world.alice, filed_at=at + dt.timedelta(hours=2))


def final_context(request, kind: str, appeal=None) -> dict:
    letter = FakeLetter(request, kind, appeal)
    paragraphs, enclosures = letters.draft_for(letter)
    return letters.letter_context(letter, FakeRevision(paragraphs, enclosures), final=True)


def text_of(html: str) -> str:
    """The letter's words as the payer reads them: tags and the document head left out."""
    body = re.sub(r"(?s)<head>.*?</head>", "", html)
    body = re.sub(r"<[^>]+>", " ", body)
    return re.sub(r"\s+", " ", html_module.unescape(body)).strip()


def refused(request, kind: str, appeal=None) -> bool:
    try:
        letter_services._require_instrument(request=request, kind=kind, appeal=appeal)
    except ValidationError:
        return True
    return False


def all_letters(world):
    """(name, kind, request, appeal) for every letter the seeds can produce, as the service allows."""
    for payer in PAYERS:
        for case_name, make in CASES.items():
            request = submitted(world, payer, make())
            if not refused(request, "prior_authorization"):
                yield f"{payer}/{case_name}/pa", "prior_authorization", request, None
            for category in DenialCategory.values:
                for with_points in (False, True):
                    if with_points and category not in ("criteria_not_met", "missing_documentation"):
                        continue
                    r = submitted(world, payer, make())
                    keys = {c["key"] for s in ("clinical", "payer_rules") for c in r.determination[s]["criteria"]}
                    points = [
                        {"criterion": k, "text": ""}
                        for k in ("conservative_care", "symptom_duration", "ligamentum_flavum")
                        if k in keys
                    ]
                    points.append({"criterion": "", "text": "No physical therapy notes received."})
                    appeal = denied_appeal(
                        world, r, category=category, deficiencies=points if with_points else None, code="50"
                    )
                    if not refused(r, "appeal", appeal):
                        yield (
                            f"{payer}/{case_name}/appeal-{category}{'-points' if with_points else ''}",
                            "appeal",
                            r,
                            appeal,
                        )


def test_it_keeps_internal_markers_out_of_every_letter_the_seeds_can_produce(letter_world):
    seen, problems = 0, []
    for name, kind, request, appeal in all_letters(letter_world):
        text = text_of(pdf.letter_html(kind, final_context(request, kind, appeal)))
        seen += 1
        problems += [f"{name}: {p}" for p in letter_lint(text)]
    assert seen > 150
    assert problems == []


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Conservative care: Not met", "a checker status"),
        ("Symptom duration is missing", "a checker status"),
        ("Age 65 or older (advisory)", "an advisory marker"),
        ("Manual verification needed: confirm with the TRICARE regional contractor", "staff guidance"),
        ("an appeal should rebut this with the FDA clearance", "staff guidance"),
        ("Commercial (PILD investigational template)", "a template or record name"),
        ("MRI of 2026-09-01", "an ISO date"),
        ("see clinical.imaging.ligamentum_flavum_mm", "a field path"),
        ("status meets_criteria", "a checker status"),
        ("the reason_not_met text", "a snake_case name"),
    ],
)
def test_the_lint_refuses_each_kind_of_internal_marker(text, why):
    assert any(p.startswith(why) for p in letter_lint(text)), letter_lint(text)


def test_the_lint_passes_a_letter_written_for_the_payer():
    assert (
        letter_lint(
            "She has had neurogenic claudication for 14 months; 10 weeks of physical therapy did not relieve it. "
            "An MRI of September 1, 2026 shows lumbar spinal stenosis at L4\u2011L5 (CPT 0275T, M48.062)."
        )
        == []
    )


def _normalized(text: str) -> str:
    text = re.sub(r"PA-[0-9A-F]{10}", "PA-REFERENCE", text)
    text = re.sub(r"\bNPI \d{10}\b", "NPI 0000000000", text)
    text = re.sub(r"(Member ID|Medicare number \(MBI\)) \S+", r"\1 MEMBER-ID", text)
    return re.sub(r"uploaded [A-Z][a-z]+ \d{1,2}, 20\d\d", "uploaded DATE", text)


GOLDEN_CASES = [(payer, "prior_authorization") for payer in PAYERS if payer != "medicare"] + [
    (payer, "appeal") for payer in PAYERS
]


@pytest.mark.parametrize(("payer", "kind"), GOLDEN_CASES)
def test_golden_text_per_program_and_kind(letter_world, payer, kind):
    request = submitted(letter_world, payer, entered_case())
    appeal = None
    if kind == "appeal":
        appeal = denied_appeal(
            letter_world,
            request,
            category="criteria_not_met",
            code="50",
            deficiencies=[
                {"criterion": "conservative_care", "text": "No 6 months of conservative therapy documented"},
                {"criterion": "", "text": "Pain scores not provided."},
            ],
        )
    context = final_context(request, kind, appeal)
    if os.environ.get("LETTER_SAMPLES_DIR"):
        # docs/letters/: the same letters as PDFs, for `pdftoppm -png -r 60 -f 1 -l 1` (see its README).
        samples = Path(os.environ["LETTER_SAMPLES_DIR"])
        samples.mkdir(parents=True, exist_ok=True)
        (samples / f"{payer}-{kind}.pdf").write_bytes(pdf.render_letter(kind, context))
    text = _normalized(text_of(pdf.letter_html(kind, context)))
    # One sentence or heading a line, so that a diff reads.
    text = re.sub(r"(?<=[.:”]) (?=[A-Z\[“])", "\n", text) + "\n"
    path = GOLDEN / f"{payer}-{kind}.txt"
    if os.environ.get("UPDATE_GOLDEN_LETTERS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path.name} missing: run with UPDATE_GOLDEN_LETTERS=1 and read it"
    assert text == path.read_text(encoding="utf-8")
    assert letter_lint(text) == []


def _pages(kind: str, context: dict) -> list[str]:
    reader = PdfReader(io.BytesIO(pdf.render_letter(kind, context)))
    return [page.extract_text() for page in reader.pages]


@pytest.mark.parametrize("payer", PAYERS)
def test_the_longest_letters_fit_their_page_limits_and_split_no_level_or_code(letter_world, payer):
    """The longest seeded shapes: the meets-criteria case (every fact present), and for the appeal
    an investigational denial (the longest rebuttal) plus named deficiencies."""
    limits = []
    request = submitted(letter_world, payer, entered_case())
    if not refused(request, "prior_authorization"):
        limits.append(
            ("prior_authorization", _pages("prior_authorization", final_context(request, "prior_authorization")), 3)
        )
    r = submitted(letter_world, payer, entered_case())
    appeal = denied_appeal(
        letter_world,
        r,
        category="investigational",
        code="50",
        deficiencies=[
            {"criterion": "conservative_care", "text": "No 6 months of conservative therapy documented"},
            {"criterion": "symptom_duration", "text": ""},
        ],
    )
    limits.append(("appeal", _pages("appeal", final_context(r, "appeal", appeal)), 4))
    for kind, pages, limit in limits:
        assert len(pages) <= limit, f"{payer} {kind}: {len(pages)} pages"
        for page in pages:
            # A level or code never ends a line or a page half-way ("L4-" / "L5").
            assert not re.search(r"\b[LS]\d[-\u2011]\s*\n", page), page
            assert not re.search(r"\b[LS]\d[-\u2011]\s*$", page.strip()), page


def test_original_medicare_gets_no_prior_authorization_letter_and_no_appeal_outside_the_study(letter_world):
    request = submitted(letter_world, "medicare", entered_case())
    with pytest.raises(ValidationError) as caught:
        letter_services.letter_request_draft(request=request, kind="prior_authorization", by=letter_world.alice)
    assert "no prior authorization" in caught.value.message_dict["kind"][0]

    outside = submitted(letter_world, "medicare", entered_case("medicare-no-study-enrollment"))
    appeal = denied_appeal(letter_world, outside, category="not_covered_benefit")
    with pytest.raises(ValidationError) as caught:
        letter_services.letter_request_draft(request=outside, kind="appeal", by=letter_world.alice, appeal=appeal)
    assert "Advance Beneficiary Notice" in caught.value.message_dict["appeal"][0]

    coding = submitted(letter_world, "medicare", entered_case())
    appeal = denied_appeal(letter_world, coding, category="ced_coding")
    with pytest.raises(ValidationError) as caught:
        letter_services.letter_request_draft(request=coding, kind="appeal", by=letter_world.alice, appeal=appeal)
    assert "resubmit" in caught.value.message_dict["appeal"][0]


def test_a_medicare_redetermination_carries_the_405_944_elements_and_no_peer_to_peer(letter_world):
    request = submitted(letter_world, "medicare", entered_case())
    appeal = denied_appeal(letter_world, request, category="criteria_not_met")
    text = text_of(pdf.letter_html("appeal", final_context(request, "appeal", appeal)))
    assert "Request for a redetermination" in text and "405.944(b)" in text
    for label in ("Beneficiary", "Medicare number (MBI)", "Service", "Date of service", "Claim number DN-20261120-7"):
        assert label in text, label
    assert "peer-to-peer" not in text


def test_ma_letters_cite_each_rule_for_what_it_says_and_no_ire_letter_is_drafted(letter_world):
    request = submitted(letter_world, "medicare-advantage", entered_case())
    text = text_of(pdf.letter_html("prior_authorization", final_context(request, "prior_authorization")))
    assert "(42 CFR 422.138(b))" in text and "(42 CFR 422.101(b))" in text and "422.101(b)(6)" in text
    assert "WISeR" not in text and "peer-to-peer" in text
    services.request_send(request=request, by=letter_world.alice, sent_at=timezone.now() - dt.timedelta(days=3))
    at = timezone.now() - dt.timedelta(days=2)
    services.decision_record(
        request=request,
        by=letter_world.alice,
        decision="denied",
        received_at=at,
        stated_reason="Not necessary",
        reason_category="criteria_not_met",
    )
    services.appeal_start(request=request, by=letter_world.alice, filed_at=at + dt.timedelta(hours=1))
    services.decision_record(
        request=request,
        by=letter_world.alice,
        decision="denied",
        received_at=at + dt.timedelta(hours=2),
        stated_reason="Upheld",
        reason_category="criteria_not_met",
    )
    ire = services.appeal_start(request=request, by=letter_world.alice, filed_at=at + dt.timedelta(hours=3))
    assert ire.level_order == 2
    with pytest.raises(ValidationError) as caught:
        letter_services.letter_request_draft(request=request, kind="appeal", by=letter_world.alice, appeal=ire)
    assert "forwards the case" in caught.value.message_dict["appeal"][0]


def test_the_appeal_answers_each_deficiency_with_the_patients_facts_and_the_enclosure(letter_world):
    request = submitted(letter_world, "commercial", entered_case())
    appeal = denied_appeal(
        letter_world,
        request,
        category="criteria_not_met",
        code="CO-50",
        deficiencies=[{"criterion": "conservative_care", "text": "No 6 months of conservative therapy documented"}],
    )
    text = text_of(pdf.letter_html("appeal", final_context(request, "appeal", appeal)))
    assert (
        "Requested service is not medically necessary: no 6 months of conservative therapy documented." in text
    )  # verbatim
    assert "reason code CO-50" in text
    point = text[text.index("Point 1") :]
    assert "No 6 months of conservative therapy documented" in point
    assert "8 weeks of physical therapy did not relieve her symptoms" in point
    assert "24 weeks of oral analgesics gave only partial relief" in point
    assert "records of the conservative care, enclosed" in point
    assert "peer-to-peer" in text and "Request for an internal appeal" in text


def test_a_letter_never_claims_what_the_record_does_not_show(letter_world):
    request = submitted(letter_world, "commercial", _no_care_case())
    text = text_of(pdf.letter_html("prior_authorization", final_context(request, "prior_authorization")))
    assert "Conservative care has not controlled" not in text and "No conservative care" not in text
    assert "Other payers" not in text and "Anthem" not in text and "Premera" not in text
    assert "Category III" not in text
    # The case asks for expedited review: the letter asks in the standard's own words.
    assert (
        "I ask for an expedited decision: applying the standard time frame could seriously jeopardize her health"
        in text
    )


def test_the_tricare_letter_answers_the_reliable_evidence_test_without_quoting_the_exclusion(letter_world):
    request = submitted(letter_world, "tricare", entered_case())
    text = text_of(pdf.letter_html("prior_authorization", final_context(request, "prior_authorization")))
    assert "reliable evidence" in text and "32 CFR 199.2" in text
    assert "Category III" not in text and "excludes" not in text


def test_the_payer_directory_gives_the_addressee_and_the_practice_the_letterhead(letter_world):
    practice = letter_world.practice_a
    practice.facility_name, practice.address, practice.fax, practice.tin = (
        "Lakeside Spine Center",
        "1 Main St\nAlbany, NY 12207",
        "518-555-0101",
        "12-3456789",
    )
    practice.full_clean()
    practice.save()
    request = submitted(letter_world, "commercial", entered_case())
    text = text_of(pdf.letter_html("prior_authorization", final_context(request, "prior_authorization")))
    assert text.startswith("Lakeside Spine Center 1 Main St · Albany, NY 12207")
    assert "TIN 12-3456789" in text and "Fax 518-555-0101" in text
    assert "Example Health Plan Appeals PO Box 1000 Springfield, IL 62701" in text
    assert Payer.objects.get(code="commercial").name not in text.split("Example Health Plan")[0]


def test_an_appeal_letter_keeps_the_level_terms_of_its_filing_after_an_admin_edits_the_level(letter_world):
    # Issue 12: a signed letter (and its PDF) read the live AppealLevel, so a later edit of the
    # policy rewrote what it had said. The terms are the appeal's, fixed when it is filed.
    request = submitted(letter_world, "medicare-advantage", entered_case("medicare-meets-criteria"))
    appeal = denied_appeal(letter_world, request, category="criteria_not_met")
    before = text_of(pdf.letter_html("appeal", final_context(request, "appeal", appeal)))
    level = AppealLevel.objects.get(policy__payer__code="medicare-advantage", order=appeal.level_order)
    days, decision_days = level.filing_deadline_days, level.decision_deadline_days
    assert f"It is filed within {days} days of the denial notice" in before
    assert f"A decision is due within {decision_days} days" in before

    level.filing_deadline_days, level.decision_deadline_days = days + 100, decision_days + 100
    level.review_status, level.review_reason = "unverified", "Re-checked later."
    level.save()
    level.citations.clear()
    appeal.refresh_from_db()
    after = text_of(pdf.letter_html("appeal", final_context(request, "appeal", appeal)))
    assert after == before
    assert letters.unverified_in(FakeLetter(request, "appeal", appeal), []) == []


def test_the_letter_dates_are_the_practice_days_not_the_server_ones(letter_world):
    # Renders run in a worker, outside any member's request: the letter reads the practice's zone.
    letter_world.practice_a.time_zone = "Pacific/Kiritimati"  # UTC+14
    letter_world.practice_a.save()
    request = submitted(letter_world, "medicare-advantage", entered_case("medicare-meets-criteria"))
    appeal = denied_appeal(letter_world, request, category="criteria_not_met")  # 16:00 UTC on November 20
    text = text_of(pdf.letter_html("appeal", final_context(request, "appeal", appeal)))
    assert "Denial date November 21, 2026" in text and "Denial notice of November 21, 2026" in text
    assert "November 20, 2026" not in text
