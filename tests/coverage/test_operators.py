"""The criterion language (coverage/operators.py): every operator at its boundaries, three-valued
(met / not_met / missing), and the validation that refuses a bad criterion naming the field.

No database: a criterion compiles to a closure over plain dicts."""

from __future__ import annotations

from typing import Any

import pytest

from coverage.operators import (
    MET,
    MISSING,
    NOT_MET,
    OPERATORS,
    compile_condition,
    criterion_spec_errors,
    render_template_paths,
)
from policies.selectors import shipped_snapshots


def status(path: str, operator: str, value: Any, case: dict) -> str:
    return compile_condition(path, operator, value)(case)[0]


def at(path: str, value: Any) -> dict:
    """A case holding one value at a dotted path."""
    case: dict = {}
    target = case
    parts = path.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value
    return case


def spec(**fields: Any) -> dict:
    return {
        "key": "a_criterion",
        "section": "payer",
        "path": "clinical.imaging.ligamentum_flavum_mm",
        "operator": "gte",
        "value": 2.5,
        "reason_met": "{actual} mm is at least {value} mm",
        "reason_not_met": "{actual} mm is below {value} mm",
        "reason_missing": "not documented (missing: {missing})",
        **fields,
    }


def errors_of(**fields: Any) -> dict[str, list[str]]:
    by_field: dict[str, list[str]] = {}
    for field, message in criterion_spec_errors(spec(**fields)):
        by_field.setdefault(field, []).append(message)
    return by_field


LF = "clinical.imaging.ligamentum_flavum_mm"
ADMIN = "administrative.some_flag"


# --------------------------------------------------------------------------- absent and null


@pytest.mark.parametrize("operator", sorted(OPERATORS))
def test_every_operator_is_missing_when_its_field_is_absent_or_null(operator):
    values = {
        "present": None,
        "is_true": None,
        "is_false": None,
        "eq": 1,
        "ne": 1,
        "gte": 1,
        "gt": 1,
        "lte": 1,
        "lt": 1,
        "between": [1, 2],
        "in": [1],
        "not_in": [1],
        "all_in": [1],
        "any_in": [1],
        "none_in": [1],
        "any_item": {"path": "x", "operator": "eq", "value": 1},
        "no_item": {"path": "x", "operator": "eq", "value": 1},
        "all_of": [{"path": "administrative.a", "operator": "present", "value": None}],
        "age_gte": {"years": 65, "as_of": "procedure.planned_date"},
        "within_months": {"months": 12, "as_of": "procedure.planned_date"},
    }
    path = "administrative.a"
    case_with_date = {"procedure": {"planned_date": "2026-12-15"}}
    assert status(path, operator, values[operator], case_with_date) == MISSING
    assert status(path, operator, values[operator], {**case_with_date, "administrative": {"a": None}}) == MISSING
    assert status(path, operator, values[operator], {**case_with_date, "administrative": None}) == MISSING


def test_it_reports_the_missing_path_so_a_reason_can_name_it():
    result, _, missing = compile_condition(LF, "gte", 2.5)({})
    assert (result, missing) == (MISSING, (LF,))


def test_a_path_through_a_non_object_is_missing_not_an_error():
    assert status(LF, "gte", 2.5, {"clinical": {"imaging": "MRI"}}) == MISSING
    assert status(LF, "gte", 2.5, {"clinical": ["imaging"]}) == MISSING


# --------------------------------------------------------------------------- scalar operators


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("x", MET),
        (False, MET),
        (0, MET),
        (["L4-L5"], MET),
        ({"a": 1}, MET),
        ("", NOT_MET),
        ([], NOT_MET),
        ({}, NOT_MET),
    ],
)
def test_present_is_met_by_any_value_but_an_empty_one(value, expected):
    assert status(ADMIN, "present", None, at(ADMIN, value)) == expected


@pytest.mark.parametrize(
    ("value", "is_true", "is_false"),
    [
        (True, MET, NOT_MET),
        (False, NOT_MET, MET),
        ("true", NOT_MET, NOT_MET),
        (1, NOT_MET, NOT_MET),
        (0, NOT_MET, NOT_MET),
    ],
)
def test_is_true_and_is_false_accept_only_the_boolean(value, is_true, is_false):
    assert status(ADMIN, "is_true", None, at(ADMIN, value)) == is_true
    assert status(ADMIN, "is_false", None, at(ADMIN, value)) == is_false


