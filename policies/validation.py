"""Validation of a policy document (docs/policy-format.md) before anything is written."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from coverage.operators import criterion_spec_errors, template_path_errors
from policies.models import (
    AppealLevel,
    Certainty,
    ClaimRequirement,
    Criterion,
    DenialCategory,
    EvidenceClaim,
    EvidenceSource,
    Payer,
    Policy,
    PriorAuthRule,
    ReviewStatus,
)

FORMAT = "mild-policies/1"
# The determination always reports these clinical criteria (the case contract), so every policy has them.
CONTRACT_CLINICAL_KEYS = ("symptoms", "stenosis_level", "ligamentum_flavum", "spondylolisthesis", "conservative_care")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _text(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _count(v: Any) -> bool:
    return v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)


def _review_errors(obj: dict[str, Any], at: str) -> list[tuple[str, str]]:
    errors = []
    status = obj.get("review_status", "unverified")
    if status not in ReviewStatus.values:
        errors.append((f"{at}.review_status", f"must be one of: {', '.join(ReviewStatus.values)}"))
    elif status == "unverified" and not _text(obj.get("review_reason")):
        errors.append((f"{at}.review_reason", "must say why it is unverified"))
    elif not isinstance(obj.get("review_reason", ""), str):
        errors.append((f"{at}.review_reason", "must be a text"))
    return errors


def _optional_text_errors(obj: dict[str, Any], at: str, *names: str) -> list[tuple[str, str]]:
    # May be absent or empty, but not null or a number: the columns hold text and are never NULL.
    return [
        (f"{at}.{name}", "must be a text (may be empty)") for name in names if not isinstance(obj.get(name, ""), str)
    ]


def _field_errors(
    model: type[models.Model], obj: dict[str, Any], at: str, reported: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """What the model's own fields refuse (too long, not a URL, too many decimal places), named by
    dotted path here, so that the import refuses it before writing rather than midway. Fields with
    a problem already reported are left out (one message per problem)."""
    already = {path for path, _ in reported}
    names = {
        f.name
        for f in model._meta.concrete_fields
        if not f.is_relation and f.name in obj and f"{at}.{f.name}" not in already
    }
    try:
        model(**{n: obj[n] for n in names}).clean_fields(
            exclude=[f.name for f in model._meta.concrete_fields if f.name not in names]
        )
    except ValidationError as exc:
        return [(f"{at}.{name}", m) for name, messages in exc.message_dict.items() for m in messages]
    except (TypeError, ValueError):
        pass  # a value of the wrong type, which the checks of the document's shape report
    return []


def document_errors(doc: Any, *, known_evidence: set[str] = frozenset()) -> list[tuple[str, str]]:
    """(dotted path, message) for every problem; [] when the document can be imported."""
    if not isinstance(doc, dict):
        return [("(root)", "must be a JSON object")]
    errors: list[tuple[str, str]] = []
    if doc.get("format") != FORMAT:
        errors.append(("format", f"must be {FORMAT!r}"))
    evidence = doc.get("evidence", [])
    keys = set(known_evidence)
    listed: set[str] = set()
    if not isinstance(evidence, list):
        errors.append(("evidence", "must be a list"))
        evidence = []
    for i, e in enumerate(evidence):
        at = f"evidence.{i}"
        if not isinstance(e, dict):
            errors.append((at, "must be an object"))
            continue
        if not isinstance(e.get("key"), str) or not _SLUG.match(e["key"]):
            errors.append((f"{at}.key", "must be a slug"))
        elif e["key"] in listed:
            # The second entry would silently replace the first.
            errors.append((f"{at}.key", f"duplicate evidence key {e['key']!r}"))
        else:
            keys.add(e["key"])
            listed.add(e["key"])
        if e.get("kind") not in EvidenceSource.Kind.values:
            errors.append((f"{at}.kind", f"must be one of: {', '.join(EvidenceSource.Kind.values)}"))
        if e.get("certainty") not in Certainty.values:
            errors.append((f"{at}.certainty", "must be H, M or L"))
        for name in ("short", "citation"):
            if not _text(e.get(name)):
                errors.append((f"{at}.{name}", "must be a non-empty text"))
        errors.extend(_optional_text_errors(e, at, "url", "note"))
        errors.extend(_field_errors(EvidenceSource, e, at, errors))

    def cite_errors(value: Any, at: str) -> list[tuple[str, str]]:
        if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
            return [(at, "must be a list of evidence keys")]
        return [(at, f"unknown evidence key {k!r}") for k in value if k not in keys]

    payers = doc.get("payers", [])
    if not isinstance(payers, list):
        return errors + [("payers", "must be a list")]
    seen_codes: set[str] = set()
    for i, entry in enumerate(payers):
        at = f"payers.{i}"
        if not isinstance(entry, dict):
            errors.append((at, "must be an object"))
            continue
        code = entry.get("code")
        if not isinstance(code, str) or not _SLUG.match(code):
            errors.append((f"{at}.code", "must be a slug"))
        elif code in seen_codes:
            errors.append((f"{at}.code", f"duplicate payer {code!r}"))
        else:
            seen_codes.add(code)
        if not _text(entry.get("name")):
            errors.append((f"{at}.name", "must be a non-empty text"))
        if entry.get("program") not in Payer.Program.values:
            errors.append((f"{at}.program", f"must be one of: {', '.join(Payer.Program.values)}"))
        errors.extend(_field_errors(Payer, entry, at, errors))
        policy = entry.get("policy")
        if not isinstance(policy, dict):
            errors.append((f"{at}.policy", "must be an object"))
            continue
        errors.extend(_policy_errors(policy, f"{at}.policy", cite_errors))
    return errors


def _policy_errors(p: dict[str, Any], at: str, cite_errors) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    for name in ("code", "title"):
        if not _text(p.get(name)):
            errors.append((f"{at}.{name}", "must be a non-empty text"))
    if not (_text(p.get("version")) or (isinstance(p.get("version"), int) and not isinstance(p.get("version"), bool))):
        errors.append((f"{at}.version", "must be a non-empty text"))
    try:
        dt.date.fromisoformat(p.get("effective_date"))
    except (TypeError, ValueError):
        errors.append((f"{at}.effective_date", "must be an ISO date (YYYY-MM-DD)"))
    errors.extend(_review_errors(p, at))
    errors.extend(_field_errors(Policy, p, at, errors))
    errors.extend(cite_errors(p.get("sources", []), f"{at}.sources"))

    criteria = p.get("criteria")
    if not isinstance(criteria, list):
        errors.append((f"{at}.criteria", "must be a list"))
        criteria = []
    seen: set[str] = set()
    for j, c in enumerate(criteria):
        cat = f"{at}.criteria.{j}"
        if not isinstance(c, dict):
            errors.append((cat, "must be an object"))
            continue
        errors.extend((f"{cat}.{field}", message) for field, message in criterion_spec_errors(c))
        if not _text(c.get("label")):
            errors.append((f"{cat}.label", "must be a non-empty text"))
        if not isinstance(c.get("required", True), bool):
            errors.append((f"{cat}.required", "must be true or false"))
        errors.extend(_field_errors(Criterion, c, cat, errors))
        errors.extend(cite_errors(c.get("citations", []), f"{cat}.citations"))
        # Only a string key can be compared: a list or object in its place is unhashable.
        key = c.get("key") if isinstance(c.get("key"), str) else None
        if key is not None and key in seen:
            errors.append((f"{cat}.key", f"duplicate criterion {key!r}"))
        seen.add(key)
    clinical = {
        c["key"]
        for c in criteria
        if isinstance(c, dict) and isinstance(c.get("key"), str) and c.get("section") == "clinical"
    }
    for key in CONTRACT_CLINICAL_KEYS:
        if key not in clinical:
            errors.append((f"{at}.criteria", f"the clinical criterion {key!r} is required"))

    reqs = p.get("claim_requirements", [])
    if not isinstance(reqs, list):
        errors.append((f"{at}.claim_requirements", "must be a list"))
        reqs = []
    for j, r in enumerate(reqs):
        rat = f"{at}.claim_requirements.{j}"
        if not isinstance(r, dict) or not _text(r.get("text")):
            errors.append((f"{rat}.text", "must be a non-empty text"))
            continue
        errors.extend((f"{rat}.text", m) for m in template_path_errors(r["text"]))
        if not isinstance(r.get("fallback", ""), str):
            errors.append((f"{rat}.fallback", "must be a text"))
        errors.extend(_field_errors(ClaimRequirement, r, rat, errors))

    pa = p.get("prior_authorization")
    if pa is not None:
        pat = f"{at}.prior_authorization"
        if not isinstance(pa, dict):
            errors.append((pat, "must be an object or null"))
        else:
            if not isinstance(pa.get("required"), bool):
                errors.append((f"{pat}.required", "must be true or false"))
            for name in ("standard_decision_days", "expedited_decision_hours"):
                if not _count(pa.get(name)):
                    errors.append((f"{pat}.{name}", "must be a whole number ≥ 0 or null"))
            errors.extend(_review_errors(pa, pat))
            errors.extend(_optional_text_errors(pa, pat, "notes"))
            errors.extend(_field_errors(PriorAuthRule, pa, pat, errors))

    levels = p.get("appeal_levels", [])
    if not isinstance(levels, list):
        errors.append((f"{at}.appeal_levels", "must be a list"))
        levels = []
    orders: set[int] = set()
    for j, a in enumerate(levels):
        aat = f"{at}.appeal_levels.{j}"
        if not isinstance(a, dict):
            errors.append((aat, "must be an object"))
            continue
        order = a.get("order")
        if not (isinstance(order, int) and not isinstance(order, bool) and order >= 1):
            errors.append((f"{aat}.order", "must be a whole number ≥ 1"))
        elif order in orders:
            errors.append((f"{aat}.order", f"duplicate appeal level {order}"))
        else:
            orders.add(order)
        if not _text(a.get("name")):
            errors.append((f"{aat}.name", "must be a non-empty text"))
        for name in ("filing_deadline_days", "decision_deadline_days", "expedited_decision_hours"):
            if not _count(a.get(name)):
                errors.append((f"{aat}.{name}", "must be a whole number ≥ 0 or null"))
        amount = a.get("amount_in_controversy")
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0):
            errors.append((f"{aat}.amount_in_controversy", "must be a number ≥ 0 or null"))
        errors.extend(_review_errors(a, aat))
        errors.extend(_optional_text_errors(a, aat, "decided_by", "notes"))
        errors.extend(_field_errors(AppealLevel, a, aat, errors))
        errors.extend(cite_errors(a.get("citations", []), f"{aat}.citations"))
    return errors


# ---------------------------------------------------------------------------------------------
# Letter texts (policies/seed/letters.json)

LETTERS_FORMAT = "mild-letters/1"


def letters_document_errors(
    doc: Any,
    *,
    evidence_certainty: dict[str, str],
    payer_programs: dict[str, str],
    known_claims: set[str] = frozenset(),
) -> list[tuple[str, str]]:
    """(dotted path, message) for every problem of a letter-text document; [] when it can be loaded.

    A claim that cites an M or L source must be seeded unverified with its reason, so no letter
    presents it as settled until an admin has checked it.
    """
    if not isinstance(doc, dict):
        return [("(root)", "must be a JSON object")]
    errors: list[tuple[str, str]] = []
    if doc.get("format") != LETTERS_FORMAT:
        errors.append(("format", f"must be {LETTERS_FORMAT!r}"))

    def records(name: str) -> list[tuple[str, dict[str, Any]]]:
        items = doc.get(name, [])
        if not isinstance(items, list):
            errors.append((name, "must be a list"))
            return []
        out, seen = [], set()
        for i, item in enumerate(items):
            at = f"{name}.{i}"
            if not isinstance(item, dict):
                errors.append((at, "must be an object"))
                continue
            key = item.get("key")
            if not isinstance(key, str) or not _SLUG.match(key):
                errors.append((f"{at}.key", "must be a slug"))
            elif key in seen:
                errors.append((f"{at}.key", f"duplicate key {key!r}"))
            seen.add(key)
            if not _count(item.get("order", 0)):
                errors.append((f"{at}.order", "must be a whole number ≥ 0"))
            out.append((at, item))
        return out

    claims = records("claims")
    claim_keys = set(known_claims) | {c.get("key") for _, c in claims}
    for at, c in claims:
        if c.get("topic") not in EvidenceClaim.Topic.values:
            errors.append((f"{at}.topic", f"must be one of: {', '.join(EvidenceClaim.Topic.values)}"))
        if not _text(c.get("text")):
            errors.append((f"{at}.text", "must be a non-empty text"))
        if not isinstance(c.get("in_evidence_summary", False), bool):
            errors.append((f"{at}.in_evidence_summary", "must be true or false"))
        cites = c.get("citations")
        if not isinstance(cites, list) or not cites or not all(isinstance(k, str) for k in cites):
            errors.append((f"{at}.citations", "must be a non-empty list of evidence keys"))
            cites = []
        for k in cites:
            if k not in evidence_certainty:
                errors.append((f"{at}.citations", f"unknown evidence key {k!r}"))
        errors.extend(_review_errors(c, at))
        weak = [k for k in cites if evidence_certainty.get(k) in ("M", "L")]
        if weak and c.get("review_status", "unverified") == "verified":
            errors.append(
                (f"{at}.review_status", f"cites {', '.join(weak)} (certainty M/L): must be unverified with its reason")
            )

    def paragraph_errors(at: str, p: dict[str, Any], *, program_required: bool) -> None:
        program = p.get("program", "")
        if program not in Payer.Program.values and (program_required or program != ""):
            errors.append(
                (
                    f"{at}.program",
                    f"must be one of: {', '.join(Payer.Program.values)}" + ("" if program_required else " or empty"),
                )
            )
        payer = p.get("payer")
        if payer is not None:
            if payer not in payer_programs:
                errors.append((f"{at}.payer", f"unknown payer {payer!r}"))
            elif program and payer_programs[payer] != program:
                errors.append((f"{at}.payer", f"{payer!r} is not a {program} payer"))
        for name in ("heading", "lead", "closing"):
            if not isinstance(p.get(name, ""), str):
                errors.append((f"{at}.{name}", "must be a text"))
        keys = p.get("claims", [])
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            errors.append((f"{at}.claims", "must be a list of claim keys"))
            keys = []
        for k in keys:
            if k not in claim_keys:
                errors.append((f"{at}.claims", f"unknown claim {k!r}"))
        if len(set(keys)) != len(keys):
            errors.append((f"{at}.claims", "names a claim twice"))

    for at, p in records("coverage_paragraphs"):
        paragraph_errors(at, p, program_required=True)
        if not (p.get("claims") or _text(p.get("lead"))):
            errors.append((f"{at}.claims", "a coverage paragraph needs claims or a lead"))
        for name in ("patient_sentence", "patient_fallback"):
            value = p.get(name, "")
            if not isinstance(value, str):
                errors.append((f"{at}.{name}", "must be a text"))
            else:
                errors.extend((f"{at}.{name}", m) for m in template_path_errors(value))
    for at, p in records("rebuttals"):
        paragraph_errors(at, p, program_required=False)
        if p.get("category") not in DenialCategory.values:
            errors.append((f"{at}.category", f"must be one of: {', '.join(DenialCategory.values)}"))
        if not _text(p.get("lead")):
            errors.append((f"{at}.lead", "must be a non-empty text (it answers the stated reason)"))
        for name in ("cites_patient_evidence", "lists_enclosures"):
            if not isinstance(p.get(name, False), bool):
                errors.append((f"{at}.{name}", "must be true or false"))
    return errors
