"""How bin/test shares the test files out between its processes (pytest-xdist, `--dist loadfile`).

xdist's own loadfile scheduling hands out whole files, those with the most tests first: the files
of a few slow tests (the browser, the real workers, the injected faults) then come last, and one
process runs them alone while the other has finished. Here the heaviest go first instead, by the
seconds each file took (tests/durations.json), and a file longer than half a process's fair share is
cut in parts of consecutive tests that two processes can run at once (each part sets up the file's
module fixtures for itself). A file not in the table weighs by its number of tests.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from xdist.scheduler import LoadFileScheduling

DURATIONS_FILE = Path(__file__).resolve().parent / "durations.json"
SECONDS_PER_UNKNOWN_TEST = 0.3
SPLIT_ABOVE_SHARE = 0.5  # a file longer than this share of one process's fair share is cut in parts


def read_durations(path: Path = DURATIONS_FILE) -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads(path.read_text())["seconds"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def write_durations(measured: Mapping[str, float], path: Path = DURATIONS_FILE) -> None:
    """The measured files' seconds; files not run this time keep theirs."""
    seconds = {**read_durations(path), **{k: round(v, 1) for k, v in measured.items()}}
    document = {
        "about": "Seconds each test file takes (setup, call, teardown; not the test databases' creation), "
        "read by tests/xdist_scheduling.py to share the files out between the test processes; "
        "rewritten by bin/test --store-durations (on PostgreSQL + Redis, as CI runs).",
        "seconds": dict(sorted(seconds.items())),
    }
    path.write_text(json.dumps(document, indent=1) + "\n")


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


class HeaviestFilesFirst(LoadFileScheduling):
    def __init__(self, config, log=None, *, durations: Mapping[str, float]) -> None:
        super().__init__(config, log)
        self.durations = dict(durations)
        self.weights: dict[str, float] = {}
        self.parts: dict[str, int] = {}
        self.part_of: dict[str, int] | None = None

    def _cut_long_files(self) -> None:
        collection = next(iter(self.registered_collections.values()))
        by_file: dict[str, list[str]] = defaultdict(list)
        for nodeid in collection:
            by_file[file_of(nodeid)].append(nodeid)
        self.weights = {f: self.durations.get(f, len(ids) * SECONDS_PER_UNKNOWN_TEST) for f, ids in by_file.items()}
        share = sum(self.weights.values()) / max(1, len(self.nodes))
        self.part_of = {}
        for path, nodeids in by_file.items():
            parts = min(len(nodeids), max(1, round(self.weights[path] / (share * SPLIT_ABOVE_SHARE))))
            self.parts[path] = parts
            for index, nodeid in enumerate(nodeids):
                self.part_of[nodeid] = index * parts // len(nodeids)

    def _split_scope(self, nodeid: str) -> str:
        if self.part_of is None:
            self._cut_long_files()
        path = file_of(nodeid)
        if self.parts.get(path, 1) == 1:
            return path
        return f"{path}::part-{self.part_of[nodeid] + 1}-of-{self.parts[path]}"

    def weight(self, scope: str) -> float:
        path = file_of(scope)
        return self.weights.get(path, 0.0) / self.parts.get(path, 1)

    def _assign_work_unit(self, node) -> None:
        heaviest = max(self.workqueue, key=self.weight)
        self.workqueue.move_to_end(heaviest, last=False)
        super()._assign_work_unit(node)
