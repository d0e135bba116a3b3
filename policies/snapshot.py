"""The registry's cache of compiled policies (coverage.checker.Snapshot): compiled once, reused until
an admin publishes a change.

Each call costs one indexed read of the registry generation; the policies themselves are only
loaded and compiled again when that number moves (any process may have moved it).
"""

from __future__ import annotations

import threading

from django.db import DatabaseError

from coverage.checker import Snapshot
from coverage.engine import compile_policy
from policies import selectors

_lock = threading.Lock()
_current: Snapshot | None = None


def load_snapshot() -> Snapshot:
    generation = _generation()
    policies = {}
    versions = selectors.latest_versions() if generation >= 0 else []
    for version in versions:
        compiled = compile_policy(version.snapshot, revision=version.revision)
        policies[compiled.payer] = compiled
    if not policies:
        # An empty (or not yet migrated) registry checks against the shipped policies rather than
        # refusing every payer; seed_policies makes them editable records.
        for snapshot in selectors.shipped_snapshots():
            compiled = compile_policy(snapshot, revision=None)
            policies[compiled.payer] = compiled
    return Snapshot(generation=generation, policies=policies)


def _generation() -> int:
    try:
        return selectors.registry_generation()
    except DatabaseError:
        return -1


def current_snapshot() -> Snapshot:
    global _current
    generation = _generation()
    snap = _current
    if snap is None or snap.generation != generation:
        with _lock:
            if _current is None or _current.generation != generation:
                _current = load_snapshot()
            snap = _current
    return snap


def forget_snapshot() -> None:
    global _current
    _current = None
