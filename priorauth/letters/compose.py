"""What letters say: the narrative paragraphs a draft starts from, and the template context.

Two steps, so that a physician's edits survive: `draft_paragraphs` composes the editable narrative
(from the case and the registry's claims, coverage paragraphs and rebuttals) when a draft is
requested, and the revision stores it; `build_context` turns a revision's paragraphs plus the
stored case, determination and payer decision into the context of templates/letters/<kind>.html,
numbering the references in order of first citation.

A paragraph is {"key", "heading", "sentences": [{"text", "citations": [evidence keys], "note"}],
"items": [...]}. Every sentence taken from an EvidenceClaim carries that claim's citations; "note"
is set while the claim is unverified, and drafts show it for the physician to check.
"""

from __future__ import annotations

from typing import Any

from coverage.case_format import choices_of
from coverage.operators import render_template_paths
from policies import selectors as registry
from policies.models import EvidenceClaim, EvidenceSource, Payer
from priorauth.letters import facts

PRIOR_AUTHORIZATION, APPEAL = "prior_authorization", "appeal"
TITLES = {
    PRIOR_AUTHORIZATION: "Prior authorization request and letter of medical necessity",
    APPEAL: "Appeal of a denied prior authorization",
}
# Each program's own instrument (domain.md §3, §5). Original Medicare has no prior-authorization
# letter at all (letter_services refuses it); its appeals are claim appeals.
PA_TITLES = {
    "medicare_advantage": "Request for an organization determination (prior authorization)",
    "va": "Request for Service: mild® Procedure",
    "tricare": "Request for prior authorization",
    "ihs": "Request for Purchased/Referred Care approval",
    "commercial": "Prior authorization request and letter of medical necessity",
}
PA_REQUEST_WORDS = {
    "medicare_advantage": "an organization determination approving",
    "va": "authorization by VA of",
    "ihs": "Purchased/Referred Care approval of",
}
APPEAL_OPENINGS = {
    "medicare": "I request a redetermination of the initial determination on the claim identified above, under 42 CFR 405.944(b), for the reasons below.",
    "medicare_advantage": "I request a plan reconsideration of the adverse organization determination identified above, for the reasons below.",
    "tricare": "I request a reconsideration of the determination identified above under 32 CFR 199.10, for the reasons below.",
    "va": "I ask the community care office to reconsider the decision identified above and to authorize the care requested, for the reasons below.",
    "ihs": "I request a reconsideration of the Purchased/Referred Care denial identified above under 42 CFR 136.25, for the reasons below.",
    "commercial": "I request {level} of the adverse benefit determination identified above, for the reasons below.",
}
# A peer-to-peer discussion with the plan's reviewer exists in Medicare Advantage and commercial
# plans; Original Medicare appeals (42 CFR 405 subpart I) and the federal programs have none.
PEER_TO_PEER_PROGRAMS = {"medicare_advantage", "commercial"}
# Request-details rows whose value repeats in every page's header or footer (print.css).
RUNNING = {"Patient": "patient", "Reference": "reference", "Beneficiary": "patient"}
# The setting as a sentence names it (the case format's words: coverage/case_format.py).
SETTINGS = {c.value: c.phrase for c in choices_of("procedure.setting")}
CARE_NAMES = facts.CARE_NAMES

_get = facts.get
long_date = facts.long_date
_join = facts.join
patient_name = facts.patient_name


def with_article(name: str) -> str:
    """ "an internal appeal", "a redetermination": a level's name inside a sentence."""
    lowered = name[:1].lower() + name[1:] if not name[:3].isupper() else name
    return f"{'an' if lowered[:1] in 'aeiou' else 'a'} {lowered}"


def _in_sentence(name: str) -> str:
    """ "The health plan" -> "the health plan" after "decided by"."""
    return name[:1].lower() + name[1:] if name.split(" ", 1)[0] in ("The", "An", "A") else name


