"""The checker: a pure function from a validated case and a compiled policy to a determination.

Nothing here touches the database. A policy snapshot (the JSON of docs/policy-format.md, as stored
in PolicyVersion.snapshot) is compiled once into closures; evaluating a case only walks dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coverage.operators import MET, MISSING, NOT_MET, ABSENT, Evaluator, compile_condition, display, render_template_paths

MEETS_CRITERIA, INCOMPLETE = "meets_criteria", "incomplete"
SECTIONS = (("clinical", "clinical"), ("payer", "payer_rules"))


class _SafeFormat(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True, slots=True)
class CompiledCriterion:
    key: str
    section: str
    label: str
    path: str
    required: bool
    value_text: str
    reasons: dict[str, str]
    citations: tuple[str, ...]
    evaluate: Evaluator


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    payer: str
    payer_name: str
    program: str
    meta: dict[str, Any]
    criteria: tuple[CompiledCriterion, ...]
    claim_requirements: tuple[tuple[str, str], ...]
    prior_authorization: dict[str, Any]
    appeal_levels: tuple[dict[str, Any], ...] = field(default=())


def compile_policy(snapshot: dict[str, Any], *, revision: int | None = None) -> CompiledPolicy:
    """Compile one stored snapshot {"payer": {...}, "evidence": {key: {...}}}."""
    payer = snapshot["payer"]
    policy = payer["policy"]
    evidence = snapshot.get("evidence", {})

    def cite(keys: list[str]) -> tuple[str, ...]:
        return tuple(evidence[k]["short"] if k in evidence else k for k in keys)

    criteria = tuple(
        CompiledCriterion(
            key=c["key"],
            section=c["section"],
            label=c["label"],
            path=c["path"],
            required=bool(c.get("required", True)),
            value_text=_value_text(c.get("value")),
            reasons={MET: c["reason_met"], NOT_MET: c["reason_not_met"], MISSING: c["reason_missing"]},
            citations=cite(c.get("citations", [])),
            evaluate=compile_condition(c["path"], c["operator"], c.get("value")),
        )
        for c in policy.get("criteria", [])
    )
    pa = dict(policy.get("prior_authorization") or {})
    return CompiledPolicy(
        payer=payer["code"],
        payer_name=payer.get("name", payer["code"]),
        program=payer.get("program", ""),
        meta={
            "code": policy["code"],
            "title": policy["title"],
            "version": str(policy["version"]),
            "effective_date": policy["effective_date"],
            "review_status": policy.get("review_status", "unverified"),
            "review_reason": policy.get("review_reason", ""),
            "revision": revision,
            "sources": list(cite(policy.get("sources", []))),
        },
        criteria=criteria,
        claim_requirements=tuple((r["text"], r.get("fallback", "")) for r in policy.get("claim_requirements", [])),
        prior_authorization={
            "required": pa.get("required"),
            "standard_decision_days": pa.get("standard_decision_days"),
            "expedited_decision_hours": pa.get("expedited_decision_hours"),
            "notes": pa.get("notes", ""),
            "review_status": pa.get("review_status", "unverified"),
            "review_reason": pa.get("review_reason", ""),
        },
        appeal_levels=tuple(
            {**level, "citations": list(cite(level.get("citations", [])))} for level in policy.get("appeal_levels", [])
        ),
    )


def _value_text(value: Any) -> str:
    if isinstance(value, dict) or (isinstance(value, list) and value and isinstance(value[0], dict)):
        return ""
    return display(value)


def section_decision(criteria: list[dict[str, Any]]) -> str:
    """not_met if any required criterion is not met; else incomplete if any is missing; else meets."""
    statuses = {c["status"] for c in criteria if c["required"]}
    if NOT_MET in statuses:
        return NOT_MET
    if MISSING in statuses:
        return INCOMPLETE
    return MEETS_CRITERIA


def evaluate(case: dict[str, Any], policy: CompiledPolicy) -> dict[str, Any]:
    """The determination for a validated case under one compiled policy."""
    sections: dict[str, list[dict[str, Any]]] = {"clinical": [], "payer": []}
    missing: list[str] = []
    for c in policy.criteria:
        status, actual, missing_paths = c.evaluate(case)
        reason = c.reasons[status].format_map(
            _SafeFormat(
                actual=display(actual) if actual is not ABSENT else "not documented",
                value=c.value_text,
                path=c.path,
                missing=", ".join(missing_paths),
            )
        )
        sections[c.section].append(
            {
                "key": c.key,
                "label": c.label,
                "status": status,
                "reason": reason,
                "required": c.required,
                "path": c.path,
                "citations": list(c.citations),
            }
        )
        if status == MISSING and c.required:
            missing.append(f"{c.label}: {reason}")

    result_sections = {}
    for section, name in SECTIONS:
        result_sections[name] = {"decision": section_decision(sections[section]), "criteria": sections[section]}
    decisions = {result_sections[name]["decision"] for _, name in SECTIONS}
    overall = NOT_MET if NOT_MET in decisions else INCOMPLETE if INCOMPLETE in decisions else MEETS_CRITERIA

    administrative = case.get("administrative") or {}
    expedited = administrative.get("expedited") is True
    pa = dict(policy.prior_authorization)
    pa["expedited_requested"] = expedited
    pa["decision_due_within"] = _decision_window(pa, expedited)

    return {
        "payer": policy.payer,
        "payer_name": policy.payer_name,
        "policy": dict(policy.meta),
        "decision": overall,
        "clinical": result_sections["clinical"],
        "payer_rules": result_sections["payer_rules"],
        "missing": missing,
        "claim_requirements": [render_template_paths(text, case, fallback) for text, fallback in policy.claim_requirements],
        "prior_authorization": pa,
        "warnings": _warnings(policy),
    }


def _decision_window(pa: dict[str, Any], expedited: bool) -> str | None:
    if expedited and pa.get("expedited_decision_hours"):
        return f"{pa['expedited_decision_hours']} hours (expedited)"
    if pa.get("standard_decision_days"):
        return f"{pa['standard_decision_days']} calendar days (standard)"
    return None


def _warnings(policy: CompiledPolicy) -> list[str]:
    """What a reader must not take as settled: the unverified parts of the policy."""
    warnings = []
    if policy.meta["review_status"] != "verified":
        warnings.append(f"Policy {policy.meta['code']} is unverified: {policy.meta['review_reason']}")
    pa = policy.prior_authorization
    if pa.get("review_status") != "verified":
        warnings.append(f"Prior-authorization rules are unverified: {pa.get('review_reason') or pa.get('notes')}")
    return warnings