@pytest.mark.parametrize(
    ("criterion", "actual", "eq"),
    [
        ("MRI", "MRI", MET),
        ("MRI", "mri", NOT_MET),
        (2, 2, MET),
        (2, 2.0, MET),
        (2, 3, NOT_MET),
        (True, True, MET),
        (1, True, NOT_MET),
        (True, 1, NOT_MET),
        (0, False, NOT_MET),
        ("2", 2, NOT_MET),
        ("x", ["x"], NOT_MET),
    ],
)
def test_eq_and_ne_compare_values_without_mixing_booleans_and_numbers(criterion, actual, eq):
    assert status(ADMIN, "eq", criterion, at(ADMIN, actual)) == eq
    assert status(ADMIN, "ne", criterion, at(ADMIN, actual)) == (NOT_MET if eq == MET else MET)


@pytest.mark.parametrize(
    ("operator", "below", "equal", "above"),
    [
        ("gte", NOT_MET, MET, MET),
        ("gt", NOT_MET, NOT_MET, MET),
        ("lte", MET, MET, NOT_MET),
        ("lt", MET, NOT_MET, NOT_MET),
    ],
)
def test_numeric_comparisons_at_their_boundary(operator, below, equal, above):
    assert status(LF, operator, 2.5, at(LF, 2.4999)) == below
    assert status(LF, operator, 2.5, at(LF, 2.5)) == equal
    assert status(LF, operator, 2.5, at(LF, 2.5001)) == above


@pytest.mark.parametrize("actual", ["3", True, [3], {"mm": 3}])
def test_numeric_comparisons_are_not_met_by_a_non_number(actual):
    for operator in ("gte", "gt", "lte", "lt"):
        assert status(ADMIN, operator, 2, at(ADMIN, actual)) == NOT_MET
    assert status(ADMIN, "between", [0, 5], at(ADMIN, actual)) == NOT_MET


def test_integer_and_float_compare_as_numbers():
    assert status("clinical.spondylolisthesis_grade", "lte", 2, at("clinical.spondylolisthesis_grade", 2)) == MET
    assert status("clinical.spondylolisthesis_grade", "lte", 2.0, at("clinical.spondylolisthesis_grade", 2)) == MET
    assert status("clinical.spondylolisthesis_grade", "lte", 2, at("clinical.spondylolisthesis_grade", 3)) == NOT_MET


@pytest.mark.parametrize(
    ("actual", "expected"), [(30, MET), (31, MET), (100, MET), (29.99, NOT_MET), (100.01, NOT_MET)]
)
def test_between_includes_both_ends(actual, expected):
    assert status("clinical.pain.odi", "between", [30, 100], at("clinical.pain.odi", actual)) == expected


@pytest.mark.parametrize(
    ("actual", "in_", "not_in"),
    [("0275T", MET, NOT_MET), ("G0276", MET, NOT_MET), ("64999", NOT_MET, MET), (["0275T"], NOT_MET, NOT_MET)],
)
def test_in_and_not_in_test_a_single_value_against_the_list(actual, in_, not_in):
    codes = ["0275T", "G0276"]
    assert status("procedure.cpt", "in", codes, at("procedure.cpt", actual)) == in_
    assert status("procedure.cpt", "not_in", codes, at("procedure.cpt", actual)) == not_in


def test_in_does_not_take_true_for_1():
    assert status(ADMIN, "in", [1, 2], at(ADMIN, True)) == NOT_MET
    assert status(ADMIN, "not_in", [1, 2], at(ADMIN, True)) == MET
    assert status(ADMIN, "in", [True], at(ADMIN, True)) == MET


# --------------------------------------------------------------------------- list operators

LUMBAR = ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        (["L4-L5"], MET),
        (["L3-L4", "L4-L5", "L5-S1"], MET),
        (["L4-L5", "T12-L1"], NOT_MET),
        (["C5-C6"], NOT_MET),
        ([], NOT_MET),
        ("L4-L5", NOT_MET),
    ],
)
def test_all_in_needs_a_non_empty_list_wholly_inside(levels, expected):
    assert status("procedure.levels", "all_in", LUMBAR, at("procedure.levels", levels)) == expected


@pytest.mark.parametrize(
    ("diagnoses", "any_in", "none_in"),
    [
        (["M48.062"], MET, NOT_MET),
        (["M54.5", "M48.061"], MET, NOT_MET),
        (["M54.5"], NOT_MET, MET),
        ([], NOT_MET, MET),
        ("M48.062", NOT_MET, NOT_MET),
    ],
)
def test_any_in_and_none_in_look_for_a_shared_item(diagnoses, any_in, none_in):
    lss = ["M48.061", "M48.062"]
    assert status("diagnoses", "any_in", lss, at("diagnoses", diagnoses)) == any_in
    assert status("diagnoses", "none_in", lss, at("diagnoses", diagnoses)) == none_in


