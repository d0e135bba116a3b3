"""Checks per second in one process on one core: a benchmark, not a timed test.

Over N generated cases (bench/cases.py: all six payers, facts either side of each threshold, absent
facts, lists of every length, a share of invalid cases) it times
  - check: coverage.checker.check, validation and evaluation, with the policy snapshot loaded once
    beforehand (valid and invalid cases apart),
  - evaluate: coverage.engine.evaluate alone, on the valid cases,
  - baseline: a JSON round trip of each case (json.dumps + json.loads), work that any request pays,
    timed in the same run so the ratios compare across machines.
Passes rotate through the four, round after round; each figure is the median over the rounds. Time
is this process's CPU time (time.process_time), which other work on a shared machine inflates far
less than the wall clock; the wall-clock rate is shown beside it. Target: at least 20,000 checks/s
of valid cases.

    .venv/bin/python bench/check_throughput.py [--cases 20000] [--rounds 7] [--seed 2] [--json]

DATABASE_URL selects the database the snapshot is read from (see bench/project.py).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cases import generate_cases
from bench.project import machine, machine_line, require_seeded_registry, seeded_database, setup_django

TARGET_CHECKS_PER_SECOND = 20_000


def pin_to_one_core() -> int:
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one pass."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--invalid-share", type=float, default=0.05)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    core = pin_to_one_core()
    host = machine()
    with seeded_database() as database:
        setup_django(database)
        published = require_seeded_registry()

        from coverage.checker import CaseInvalid, check
        from coverage.engine import evaluate
        from coverage.validation import icd10_is_billable
        from policies.snapshot import load_snapshot

        snapshot = load_snapshot()
    icd10_is_billable("M48.062")  # its first call reads the code set

    generated = generate_cases(args.cases, seed=args.seed, invalid_share=args.invalid_share)
    valid = [g.data for g in generated if g.valid]
    invalid = [g.data for g in generated if not g.valid]

    # Every case once, untimed: the generator and the checker must agree on what is valid.
    decisions: Counter[str] = Counter()
    for g in generated:
        try:
            decisions[check(g.data, snapshot=snapshot)["decision"]] += 1
            accepted = True
        except CaseInvalid as exc:
            accepted, refusal = False, exc
        if accepted != g.valid:
            sys.exit(
                f"generated case marked {'valid' if g.valid else 'invalid'} was "
                f"{'accepted' if accepted else 'refused: ' + str(refusal)}:\n{json.dumps(g.data)}"
            )
    pairs = [(data, snapshot.policies[data["payer"]]) for data in valid]

    def run_check_valid() -> None:
        for data in valid:
            check(data, snapshot=snapshot)

    def run_check_invalid() -> None:
        for data in invalid:
            try:
                check(data, snapshot=snapshot)
            except CaseInvalid:
                pass

    def run_evaluate() -> None:
        for data, policy in pairs:
            evaluate(data, policy)

    def run_baseline() -> None:
        for data in valid:
            json.loads(json.dumps(data))

    passes = {
        "baseline": run_baseline,
        "evaluate": run_evaluate,
        "check_valid": run_check_valid,
        "check_invalid": run_check_invalid,
    }
    counts = {"baseline": len(valid), "evaluate": len(valid), "check_valid": len(valid), "check_invalid": len(invalid)}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in passes}
    wall_seconds: dict[str, list[float]] = {name: [] for name in passes}
    names = list(passes)
    for r in range(args.rounds):
        for name in names[r % 4 :] + names[: r % 4]:  # rotate so no pass always runs first
            cpu_time, wall_time = timed(passes[name])
            cpu_seconds[name].append(cpu_time)
            wall_seconds[name].append(wall_time)

    def per_case(seconds: dict[str, list[float]]) -> dict[str, float]:
        each = {name: statistics.median(s) / max(counts[name], 1) for name, s in seconds.items()}
        each["check_all"] = (each["check_valid"] * len(valid) + each["check_invalid"] * len(invalid)) / len(generated)
        return each

    cpu, wall = per_case(cpu_seconds), per_case(wall_seconds)
    results = {
        name: {
            "us_per_case": round(t * 1e6, 2),
            "per_second": round(1 / t),
            "x_baseline": round(t / cpu["baseline"], 2),
            "wall_per_second": round(1 / wall[name]),
        }
        for name, t in cpu.items()
    }
    checks_per_second = results["check_valid"]["per_second"]
    figures = {
        "benchmark": "check_throughput",
        "machine": {**host, "pinned_cpu": core},
        "database": database.label,
        "published_policies": published,
        "cases": {
            "total": len(generated),
            "valid": len(valid),
            "invalid": len(invalid),
            "seed": args.seed,
            "decisions": dict(decisions.most_common()),
        },
        "rounds": args.rounds,
        "results": results,
        "target": {
            "check_valid_per_second": TARGET_CHECKS_PER_SECOND,
            "met": checks_per_second >= TARGET_CHECKS_PER_SECOND,
        },
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    labels = {
        "baseline": "baseline: JSON round trip",
        "evaluate": "evaluate alone (valid)",
        "check_valid": "check: validate+evaluate (valid)",
        "check_invalid": "check: refused (invalid)",
        "check_all": "check: all cases",
    }
    print(
        f"check throughput — {len(generated):,} cases ({len(valid):,} valid, {len(invalid):,} invalid), "
        f"seed {args.seed}, median of {args.rounds} rounds, one core (cpu {core} of {os.cpu_count()})"
    )
    print(f"machine: {machine_line(host)}")
    print(f"database: {database.label}; decisions: " + ", ".join(f"{k} {v:,}" for k, v in decisions.most_common()))
    print(f"{'CPU time':36}{'µs/case':>9}{'per s':>10}{'× baseline':>12}{'wall per s':>12}")
    for name, label in labels.items():
        r = results[name]
        print(
            f"{label:36}{r['us_per_case']:>9.1f}{r['per_second']:>10,}{r['x_baseline']:>12.2f}{r['wall_per_second']:>12,}"
        )
    verdict = "met" if figures["target"]["met"] else "MISSED"
    print(f"target ≥ {TARGET_CHECKS_PER_SECOND:,} checks/s (valid cases): {verdict} ({checks_per_second:,}/s)")


if __name__ == "__main__":
    main()
