"""check(): validate a case and evaluate it under its payer's policy in a snapshot of compiled policies.

The snapshot comes from the caller: the registry's current one is policies.snapshot.current_snapshot().
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from coverage.engine import CompiledPolicy, evaluate
from coverage.validation import FieldError, validate_case


@dataclass(frozen=True)
class Snapshot:
    """The compiled policies by payer code, and the registry generation they were compiled at."""

    generation: int
    policies: dict[str, CompiledPolicy]


class CaseInvalid(Exception):
    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def check(data: Any, *, snapshot: Snapshot, payer: str | None = None, today: date | None = None) -> dict[str, Any]:
    """The determination for a case, or CaseInvalid listing every bad field. Stores nothing. `today`
    is the day a birth date must precede: the practice's calendar day, which the caller knows (the
    machine's date when not given)."""
    if payer is not None and isinstance(data, dict):
        data = {**data, "payer": payer}
    errors = validate_case(data, payer_codes=snapshot.policies.keys(), today=today)
    if errors:
        raise CaseInvalid(errors)
    return evaluate(data, snapshot.policies[data["payer"]])