# --------------------------------------------------------------------------- composites

FAILED_OR_PARTIAL = [{"path": "outcome", "operator": "in", "value": ["failed", "partial"]}]
RECENT_SURGERY = [
    {"path": "type", "operator": "in", "value": ["laminectomy", "fusion", "mild"]},
    {"path": "months_ago", "operator": "lt", "value": 12},
]
CC = "clinical.conservative_care"
SURGERIES = "clinical.prior_lumbar_surgeries"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([{"type": "physical_therapy", "weeks": 8, "outcome": "failed"}], MET),
        ([{"type": "physical_therapy", "outcome": "improved"}, {"type": "oral_analgesics", "outcome": "partial"}], MET),
        ([{"type": "physical_therapy", "outcome": "improved"}], NOT_MET),
        ([], NOT_MET),
    ],
)
def test_any_item_is_met_when_one_item_satisfies_the_conditions(items, expected):
    assert status(CC, "any_item", FAILED_OR_PARTIAL, at(CC, items)) == expected


def test_any_item_needs_one_item_to_satisfy_all_conditions_not_several_items_one_each():
    items = [{"type": "fusion", "months_ago": 30}, {"type": "other", "months_ago": 3}]
    assert status(SURGERIES, "any_item", RECENT_SURGERY, at(SURGERIES, items)) == NOT_MET
    assert status(SURGERIES, "no_item", RECENT_SURGERY, at(SURGERIES, items)) == MET


def test_any_item_is_missing_when_an_item_lacks_the_fact_that_decides_it():
    evaluate = compile_condition(CC, "any_item", FAILED_OR_PARTIAL)
    result, _, missing = evaluate(at(CC, [{"type": "physical_therapy", "weeks": 8}]))
    assert result == MISSING
    assert missing == ("clinical.conservative_care.0.outcome",)


def test_any_item_is_met_by_a_matching_item_even_beside_an_undocumented_one():
    items = [{"type": "physical_therapy"}, {"type": "home_exercise", "outcome": "partial"}]
    assert status(CC, "any_item", FAILED_OR_PARTIAL, at(CC, items)) == MET


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], MET),
        ([{"type": "fusion", "months_ago": 30}], MET),
        ([{"type": "other", "months_ago": 2}], MET),
        ([{"type": "fusion", "months_ago": 11.9}], NOT_MET),
        ([{"type": "fusion", "months_ago": 12}], MET),
        ([{"type": "laminectomy", "months_ago": 40}, {"type": "mild", "months_ago": 0}], NOT_MET),
    ],
)
def test_no_item_is_met_when_no_item_satisfies_all_conditions(items, expected):
    assert status(SURGERIES, "no_item", RECENT_SURGERY, at(SURGERIES, items)) == expected


def test_no_item_is_missing_not_met_when_an_item_might_match():
    # A fusion of unknown date may be recent: the criterion can't be called met.
    evaluate = compile_condition(SURGERIES, "no_item", RECENT_SURGERY)
    result, _, missing = evaluate(at(SURGERIES, [{"type": "fusion"}]))
    assert result == MISSING
    assert missing == ("clinical.prior_lumbar_surgeries.0.months_ago",)
    assert (
        status(
            SURGERIES, "no_item", RECENT_SURGERY, at(SURGERIES, [{"type": "fusion"}, {"type": "mild", "months_ago": 1}])
        )
        == NOT_MET
    )


def test_item_operators_take_a_single_condition_object_too():
    assert status(CC, "any_item", FAILED_OR_PARTIAL[0], at(CC, [{"type": "other", "outcome": "failed"}])) == MET


def test_item_operators_are_not_met_when_the_field_is_not_a_list():
    assert status(CC, "any_item", FAILED_OR_PARTIAL, at(CC, "failed")) == NOT_MET


SYMPTOMS = [
    {"path": "clinical.symptoms.types", "operator": "any_in", "value": ["pain", "numbness", "tingling", "heaviness"]},
    {"path": "clinical.symptoms.locations", "operator": "any_in", "value": ["back", "legs", "buttocks"]},
    {"path": "clinical.symptoms.with_standing_or_walking", "operator": "is_true", "value": None},
]


def symptoms(**fields: Any) -> dict:
    return {"clinical": {"symptoms": fields}}


