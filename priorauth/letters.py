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

import datetime as dt
from functools import cache
from typing import Any

from coverage.operators import render_template_paths
from policies import selectors as registry
from policies.models import EvidenceClaim, EvidenceSource, Payer

PRIOR_AUTHORIZATION, APPEAL = "prior_authorization", "appeal"
TITLES = {
    PRIOR_AUTHORIZATION: "Prior authorization request and letter of medical necessity",
    APPEAL: "Appeal of a denied prior authorization",
}
STATUS_LABELS = {"met": "Met", "not_met": "Not met", "missing": "Not documented"}
CARE_NAMES = {
    "physical_therapy": "Physical therapy",
    "home_exercise": "A home exercise program",
    "oral_analgesics": "Oral analgesics",
    "epidural_steroid_injection": "Epidural steroid injection",
    "chiropractic": "Chiropractic care",
    "other": "Other conservative care",
}
CARE_OUTCOMES = {"failed": "did not relieve the symptoms", "partial": "gave only partial relief", "improved": "improved the symptoms"}
# Request-details rows whose value repeats in every page's header or footer (print.css).
RUNNING = {"Patient": "patient", "Reference": "reference"}
SETTINGS = {"hospital_outpatient": "hospital outpatient department", "asc": "ambulatory surgery center", "office": "office"}


# ---------------------------------------------------------------------------------------------
# Small readers of the case


def _get(data: Any, path: str, default: Any = None) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return default
        data = data[part]
    return default if data is None else data


