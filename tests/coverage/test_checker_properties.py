"""Property-based tests of the whole checker (validation + evaluation) over the shipped policies:
any JSON gives either a determination or field errors, never an exception, and every determination
keeps the contract's decision rules. No database: the policies are compiled from the seed file."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sample_case import CONTRACT, sample_case

from coverage.checker import CaseInvalid, Snapshot, check
from coverage.engine import compile_policy
from policies.selectors import shipped_snapshots

EXAMPLES = CONTRACT
BASE = sample_case()
SNAPSHOT = Snapshot(generation=0, policies={p.payer: p for p in (compile_policy(s) for s in shipped_snapshots())})
PAYERS = sorted(SNAPSHOT.policies)
STATUSES = {"met", "not_met", "missing"}
DECISIONS = {"meets_criteria", "incomplete", "not_met"}

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=True), st.text(max_size=12)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)


# Every leaf path of the example, so mutations hit real fields.
def _leaf_paths(data, prefix=()):
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _leaf_paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _leaf_paths(v, (*prefix, i))
    yield prefix


PATHS = [p for p in _leaf_paths(BASE) if p]


def _set(data, path, value):
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def _delete(data, path):
    target = data
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]


def assert_well_formed(determination: dict) -> None:
    assert determination["decision"] in DECISIONS
    required_missing = 0
    for section in ("clinical", "payer_rules"):
        block = determination[section]
        assert block["decision"] in DECISIONS
        required = [c for c in block["criteria"] if c["required"]]
        statuses = {c["status"] for c in required}
        assert all(c["status"] in STATUSES and c["reason"] for c in block["criteria"])
        expected = "not_met" if "not_met" in statuses else "incomplete" if "missing" in statuses else "meets_criteria"
        assert block["decision"] == expected
        required_missing += sum(c["status"] == "missing" for c in required)
    sections = {determination["clinical"]["decision"], determination["payer_rules"]["decision"]}
    overall = "not_met" if "not_met" in sections else "incomplete" if "incomplete" in sections else "meets_criteria"
    assert determination["decision"] == overall
    assert len(determination["missing"]) == required_missing
    keys = {c["key"] for c in determination["clinical"]["criteria"]}
    assert {"symptoms", "stenosis_level", "ligamentum_flavum", "spondylolisthesis", "conservative_care"} <= keys


def run(data, payer=None):
    try:
        determination = check(data, payer=payer, snapshot=SNAPSHOT)
    except CaseInvalid as invalid:
        assert invalid.errors and all(e.path and e.message for e in invalid.errors)
        return None
    assert_well_formed(determination)
    return determination


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_json)
def test_any_json_gives_a_determination_or_field_errors(data):
    run(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), junk=_json, payer=st.sampled_from(PAYERS))
def test_any_value_at_any_field_gives_a_determination_or_errors_naming_a_field(path, junk, payer):
    case = copy.deepcopy(BASE)
    _set(case, path, junk)
    run(case, payer=payer)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paths=st.lists(st.sampled_from(PATHS), max_size=6, unique=True), payer=st.sampled_from(PAYERS))
def test_removing_facts_never_makes_a_criterion_met_that_was_not(paths, payer):
    """An absent fact is `missing`, never `met`: deleting fields can only move criteria away from met."""
    full = run(copy.deepcopy(BASE), payer=payer)
    case = copy.deepcopy(BASE)
    for path in sorted(paths, key=len, reverse=True):
        try:
            _delete(case, path)
        except (KeyError, IndexError, TypeError):
            continue
    reduced = run(case, payer=payer)
    if reduced is None:
        return
    before = {c["key"]: c["status"] for s in ("clinical", "payer_rules") for c in full[s]["criteria"]}
    for section in ("clinical", "payer_rules"):
        for c in reduced[section]["criteria"]:
            if c["status"] == "met":
                assert before[c["key"]] == "met", c["key"]


@settings(max_examples=200, deadline=None)
@given(thickness=st.floats(min_value=0, max_value=30), payer=st.sampled_from(PAYERS))
def test_the_ligamentum_flavum_threshold_splits_met_from_not_met(thickness, payer):
    case = copy.deepcopy(BASE)
    case["clinical"]["imaging"]["ligamentum_flavum_mm"] = thickness
    determination = run(case, payer=payer)
    status = next(c["status"] for c in determination["clinical"]["criteria"] if c["key"] == "ligamentum_flavum")
    assert status == ("met" if thickness >= 2.5 else "not_met")