def test_all_of_is_met_when_every_condition_is():
    case = symptoms(types=["pain"], locations=["legs"], with_standing_or_walking=True)
    assert status("clinical.symptoms", "all_of", SYMPTOMS, case) == MET


def test_all_of_is_not_met_when_one_condition_is_not_met_even_if_another_is_missing():
    assert (
        status("clinical.symptoms", "all_of", SYMPTOMS, symptoms(types=["pain"], with_standing_or_walking=False))
        == NOT_MET
    )
    assert (
        status(
            "clinical.symptoms",
            "all_of",
            SYMPTOMS,
            symptoms(types=[], locations=["legs"], with_standing_or_walking=True),
        )
        == NOT_MET
    )


def test_all_of_is_missing_naming_each_missing_path():
    result, _, missing = compile_condition("clinical.symptoms", "all_of", SYMPTOMS)(symptoms(types=["pain"]))
    assert result == MISSING
    assert missing == ("clinical.symptoms.locations", "clinical.symptoms.with_standing_or_walking")


# --------------------------------------------------------------------------- dates

AGE = {"years": 65, "as_of": "procedure.planned_date"}


def born(birth_date: str, planned: str) -> dict:
    return {"patient": {"birth_date": birth_date}, "procedure": {"planned_date": planned}}


@pytest.mark.parametrize(
    ("birth_date", "planned", "expected"),
    [
        ("1961-12-15", "2026-12-15", MET),  # the 65th birthday itself
        ("1961-12-16", "2026-12-15", NOT_MET),  # the day before it
        ("1961-12-14", "2026-12-15", MET),
        ("1940-01-01", "2026-12-15", MET),
        ("1962-01-01", "2026-12-15", NOT_MET),
        ("1960-02-29", "2025-02-28", NOT_MET),  # born on 29 February: 65 on 1 March in a common year
        ("1960-02-29", "2025-03-01", MET),
        ("1960-02-29", "2024-02-29", NOT_MET),  # 64 on the leap-day birthday
    ],
)
def test_age_gte_counts_whole_years_up_to_the_birthday(birth_date, planned, expected):
    assert status("patient.birth_date", "age_gte", AGE, born(birth_date, planned)) == expected


def test_age_gte_is_missing_naming_whichever_date_is_absent():
    evaluate = compile_condition("patient.birth_date", "age_gte", AGE)
    assert evaluate({"patient": {"birth_date": "1950-01-01"}})[0::2] == (MISSING, ("procedure.planned_date",))
    assert evaluate({"procedure": {"planned_date": "2026-01-01"}})[0::2] == (MISSING, ("patient.birth_date",))
    assert evaluate({})[0::2] == (MISSING, ("patient.birth_date", "procedure.planned_date"))


def test_a_date_operator_is_not_met_by_a_value_that_is_not_a_date():
    assert (
        status(
            "administrative.signed_on",
            "age_gte",
            AGE,
            {"administrative": {"signed_on": "last May"}, "procedure": {"planned_date": "2026-01-01"}},
        )
        == NOT_MET
    )


RECENT = {"months": 12, "as_of": "procedure.planned_date"}


def imaged(date: str, planned: str = "2026-12-15") -> dict:
    return {"clinical": {"imaging": {"date": date}}, "procedure": {"planned_date": planned}}


@pytest.mark.parametrize(
    ("date", "planned", "expected"),
    [
        ("2026-12-15", "2026-12-15", MET),  # same day
        ("2025-12-15", "2026-12-15", MET),  # exactly 12 months before
        ("2025-12-14", "2026-12-15", NOT_MET),  # 12 months and a day
        ("2025-12-16", "2026-12-15", MET),
        ("2026-12-16", "2026-12-15", NOT_MET),  # after the planned date
        ("2027-01-01", "2026-12-31", NOT_MET),
        ("2025-01-31", "2026-01-31", MET),  # month ends
        ("2025-01-30", "2026-01-31", NOT_MET),
        ("2025-02-28", "2026-02-28", MET),
    ],
)
def test_within_months_is_inclusive_and_refuses_a_date_after_as_of(date, planned, expected):
    assert status("clinical.imaging.date", "within_months", RECENT, imaged(date, planned)) == expected


def test_within_months_is_missing_when_the_reference_date_is_absent():
    evaluate = compile_condition("clinical.imaging.date", "within_months", RECENT)
    assert evaluate({"clinical": {"imaging": {"date": "2026-01-01"}}})[0::2] == (MISSING, ("procedure.planned_date",))


