"""The sample case, from its one file: the case contract's example (shared/contract/examples,
copied to tests/fixtures/contract/). Tests and benchmarks load it, and the other contract examples,
from here, and build their own variations from a fresh copy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONTRACT = Path(__file__).resolve().parent / "fixtures" / "contract"
SAMPLE = "medicare-meets-criteria"
SAMPLE_FILE = CONTRACT / f"{SAMPLE}.json"


def contract_example(name: str = SAMPLE) -> dict[str, Any]:
    """A fresh copy of a contract example (the sample case by default)."""
    return json.loads((CONTRACT / f"{name}.json").read_text(encoding="utf-8"))


def sample_case() -> dict[str, Any]:
    """A fresh copy of the sample case."""
    return contract_example(SAMPLE)
