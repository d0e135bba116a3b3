"""Validation of a policy document (docs/policy-format.md) before anything is written."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from coverage.operators import criterion_spec_errors, template_path_errors
from policies.models import Certainty, EvidenceSource, Payer, ReviewStatus

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
    return errors


def document_errors(doc: Any, *, known_evidence: set[str] = frozenset()) -> list[tuple[str, str]]:
    """(dotted path, message) for every problem; [] when the document can be imported."""
    if not isinstance(doc, dict):
        return [("(root)", "must be a JSON object")]
    errors: list[tuple[str, str]] = []
    if doc.get("format") != FORMAT:
        errors.append(("format", f"must be {FORMAT!r}"))
    evidence = doc.get("evidence", [])
    keys = set(known_evidence)
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
        else:
            keys.add(e["key"])
        if e.get("kind") not in EvidenceSource.Kind.values:
            errors.append((f"{at}.kind", f"must be one of: {', '.join(EvidenceSource.Kind.values)}"))
        if e.get("certainty") not in Certainty.values:
            errors.append((f"{at}.certainty", "must be H, M or L"))
        for name in ("short", "citation"):
            if not _text(e.get(name)):
                errors.append((f"{at}.{name}", "must be a non-empty text"))

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
        errors.extend(cite_errors(c.get("citations", []), f"{cat}.citations"))
        if c.get("key") in seen:
            errors.append((f"{cat}.key", f"duplicate criterion {c.get('key')!r}"))
        seen.add(c.get("key"))
    clinical = {c.get("key") for c in criteria if isinstance(c, dict) and c.get("section") == "clinical"}
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
        errors.extend(cite_errors(a.get("citations", []), f"{aat}.citations"))
    return errors
