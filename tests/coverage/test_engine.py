"""The checker engine (coverage/engine.py) and its policy snapshot (policies/snapshot.py): the
decision rules of a section and of the whole, advisory criteria, the missing list, claim
requirements, the prior-authorization window and the warnings; evaluation that touches no database;
and a snapshot compiled once and reused until an admin publishes a change."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sample_case import CONTRACT, SAMPLE, contract_example

import policies.snapshot
from coverage.checker import check
from coverage.engine import compile_policy, evaluate
from policies.models import Criterion, Policy, PolicyVersion
from policies.services import policy_publish
from policies.snapshot import current_snapshot

EXAMPLES = CONTRACT


def example(name: str = SAMPLE) -> dict:
    return contract_example(name)


def criterion(
    key: str, path: str, operator: str, value: Any, *, section: str = "clinical", required: bool = True
) -> dict:
    return {
        "key": key,
        "section": section,
        "label": key.replace("_", " ").capitalize(),
        "path": path,
        "operator": operator,
        "value": value,
        "required": required,
        "reason_met": "{actual} meets {value}",
        "reason_not_met": "{actual} fails {value}",
        "reason_missing": "missing {missing}",
        "citations": ["ev"],
    }


LF = criterion("ligamentum_flavum", "clinical.imaging.ligamentum_flavum_mm", "gte", 2.5)
GRADE = criterion("spondylolisthesis", "clinical.spondylolisthesis_grade", "lte", 2)
STUDY = criterion("ced_study", "administrative.clinical_study_nct", "in", ["NCT03072927"], section="payer")
ODI = criterion("functional_impairment", "clinical.pain.odi", "gte", 31, required=False)


def snapshot(
    criteria: list[dict],
    *,
    claim_requirements: list[dict] | None = None,
    prior_authorization: dict | None = None,
    review_status: str = "verified",
    review_reason: str = "",
) -> dict:
    return {
        "payer": {
            "code": "testpayer",
            "name": "Test payer",
            "program": "commercial",
            "policy": {
                "code": "TP-1",
                "title": "Test policy",
                "version": "7",
                "effective_date": "2025-01-01",
                "review_status": review_status,
                "review_reason": review_reason,
                "sources": ["ev"],
                "criteria": criteria,
                "claim_requirements": claim_requirements or [],
                "prior_authorization": prior_authorization,
                "appeal_levels": [],
            },
        },
        "evidence": {
            "ev": {
                "key": "ev",
                "short": "Evidence, 2024",
                "kind": "other",
                "certainty": "H",
                "citation": "x",
                "url": "",
                "note": "",
            }
        },
    }


def case(
    lf: float | None = 4.1, grade: int | None = 1, nct: str | None = "NCT03072927", odi: float | None = 42, **extra: Any
) -> dict:
    clinical: dict = {"imaging": {"ligamentum_flavum_mm": lf}, "spondylolisthesis_grade": grade, "pain": {"odi": odi}}
    return {"payer": "testpayer", "clinical": clinical, "administrative": {"clinical_study_nct": nct, **extra}}


def run(criteria: list[dict], data: dict, **policy: Any) -> dict:
    return evaluate(data, compile_policy(snapshot(criteria, **policy), revision=3))


def statuses(determination: dict) -> dict[str, str]:
    return {c["key"]: c["status"] for s in ("clinical", "payer_rules") for c in determination[s]["criteria"]}


# --------------------------------------------------------------------------- decision rules


def test_a_section_meets_criteria_when_every_required_criterion_is_met():
    result = run([LF, GRADE, STUDY], case())
    assert result["clinical"]["decision"] == result["payer_rules"]["decision"] == result["decision"] == "meets_criteria"
    assert result["missing"] == []


def test_a_section_is_incomplete_when_a_required_criterion_is_missing_and_none_is_not_met():
    result = run([LF, GRADE, STUDY], case(lf=None))
    assert statuses(result)["ligamentum_flavum"] == "missing"
    assert result["clinical"]["decision"] == "incomplete"
    assert result["payer_rules"]["decision"] == "meets_criteria"
    assert result["decision"] == "incomplete"


def test_a_section_is_not_met_when_a_required_criterion_is_not_met_even_if_another_is_missing():
    result = run([LF, GRADE, STUDY], case(lf=None, grade=3))
    assert result["clinical"]["decision"] == "not_met"
    assert result["decision"] == "not_met"


def test_the_overall_decision_is_not_met_when_only_the_payer_section_fails():
    result = run([LF, GRADE, STUDY], case(nct="NCT00000000"))
    assert result["clinical"]["decision"] == "meets_criteria"
    assert result["payer_rules"]["decision"] == "not_met"
    assert result["decision"] == "not_met"


def test_the_overall_decision_is_not_met_over_an_incomplete_section():
    result = run([LF, GRADE, STUDY], case(lf=None, nct="NCT00000000"))
    assert (result["clinical"]["decision"], result["payer_rules"]["decision"], result["decision"]) == (
        "incomplete",
        "not_met",
        "not_met",
    )


def test_the_overall_decision_is_incomplete_when_only_the_payer_section_is():
    result = run([LF, GRADE, STUDY], case(nct=None))
    assert (result["clinical"]["decision"], result["payer_rules"]["decision"], result["decision"]) == (
        "meets_criteria",
        "incomplete",
        "incomplete",
    )


def test_a_section_without_criteria_meets_criteria():
    result = run([LF], case())
    assert result["payer_rules"] == {"decision": "meets_criteria", "criteria": []}


@pytest.mark.parametrize("odi", [10, None])
def test_an_advisory_criterion_is_shown_but_never_changes_a_decision(odi):
    result = run([LF, GRADE, STUDY, ODI], case(odi=odi))
    advisory = next(c for c in result["clinical"]["criteria"] if c["key"] == "functional_impairment")
    assert advisory["required"] is False
    assert advisory["status"] == ("not_met" if odi is not None else "missing")
    assert result["clinical"]["decision"] == result["decision"] == "meets_criteria"
    assert result["missing"] == []


def test_an_advisory_criterion_does_not_rescue_a_failed_section():
    result = run([LF, ODI], case(lf=1.0, odi=90))
    assert result["clinical"]["decision"] == "not_met"


# --------------------------------------------------------------------------- what a determination says


def test_the_missing_list_has_one_line_per_missing_required_fact_with_its_reason():
    result = run([LF, GRADE, STUDY, ODI], case(lf=None, nct=None, odi=None))
    assert result["missing"] == [
        "Ligamentum flavum: missing clinical.imaging.ligamentum_flavum_mm",
        "Ced study: missing administrative.clinical_study_nct",
    ]


def test_reasons_fill_the_case_value_and_the_criterion_value():
    result = run([LF, STUDY], case(lf=4.1))
    reasons = {c["key"]: c["reason"] for s in ("clinical", "payer_rules") for c in result[s]["criteria"]}
    assert reasons == {"ligamentum_flavum": "4.1 meets 2.5", "ced_study": "NCT03072927 meets NCT03072927"}


def test_a_date_rule_shows_its_years_as_the_value():
    age = criterion(
        "age", "patient.birth_date", "age_gte", {"years": 65, "as_of": "procedure.planned_date"}, section="payer"
    )
    result = run([age], {"patient": {"birth_date": "1950-01-01"}, "procedure": {"planned_date": "2026-01-01"}})
    assert result["payer_rules"]["criteria"][0]["reason"] == "1950-01-01 meets 65"


def test_each_criterion_result_carries_its_label_path_and_citations():
    item = run([LF], case())["clinical"]["criteria"][0]
    assert item == {
        "key": "ligamentum_flavum",
        "label": "Ligamentum flavum",
        "status": "met",
        "reason": "4.1 meets 2.5",
        "required": True,
        "path": "clinical.imaging.ligamentum_flavum_mm",
        "citations": ["Evidence, 2024"],
    }


def test_every_determination_names_the_policy_and_revision_it_used():
    result = run([LF], case())
    assert result["payer"] == "testpayer"
    assert result["policy"] == {
        "code": "TP-1",
        "title": "Test policy",
        "version": "7",
        "effective_date": "2025-01-01",
        "review_status": "verified",
        "review_reason": "",
        "revision": 3,
        "sources": ["Evidence, 2024"],
    }


def test_a_caller_changing_a_determination_does_not_change_the_compiled_policy():
    compiled = compile_policy(snapshot([LF]), revision=1)
    first = evaluate(case(), compiled)
    first["policy"]["sources"].append("tampered")
    first["prior_authorization"]["required"] = "tampered"
    first["clinical"]["criteria"][0]["citations"].append("tampered")
    second = evaluate(case(), compiled)
    assert second["policy"]["sources"] == ["Evidence, 2024"]
    assert second["prior_authorization"]["required"] is None
    assert second["clinical"]["criteria"][0]["citations"] == ["Evidence, 2024"]


CLAIMS = [
    {"text": "CPT {procedure.cpt}", "fallback": "CPT 0275T"},
    {"text": "Modifier Q0", "fallback": ""},
    {
        "text": "{administrative.clinical_study_nct} on the claim",
        "fallback": "NCT number of the approved CED study on the claim",
    },
]


def test_claim_requirements_name_the_case_values():
    data = {**case(), "procedure": {"cpt": "G0276"}}
    assert run([LF], data, claim_requirements=CLAIMS)["claim_requirements"] == [
        "CPT G0276",
        "Modifier Q0",
        "NCT03072927 on the claim",
    ]


def test_claim_requirements_fall_back_when_the_case_value_is_absent():
    assert run([LF], case(nct=None), claim_requirements=CLAIMS)["claim_requirements"] == [
        "CPT 0275T",
        "Modifier Q0",
        "NCT number of the approved CED study on the claim",
    ]


PA = {
    "required": True,
    "standard_decision_days": 7,
    "expedited_decision_hours": 72,
    "notes": "",
    "review_status": "verified",
    "review_reason": "",
}


def test_an_expedited_request_gets_the_expedited_decision_window():
    pa = run([LF], case(expedited=True), prior_authorization=PA)["prior_authorization"]
    assert pa["expedited_requested"] is True
    assert pa["decision_due_within"] == "72 hours (expedited)"


@pytest.mark.parametrize("expedited", [False, None, "yes"])
def test_a_standard_request_gets_the_standard_decision_window(expedited):
    pa = run([LF], case(expedited=expedited), prior_authorization=PA)["prior_authorization"]
    assert pa["expedited_requested"] is False
    assert pa["decision_due_within"] == "7 calendar days (standard)"


def test_an_expedited_request_falls_back_to_the_standard_window_when_no_expedited_one_is_known():
    pa = run([LF], case(expedited=True), prior_authorization={**PA, "expedited_decision_hours": None})[
        "prior_authorization"
    ]
    assert pa["decision_due_within"] == "7 calendar days (standard)"


def test_no_decision_window_is_given_when_the_payer_sets_none():
    pa = run(
        [LF],
        case(expedited=True),
        prior_authorization={**PA, "required": False, "standard_decision_days": None, "expedited_decision_hours": None},
    )["prior_authorization"]
    assert pa["required"] is False
    assert pa["decision_due_within"] is None


def test_a_label_shows_the_threshold_the_policy_holds_now():
    labelled = {**LF, "label": "Ligamentum flavum at least {value} mm"}
    for threshold in (2.5, 3):
        result = run([{**labelled, "value": threshold}], case(lf=None))
        row = result["clinical"]["criteria"][0]
        assert row["label"] == f"Ligamentum flavum at least {threshold} mm"
        assert result["missing"][0].startswith(f"Ligamentum flavum at least {threshold} mm: ")


def test_no_decision_window_is_given_when_prior_authorization_is_not_required():
    pa = run([LF], case(expedited=True), prior_authorization={**PA, "required": False})["prior_authorization"]
    assert pa["standard_decision_days"] == 7  # the record is shown as it stands
    assert pa["decision_due_within"] is None


def test_a_verified_policy_with_verified_prior_authorization_has_no_warnings():
    assert run([LF], case(), prior_authorization=PA)["warnings"] == []


def test_it_warns_that_an_unverified_policy_is_unverified_and_says_why():
    result = run(
        [LF], case(), prior_authorization=PA, review_status="unverified", review_reason="Category III exclusion is M"
    )
    assert result["warnings"] == ["Policy TP-1 is unverified: Category III exclusion is M"]
    assert result["policy"]["review_status"] == "unverified"


def test_it_warns_that_unverified_prior_authorization_rules_are_unverified_and_says_why():
    pa = {**PA, "review_status": "unverified", "review_reason": "WISeR list is M"}
    assert run([LF], case(), prior_authorization=pa)["warnings"] == [
        "Prior-authorization rules are unverified: WISeR list is M"
    ]


def test_it_says_so_when_a_policy_records_no_prior_authorization_rule():
    assert run([LF], case(), prior_authorization=None)["warnings"] == [
        "No prior-authorization rule is recorded for this payer"
    ]


def test_the_shipped_tricare_policy_and_medicare_prior_authorization_warn_as_unverified(seeded):
    tricare = check(example(), payer="tricare", snapshot=current_snapshot())
    assert tricare["policy"]["review_status"] == "unverified"
    assert any(w.startswith("Policy TRICARE") for w in tricare["warnings"])
    medicare = check(example(), snapshot=current_snapshot())
    assert medicare["policy"]["review_status"] == "verified"
    assert len(medicare["warnings"]) == 1
    assert medicare["warnings"][0].startswith("Prior-authorization rules are unverified: WISeR")


# --------------------------------------------------------------------------- no database in the loop


def test_evaluation_runs_without_any_database_access():
    # No db fixture here: pytest-django refuses any query, so reaching the end proves there was none.
    from policies.selectors import shipped_snapshots

    compiled = {p.payer: p for p in (compile_policy(s) for s in shipped_snapshots())}
    for payer, policy in compiled.items():
        assert evaluate(example(), policy)["payer"] == payer


def test_evaluating_a_case_under_a_published_version_makes_no_query(seeded, django_assert_num_queries):
    version = PolicyVersion.objects.get(policy__payer__code="medicare")
    compiled = compile_policy(version.snapshot, revision=version.revision)
    with django_assert_num_queries(0):
        for name in ("medicare-meets-criteria", "ligament-too-thin", "imaging-missing", "medicare-no-study-enrollment"):
            evaluate(example(name), compiled)


# --------------------------------------------------------------------------- the snapshot


@pytest.fixture
def compiles(monkeypatch) -> list[str]:
    """The payer codes compiled by the snapshot loader, in order."""
    compiled: list[str] = []
    real = policies.snapshot.compile_policy

    def counting(snapshot: dict, **kwargs: Any):
        compiled.append(snapshot["payer"]["code"])
        return real(snapshot, **kwargs)

    monkeypatch.setattr(policies.snapshot, "compile_policy", counting)
    return compiled


def test_the_snapshot_is_compiled_once_and_reused_while_nothing_changes(seeded, compiles, django_assert_num_queries):
    first = current_snapshot()
    assert sorted(compiles) == sorted(first.policies) and len(compiles) == 6
    with django_assert_num_queries(1):  # only the registry generation is read
        again = current_snapshot()
    assert again is first
    check(example(), snapshot=current_snapshot())
    check(example(), payer="commercial", snapshot=current_snapshot())
    assert len(compiles) == 6


def test_publishing_an_unchanged_policy_keeps_the_snapshot(seeded, compiles):
    first = current_snapshot()
    assert policy_publish(policy=Policy.objects.get(payer__code="medicare")) is None
    assert current_snapshot() is first
    assert len(compiles) == 6


def test_publishing_a_changed_policy_recompiles_and_the_next_check_uses_it(seeded, compiles):
    before = check(example(), snapshot=current_snapshot())
    assert before["decision"] == "meets_criteria"
    assert before["policy"]["revision"] == 1
    assert len(compiles) == 6

    Criterion.objects.filter(policy__payer__code="medicare", key="ligamentum_flavum").update(value=5.0)
    version = policy_publish(policy=Policy.objects.get(payer__code="medicare"), summary="thicker")
    assert version.revision == 2

    after = check(example(), snapshot=current_snapshot())
    assert len(compiles) == 12
    assert after["decision"] == "not_met"
    assert after["policy"]["revision"] == 2
    ligament = next(c for c in after["clinical"]["criteria"] if c["key"] == "ligamentum_flavum")
    assert ligament["status"] == "not_met"
    assert "5" in ligament["reason"]
    assert current_snapshot() is current_snapshot()
    assert len(compiles) == 12


def test_an_empty_registry_checks_against_the_shipped_policies(db):
    snapshot = current_snapshot()
    assert sorted(snapshot.policies) == [
        "commercial",
        "ihs-prc",
        "medicare",
        "medicare-advantage",
        "tricare",
        "va-community-care",
    ]
    assert check(example(), snapshot=current_snapshot())["policy"]["revision"] is None


def test_the_snapshot_evaluates_each_payer_under_its_own_latest_version(seeded):
    medicare = Policy.objects.get(payer__code="medicare")
    changed = copy.deepcopy(medicare.versions.get().snapshot)
    Criterion.objects.filter(policy=medicare, key="spondylolisthesis").update(value=0)
    policy_publish(policy=medicare)
    assert check(example(), snapshot=current_snapshot())["clinical"]["decision"] == "not_met"  # grade 1 > 0
    assert (
        check(example(), payer="medicare-advantage", snapshot=current_snapshot())["clinical"]["decision"]
        == "meets_criteria"
    )
    assert PolicyVersion.objects.get(policy=medicare, revision=1).snapshot == changed
