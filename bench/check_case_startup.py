"""Wall time of `manage.py check_case <case>` against `manage.py check`, Django's own start-up.

Both run as fresh processes on the same seeded database, alternating (which one goes first swaps
each repetition), after one untimed run of each; the figures are the medians. check_case does all
that check does (its system checks included) plus reading the case, one query for the policies and
the check itself, so the ratio shows what the checker adds to a start-up. Target: at most 1.5×.

    .venv/bin/python bench/check_case_startup.py [--repetitions 10] [--case PATH] [--explain] [--json]

--explain lists the slowest imports of check_case (python -X importtime), marking those check does
not make: where a start-up regression usually hides, whether it costs both commands or one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.project import PYTHON, ROOT, machine, machine_line, seeded_database

TARGET_RATIO = 1.5
DEFAULT_CASE = ROOT / "tests" / "fixtures" / "contract" / "medicare-meets-criteria.json"


def run(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(argv, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, done


def slowest_imports(argv: list[str], baseline: list[str], env: dict[str, str]) -> list[tuple[float, str, bool]]:
    """(cumulative ms, module, does baseline import it too) for the slowest imports of argv: the
    roots of its import tree (what Django imports by name: apps, URLconfs, commands) and every
    top-level package, slowest first."""

    def imports(args: list[str]) -> dict[str, float]:
        stderr = subprocess.run(
            [PYTHON, "-X", "importtime", *args[1:]], check=False, cwd=ROOT, env=env, capture_output=True, text=True
        ).stderr
        found: dict[str, float] = {}
        for m in re.finditer(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", stderr):
            if not m.group(2) or "." not in m.group(3):
                found[m.group(3)] = max(found.get(m.group(3), 0), int(m.group(1)) / 1000)
        return found

    mine, theirs = imports(argv), imports(baseline)
    return sorted(((ms, name, name in theirs) for name, ms in mine.items()), reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--case", type=Path, default=DEFAULT_CASE)
    parser.add_argument("--explain", action="store_true", help="list the slowest imports of check_case")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    commands = {
        "check": [PYTHON, "manage.py", "check"],
        "check_case": [PYTHON, "manage.py", "check_case", str(args.case.resolve())],
    }
    host = machine()
    with seeded_database() as database:
        env = {**os.environ, "DATABASE_URL": database.url}
        for argv in commands.values():  # untimed: .pyc files and the page cache
            _, done = run(argv, env)
            if done.returncode != 0:
                sys.exit(f"{' '.join(argv[1:])} failed ({done.returncode}):\n{done.stderr}")
        decision = json.loads(done.stdout)["decision"]
        seconds: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(args.repetitions):
            order = list(commands) if i % 2 == 0 else list(reversed(commands))
            for name in order:
                elapsed, done = run(commands[name], env)
                if done.returncode != 0:
                    sys.exit(f"{name} failed ({done.returncode}):\n{done.stderr}")
                seconds[name].append(elapsed)
        slowest = slowest_imports(commands["check_case"], commands["check"], env)[:10] if args.explain else []

    median = {name: statistics.median(s) for name, s in seconds.items()}
    ratio = median["check_case"] / median["check"]
    figures = {
        "benchmark": "check_case_startup",
        "machine": host,
        "database": database.label,
        "case": str(args.case),
        "decision": decision,
        "repetitions": args.repetitions,
        "results": {
            name: {"median_s": round(median[name], 3), "min_s": round(min(s), 3), "max_s": round(max(s), 3)}
            for name, s in seconds.items()
        },
        "ratio": round(ratio, 2),
        "target": {"ratio_at_most": TARGET_RATIO, "met": ratio <= TARGET_RATIO},
        "slowest_imports_ms": {name: {"ms": round(ms, 1), "check_too": shared} for ms, name, shared in slowest},
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"check_case start-up — {args.repetitions} alternating repetitions, medians; "
        f"case {args.case.name} ({decision}); database: {database.label}"
    )
    print(f"machine: {machine_line(host)}")
    for name, r in figures["results"].items():
        print(
            f"  manage.py {name:<11} {r['median_s'] * 1000:7.0f} ms   (min {r['min_s'] * 1000:.0f}, max {r['max_s'] * 1000:.0f})"
        )
    verdict = "met" if figures["target"]["met"] else "MISSED"
    print(f"ratio check_case / check: {ratio:.2f}×   target ≤ {TARGET_RATIO}×: {verdict}")
    if args.explain:
        print("slowest imports of check_case (cumulative ms; * = check does not import it):")
        for ms, name, shared in slowest:
            print(f"  {ms:8.1f}  {name}{'' if shared else ' *'}")


if __name__ == "__main__":
    main()