def test_a_date_condition_inside_an_item_reads_as_of_from_the_case():
    condition = {"path": "date", "operator": "within_months", "value": RECENT}
    case = {"administrative": {"visits": [{"date": "2026-06-01"}]}, "procedure": {"planned_date": "2026-12-15"}}
    assert status("administrative.visits", "any_item", condition, case) == MET


# --------------------------------------------------------------------------- claim-requirement texts


def test_a_claim_requirement_names_the_case_value_or_falls_back_when_it_is_absent():
    text, fallback = (
        "{administrative.clinical_study_nct} on the claim",
        "NCT number of the approved CED study on the claim",
    )
    assert (
        render_template_paths(text, {"administrative": {"clinical_study_nct": "NCT03072927"}}, fallback)
        == "NCT03072927 on the claim"
    )
    assert render_template_paths(text, {}, fallback) == fallback
    assert render_template_paths("Modifier Q0", {}, "") == "Modifier Q0"


def test_a_claim_requirement_without_a_fallback_says_which_value_is_not_given():
    text = "Referral {administrative.referral_number} on the claim"
    assert render_template_paths(text, {}, "") == "Referral [administrative.referral_number not given] on the claim"


# --------------------------------------------------------------------------- validation of a criterion


def test_every_shipped_criterion_is_sound():
    for snapshot in shipped_snapshots():
        for criterion in snapshot["payer"]["policy"]["criteria"]:
            assert criterion_spec_errors(criterion) == [], criterion["key"]


def test_it_refuses_an_unknown_field_path():
    errors = errors_of(path="clinical.imaging.thickness_mm")
    assert list(errors) == ["path"]
    assert "unknown case field path 'clinical.imaging.thickness_mm'" in errors["path"][0]


def test_it_refuses_an_item_path_written_with_brackets_which_no_case_holds():
    errors = errors_of(path="clinical.conservative_care[].outcome", operator="eq", value="failed")
    assert "unknown case field path" in errors["path"][0]


def test_it_allows_any_path_under_the_open_administrative_object():
    assert errors_of(path="administrative.plan.tier", operator="eq", value="gold") == {}
    assert "path" in errors_of(path="administrative..tier", operator="eq", value="gold")


def test_it_refuses_an_unknown_operator_listing_the_known_ones():
    errors = errors_of(operator="greater_than")
    assert list(errors) == ["operator"]
    assert "unknown operator 'greater_than'" in errors["operator"][0]
    assert "gte" in errors["operator"][0]


def test_it_names_both_an_unknown_path_and_an_unknown_operator():
    assert set(errors_of(path="clinical.nope", operator="nope")) == {"path", "operator"}


@pytest.mark.parametrize("operator", [["gte"], {"op": "gte"}, None, 3])
def test_it_refuses_an_operator_that_is_not_a_string_without_crashing(operator):
    assert "operator" in errors_of(operator=operator)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"operator": "gte", "value": "2.5"}, "needs a number"),
        ({"operator": "gte", "value": True}, "needs a number"),
        ({"operator": "between", "value": [3, 1]}, "low ≤ high"),
        ({"operator": "between", "value": [1]}, "[low, high]"),
        ({"operator": "in", "value": []}, "non-empty list"),
        ({"operator": "in", "value": "0275T", "path": "procedure.cpt"}, "non-empty list"),
        ({"operator": "present", "value": 1}, "takes no value"),
        ({"operator": "eq", "value": "2", "path": "clinical.spondylolisthesis_grade"}, "wrong type"),
        ({"operator": "eq", "value": 1.5, "path": "clinical.spondylolisthesis_grade"}, "whole number"),
        ({"operator": "eq", "value": 1, "path": "administrative.expedited"}, "wrong type"),
        ({"operator": "in", "value": ["0275T", 275], "path": "procedure.cpt"}, "wrong type"),
        ({"operator": "eq", "value": "next week", "path": "procedure.planned_date"}, "ISO date"),
        ({"operator": "any_in", "value": [1], "path": "diagnoses"}, "wrong type"),
        ({"operator": "any_in", "value": ["pian"], "path": "clinical.symptoms.types"}, "'pian' is not a value"),
        ({"operator": "all_in", "value": ["L4L5"], "path": "procedure.levels"}, "'L4L5' is not a value"),
        ({"operator": "eq", "value": "PET", "path": "clinical.imaging.modality"}, "'PET' is not a value"),
        ({"operator": "age_gte", "value": {"years": 65}, "path": "patient.birth_date"}, '"as_of"'),
        (
            {
                "operator": "age_gte",
                "value": {"years": "65", "as_of": "procedure.planned_date"},
                "path": "patient.birth_date",
            },
            "number",
        ),
        (
            {
                "operator": "within_months",
                "value": {"months": 12, "as_of": "procedure.cpt"},
                "path": "clinical.imaging.date",
            },
            "as_of must be a date field",
        ),
        ({"operator": "any_item", "value": [], "path": CC}, "one or more conditions"),
        ({"operator": "all_of", "value": {"path": LF}, "path": "clinical"}, "non-empty list of conditions"),
    ],
)
def test_it_refuses_a_value_of_the_wrong_type_naming_the_value(fields, message):
    errors = errors_of(**fields)
    assert list(errors) == ["value"], errors
    assert message in errors["value"][0]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"operator": "is_true", "value": None}, "needs a boolean field"),
        ({"operator": "gte", "value": 3, "path": "procedure.cpt"}, "needs a numeric field"),
        ({"operator": "in", "value": ["L4-L5"], "path": "procedure.levels"}, "use any_in/all_in"),
        ({"operator": "any_in", "value": ["0275T"], "path": "procedure.cpt"}, "needs a list field"),
        ({"operator": "any_item", "value": FAILED_OR_PARTIAL, "path": "diagnoses"}, "needs a list of objects"),
        ({"operator": "age_gte", "value": AGE, "path": "procedure.cpt"}, "needs a date field"),
    ],
)
def test_it_refuses_an_operator_the_field_cannot_take_naming_the_operator(fields, message):
    errors = errors_of(**fields)
    assert list(errors) == ["operator"], errors
    assert message in errors["operator"][0]


