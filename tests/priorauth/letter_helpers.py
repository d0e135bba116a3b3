"""Helpers of the letter tests (imported by test_pdf.py, test_letters*.py)."""

from __future__ import annotations

import io
import json
import re

from pypdf import PdfReader

from policies.models import AppealLevel, EvidenceSource
from policies.selectors import SEED_FILE
from policies.services import letters_seed


def install_letter_texts() -> None:
    """What letters cite on top of the conftest's quick policy install: the shipped evidence, the
    appeal levels' sources, and the shipped letter texts."""

    document = json.loads(SEED_FILE.read_text(encoding="utf-8"))
    have = set(EvidenceSource.objects.values_list("key", flat=True))
    EvidenceSource.objects.bulk_create(
        EvidenceSource(**{k: e.get(k, "") for k in ("key", "kind", "certainty", "short", "citation", "url", "note")})
        for e in document["evidence"]
        if e["key"] not in have
    )
    evidence = {e.key: e for e in EvidenceSource.objects.all()}
    for entry in document["payers"]:
        for level in entry["policy"]["appeal_levels"]:
            row = AppealLevel.objects.filter(policy__payer__code=entry["code"], order=level["order"]).first()
            if row is not None:
                row.citations.set([evidence[k] for k in level.get("citations", [])])
    letters_seed()


def flat(text: str) -> str:
    """Whitespace as one space; a word broken after its own hyphen at a line end joined again."""
    return re.sub(r"-\s+", "-", re.sub(r"\s+", " ", text))


def squash(text: str) -> str:
    """Without any whitespace: table cells wrap their text at any space or slash."""
    return re.sub(r"\s+", "", text)


def pdf_text(content: bytes) -> str:
    return flat("\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages))
