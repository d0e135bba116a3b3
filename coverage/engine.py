"""The checker: a pure function from a validated case and a compiled policy to a determination.

Nothing here touches the database. A policy snapshot (the JSON of docs/policy-format.md, as stored
in PolicyVersion.snapshot) is compiled once into closures; evaluating a case only walks dicts.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from coverage.operators import MET, MISSING, NOT_MET, Evaluator, compile_condition, compile_template_paths, display

MEETS_CRITERIA, INCOMPLETE = "meets_criteria", "incomplete"
SECTIONS = (("clinical", "clinical"), ("payer", "payer_rules"))


class _SafeFormat(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


ReasonRenderer = Callable[[Any, tuple[str, ...]], str]
_PLACEHOLDERS = frozenset({"actual", "value", "path", "missing"})


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _reason_renderer(template: str, value_text: str, path: str) -> ReasonRenderer:
    """(actual, missing paths) -> the reason: template.format_map of the four placeholders.

    This runs for every criterion of every check, so the usual template (bare placeholders) is
    parsed once, here: {value} and {path} are fixed per criterion and written in, leaving a
    str.format pattern of at most the case's value ({0}) and the missing paths ({1}), each
    computed only when the template shows it.
    """
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        fields = None
    if fields is None or any(
        name is not None and (name not in _PLACEHOLDERS or spec or conversion) for _, name, spec, conversion in fields
    ):
        # Formats, conversions, unknown or malformed placeholders (the registry refuses them, an
        # older snapshot may hold them): rendered as they always were.
        def render_any(actual: Any, missing: tuple[str, ...]) -> str:
            return template.format_map(
                _SafeFormat(actual=display(actual), value=value_text, path=path, missing=", ".join(missing))
            )

        return render_any
    slots = {"actual": "{0}", "missing": "{1}", "value": _escape(value_text), "path": _escape(path)}
    pattern = "".join(_escape(literal) + (slots[name] if name is not None else "") for literal, name, _, _ in fields)
    names = {name for _, name, _, _ in fields}
    if "actual" in names and "missing" in names:
        return lambda actual, missing: pattern.format(display(actual), ", ".join(missing))
    if "actual" in names:
        return lambda actual, missing: pattern.format(display(actual))
    if "missing" in names:
        return lambda actual, missing: pattern.format("", ", ".join(missing))
    constant = pattern.format()
    return lambda actual, missing: constant


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
    render_reason: dict[str, ReasonRenderer]  # status -> the compiled reasons[status]
    # The criterion's entry in a determination, in order, less status, reason and citations:
    # copying it is cheaper than building the dict afresh for each criterion of each check.
    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    payer: str
    payer_name: str
    program: str
    meta: dict[str, Any]
    criteria: tuple[CompiledCriterion, ...]
    claim_requirements: tuple[tuple[str, str], ...]
    render_claim_requirements: tuple[Callable[[dict], str], ...]  # the compiled claim_requirements
    prior_authorization: dict[str, Any]
    appeal_levels: tuple[dict[str, Any], ...] = field(default=())
    # What every determination under this policy repeats, worked out once (__post_init__): its
    # warnings, and its prior_authorization entry for a standard and for an expedited request.
    warnings: tuple[str, ...] = field(init=False)
    prior_authorization_answers: tuple[dict[str, Any], dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "warnings", tuple(_warnings(self)))
        answers = []
        for expedited in (False, True):
            pa = dict(self.prior_authorization)
            pa["expedited_requested"] = expedited
            pa["decision_due_within"] = _decision_window(pa, expedited)
            answers.append(pa)
        object.__setattr__(self, "prior_authorization_answers", tuple(answers))


def compile_policy(snapshot: dict[str, Any], *, revision: int | None = None) -> CompiledPolicy:
    """Compile one stored snapshot {"payer": {...}, "evidence": {key: {...}}}."""
    payer = snapshot["payer"]
    policy = payer["policy"]
    evidence = snapshot.get("evidence", {})

    def cite(keys: list[str]) -> tuple[str, ...]:
        return tuple(evidence[k]["short"] if k in evidence else k for k in keys)

    def compile_criterion(c: dict[str, Any]) -> CompiledCriterion:
        value_text = _value_text(c.get("value"))
        reasons = {MET: c["reason_met"], NOT_MET: c["reason_not_met"], MISSING: c["reason_missing"]}
        label = _label_text(c["label"], value_text)
        return CompiledCriterion(
            key=c["key"],
            section=c["section"],
            label=label,
            path=c["path"],
            required=bool(c.get("required", True)),
            value_text=value_text,
            reasons=reasons,
            citations=cite(c.get("citations", [])),
            evaluate=compile_condition(c["path"], c["operator"], c.get("value")),
            render_reason={status: _reason_renderer(text, value_text, c["path"]) for status, text in reasons.items()},
            row={
                "key": c["key"],
                "label": label,
                "status": None,
                "reason": None,
                "required": bool(c.get("required", True)),
                "path": c["path"],
                "citations": None,
            },
        )

    criteria = tuple(compile_criterion(c) for c in policy.get("criteria", []))
    claim_requirements = tuple((r["text"], r.get("fallback", "")) for r in policy.get("claim_requirements", []))
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
            # A tuple: every determination copies it, so none can change the cached policy.
            "sources": cite(policy.get("sources", [])),
        },
        criteria=criteria,
        claim_requirements=claim_requirements,
        render_claim_requirements=tuple(
            compile_template_paths(text, fallback) for text, fallback in claim_requirements
        ),
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


def _label_text(label: str, value_text: str) -> str:
    """The label with {value} filled in; any other brace (an older snapshot) is kept as written."""
    try:
        return label.format_map(_SafeFormat(value=value_text))
    except (ValueError, IndexError):
        return label


def _value_text(value: Any) -> str:
    """What {value} shows in a reason: the threshold or list; for a date rule, its years or months."""
    if isinstance(value, dict):
        for unit in ("years", "months"):
            if unit in value:
                return display(value[unit])
        return ""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return ""
    return display(value)


def section_decision(criteria: list[dict[str, Any]]) -> str:
    """not_met if any required criterion is not met; else incomplete if any is missing; else meets."""
    return _decision({c["status"] for c in criteria if c["required"]})


def _decision(required_statuses: set[str]) -> str:
    if NOT_MET in required_statuses:
        return NOT_MET
    if MISSING in required_statuses:
        return INCOMPLETE
    return MEETS_CRITERIA


def evaluate(case: dict[str, Any], policy: CompiledPolicy) -> dict[str, Any]:
    """The determination for a validated case under one compiled policy."""
    sections: dict[str, list[dict[str, Any]]] = {"clinical": [], "payer": []}
    required_statuses: dict[str, set[str]] = {"clinical": set(), "payer": set()}
    missing: list[str] = []
    for c in policy.criteria:
        status, actual, missing_paths = c.evaluate(case)
        reason = c.render_reason[status](actual, missing_paths)
        row = c.row.copy()
        row["status"] = status
        row["reason"] = reason
        row["citations"] = list(c.citations)
        sections[c.section].append(row)
        if c.required:
            required_statuses[c.section].add(status)
            if status == MISSING:
                missing.append(f"{c.label}: {reason}")

    result_sections = {}
    for section, name in SECTIONS:
        result_sections[name] = {"decision": _decision(required_statuses[section]), "criteria": sections[section]}
    decisions = {result_sections[name]["decision"] for _, name in SECTIONS}
    overall = NOT_MET if NOT_MET in decisions else INCOMPLETE if INCOMPLETE in decisions else MEETS_CRITERIA

    administrative = case.get("administrative") or {}
    expedited = administrative.get("expedited") is True
    pa = policy.prior_authorization_answers[expedited].copy()

    return {
        "payer": policy.payer,
        "payer_name": policy.payer_name,
        "policy": {**policy.meta, "sources": list(policy.meta["sources"])},
        "decision": overall,
        "clinical": result_sections["clinical"],
        "payer_rules": result_sections["payer_rules"],
        "missing": missing,
        "claim_requirements": [render(case) for render in policy.render_claim_requirements],
        "prior_authorization": pa,
        "warnings": list(policy.warnings),
    }


def _decision_window(pa: dict[str, Any], expedited: bool) -> str | None:
    if pa.get("required") is False:
        return None  # nothing is asked of the payer, so no decision is due from it
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
    if pa.get("required") is None:
        # No prior-authorization record at all: say that, not "unverified" with no reason.
        warnings.append("No prior-authorization rule is recorded for this payer")
    elif pa.get("review_status") != "verified":
        warnings.append(f"Prior-authorization rules are unverified: {pa.get('review_reason') or pa.get('notes')}")
    return warnings