def diagnoses_text(case: dict[str, Any]) -> str:
    codes = _get(case, "diagnoses", [])
    return "; ".join(f"{c} {facts.icd10_description(c)}".strip() for c in codes)


def _sentence(text: str, citations: list[str] | tuple[str, ...] = (), note: str = "") -> dict[str, Any]:
    return {"text": text, "citations": list(citations), "note": note}


def claim_sentence(claim: EvidenceClaim) -> dict[str, Any]:
    note = claim.review_reason if claim.review_status != "verified" else ""
    return _sentence(claim.text, [e.key for e in claim.citations.all()], note)


def _paragraph(
    key: str, heading: str, sentences: list[dict[str, Any]], items: list[str] | None = None
) -> dict[str, Any]:
    return {"key": key, "heading": heading, "sentences": sentences, "items": items or []}


def _framed(
    key: str, record, claims_sentences: list[dict[str, Any]], extra: list[dict[str, Any]] = ()
) -> dict[str, Any]:
    sentences = [_sentence(record.lead)] if record.lead else []
    sentences += list(extra) + claims_sentences
    if record.closing:
        sentences.append(_sentence(record.closing))
    return _paragraph(key, record.heading, sentences)


def _record_claims(record) -> list[dict[str, Any]]:
    return [claim_sentence(link.claim) for link in record.claim_links.all()]


# ---------------------------------------------------------------------------------------------
# Drafting the narrative: only the patient's documented facts and the evidence (issue 11)


def clinical_summary(case: dict[str, Any]) -> dict[str, Any]:
    return _paragraph("clinical_summary", "Clinical summary", facts.clinical_facts(case))


def conservative_care(case: dict[str, Any]) -> dict[str, Any] | None:
    """The care tried and what it did; None when the case records none (staff see that finding;
    the payer's letter says nothing it cannot show)."""
    sentences = facts.conservative_care(case, facts.Person(case))
    return _paragraph("conservative_care", "Conservative care", sentences) if sentences else None


def _claims(keys: list[str]) -> list[dict[str, Any]]:
    claims = {c.key: c for c in EvidenceClaim.objects.filter(key__in=keys).prefetch_related("citations")}
    return [claim_sentence(claims[k]) for k in keys if k in claims]


def _criterion(determination: dict[str, Any], key: str) -> dict[str, Any] | None:
    for section in ("clinical", "payer_rules"):
        for c in determination.get(section, {}).get("criteria", []):
            if c.get("key") == key:
                return c
    return None


def _study_sentences(case: dict[str, Any], determination: dict[str, Any]) -> list[dict[str, Any]]:
    """The CED sentence, only when the policy's study-enrollment criterion is met by this case (the
    approved study list is the criterion's value in the registry, not a literal here)."""
    c = _criterion(determination, "ced_study_enrollment")
    if c is None or c.get("status") != "met":
        return []
    return facts.study_enrollment(case, facts.Person(case), study=_get(case, "administrative.clinical_study_nct", ""))


def _patient_sentence(record, case: dict[str, Any]) -> list[dict[str, Any]]:
    """A coverage paragraph's sentence about the case, only when the case has every field it names:
    its fallback is for staff, never printed to the payer."""
    if not record.patient_sentence:
        return []
    absent = "\x00absent\x00"
    text = render_template_paths(record.patient_sentence, case, absent)
    return [] if absent in text else [_sentence(text)]


