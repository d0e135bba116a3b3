"""check(): validate a case and evaluate it under the payer's published policy."""

from __future__ import annotations

from typing import Any

from coverage.engine import evaluate
from coverage.snapshot import Snapshot, current_snapshot
from coverage.validation import FieldError, validate_case


class CaseInvalid(Exception):
    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def check(data: Any, *, payer: str | None = None, snapshot: Snapshot | None = None) -> dict[str, Any]:
    """The determination for a case, or CaseInvalid listing every bad field. Stores nothing."""
    snap = snapshot or current_snapshot()
    if payer is not None and isinstance(data, dict):
        data = {**data, "payer": payer}
    errors = validate_case(data, payer_codes=snap.policies.keys())
    if errors:
        raise CaseInvalid(errors)
    return evaluate(data, snap.policies[data["payer"]])