def long_date(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return f"{value:%B} {value.day}, {value.year}"
    return "not documented"


def _join(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


@cache
def _icd10_description(code: str) -> str:
    import simple_icd_10_cm  # slow to import (it parses its code tables): only when a letter needs it

    try:
        return simple_icd_10_cm.get_description(code)
    except ValueError:
        return ""


def diagnoses_text(case: dict[str, Any]) -> str:
    codes = _get(case, "diagnoses", [])
    return "; ".join(f"{c} {_icd10_description(c)}".strip() for c in codes) or "not documented"


def patient_name(case: dict[str, Any]) -> str:
    return f"{_get(case, 'patient.first_name', '')} {_get(case, 'patient.last_name', '')}".strip()


def _sentence(text: str, citations: list[str] | tuple[str, ...] = (), note: str = "") -> dict[str, Any]:
    return {"text": text, "citations": list(citations), "note": note}


def claim_sentence(claim: EvidenceClaim) -> dict[str, Any]:
    note = claim.review_reason if claim.review_status != "verified" else ""
    return _sentence(claim.text, [e.key for e in claim.citations.all()], note)


def _paragraph(key: str, heading: str, sentences: list[dict[str, Any]], items: list[str] | None = None) -> dict[str, Any]:
    return {"key": key, "heading": heading, "sentences": sentences, "items": items or []}


def _framed(key: str, record, claims_sentences: list[dict[str, Any]], extra: list[dict[str, Any]] = ()) -> dict[str, Any]:
    sentences = [_sentence(record.lead)] if record.lead else []
    sentences += list(extra) + claims_sentences
    if record.closing:
        sentences.append(_sentence(record.closing))
    return _paragraph(key, record.heading, sentences)


def _record_claims(record) -> list[dict[str, Any]]:
    return [claim_sentence(link.claim) for link in record.claim_links.all()]


# ---------------------------------------------------------------------------------------------
# Drafting the narrative


def clinical_summary(case: dict[str, Any]) -> dict[str, Any]:
    name = patient_name(case)
    s = []
    types = _get(case, "clinical.symptoms.types", [])
    locations = _get(case, "clinical.symptoms.locations", [])
    if types or locations:
        when = " when standing or walking" if _get(case, "clinical.symptoms.with_standing_or_walking") is True else ""
        months = _get(case, "clinical.symptoms.duration_months")
        since = f" for {months:g} months" if isinstance(months, (int, float)) else ""
        s.append(_sentence(f"{name} has {_join(types) or 'symptoms'} in the {_join(locations) or 'lower back or legs'}{when}{since}."))
    # A fact sent as null is absent, as the contract says: each one is read with _get.
    vas, nprs, odi = (_get(case, f"clinical.pain.{key}") for key in ("vas_leg", "nprs", "odi"))
    scores = []
    if vas is not None:
        scores.append(f"leg pain of {vas:g}/100 on the visual analogue scale")
    if nprs is not None:
        scores.append(f"a numeric pain rating of {nprs:g}/10")
    if odi is not None:
        scores.append(f"an Oswestry Disability Index of {odi:g}%")
    if scores:
        s.append(_sentence(f"The patient reports {_join(scores)}."))
    imaging = _get(case, "clinical.imaging", {})
    if imaging:
        parts = [f"{_get(imaging, 'modality', 'Imaging')} of {long_date(_get(imaging, 'date'))}"]
        flavum = _get(imaging, "ligamentum_flavum_mm")
        if flavum is not None:
            parts.append(f"shows hypertrophic ligamentum flavum of {flavum:g} mm")
        levels = _get(case, "procedure.levels", [])
        level_text = f" at {_join(levels)}" if levels else ""
        s.append(_sentence(" ".join(parts) + f" with lumbar spinal stenosis{level_text}."))
    grade = _get(case, "clinical.spondylolisthesis_grade")
    if grade is not None:
        s.append(_sentence("There is no spondylolisthesis." if grade == 0 else f"Spondylolisthesis is Meyerding grade {grade}."))
    surgeries = _get(case, "clinical.prior_lumbar_surgeries")
    if surgeries == []:
        s.append(_sentence("There has been no prior lumbar surgery."))
    elif surgeries:
        done = [f"{_get(x, 'type', 'surgery').replace('_', ' ')} {_get(x, 'months_ago', '?')} months ago" for x in surgeries]
        s.append(_sentence(f"Prior lumbar surgery: {_join(done)}."))
    s.append(_sentence(f"The diagnosis is {diagnoses_text(case)}."))
    return _paragraph("clinical_summary", "Clinical summary", s)


def conservative_care(case: dict[str, Any]) -> dict[str, Any]:
    care = _get(case, "clinical.conservative_care")
    if not care:
        return _paragraph("conservative_care", "Conservative care", [_sentence("No conservative care is documented.")])
    s = []
    for item in care:
        name = CARE_NAMES.get(item.get("type"), "Conservative care")
        weeks = item.get("weeks")
        span = f" for {weeks:g} weeks" if isinstance(weeks, (int, float)) else ""
        s.append(_sentence(f"{name}{span} {CARE_OUTCOMES.get(item.get('outcome'), 'had an undocumented outcome')}."))
    if any(i.get("outcome") in ("failed", "partial") for i in care):
        s.append(_sentence("The symptoms persist despite this care."))
    return _paragraph("conservative_care", "Conservative care tried and failed", s)


def _claims(keys: list[str]) -> list[dict[str, Any]]:
    claims = {c.key: c for c in EvidenceClaim.objects.filter(key__in=keys).prefetch_related("citations")}
    return [claim_sentence(claims[k]) for k in keys if k in claims]


def coverage_paragraphs(case: dict[str, Any], payer: Payer) -> list[dict[str, Any]]:
    out = []
    for record in registry.coverage_paragraphs_for(payer):
        sentences = [_sentence(record.lead)] if record.lead else []
        sentences += _record_claims(record)
        if record.patient_sentence:
            sentences.append(_sentence(render_template_paths(record.patient_sentence, case, record.patient_fallback)))
        if record.closing:
            sentences.append(_sentence(record.closing))
        out.append(_paragraph(f"coverage_{record.key}", record.heading or "Coverage basis", sentences))
    return out


def patient_evidence(determination: dict[str, Any]) -> list[dict[str, Any]]:
    """One sentence per required criterion the patient's records meet, in the policy's own words."""
    out = []
    for section in ("clinical", "payer_rules"):
        for c in determination.get(section, {}).get("criteria", []):
            if c.get("required") and c.get("status") == "met":
                out.append(_sentence(f"{c['label']}: {c['reason'].rstrip('.')}."))
    return out


def prior_authorization_paragraphs(*, case: dict[str, Any], determination: dict[str, Any], payer: Payer, facility: str) -> list[dict[str, Any]]:
    name = patient_name(case)
    cpt = _get(case, "procedure.cpt", "0275T")
    levels = _join(_get(case, "procedure.levels", []))
    opening = _paragraph(
        "opening",
        "",
        [
            _sentence(
                f"I am writing on behalf of my patient, {name}, to request prior authorization of the mild® Procedure "
                f"(percutaneous image-guided lumbar decompression, CPT {cpt}){' at ' + levels if levels else ''}, "
                f"planned for {long_date(_get(case, 'procedure.planned_date'))} at {facility}."
            ),
            _sentence("This letter sets out the patient's history, how each coverage criterion is met, and the coverage basis for this plan."),
        ],
    )
    necessity = [
        _sentence(f"Conservative care has not controlled {name}'s symptoms, and the procedure is the next step before any open surgery or implant."),
        *_claims(["ps-algorithm", "ps-selection"]),
    ]
    if determination.get("clinical", {}).get("decision") == "meets_criteria":
        necessity.append(_sentence("Each of these criteria is met, as the table above shows."))
    coverage = coverage_paragraphs(case, payer)
    # The summary leaves out what the coverage basis or the necessity paragraph already says.
    said = {s["text"] for p in coverage for s in p["sentences"]} | {s["text"] for s in necessity}
    evidence = [s for s in (claim_sentence(c) for c in registry.evidence_summary_claims()) if s["text"] not in said]
    closing = _paragraph(
        "closing",
        "",
        [
            _sentence("I ask that this request be approved."),
            _sentence("If any question remains, I request a peer-to-peer discussion with the reviewing physician before a decision is made."),
        ],
    )
    return [
        opening,
        clinical_summary(case),
        conservative_care(case),
        _paragraph("medical_necessity", "Why this procedure now", necessity),
        *coverage,
        _paragraph("evidence", "Evidence and the NYSIPP position statement", evidence),
        closing,
    ]


def appeal_paragraphs(*, case: dict[str, Any], determination: dict[str, Any], payer: Payer, category: str) -> list[dict[str, Any]]:
    out = []
    for record in registry.rebuttal_paragraphs_for(payer, category):
        extra = []
        if record.cites_patient_evidence:
            extra += patient_evidence(determination)
        if record.lists_enclosures:
            extra.append(_sentence("The enclosed documents are listed at the end of this letter."))
        out.append(_framed(f"rebuttal_{record.key}", record, _record_claims(record), extra))
    for p in out:
        p["heading"] = p["heading"] or "Why the denial should be reversed"
    out.append(
        _paragraph(
            "peer_to_peer",
            "Request for peer-to-peer review",
            [_sentence("I request a peer-to-peer review with a physician reviewer of the same or a similar specialty before a decision is made on this appeal.")],
        )
    )
    out.append(_paragraph("closing", "", [_sentence(f"I ask that the denial be reversed and the mild® Procedure authorized for {patient_name(case)}.")]))
    return out


def default_enclosures(*, case: dict[str, Any], denial_date: Any) -> list[str]:
    items = [f"Denial notice of {long_date(denial_date)}"]
    items.append("Office notes documenting the symptoms, their duration and the pain and function scores")
    imaging = _get(case, "clinical.imaging", {})
    if imaging:
        items.append(f"{_get(imaging, 'modality', 'Imaging')} report of {long_date(_get(imaging, 'date'))}")
    care = _get(case, "clinical.conservative_care", [])
    if care:
        items.append("Records of conservative care: " + _join([CARE_NAMES.get(i.get("type"), "other").lower() for i in care]))
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
            out.append({"number": number, "key": key, "short": ev.get("short") or key, "citation": ev.get("citation", ""), "url": ev.get("url", "")})
        return out


def _split_end(text: str) -> tuple[str, str]:
    text = text.strip()
    if text and text[-1] in ".!?:":
        return text[:-1], text[-1]
    return text, ""


def _render_sentences(sentences: list[dict[str, Any]], refs: _References, unverified: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for s in sentences:
        body, end = _split_end(s["text"])
        item = {"body": body, "end": end, "refs": refs.cite(s.get("citations", [])), "note": s.get("note", "")}
        if item["note"]:
            unverified.append({"text": s["text"], "note": item["note"]})
            item["check"] = len(unverified)
        out.append(item)
    return out


def _criteria_block(determination: dict[str, Any], short_to_key: dict[str, str], refs: _References) -> dict[str, Any]:
    sections = []
    for name, title in (("clinical", "Clinical criteria (NYSIPP patient selection)"), ("payer_rules", "This payer's rules")):
        rows = []
        for c in determination.get(name, {}).get("criteria", []):
            keys = [short_to_key.get(s, s) for s in c.get("citations", [])]
            rows.append(
                {
                    "label": c["label"],
                    "status": c["status"],
                    "status_label": STATUS_LABELS.get(c["status"], c["status"]),
                    "evidence": c.get("reason", ""),
                    "required": c.get("required", True),
                    "refs": refs.cite(keys),
                }
            )
        if rows:
            sections.append({"title": title, "criteria": rows})
    return {
        "type": "criteria",
        "heading": "Coverage criteria and this patient's evidence",
        "intro": f"Each criterion of {determination.get('policy', {}).get('code', 'the policy')} with the evidence in the patient's records:",
        "sections": sections,
    }


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
    payer: dict[str, str],
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
) -> dict[str, Any]:
    snapshot_evidence = (snapshot or {}).get("evidence", {})
    short_to_key = {v.get("short"): k for k, v in snapshot_evidence.items()}
    evidence = evidence_entries(snapshot, paragraph_citation_keys(paragraphs))
    refs = _References(evidence)
    unverified: list[dict[str, Any]] = []

    def paragraph_block(p: dict[str, Any]) -> dict[str, Any]:
        return {"type": "paragraph", "key": p["key"], "heading": p.get("heading", ""),
                "sentences": _render_sentences(p.get("sentences", []), refs, unverified), "items": p.get("items", [])}

    by_key = {p["key"]: p for p in paragraphs}
    blocks: list[dict[str, Any]] = []
    if kind == APPEAL:
        blocks.append(denial_block(denial or {}, payer=payer, case=case))
        blocks += [paragraph_block(p) for p in paragraphs if p["key"].startswith("rebuttal_")]
        blocks.append(_criteria_block(determination, short_to_key, refs))
        blocks.append(appeal_level_block(appeal or {}, refs, unverified))
        blocks += [paragraph_block(p) for p in paragraphs if not p["key"].startswith("rebuttal_")]
    else:
        # The criteria table follows the clinical summary; the order of the rest is the draft's.
        for p in paragraphs:
            blocks.append(paragraph_block(p))
            if p["key"] == "clinical_summary":
                blocks.append(_criteria_block(determination, short_to_key, refs))
        if "clinical_summary" not in by_key:
            blocks.insert(min(1, len(blocks)), _criteria_block(determination, short_to_key, refs))

    name = patient_name(case)
    facts = [
        ("Patient", name),
        ("Date of birth", long_date(_get(case, "patient.birth_date"))),
        ("Member ID", _get(case, "patient.member_id", "not documented")),
        ("Payer", f"{payer['name']} — {determination.get('policy', {}).get('code', '')}".rstrip(" —")),
        ("Treating physician", f"{physician['name']}, NPI {physician['npi']}"),
        ("Facility", facility),
        ("Planned date", long_date(_get(case, "procedure.planned_date"))),
        ("Procedure", f"CPT {_get(case, 'procedure.cpt', 'not documented')}, mild® Procedure" + (f", {_join(_get(case, 'procedure.levels', []))}" if _get(case, "procedure.levels") else "")),
        ("ICD-10-CM", diagnoses_text(case)),
        ("Reference", reference),
    ]
    if kind == APPEAL and denial:
        facts += [
            ("Denial", f"{long_date(denial.get('date'))}" + (f", no. {denial['number']}" if denial.get("number") else "")),
            ("Appeal level", f"{appeal.get('order', '')}. {appeal.get('name', '')}".strip(". ") if appeal else "not documented"),
        ]
    return {
        "kind": kind,
        "title": TITLES[kind],
        "draft": draft,
        "revision_number": revision_number,
        "letter_date": long_date(letter_date),
        "patient": {"name": name, "birth_date": long_date(_get(case, "patient.birth_date"))},
        "payer": payer,
        "practice": practice,
        "physician": physician,
        "reference": reference,
        "facts": [{"label": label, "value": value, "running": RUNNING.get(label, "")} for label, value in facts],
        "blocks": blocks,
        "references": refs.listing(),
        "unverified": unverified,
        "signature": signature,
        "appeal": appeal or {},
        "enclosures": enclosures or [],
    }


def denial_block(denial: dict[str, Any], *, payer: dict[str, str], case: dict[str, Any]) -> dict[str, Any]:
    number = f" (denial no. {denial['number']})" if denial.get("number") else ""
    return {
        "type": "denial",
        "text": f"On {long_date(denial.get('date'))}, {payer['name']} denied the request for the mild® Procedure for {patient_name(case)}{number}. This letter appeals that decision.",
        "stated_reason": denial.get("stated_reason", ""),
        "category": denial.get("category", ""),
    }


def appeal_level_block(appeal: dict[str, Any], refs: _References, unverified: list[dict[str, Any]]) -> dict[str, Any]:
    """The level, who decides it and its deadlines, from the policy's appeal level (with its sources)."""
    keys = appeal.get("citations", [])
    note = appeal.get("review_reason", "") if appeal.get("review_status") == "unverified" else ""
    sentences = [_sentence(f"This is a request for {appeal.get('name', 'appeal')}" + (f", decided by {appeal['decided_by']}" if appeal.get("decided_by") else "") + f" (appeal level {appeal.get('order', '')}).", keys, note)]
    if appeal.get("filing_deadline_days"):
        due = f", that is by {long_date(appeal['filing_deadline'])}" if appeal.get("filing_deadline") else ""
        sentences.append(_sentence(f"It must be filed within {appeal['filing_deadline_days']} days of the denial notice{due}.", keys))
    elif appeal.get("filing_deadline"):
        sentences.append(_sentence(f"It is to be filed by {long_date(appeal['filing_deadline'])}."))
    else:
        sentences.append(_sentence("No fixed filing deadline applies to this level; it is filed promptly.", keys))
    if appeal.get("expedited") and appeal.get("expedited_decision_hours"):
        sentences.append(_sentence(f"Expedited review is requested: the decision is due within {appeal['expedited_decision_hours']} hours.", keys))
    elif appeal.get("decision_deadline_days"):
        sentences.append(_sentence(f"A decision is due within {appeal['decision_deadline_days']} days.", keys))
    return {"type": "appeal_level", "heading": "Appeal level and deadline", "sentences": _render_sentences(sentences, refs, unverified)}


# ---------------------------------------------------------------------------------------------
# From the stored records


def denial_for(appeal):
    """The denial an appeal answers: the latest one recorded before the appeal was filed."""
    return (
        appeal.request.decisions.filter(decision="denied", received_at__lte=appeal.filed_at)
        .order_by("-received_at", "-id")
        .first()
    )


def _facility(case: dict[str, Any], practice_name: str) -> str:
    named = _get(case, "administrative.facility")
    if isinstance(named, str) and named.strip():
        return named.strip()
    setting = SETTINGS.get(_get(case, "procedure.setting"), "")
    return f"{practice_name}, {setting}" if setting else practice_name


def draft_for(letter) -> tuple[list[dict[str, Any]], list[str]]:
    """The first draft's narrative and enclosures, from the request's stored case and determination."""
    request = letter.request
    case, determination = request.case, request.determination or {}
    if letter.kind == APPEAL:
        denial = denial_for(letter.appeal)
        paragraphs = appeal_paragraphs(
            case=case, determination=determination, payer=request.payer, category=(denial.reason_category if denial else "") or "other"
        )
        enclosures = default_enclosures(case=case, denial_date=denial.received_at if denial else None)
        enclosures += [
            f"{a.get_kind_display()} uploaded {long_date(a.uploaded_at)}" for a in request.attachments.order_by("uploaded_at", "id")
        ]
        return paragraphs, enclosures
    return prior_authorization_paragraphs(
        case=case, determination=determination, payer=request.payer, facility=_facility(case, request.practice.name)
    ), []


def _appeal_entry(appeal) -> dict[str, Any]:
    from policies.models import AppealLevel

    level = (
        AppealLevel.objects.filter(policy__payer=appeal.request.payer, order=appeal.level_order).prefetch_related("citations").first()
    )
    entry = {
        "order": appeal.level_order,
        "name": appeal.level_name,
        "decided_by": appeal.decided_by,
        "filing_deadline": appeal.filing_deadline,
        "expedited": appeal.expedited,
    }
    if level is not None:
        entry |= {
            "filing_deadline_days": level.filing_deadline_days,
            "decision_deadline_days": level.decision_deadline_days,
            "expedited_decision_hours": level.expedited_decision_hours,
            "citations": [e.key for e in level.citations.all()],
            "review_status": level.review_status,
            "review_reason": level.review_reason,
        }
    return entry


def _practice_address(practice) -> str:
    parts = [" ".join(practice.address.split())]
    if practice.phone:
        parts.append(f"Phone {practice.phone}")
    if practice.fax:
        parts.append(f"Fax {practice.fax}")
    return " · ".join(p for p in parts if p)


def letter_context(letter, revision, *, final: bool) -> dict[str, Any]:
    """The template context of one revision: its draft (final=False) or its signed final PDF."""
    from django.utils import timezone

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
                "date": timezone.localdate(decision.received_at),
                "number": decision.payer_reference,
                "stated_reason": decision.stated_reason,
                "category": decision.reason_category,
            }
        appeal = _appeal_entry(letter.appeal)
    signed_at = timezone.localtime(revision.signed_at) if revision.signed_at else None
    return build_context(
        kind=letter.kind,
        case=request.case,
        determination=request.determination or {},
        snapshot=request.policy_version.snapshot if request.policy_version_id else None,
        paragraphs=revision.paragraphs or [],
        payer={"code": request.payer.code, "name": request.payer.name},
        practice={"name": request.practice.name, "address": _practice_address(request.practice)},
        physician=physician,
        facility=_facility(request.case, request.practice.name),
        reference=request.reference,
        letter_date=signed_at.date() if final and signed_at else timezone.localdate(),
        draft=not final,
        revision_number=revision.number,
        signature={"signed": final, "signed_at": f"{long_date(signed_at)} at {signed_at:%H:%M %Z}" if signed_at else ""},
        denial=denial,
        appeal=appeal,
        enclosures=revision.enclosures,
    )
