"""Reading a payer's PAS response Bundle (or a bare ClaimResponse) into the payer's answer.

Read leniently, as the guide asks of a client: only what the decision needs must be there (a
ClaimResponse, a review action code or an error); anything else the payer adds or leaves out
(the Inferno must-support response, elements the strict profile would want) is ignored. What is
wrong is reported by FHIR path, and nothing is recorded (priorauth.fhir.services does the recording).

X12 306 review action codes (HCR01), as PAS carries them in extension-reviewAction.reviewActionCode:
A1 certified in total, A2 certified partial, A3 not certified, A4 pended, A6 modified, C cancelled,
CT contact payer, D deferred, NA no action required.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from priorauth.fhir.bundle import PAS

REVIEW_ACTION = PAS + "extension-reviewAction"
REVIEW_ACTION_CODE = PAS + "extension-reviewActionCode"
AUTHORIZATION_NUMBER = PAS + "extension-authorizationNumber"
PREAUTH_PERIOD = PAS + "extension-itemPreAuthPeriod"
ADMIN_REFERENCE = PAS + "extension-administrationReferenceNumber"

APPROVED_CODES = {"A1", "A2", "A6"}
DENIED_CODES = {"A3"}
PENDED_CODES = {"A4", "CT", "D"}
ACTION_LABELS = {
    "A1": "certified in total",
    "A2": "certified partial",
    "A3": "not certified",
    "A4": "pended",
    "A6": "modified",
    "CT": "contact payer",
    "D": "deferred",
}


class ResponseInvalid(Exception):
    """The response cannot be recorded; `problems` maps a FHIR path to what is wrong there."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


@dataclass
class PayerAnswer:
    decision: str  # approved / denied / pended (PayerDecision.Kind)
    action_code: str
    created: dt.datetime | None = None
    authorization_number: str = ""
    payer_reference: str = ""
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    stated_reason: str = ""
    reason_category: str = ""
    identifiers: list[str] = field(default_factory=list)  # what the response says about which request


def _ext(node: Any, url: str) -> list[dict[str, Any]]:
    if not isinstance(node, dict):
        return []
    return [e for e in node.get("extension") or [] if isinstance(e, dict) and e.get("url") == url]


def _codes(concept: Any) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [c["code"] for c in concept.get("coding") or [] if isinstance(c, dict) and isinstance(c.get("code"), str)]


