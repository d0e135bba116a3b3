"""bin/test's sharing of the test files between its two processes (tests/xdist_scheduling.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from xdist_scheduling import HeaviestFilesFirst, read_durations, write_durations


class Node:
    """What the scheduler asks of a worker: the tests it is sent, and whether it is stopping."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[int] = []
        self.shutting_down = False
        self.gateway = SimpleNamespace(id=name)

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def scheduler(durations: dict[str, float], collection: list[str]) -> tuple[HeaviestFilesFirst, Node, Node]:
    config = SimpleNamespace(getvalue=lambda name: ["2*popen"], option=SimpleNamespace(loadscopereorder=True))
    sched = HeaviestFilesFirst(config, durations=durations)
    gw0, gw1 = Node("gw0"), Node("gw1")
    for node in (gw0, gw1):
        sched.add_node(node)
        sched.add_node_collection(node, collection)
    sched.schedule()
    return sched, gw0, gw1


def files_sent(node: Node, collection: list[str]) -> list[str]:
    out: list[str] = []
    for index in node.sent:
        path = collection[index].split("::", 1)[0]
        if not out or out[-1] != path:
            out.append(path)
    return out


def test_the_heaviest_files_go_first_not_the_ones_with_most_tests():
    collection = [
        *(f"tests/a/test_many.py::test_{i}" for i in range(40)),
        "tests/a/test_slow.py::test_one",
        "tests/a/test_slow.py::test_two",
        *(f"tests/a/test_middling_{k}.py::test_one" for k in range(4)),
        "tests/a/test_new.py::test_one",
    ]
    durations = {"tests/a/test_many.py": 8, "tests/a/test_slow.py": 10}
    durations |= {f"tests/a/test_middling_{k}.py": 5 for k in range(4)}
    sched, gw0, gw1 = scheduler(durations, collection)
    assert files_sent(gw0, collection)[0] == "tests/a/test_slow.py"
    assert files_sent(gw1, collection) == ["tests/a/test_many.py"]
    # gw0 has two tests to go, so it holds the next heaviest already.
    assert files_sent(gw0, collection) == ["tests/a/test_slow.py", "tests/a/test_middling_0.py"]
    # A file not in the table weighs by its tests (0.3 s each): it comes after the measured ones.
    assert list(sched.workqueue)[-1] == "tests/a/test_new.py"
    assert all(sched.parts[f] == 1 for f in sched.parts)


def test_a_file_longer_than_half_a_fair_share_is_cut_in_parts_of_consecutive_tests():
    fuzz = [f"tests/h/test_fuzz.py::test_it[op{i}]" for i in range(10)]
    collection = [*fuzz, "tests/h/test_small.py::test_one", "tests/h/test_other.py::test_one"]
    durations = {"tests/h/test_fuzz.py": 100, "tests/h/test_small.py": 10, "tests/h/test_other.py": 10}
    sched, gw0, gw1 = scheduler(durations, collection)
    # Fair share 60 s a process; 100 s is more than half of it, so the file is cut in 100 / 30 ≈ 3 parts.
    assert sched.parts["tests/h/test_fuzz.py"] == 3
    assert sched._split_scope(fuzz[0]) == "tests/h/test_fuzz.py::part-1-of-3"
    assert sched._split_scope(fuzz[-1]) == "tests/h/test_fuzz.py::part-3-of-3"
    assert sched._split_scope("tests/h/test_small.py::test_one") == "tests/h/test_small.py"
    # Both processes start on the long file, each on consecutive tests of its own.
    for node in (gw0, gw1):
        first = [collection[i] for i in node.sent if collection[i] in fuzz]
        assert first and first == sorted(first, key=fuzz.index)
    assert not set(gw0.sent) & set(gw1.sent)


def test_every_test_is_sent_once_whatever_the_weights():
    collection = [f"tests/x/test_{f}.py::test_{i}" for f in "abcdefg" for i in range(5)]
    sched, gw0, gw1 = scheduler({"tests/x/test_c.py": 300, "tests/x/test_g.py": 1}, collection)
    while sched.workqueue:
        for node in (gw0, gw1):
            for index in list(node.sent):
                if (
                    not sched.assigned_work[node]
                    .get(sched._split_scope(collection[index]), {})
                    .get(collection[index], True)
                ):
                    sched.mark_test_complete(node, index)
    assert sorted(gw0.sent + gw1.sent) == list(range(len(collection)))


def test_durations_are_stored_keeping_the_files_not_run(tmp_path):
    path = tmp_path / "durations.json"
    write_durations({"tests/a/test_one.py": 1.26, "tests/a/test_two.py": 2.0}, path)
    write_durations({"tests/a/test_two.py": 3.04}, path)
    assert read_durations(path) == {"tests/a/test_one.py": 1.3, "tests/a/test_two.py": 3.0}
    assert "about" in json.loads(path.read_text())
    assert read_durations(tmp_path / "missing.json") == {}