def test_it_names_the_bad_condition_inside_a_composite():
    errors = errors_of(
        path="clinical.symptoms",
        operator="all_of",
        value=[
            {"path": "clinical.symptoms.types", "operator": "any_in", "value": ["pain"]},
            {"path": "clinical.symptoms.colour", "operator": "eq", "value": "red"},
            {"path": "clinical.symptoms.duration_months", "operator": "gte", "value": "3"},
        ],
    )
    assert list(errors) == ["value"]
    assert errors["value"][0].startswith("condition 2: path: unknown case field path 'clinical.symptoms.colour'")
    assert errors["value"][1].startswith("condition 3: value:")


def test_it_checks_item_conditions_against_the_item_fields():
    errors = errors_of(path=CC, operator="any_item", value=[{"path": "result", "operator": "eq", "value": "failed"}])
    assert "condition 1: path: unknown case field path 'clinical.conservative_care[].result'" in errors["value"][0]
    errors = errors_of(path=CC, operator="any_item", value=[{"path": "outcome", "operator": "eq", "value": "gone"}])
    assert "'gone' is not a value" in errors["value"][0]
    errors = errors_of(path=CC, operator="any_item", value=[{"path": "outcome", "operator": "any_item", "value": []}])
    assert "condition 1: operator: unknown operator 'any_item'" in errors["value"][0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{thickness} mm", "unknown placeholder {thickness}"),
        ("{actual.real} mm", "unknown placeholder {actual.real}"),
        ("{} mm", "unknown placeholder {}"),
        ("{actual:.1f} mm", "takes no conversion or format"),
        ("{actual!r} mm", "takes no conversion or format"),
        ("{actual mm", "malformed placeholder"),
        ("actual} mm", "malformed placeholder"),
        ("", "non-empty text"),
        ("   ", "non-empty text"),
        (None, "non-empty text"),
    ],
)
def test_it_refuses_bad_reason_placeholders_naming_the_reason(text, message):
    for field in ("reason_met", "reason_not_met", "reason_missing"):
        errors = errors_of(**{field: text})
        assert list(errors) == [field]
        assert message in errors[field][0]


def test_a_label_may_name_the_threshold_but_nothing_else_of_the_case():
    assert errors_of(label="At least {value} mm") == {}
    errors = errors_of(label="{actual} mm")
    assert list(errors) == ["label"] and "unknown placeholder {actual}; allowed: {value}" in errors["label"][0]


def test_it_accepts_the_four_placeholders_and_escaped_braces():
    assert errors_of(reason_met="{actual} at {path} vs {value} ({missing}) {{literal}}") == {}


def test_it_refuses_an_unknown_section_and_a_key_that_is_not_a_slug():
    errors = errors_of(section="billing", key="Ligamentum Flavum")
    assert set(errors) == {"section", "key"}