def _text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if isinstance(concept.get("text"), str):
        return concept["text"]
    for c in concept.get("coding") or []:
        if isinstance(c, dict) and (c.get("display") or c.get("code")):
            return str(c.get("display") or c.get("code"))
    return ""


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _datetime(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)  # Python 3.11 reads a trailing Z
    except ValueError:
        day = _date(value)
        return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) if day else None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _review_actions(node: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(code, reviewAction extension) of each adjudication of an item (or of the response)."""
    found = []
    for adjudication in node.get("adjudication") or []:
        for action in _ext(adjudication, REVIEW_ACTION):
            for code_ext in _ext(action, REVIEW_ACTION_CODE):
                for code in _codes(code_ext.get("valueCodeableConcept")):
                    found.append((code, action))
    return found


def claim_response_of(
    payload: Any,
) -> tuple[dict[str, Any], str, dict[str, dict[str, Any]]]:
    """The ClaimResponse in a response Bundle (its first entry, or failing that any entry) or a bare
    ClaimResponse, with its FHIR path and the bundle's entries by fullUrl."""
    if not isinstance(payload, dict):
        raise ResponseInvalid({"$": "must be a JSON object: a FHIR Bundle or ClaimResponse"})
    kind = payload.get("resourceType")
    if kind == "ClaimResponse":
        return payload, "ClaimResponse", {}
    if kind == "OperationOutcome":
        raise ResponseInvalid(_outcome_problems(payload, "OperationOutcome"))
    if kind != "Bundle":
        raise ResponseInvalid({"resourceType": f"must be Bundle or ClaimResponse, found {kind!r}"})
    entries = payload.get("entry")
    if not isinstance(entries, list) or not entries:
        raise ResponseInvalid({"Bundle.entry": "a response bundle needs at least the ClaimResponse entry"})
    by_url = {}
    found = None
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise ResponseInvalid({f"Bundle.entry[{i}].resource": "missing or not a resource"})
        if isinstance(entry.get("fullUrl"), str):
            by_url[entry["fullUrl"]] = resource
        if resource.get("resourceType") == "ClaimResponse" and found is None:
            found = (resource, f"Bundle.entry[{i}].resource")
    if found is None:
        raise ResponseInvalid({"Bundle.entry": "no ClaimResponse in the bundle"})
    return found[0], found[1], by_url


def _outcome_problems(outcome: dict[str, Any], at: str) -> dict[str, str]:
    problems = {}
    for i, issue in enumerate(outcome.get("issue") or []):
        if not isinstance(issue, dict):
            continue
        text = issue.get("diagnostics") or _text(issue.get("details")) or issue.get("code") or "error"
        problems[f"{at}.issue[{i}]"] = f"the payer answered with an error: {text}"
    return problems or {at: "the payer answered with an OperationOutcome"}


def read_response(payload: Any) -> PayerAnswer:
    """The payer's answer in a PAS response, or ResponseInvalid naming what is missing or wrong."""
    claim_response, at, by_url = claim_response_of(payload)
    items = [i for i in claim_response.get("item") or [] if isinstance(i, dict)]
    ours = [i for i in items if i.get("itemSequence") == 1] or items
    actions = [a for item in ours for a in _review_actions(item)] or _review_actions(claim_response)
    errors = claim_response.get("error")
    # An error response is outcome "error", or errors with no item decided. A decided response may
    # still list errors (the kit's approval does, to exercise the must-support error elements).
    if claim_response.get("outcome") == "error" or (isinstance(errors, list) and errors and not actions):
        problems = {}
        for i, error in enumerate(errors if isinstance(errors, list) else []):
            code = error.get("code") if isinstance(error, dict) else None
            problems[f"{at}.error[{i}]"] = (
                f"the payer rejected the request: {_text(code) or 'unspecified error'} ({', '.join(_codes(code)) or 'no code'})"
            )
        raise ResponseInvalid(problems or {f"{at}.outcome": "the payer answered with outcome error"})
    if not actions:
        raise ResponseInvalid(
            {f"{at}.item.adjudication.extension": "no X12 review action code (extension-reviewAction.reviewActionCode)"}
        )
    codes = [code for code, _ in actions]
    if any(c in PENDED_CODES for c in codes):
        code = next(c for c in codes if c in PENDED_CODES)
        decision = "pended"
    elif any(c in APPROVED_CODES for c in codes):
        code = next(c for c in codes if c in APPROVED_CODES)
        decision = "approved"
    elif any(c in DENIED_CODES for c in codes):
        code, decision = "A3", "denied"
    else:
        raise ResponseInvalid(
            {
                f"{at}.item.adjudication.extension": f"review action {codes[0]!r} is not one this product records (A1, A2, A3, A4, A6, CT, D)"
            }
        )
    action = next(a for c, a in actions if c == code)
    item = next(
        (i for i in ours if any(c == code for c, _ in _review_actions(i))),
        claim_response,
    )

    answer = PayerAnswer(
        decision=decision,
        action_code=code,
        created=_datetime(claim_response.get("created")),
    )
    for ident in claim_response.get("identifier") or []:
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            answer.identifiers.append(ident["value"])
    request_ref = claim_response.get("request")
    if isinstance(request_ref, dict):
        if isinstance((request_ref.get("identifier") or {}).get("value"), str):
            answer.identifiers.append(request_ref["identifier"]["value"])
        if isinstance(request_ref.get("reference"), str):
            claim = by_url.get(request_ref["reference"])
            for ident in (claim or {}).get("identifier") or []:
                if isinstance(ident, dict) and isinstance(ident.get("value"), str):
                    answer.identifiers.append(ident["value"])
    admin = [e.get("valueString") for e in _ext(item, ADMIN_REFERENCE) if isinstance(e.get("valueString"), str)]
    answer.payer_reference = (admin[0] if admin else str(claim_response.get("id") or ""))[:64]

    reasons = []
    for sub in action.get("extension") or []:
        if isinstance(sub, dict) and sub.get("url") == "reasonCode":
            reasons.append(_text(sub.get("valueCodeableConcept")))
    notes = [
        n["text"]
        for n in claim_response.get("processNote") or []
        if isinstance(n, dict)
        and isinstance(n.get("text"), str)
        and (not item.get("noteNumber") or n.get("number") in item.get("noteNumber"))
    ]
    if decision == "approved":
        numbers = [
            e.get("valueString") for e in _ext(item, AUTHORIZATION_NUMBER) if isinstance(e.get("valueString"), str)
        ]
        number = numbers[0] if numbers else claim_response.get("preAuthRef")
        answer.authorization_number = str(number or "")[:64]
        periods = [e.get("valuePeriod") for e in _ext(item, PREAUTH_PERIOD) if isinstance(e.get("valuePeriod"), dict)]
        period = periods[0] if periods else claim_response.get("preAuthPeriod")
        if isinstance(period, dict):
            answer.valid_from, answer.valid_to = (
                _date(period.get("start")),
                _date(period.get("end")),
            )
        if code in ("A2", "A6"):
            added = [
                ", ".join(f"{c}" for c in _codes(add.get("productOrService")))
                for add in claim_response.get("addItem") or []
                if isinstance(add, dict)
            ]
            answer.stated_reason = (
                f"Approved with changes (X12 306 {code}, {ACTION_LABELS[code]})"
                + (f"; the payer authorized: {'; '.join(a for a in added if a)}" if any(added) else "")
                + (f". {' '.join(notes)}" if notes else "")
            )
    elif decision == "denied":
        answer.stated_reason = (
            "; ".join(r for r in reasons + notes if r) or "Not certified (X12 306 A3); the payer gave no reason."
        )
        answer.reason_category = "other"
    else:
        asked = []
        for ref in claim_response.get("communicationRequest") or []:
            target = by_url.get(ref.get("reference")) if isinstance(ref, dict) else None
            for payload_part in (target or {}).get("payload") or []:
                if isinstance(payload_part, dict) and isinstance(payload_part.get("contentString"), str):
                    asked.append(payload_part["contentString"])
        answer.stated_reason = (
            "; ".join(asked + reasons + notes) or f"Pended (X12 306 {code}, {ACTION_LABELS.get(code, code)})."
        )
    answer.stated_reason = answer.stated_reason[:2000]
    return answer