def coverage_paragraphs(
    case: dict[str, Any], payer: Payer, determination: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    out = []
    for record in registry.coverage_paragraphs_for(payer):
        sentences = [_sentence(record.lead)] if record.lead else []
        sentences += _record_claims(record)
        sentences += _patient_sentence(record, case)
        if record.closing:
            sentences.append(_sentence(record.closing))
        out.append(_paragraph(f"coverage_{record.key}", record.heading or "Coverage basis", sentences))
    study = _study_sentences(case, determination or {})
    if study and out:
        out[0]["sentences"] += study
    return out


def patient_evidence(case: dict[str, Any], determination: dict[str, Any]) -> list[dict[str, Any]]:
    """The patient's own facts (composed from the case), for a rebuttal that cites them."""
    sentences = facts.clinical_facts(case) + facts.conservative_care(case, facts.Person(case))
    return sentences


def _program(payer: Payer) -> str:
    return payer.program


def _peer_to_peer(payer: Payer) -> bool:
    return _program(payer) in PEER_TO_PEER_PROGRAMS


def prior_authorization_paragraphs(
    *, case: dict[str, Any], determination: dict[str, Any], payer: Payer, facility: str
) -> list[dict[str, Any]]:
    name = patient_name(case)
    who = facts.Person(case)
    cpt = _get(case, "procedure.cpt", "0275T")
    levels = facts.level_text(_get(case, "procedure.levels", []))
    planned = long_date(_get(case, "procedure.planned_date"))
    request_words = PA_REQUEST_WORDS.get(_program(payer), "prior authorization of")
    opening = _paragraph(
        "opening",
        "",
        [
            _sentence(
                f"I am writing on behalf of my patient, {name}, to request {request_words} the mild® Procedure "
                f"(percutaneous image-guided lumbar decompression, CPT {cpt}){' at ' + levels if levels else ''}"
                f"{', planned for ' + planned if planned else ''} at {facility}."
            ),
        ],
    )
    paragraphs = [opening, clinical_summary(case)]
    care = conservative_care(case)
    if care is not None:
        paragraphs.append(care)
    necessity: list[dict[str, Any]] = []
    if facts.care_failed(case):
        necessity.append(
            _sentence(
                f"Conservative care has not controlled {who.possessive} symptoms, and the mild® Procedure is the next step before open surgery or an implant."
            )
        )
        necessity += _claims(["ps-algorithm"])
    if necessity:
        paragraphs.append(_paragraph("medical_necessity", "Why this procedure now", necessity))
    coverage = coverage_paragraphs(case, payer, determination)
    said = {s["text"] for p in coverage for s in p["sentences"]} | {s["text"] for s in necessity}
    evidence = [s for s in (claim_sentence(c) for c in registry.evidence_summary_claims()) if s["text"] not in said]
    closing = [_sentence("I ask that this request be approved.")]
    if _get(case, "administrative.expedited") is True:
        # The expedited standard's own words (MA: 42 CFR 422.570; ERISA urgent care: 2560.503-1(m)(1)).
        closing.insert(
            0,
            _sentence(
                f"I ask for an expedited decision: applying the standard time frame could seriously jeopardize {who.possessive} health or ability to regain maximum function."
            ),
        )
    if _peer_to_peer(payer):
        closing.append(
            _sentence(
                "If any question remains, I request a peer-to-peer discussion with the reviewing physician before a decision is made."
            )
        )
    return [*paragraphs, *coverage, _paragraph("evidence", "Evidence", evidence), _paragraph("closing", "", closing)]


def _point_paragraphs(
    case: dict[str, Any], deficiencies: list[dict[str, Any]], determination: dict[str, Any]
) -> list[dict[str, Any]]:
    """One paragraph per deficiency the denial names: its words, this patient's facts that answer
    it, and the enclosure that proves them."""
    out = []
    for n, d in enumerate(deficiencies, start=1):
        key = d.get("criterion") or ""
        said = (d.get("text") or "").strip()
        sentences = []
        if said:
            sentences.append(_sentence(f"The notice states: \u201c{said.rstrip('.')}.\u201d"))
        answer = facts.criterion_facts(case, key) if key else []
        sentences += answer
        enclosure = facts.criterion_enclosure(key, case) if key else ""
        if answer and enclosure:
            sentences.append(_sentence(f"This is documented in {enclosure}, enclosed."))
        if len(sentences) <= (1 if said else 0):
            continue  # nothing in the record answers it: the physician writes the answer
        # Headed by the topic in plain words, never by the rule's label (it may carry "(advisory)").
        topic = facts.criterion_topic(key) if key else ""
        heading = f"Point {n}: {topic}" if topic else f"Point {n}"
        out.append(_paragraph(f"point_{n}", heading, sentences))
    return out


def appeal_paragraphs(
    *,
    case: dict[str, Any],
    determination: dict[str, Any],
    payer: Payer,
    category: str,
    deficiencies: list[dict[str, Any]] | None = None,
    level_name: str = "",
) -> list[dict[str, Any]]:
    name = patient_name(case)
    out = []
    opening = APPEAL_OPENINGS.get(_program(payer), "I ask for {level} of the denial described above.")
    out.append(_paragraph("opening", "", [_sentence(opening.format(level=with_article(level_name or "review")))]))
    out += _point_paragraphs(case, deficiencies or [], determination)
    for record in registry.rebuttal_paragraphs_for(payer, category):
        extra = []
        if record.cites_patient_evidence:
            extra += patient_evidence(case, determination)
        if record.lists_enclosures:
            extra.append(_sentence("The enclosed documents are listed at the end of this letter."))
        out.append(_framed(f"rebuttal_{record.key}", record, _record_claims(record), extra))
    for p in out:
        if p["key"].startswith("rebuttal_"):
            p["heading"] = p["heading"] or "Why the denial should be reversed"
    keys = {p["key"] for p in out}
    if "rebuttal_criteria-not-met" not in keys and not any(k.startswith("point_") for k in keys):
        out.append(clinical_summary(case))
        care = conservative_care(case)
        if care is not None:
            out.append(care)
    if _peer_to_peer(payer):
        out.append(
            _paragraph(
                "peer_to_peer",
                "Request for peer-to-peer review",
                [
                    _sentence(
                        "I request a peer-to-peer discussion with a physician reviewer of the same or a similar specialty before a decision is made on this appeal."
                    )
                ],
            )
        )
    out.append(
        _paragraph(
            "closing", "", [_sentence(f"I ask that the denial be reversed and the mild® Procedure covered for {name}.")]
        )
    )
    return out


def default_enclosures(*, case: dict[str, Any], denial_date: Any) -> list[str]:
    when = long_date(denial_date)
    items = [f"Denial notice of {when}" if when else "Denial notice"]
    items.append("Office notes documenting the symptoms, their duration and the pain and function scores")
    img = _get(case, "clinical.imaging", {})
    if img:
        date = long_date(_get(img, "date"))
        items.append(f"{_get(img, 'modality', 'Imaging')} report" + (f" of {date}" if date else ""))
    care = _get(case, "clinical.conservative_care", [])
    if care:
        items.append(
            "Records of conservative care: " + _join([facts.CARE_NAMES.get(i.get("type"), "other") for i in care])
        )
    items.append('NYSIPP Position Statement, "mild® Procedure", January 31, 2024')
    items.append("Copies of the references cited")
    return items


# ---------------------------------------------------------------------------------------------
# The template context


class _References:
    """Numbers evidence keys in order of first citation."""

    def __init__(self, evidence: dict[str, dict[str, Any]]):
        self.evidence = evidence
        self.numbers: dict[str, int] = {}

    def cite(self, keys: list[str]) -> list[int]:
        refs = []
        for key in keys:
            if key not in self.numbers:
                self.numbers[key] = len(self.numbers) + 1
            if self.numbers[key] not in refs:
                refs.append(self.numbers[key])
        return sorted(refs)

    def listing(self) -> list[dict[str, Any]]:
        out = []
        for key, number in self.numbers.items():
            ev = self.evidence.get(key, {})
            out.append(
                {
                    "number": number,
                    "key": key,
                    "short": ev.get("short") or key,
                    "citation": ev.get("citation", ""),
                    "url": ev.get("url", ""),
                }
            )
        return out


def _split_end(text: str) -> tuple[str, str]:
    text = text.strip()
    if text and text[-1] in ".!?:":
        return text[:-1], text[-1]
    return text, ""


def _render_sentences(
    sentences: list[dict[str, Any]], refs: _References, unverified: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    out = []
    for s in sentences:
        body, end = _split_end(s["text"])
        item = {"body": body, "end": end, "refs": refs.cite(s.get("citations", [])), "note": s.get("note", "")}
        if item["note"]:
            unverified.append({"text": s["text"], "note": item["note"]})
            item["check"] = len(unverified)
        out.append(item)
    return out


def evidence_entries(snapshot: dict[str, Any] | None, keys: set[str]) -> dict[str, dict[str, Any]]:
    """Citation texts: the policy version's frozen evidence, and the registry's for the rest."""
    evidence = dict((snapshot or {}).get("evidence", {}))
    wanted = keys - evidence.keys()
    if wanted:
        for ev in EvidenceSource.objects.filter(key__in=wanted):
            evidence[ev.key] = {"short": ev.short, "citation": ev.citation, "url": ev.url}
    return evidence


def paragraph_citation_keys(paragraphs: list[dict[str, Any]]) -> set[str]:
    return {k for p in paragraphs for s in p.get("sentences", []) for k in s.get("citations", [])}


def build_context(
    *,
    kind: str,
    case: dict[str, Any],
    determination: dict[str, Any],
    snapshot: dict[str, Any] | None,
    paragraphs: list[dict[str, Any]],
    payer: dict[str, Any],
    practice: dict[str, str],
    physician: dict[str, str],
    facility: str,
    reference: str,
    letter_date: Any,
    draft: bool,
    revision_number: int,
    signature: dict[str, Any],
    denial: dict[str, Any] | None = None,
    appeal: dict[str, Any] | None = None,
    enclosures: list[str] | None = None,
    addressee: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The payer-facing letter's context: the addressee, the request details, the narrative (the
    patient's facts and the evidence), the appeal level for an appeal, references. Nothing a check
    finds for staff (statuses, unverified notes) is in it: those are `staff_findings`."""
    evidence = evidence_entries(snapshot, paragraph_citation_keys(paragraphs))
    refs = _References(evidence)
    unverified: list[dict[str, Any]] = []
    program = payer.get("program", "")

    def paragraph_block(p: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "paragraph",
            "key": p["key"],
            "heading": p.get("heading", ""),
            "sentences": _render_sentences(p.get("sentences", []), refs, unverified),
            "items": p.get("items", []),
        }

    blocks: list[dict[str, Any]] = []
    if kind == APPEAL:
        blocks.append(
            denial_block(
                denial or {}, payer={**payer, "name": (addressee or {}).get("name") or payer.get("name", "")}, case=case
            )
        )
        blocks += [paragraph_block(p) for p in paragraphs if p["key"] != "closing"]
        blocks.append(appeal_level_block(appeal or {}, refs, unverified))
        blocks += [paragraph_block(p) for p in paragraphs if p["key"] == "closing"]
    else:
        blocks = [paragraph_block(p) for p in paragraphs]

    name = patient_name(case)
    levels = facts.level_text(_get(case, "procedure.levels", []))
    procedure = f"mild® Procedure, CPT {_get(case, 'procedure.cpt', '0275T')}" + (f", {levels}" if levels else "")
    medicare_claim = kind == APPEAL and program == "medicare"
    rows = [
        ("Beneficiary" if medicare_claim else "Patient", name),
        ("Date of birth", long_date(_get(case, "patient.birth_date"))),
        ("Medicare number (MBI)" if medicare_claim else "Member ID", _get(case, "patient.member_id", "")),
        ("Payer", (addressee or {}).get("name") or payer.get("name", "")),
        ("Treating physician", f"{physician['name']}, NPI {physician['npi']}"),
        ("Facility", facility),
        ("Service" if medicare_claim else "Procedure", procedure),
        (
            "Date of service" if medicare_claim else "Planned date",
            long_date(_get(case, "administrative.date_of_service") or _get(case, "procedure.planned_date")),
        ),
        ("ICD-10-CM", diagnoses_text(case)),
    ]
    if kind == APPEAL and denial:
        number = denial.get("number", "")
        rows.append(("Claim number" if medicare_claim else "Denial reference", number))
        rows.append(("Denial date", long_date(denial.get("date"))))
        if appeal and appeal.get("name"):
            rows.append(("Appeal level", appeal["name"]))
    rows.append(("Our reference", reference))
    title = TITLES[kind]
    if kind == PRIOR_AUTHORIZATION:
        title = PA_TITLES.get(program, title)
    elif appeal and appeal.get("name"):
        title = f"Request for {with_article(appeal['name'])}"
    return {
        "kind": kind,
        "title": title,
        "draft": draft,
        "revision_number": revision_number,
        "letter_date": long_date(letter_date),
        "patient": {"name": name, "birth_date": long_date(_get(case, "patient.birth_date"))},
        "payer": payer,
        "addressee": addressee or {},
        "practice": practice,
        "physician": physician,
        "reference": reference,
        # A row the case leaves empty is left out, never printed as "not documented".
        "facts": [
            {
                "label": label,
                "value": value,
                "running": RUNNING.get(label, "") if label != "Our reference" else "reference",
            }
            for label, value in rows
            if value
        ],
        "blocks": blocks,
        "references": refs.listing(),
        "unverified": unverified,
        "signature": signature,
        "appeal": appeal or {},
        "enclosures": enclosures or [],
    }


def denial_block(denial: dict[str, Any], *, payer: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    when = long_date(denial.get("date"))
    number = f" (reference {denial['number']})" if denial.get("number") else ""
    code = denial.get("code", "")
    return {
        "type": "denial",
        "text": f"{'On ' + when + ', ' if when else ''}{payer.get('name', 'the plan')} denied coverage of the mild® Procedure for {patient_name(case)}{number}.",
        "stated_reason": denial.get("stated_reason", ""),
        "code": code,
    }


def appeal_level_block(appeal: dict[str, Any], refs: _References, unverified: list[dict[str, Any]]) -> dict[str, Any]:
    """The level, who decides it and its deadlines, from the policy's appeal level (with its sources).
    Only what the level's record states; nothing is said where it gives no figure."""
    keys = appeal.get("citations", [])
    note = appeal.get("review_reason", "") if appeal.get("review_status") == "unverified" else ""
    name = appeal.get("name", "")
    sentences = []
    if name:
        sentences.append(
            _sentence(
                f"This is a request for {with_article(name)}"
                + (f", decided by {_in_sentence(appeal['decided_by'])}" if appeal.get("decided_by") else "")
                + ".",
                keys,
                note,
            )
        )
    if appeal.get("filing_deadline_days"):
        due = f", that is by {long_date(appeal['filing_deadline'])}" if appeal.get("filing_deadline") else ""
        sentences.append(
            _sentence(
                f"It is filed within {appeal['filing_deadline_days']} days of the denial notice{due}.", keys, note
            )
        )
    if appeal.get("expedited") and appeal.get("expedited_decision_hours"):
        sentences.append(
            _sentence(
                f"I ask for an expedited decision: applying the standard time frame could seriously jeopardize {PATIENT_HEALTH}; an expedited decision is due within {appeal['expedited_decision_hours']} hours.",
                keys,
                note,
            )
        )
    elif appeal.get("decision_deadline_days"):
        sentences.append(_sentence(f"A decision is due within {appeal['decision_deadline_days']} days.", keys, note))
    return {
        "type": "appeal_level",
        "heading": "Appeal level and deadline",
        "sentences": _render_sentences(sentences, refs, unverified),
    }


PATIENT_HEALTH = "the patient's health or ability to regain maximum function"


# ---------------------------------------------------------------------------------------------
# What staff and the physician see (never the payer): the signing gate's findings


def required_gaps(determination: dict[str, Any]) -> list[dict[str, str]]:
    """Each required criterion the stored determination finds not met or not documented."""
    out = []
    for section in ("clinical", "payer_rules"):
        for c in determination.get(section, {}).get("criteria", []):
            if c.get("required", True) and c.get("status") in ("not_met", "missing"):
                out.append(
                    {
                        "key": c.get("key", ""),
                        "label": c.get("label", ""),
                        "status": c["status"],
                        "reason": c.get("reason", ""),
                    }
                )
    return out


def advisory_findings(determination: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for section in ("clinical", "payer_rules"):
        for c in determination.get(section, {}).get("criteria", []):
            if not c.get("required", True) and c.get("status") in ("not_met", "missing"):
                out.append(
                    {
                        "key": c.get("key", ""),
                        "label": c.get("label", ""),
                        "status": c["status"],
                        "reason": c.get("reason", ""),
                    }
                )
    return out


def unverified_in(letter, paragraphs: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The draft's statements that rest on unverified sources: its sentences' notes, and the appeal
    level when its record is unverified."""
    out = [
        {"text": s["text"], "note": s["note"]}
        for p in paragraphs or []
        for s in p.get("sentences", [])
        if s.get("note")
    ]
    if letter.kind == APPEAL and letter.appeal_id:
        entry = _appeal_entry(letter.appeal)
        if entry.get("review_status") == "unverified":
            out.append({"text": f"Appeal level: {entry.get('name', '')}", "note": entry.get("review_reason", "")})
    return out


def staff_findings(letter, revision) -> dict[str, Any]:
    """What the request and draft pages show before signing."""
    request = letter.request
    determination = request.determination or {}
    contact = request.payer_contact
    return {
        "gaps": required_gaps(determination),
        "advisory": advisory_findings(determination),
        "unverified": unverified_in(letter, (revision.paragraphs if revision else None) or []),
        "addressee_missing": contact is None or not contact.is_addressable,
        "contact_needs": contact.missing_fields() if contact is not None else [],
    }


# ---------------------------------------------------------------------------------------------
# From the stored records


def denial_for(appeal):
    """The denial an appeal answers: the latest one recorded before the appeal was filed."""
    return (
        appeal.request.decisions.filter(decision="denied", received_at__lte=appeal.filed_at)
        .order_by("-received_at", "-id")
        .first()
    )


def _facility(case: dict[str, Any], practice) -> str:
    named = _get(case, "administrative.facility")
    if isinstance(named, str) and named.strip():
        return named.strip()
    name = practice.letterhead_name if hasattr(practice, "letterhead_name") else str(practice)
    setting = SETTINGS.get(_get(case, "procedure.setting"), "")
    return f"{name}, {setting}" if setting else name


def draft_for(letter) -> tuple[list[dict[str, Any]], list[str]]:
    """The first draft's narrative and enclosures, from the request's stored case and determination."""
    request = letter.request
    case, determination = request.case, request.determination or {}
    if letter.kind == APPEAL:
        denial = denial_for(letter.appeal)
        deficiencies = (denial.deficiencies if denial else None) or []
        paragraphs = appeal_paragraphs(
            case=case,
            determination=determination,
            payer=request.payer,
            category=(denial.reason_category if denial else "") or "other",
            deficiencies=deficiencies,
            level_name=letter.appeal.level_name,
        )
        practice = request.practice  # its calendar days, not UTC's nor the server's
        enclosures = default_enclosures(
            case=case, denial_date=practice.localdate(denial.received_at) if denial else None
        )
        enclosures += [
            f"{a.get_kind_display()} uploaded {long_date(practice.localdate(a.uploaded_at))}"
            for a in request.attachments.order_by("uploaded_at", "id")
        ]
        return paragraphs, enclosures
    return prior_authorization_paragraphs(
        case=case, determination=determination, payer=request.payer, facility=_facility(case, request.practice)
    ), []


def _appeal_entry(appeal) -> dict[str, Any]:
    """The appeal level as the appeal's letters state it: the terms copied when the appeal was filed
    (Appeal.level_terms), never the live AppealLevel an admin may have edited since."""
    return {
        "order": appeal.level_order,
        "name": appeal.level_name,
        "decided_by": appeal.decided_by,
        "filing_deadline": appeal.filing_deadline,
        "expedited": appeal.expedited,
        **(appeal.level_terms or {}),
    }


def _letterhead(practice) -> dict[str, Any]:
    lines = [line.strip() for line in (practice.address or "").splitlines() if line.strip()]
    contact = []
    if practice.phone:
        contact.append(f"Phone {practice.phone}")
    if practice.fax:
        contact.append(f"Fax {practice.fax}")
    ids = []
    if practice.npi:
        ids.append(f"NPI {practice.npi}")
    if getattr(practice, "tin", ""):
        ids.append(f"TIN {practice.tin}")
    return {
        "name": practice.letterhead_name if hasattr(practice, "letterhead_name") else practice.name,
        "address": " · ".join(lines),
        "address_lines": lines,
        "contact": " · ".join(contact),
        "ids": " · ".join(ids),
    }


def _addressee(contact) -> dict[str, Any]:
    if contact is None:
        return {}
    return {
        "name": contact.name.strip(),
        "department": contact.department.strip(),
        "address_lines": [line.strip() for line in contact.address.splitlines() if line.strip()],
        "fax": contact.fax.strip(),
        "phone": contact.phone.strip(),
    }


def letter_context(letter, revision, *, final: bool) -> dict[str, Any]:
    """The template context of one revision: its draft (final=False) or its signed final PDF."""

    from priorauth.models import Provider

    request = letter.request
    physician = {"name": request.treating_physician.name, "npi": request.treating_physician.npi}
    if final and revision.signed_by_id:
        # The signer printed is the signing user's own provider record, never the provider the
        # request names (whose link to a user may have changed since, or been forged).
        signer = Provider.objects.filter(user_id=revision.signed_by_id).first()
        physician = (
            {"name": signer.name, "npi": signer.npi}
            if signer is not None
            else {"name": revision.signed_by.get_full_name() or revision.signed_by.get_username(), "npi": ""}
        )
    denial = appeal = None
    if letter.kind == APPEAL:
        decision = denial_for(letter.appeal)
        if decision is not None:
            denial = {
                "date": request.practice.localdate(decision.received_at),
                "number": decision.payer_reference,
                "stated_reason": decision.stated_reason,
                "category": decision.reason_category,
                "code": decision.denial_code,
            }
        appeal = _appeal_entry(letter.appeal)
    # The practice's calendar and clock (a render runs in a worker, outside any member's request).
    signed_at = request.practice.localtime(revision.signed_at) if revision.signed_at else None
    letterhead = _letterhead(request.practice)
    return build_context(
        kind=letter.kind,
        case=request.case,
        determination=request.determination or {},
        snapshot=request.policy_version.snapshot if request.policy_version_id else None,
        paragraphs=revision.paragraphs or [],
        payer={"code": request.payer.code, "name": request.payer.name, "program": request.payer.program},
        practice=letterhead,
        physician=physician,
        facility=_facility(request.case, request.practice),
        reference=request.reference,
        letter_date=signed_at.date() if final and signed_at else request.practice.localdate(),
        draft=not final,
        revision_number=revision.number,
        signature={
            "signed": final,
            "signed_at": f"{long_date(signed_at)} at {signed_at:%H:%M %Z}" if signed_at else "",
        },
        denial=denial,
        appeal=appeal,
        enclosures=revision.enclosures,
        addressee=_addressee(request.payer_contact),
    )
