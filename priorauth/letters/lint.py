"""What must never reach a payer's letter (issue 11): the staff's findings and the machinery's
words. `letter_lint(text)` lists each internal marker found in a letter's text; the tests run it over
every letter the seeds can produce (tests/priorauth/test_letter_texts_lint.py), and the draft page
shows its findings to the physician before signing.

The payer reads the patient's facts and the evidence. Statuses ("Not met", "missing",
"(advisory)"), review notes and unverified-source notes, "an appeal should ...", field paths and
snake_case names, template names and ISO dates are what staff and the physician see on their
screens, never the payer.
"""

from __future__ import annotations

import re

# (why it is refused, pattern). Case-insensitive unless the pattern says otherwise.
MARKERS: list[tuple[str, re.Pattern[str]]] = [
    (
        "a checker status",
        re.compile(
            r"\bnot met\b|\bnot[_ ]documented\b|\bmeets_criteria\b|\bdoes_not_meet\b|\bneeds_review\b", re.IGNORECASE
        ),
    ),
    ("a checker status", re.compile(r"\bmissing\b", re.IGNORECASE)),
    ("an advisory marker", re.compile(r"\(advisory\)|\badvisory\b", re.IGNORECASE)),
    (
        "staff guidance",
        re.compile(
            r"manual verification|verification needed|confirm with the|an appeal should|unverified|not verified|review status|review_reason|\bcheck before signing\b|\(check \d+\)",
            re.IGNORECASE,
        ),
    ),
    (
        "a template or record name",
        re.compile(r"\btemplate\b|\.html\b|\{\{|\}\}|\{%|%\}|\{[a-z_]+(\.[a-z_]+)+\}", re.IGNORECASE),
    ),
    ("an ISO date", re.compile(r"\b\d{4}-\d{2}-\d{2}\b")),
    (
        "a field path",
        re.compile(
            r"\b(clinical|procedure|administrative|patient|provider|payer_rules|diagnoses)\.[a-z_]+", re.IGNORECASE
        ),
    ),
    ("a snake_case name", re.compile(r"\b[a-z0-9]+_[a-z0-9_]+\b")),
]


def letter_lint(text: str, *, payer_words: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Each internal marker in a letter's text, as "why: the words found"; [] for a clean letter.

    payer_words: the denial's own words, which the appeal quotes verbatim (a payer may well write
    "criteria not met"); they are the payer's, not ours, and are left out of the check."""
    for words in payer_words:
        if words:
            text = text.replace(words, " ")
    found = []
    for why, pattern in MARKERS:
        for m in pattern.finditer(text):
            start = max(0, m.start() - 30)
            found.append(f"{why}: {m.group(0)!r} in …{text[start : m.end() + 30]}…")
    return found
