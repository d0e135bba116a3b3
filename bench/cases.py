"""Seeded, varied contract cases for the benchmarks (shared/contract/README.md).

`generate_cases(n, seed=...)` gives the same cases for the same seed: every payer of the contract,
facts either side of each shipped threshold, lists from empty to several items, fields left out or
sent as null (both mean absent), and a share of invalid cases, each with one broken field, that the
checker must refuse. Each case comes with `valid` so a benchmark can time and report the two kinds
apart.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from stdnum import luhn

from coverage.case_format import PAYER_CODES, choices_of


def _values(path: str) -> tuple[str, ...]:
    """A choice field's values in the case format's order (the order the seeded draws rely on)."""
    return tuple(c.value for c in choices_of(path))


PAYERS = PAYER_CODES
FIRST_NAMES = ("Ada", "Ben", "Carmen", "Deshawn", "Eun-ji", "Farid", "Greta", "Hiroshi", "Ines", "Jamal")
LAST_NAMES = ("Moreno", "Okafor", "Lindqvist", "Nguyen", "Schmidt", "Haddad", "O'Brien", "Tanaka", "Kowalski")
# Billable ICD-10-CM codes: lumbar stenosis and its neighbours. (The benchmarks check every case
# marked valid is accepted before they time anything, so a mistake here cannot go unnoticed.)
DIAGNOSES = ("M48.061", "M48.062", "M48.07", "M54.16", "M54.17", "M51.16", "M43.16", "Z00.6", "M54.50", "G89.29")
LUMBAR_LEVELS = ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")
OTHER_LEVELS = ("T12-L1", "T11-T12", "C5-C6")
CPTS = ("0275T", "G0276", "63047", "62323")
NCTS = ("NCT03072927", "NCT02093520", "NCT02079038", "NCT01234567")
SYMPTOMS = _values("clinical.symptoms.types")
LOCATIONS = _values("clinical.symptoms.locations")
CARE = _values("clinical.conservative_care[].type")
OUTCOMES = _values("clinical.conservative_care[].outcome")
SURGERIES = _values("clinical.prior_lumbar_surgeries[].type")

# (path, bad value): one of these breaks an invalid case; each is refused by coverage.validation.
BREAKAGES: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("provider", "npi"), "1234567890"),  # wrong check digit
    (("provider", "npi"), "12345"),
    (("patient", "birth_date"), "2031-01-01"),  # not in the past
    (("patient", "sex"), "female"),
    (("procedure", "levels"), ["L4-L6"]),
    (("procedure", "planned_date"), "2026-02-30"),
    (("procedure", "setting"), "inpatient"),
    (("diagnoses",), ["M48.06"]),  # a category, not billable
    (("clinical", "imaging", "ligamentum_flavum_mm"), 45),
    (("clinical", "spondylolisthesis_grade"), 2.5),
    (("clinical", "symptoms", "types"), ["ache"]),
    (("clinical", "conservative_care"), [{"type": "yoga", "weeks": 4, "outcome": "failed"}]),
    (("clinical", "pain", "odi"), -1),
    (("administrative", "clinical_study_nct"), "NCT123"),
    (("payer",), "acme-health"),
    (("clinical", "unknown_fact"), True),
)


@dataclass(frozen=True, slots=True)
class GeneratedCase:
    data: dict[str, Any]
    valid: bool


def _npi(rng: random.Random) -> str:
    first9 = str(rng.randint(100_000_000, 999_999_999))
    return first9 + luhn.calc_check_digit("80840" + first9)


def _iso(d: date) -> str:
    return d.isoformat()


def _case(rng: random.Random, providers: list[dict[str, str]]) -> dict[str, Any]:
    # Each fact is on the good side of its rule with this probability, so the decisions spread
    # over meets_criteria, incomplete and not_met instead of one bad fact in fifteen sinking nearly all.
    good = rng.choice((1.0, 0.97, 0.9, 0.75))

    def pick(fine: Any, poor: Any) -> Any:
        return fine if rng.random() < good else poor

    planned = date(2026, 1, 5) + timedelta(days=rng.randint(0, 360))
    care = [
        {"type": rng.choice(CARE), "weeks": rng.randint(2, 30), "outcome": pick(rng.choice(OUTCOMES[:2]), "improved")}
        for _ in range(pick(rng.randint(1, 4), 0))
    ]
    surgeries = [
        {"type": rng.choice(SURGERIES), "months_ago": pick(rng.randint(12, 120), rng.randint(0, 11))}
        for _ in range(rng.choice((0, 0, 0, 1, 2)))
    ]
    case: dict[str, Any] = {
        "payer": rng.choice(PAYERS),
        "patient": {
            "first_name": rng.choice(FIRST_NAMES),
            "last_name": rng.choice(LAST_NAMES),
            # either side of the 65-year rule on the planned date
            "birth_date": _iso(
                planned - timedelta(days=pick(rng.randint(66 * 365, 95 * 365), rng.randint(45 * 365, 64 * 365)))
            ),
            "sex": rng.choice("FMXU"),
            "member_id": "".join(rng.choices("0123456789ABCDEFGHJKMNPQRTUVWXY", k=11)),
        },
        "provider": dict(rng.choice(providers)),
        "procedure": {
            "cpt": pick("0275T", rng.choice(CPTS)),
            "levels": pick(
                rng.sample(LUMBAR_LEVELS, rng.randint(1, 2)),
                rng.sample(LUMBAR_LEVELS + OTHER_LEVELS, rng.randint(0, 3)),
            ),
            "planned_date": _iso(planned),
            "setting": rng.choice(("hospital_outpatient", "asc", "office")),
        },
        "diagnoses": pick(
            ["M48.062", *rng.sample(DIAGNOSES, rng.randint(0, 3))], rng.sample(DIAGNOSES, rng.randint(0, 3))
        ),
        "clinical": {
            "symptoms": {
                "types": pick(rng.sample(SYMPTOMS, rng.randint(1, 4)), []),
                "locations": pick(rng.sample(LOCATIONS, rng.randint(1, 3)), []),
                "with_standing_or_walking": pick(True, False),
                "duration_months": pick(rng.randint(3, 48), rng.randint(0, 2)),  # rule: at least 3
            },
            "imaging": {
                "modality": rng.choice(("MRI", "CT")),
                "date": _iso(planned - timedelta(days=pick(rng.randint(0, 365), rng.randint(366, 900)))),  # 12 months
                "ligamentum_flavum_mm": pick(round(rng.uniform(2.5, 6.5), 1), round(rng.uniform(0.5, 2.4), 1)),  # 2.5
            },
            "spondylolisthesis_grade": pick(rng.randint(0, 2), rng.randint(3, 5)),  # rule: at most 2
            "conservative_care": care,
            "prior_lumbar_surgeries": surgeries,
            "pain": {
                "vas_leg": rng.randint(0, 100),
                "nprs": pick(rng.randint(5, 10), rng.randint(0, 4)),  # rule: at least 5
                "odi": pick(rng.randint(31, 80), rng.randint(0, 30)),  # rule: at least 31
            },
        },
        "administrative": {
            "clinical_study_nct": pick(NCTS[0], rng.choice(NCTS)),
            "referral_number": f"REF-{rng.randint(1000, 99999)}",
            "expedited": rng.random() < 0.2,
            "ihs_prc": {
                "eligible": pick(True, False),
                "alternate_resources_exhausted": pick(True, False),
                "notified": pick(True, False),
            },
            "tricare_category_iii_exception": pick(True, False),  # open object: a payer-specific fact
        },
    }
    _leave_out_facts(rng, case)
    return case


def _leave_out_facts(rng: random.Random, case: dict[str, Any]) -> None:
    """Drop or null each optional fact with a small chance, whole objects with a smaller one."""
    for section in ("patient", "provider", "procedure", "clinical", "administrative"):
        if rng.random() < 0.03:
            del case[section]
    if "diagnoses" in case and rng.random() < 0.05:
        case["diagnoses"] = None
    stack: list[dict[str, Any]] = [v for v in case.values() if isinstance(v, dict)]
    while stack:
        node = stack.pop()
        for key in list(node):
            value = node[key]
            roll = rng.random()
            if roll < 0.04:
                del node[key]
            elif roll < 0.05:
                node[key] = None  # null counts as absent
            elif isinstance(value, dict):
                stack.append(value)


def _break(rng: random.Random, case: dict[str, Any]) -> None:
    path, bad = rng.choice(BREAKAGES)
    target = case
    for part in path[:-1]:
        if not isinstance(target.get(part), dict):  # left out above: bring it back to hold the bad value
            target[part] = {}
        target = target[part]
    target[path[-1]] = bad


def generate_cases(n: int, *, seed: int = 2, invalid_share: float = 0.05) -> list[GeneratedCase]:
    rng = random.Random(seed)
    # Cases come from a few hundred practitioners, as they do (and as coverage.validation's NPI cache expects).
    providers = [
        {"npi": _npi(rng), "name": f"Dr {rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"} for _ in range(300)
    ]
    cases = []
    for _ in range(n):
        data = _case(rng, providers)
        valid = rng.random() >= invalid_share
        if not valid:
            _break(rng, data)
        cases.append(GeneratedCase(data=data, valid=valid))
    return cases
