"""Render time of the largest letters the input limits allow, against a typical letter: a benchmark,
not a timed test.

The typical letter is the seeded draft of a submitted Medicare request (letters.draft_for). The
largest ones fill the narrative to LETTER_MAX_TEXT_CHARS in three shapes, each accepted by the edit
path's own checks (letter_services.paragraphs_errors / enclosures_errors / narrative_length):
  - prose: paragraphs of one sentence of LETTER_MAX_SENTENCE_CHARS ordinary words,
  - items: paragraphs of LETTER_MAX_ITEMS list items of LETTER_MAX_ITEM_CHARS each,
  - unbroken: sentences of LETTER_MAX_SENTENCE_CHARS with no space to break a line at (the
    shape whose layout cost grew fastest before the limits: one 100,000-character item took 11 min),
plus LETTER_MAX_ENCLOSURES enclosures in each. Each is rendered through the worker's path
(letters.letter_context + pdf.render_letter), rounds alternating, medians; the figure to compare
is the ratio to the typical letter, and the largest render against LETTER_RENDER_SOFT_TIME_LIMIT.

    .venv/bin/python bench/letter_limits_bench.py [--rounds 3] [--json]

DATABASE_URL selects the database (see bench/project.py); without it a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.project import (
    machine,
    machine_line,
    require_seeded_registry,
    seeded_database,
    setup_django,
)

WORDS = [
    "lumbar",
    "spinal",
    "stenosis",
    "with",
    "neurogenic",
    "claudication",
    "failed",
    "conservative",
    "care",
    "documented",
    "by",
    "MRI",
]


def words(n: int) -> str:
    text, i = [], 0
    while sum(map(len, text)) + len(text) < n:
        text.append(WORDS[i % len(WORDS)])
        i += 1
    return " ".join(text)[:n].rstrip() or "x"


def largest_letters(limits: dict[str, int]) -> dict[str, tuple[list[dict], list[str]]]:
    """The three shapes, each filled to the total limit."""
    total = limits["LETTER_MAX_TEXT_CHARS"]
    enclosures = [words(limits["LETTER_MAX_ENCLOSURE_CHARS"])] * limits["LETTER_MAX_ENCLOSURES"]
    budget = total - sum(map(len, enclosures))
    sentence = limits["LETTER_MAX_SENTENCE_CHARS"]
    item = limits["LETTER_MAX_ITEM_CHARS"]

    def fill(make_paragraph, size: int) -> list[dict]:
        paragraphs, used = [], 0
        while used + size <= budget and len(paragraphs) < limits["LETTER_MAX_PARAGRAPHS"]:
            paragraphs.append(make_paragraph(len(paragraphs)))
            used += size
        return paragraphs

    per_paragraph_items = limits["LETTER_MAX_ITEMS"]
    prose = fill(
        lambda i: {
            "key": f"p{i}",
            "heading": "",
            "sentences": [{"text": words(sentence), "citations": []}],
            "items": [],
        },
        sentence,
    )
    items_size = (per_paragraph_items * item) + 2
    items = fill(
        lambda i: {
            "key": f"p{i}",
            "heading": "",
            "sentences": [{"text": "Listed.", "citations": []}],
            "items": [words(item)] * per_paragraph_items,
        },
        items_size + len("Listed."),
    )
    if not items:  # a paragraph of the most items is over the total: fewer items, same length each
        count = max(1, (budget - 10) // item)
        items = [
            {
                "key": "p0",
                "heading": "",
                "sentences": [{"text": "Listed.", "citations": []}],
                "items": [words(item)] * min(count, per_paragraph_items),
            }
        ]
    unbroken = fill(
        lambda i: {
            "key": f"p{i}",
            "heading": "",
            "sentences": [{"text": "W" * sentence, "citations": []}],
            "items": [],
        },
        sentence,
    )
    return {"prose": (prose, enclosures), "items": (items, enclosures), "unbroken": (unbroken, enclosures)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with seeded_database() as database:
        setup_django(database)
        require_seeded_registry()
        from django.conf import settings

        from bench.letters_bench import make_requests
        from priorauth.letters import compose as letters
        from priorauth.letters import pdf
        from priorauth.letters import services as letter_services
        from priorauth.letters.models import Letter, LetterRevision

        clerk, [request] = make_requests(1)
        letter = Letter.objects.create(request=request, kind="prior_authorization", created_by=clerk)
        revision = LetterRevision.objects.create(letter=letter, number=1, created_by=clerk)
        typical_paragraphs, typical_enclosures = letters.draft_for(letter)
        limits = letter_services.letter_limits()
        shapes = {"typical": (typical_paragraphs, typical_enclosures), **largest_letters(limits)}
        sizes = {}
        for name, (paragraphs, enclosures) in shapes.items():
            if name != "typical":  # each is a letter the edit path accepts
                errors = letter_services.paragraphs_errors(paragraphs, known_keys=set())
                errors.update(letter_services.enclosures_errors(enclosures))
                assert not errors, (name, list(errors.items())[:3])
                assert letter_services.narrative_length(paragraphs, enclosures) <= limits["LETTER_MAX_TEXT_CHARS"], name
            sizes[name] = letter_services.narrative_length(paragraphs, enclosures)

        def render(name: str) -> float:
            revision.paragraphs, revision.enclosures = shapes[name]
            context = letters.letter_context(letter, revision, final=False)
            started = time.perf_counter()
            content = pdf.render_letter(letter.kind, context)
            elapsed = time.perf_counter() - started
            assert content.startswith(b"%PDF")
            return elapsed

        render("typical")  # warm: fonts, stylesheet
        times: dict[str, list[float]] = {name: [] for name in shapes}
        for _ in range(args.rounds):
            for name in shapes:
                times[name].append(render(name))
        medians = {name: statistics.median(values) for name, values in times.items()}
        base = medians["typical"]
        worst = max((n for n in shapes if n != "typical"), key=medians.get)
        result = {
            "machine": machine(),
            "database": database.label,
            "rounds": args.rounds,
            "limits": limits,
            "soft_time_limit_s": settings.LETTER_RENDER_SOFT_TIME_LIMIT,
            "letters": {
                name: {
                    "characters": sizes[name],
                    "median_s": round(medians[name], 3),
                    "ratio": round(medians[name] / base, 2),
                }
                for name in shapes
            },
            "largest": worst,
            "largest_share_of_soft_limit": round(medians[worst] / settings.LETTER_RENDER_SOFT_TIME_LIMIT, 3),
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(machine_line(result["machine"]))
    print(f"database: {result['database']}; {args.rounds} rounds, medians")
    for name, figures in result["letters"].items():
        print(
            f"  {name:9} {figures['characters']:>7,} chars  {figures['median_s']:7.3f} s  = {figures['ratio']:.2f}x typical"
        )
    print(
        f"largest ({worst}): {medians[worst]:.2f} s = {result['largest_share_of_soft_limit']:.1%} of the "
        f"{settings.LETTER_RENDER_SOFT_TIME_LIMIT} s soft time limit"
    )


if __name__ == "__main__":
    main()
