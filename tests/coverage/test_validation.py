"""Case validation (coverage/validation.py) against the case contract. Plain pytest, no database."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sample_case import CONTRACT, SAMPLE_FILE, sample_case
from stdnum import luhn

from coverage import validation
from coverage.validation import (
    CASE_FIELDS,
    ENUMS,
    FieldError,
    field_type,
    icd10_is_billable,
    is_known_path,
    npi_is_valid,
    validate_case,
)

EXAMPLES = CONTRACT  # copies of shared/contract/examples kept in the repository
PAYERS = frozenset({"medicare", "medicare-advantage", "va-community-care", "tricare", "ihs-prc", "commercial"})
TODAY = date(2026, 11, 25)

BASE_CASE = sample_case()  # each test's variation is a deep copy (case_with)


def validate(data, **kwargs):
    kwargs.setdefault("payer_codes", PAYERS)
    kwargs.setdefault("today", TODAY)
    return validate_case(data, **kwargs)


def messages(data, **kwargs) -> list[str]:
    return [str(error) for error in validate(data, **kwargs)]


def case_with(path: str, value) -> dict:
    """The base case with the value at a dotted path (list items by index) replaced."""
    data = copy.deepcopy(BASE_CASE)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        if isinstance(node, list):
            while len(node) <= int(part):
                node.append({})
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
    if isinstance(node, list):
        while len(node) <= int(last):
            node.append({})
        node[int(last)] = value
    else:
        node[last] = value
    return data


def assert_valid(path: str, value):
    assert messages(case_with(path, value)) == []


def assert_invalid(path: str, value, message: str | None = None):
    errors = validate(case_with(path, value))
    assert [error.path for error in errors] == [path], errors
    if message is not None:
        assert errors[0].message == message


# --------------------------------------------------------------------------- contract examples


def test_the_base_case_is_the_sample_case_file_and_no_variation_changes_it():
    case_with("patient.sex", "Q")
    case_with("clinical.conservative_care.0.weeks", -1)
    assert json.loads(SAMPLE_FILE.read_text()) == BASE_CASE


@pytest.mark.parametrize(
    "name",
    [
        "medicare-meets-criteria",
        "medicare-no-study-enrollment",
        "ligament-too-thin",
        "commercial-investigational",
        "imaging-missing",
    ],
)
def test_it_accepts_every_valid_contract_example(name):
    data = json.loads((EXAMPLES / f"{name}.json").read_text())
    assert validate(data) == []


def test_it_rejects_the_invalid_npi_example_with_exactly_one_error_at_provider_npi():
    data = json.loads((EXAMPLES / "invalid-npi.json").read_text())
    expected = json.loads((EXAMPLES / "expected.json").read_text())["invalid-npi"]
    assert validate(data) == [FieldError(expected["field"], "invalid NPI check digit")]


def test_it_accepts_the_examples_without_an_explicit_today():
    assert validate_case(BASE_CASE, payer_codes=PAYERS) == []


# --------------------------------------------------------------------------- FieldError


def test_a_field_error_prints_as_path_colon_message():
    assert str(FieldError("clinical.imaging.ligamentum_flavum_mm", "must be between 0 and 30")) == (
        "clinical.imaging.ligamentum_flavum_mm: must be between 0 and 30"
    )


def test_a_field_error_is_immutable_and_compares_by_value():
    error = FieldError("payer", "is required")
    with pytest.raises(dataclasses.FrozenInstanceError):
        error.path = "x"  # type: ignore[misc]
    assert error == FieldError("payer", "is required")
    assert not hasattr(error, "__dict__")  # slots


# --------------------------------------------------------------------------- root and payer


@pytest.mark.parametrize("data", [None, [], [BASE_CASE], "case", 1, 1.5, True])
def test_it_rejects_a_top_level_that_is_not_an_object(data):
    assert messages(data) == ["(root): must be a JSON object"]


def test_it_requires_the_payer():
    data = copy.deepcopy(BASE_CASE)
    del data["payer"]
    assert messages(data) == ["payer: is required"]


def test_it_treats_a_null_payer_as_missing():
    assert messages(case_with("payer", None)) == ["payer: is required"]


def test_it_accepts_a_case_with_nothing_but_the_payer():
    assert messages({"payer": "tricare"}) == []


def test_it_rejects_an_unknown_payer_and_lists_the_known_ones():
    assert messages(case_with("payer", "aetna")) == [
        "payer: unknown payer 'aetna'; expected one of: commercial, ihs-prc, medicare, "
        "medicare-advantage, tricare, va-community-care"
    ]


def test_it_checks_the_payer_against_the_given_codes_only():
    assert messages(BASE_CASE, payer_codes=["tricare"]) == ["payer: unknown payer 'medicare'; expected one of: tricare"]
    assert messages(case_with("payer", "tricare"), payer_codes=["tricare"]) == []


@pytest.mark.parametrize("value", [1, True, ["medicare"], {"code": "medicare"}])
def test_it_rejects_a_payer_that_is_not_a_string(value):
    assert_invalid("payer", value, "must be a string")


def test_it_shortens_a_very_long_unknown_payer_in_the_message():
    error = validate(case_with("payer", "x" * 500))[0]
    assert len(error.message) < 250


# --------------------------------------------------------------------------- absent, null, unknown


def test_it_treats_null_anywhere_in_an_object_as_absent():
    for path in CASE_FIELDS:
        if "[]" in path or path == "payer":
            continue
        assert messages(case_with(path, None)) == [], path


def test_it_treats_null_inside_a_list_item_object_as_absent():
    assert_valid("clinical.conservative_care.0", {"type": None, "weeks": None, "outcome": None})


def test_it_rejects_an_unknown_top_level_field():
    assert messages(case_with("notes", "x")) == ["notes: unknown field"]


def test_it_rejects_an_unknown_nested_field_even_when_null():
    assert messages(case_with("clinical.imaging.foo", None)) == ["clinical.imaging.foo: unknown field"]


def test_it_rejects_an_unknown_field_in_a_list_item():
    assert messages(case_with("clinical.conservative_care.1.foo", 1)) == [
        "clinical.conservative_care.1.foo: unknown field"
    ]


def test_it_allows_unknown_fields_under_administrative():
    assert_valid("administrative.wiser_state", "TX")
    assert_valid("administrative.anything", {"nested": [1, {"deep": None}]})


def test_it_allows_unknown_fields_under_administrative_ihs_prc():
    assert_valid("administrative.ihs_prc", {"eligible": True, "delivery_area": "Navajo"})


# --------------------------------------------------------------------------- patient


@pytest.mark.parametrize("field", ["first_name", "last_name", "member_id"])
@pytest.mark.parametrize(
    "value,message",
    [("", "must not be empty"), ("   ", "must not be empty"), (7, "must be a string"), (["Ada"], "must be a string")],
)
def test_it_rejects_an_empty_or_non_string_patient_name_or_member_id(field, value, message):
    assert_invalid(f"patient.{field}", value, message)


def test_it_accepts_a_birth_date_of_yesterday():
    assert_valid("patient.birth_date", (TODAY - timedelta(days=1)).isoformat())


@pytest.mark.parametrize("days", [0, 1, 365])
def test_it_rejects_a_birth_date_of_today_or_later(days):
    assert_invalid("patient.birth_date", (TODAY + timedelta(days=days)).isoformat(), "must be a date in the past")


def test_it_uses_the_real_today_when_none_is_given():
    data = case_with("patient.birth_date", date.today().isoformat())
    assert [str(e) for e in validate_case(data, payer_codes=PAYERS)] == [
        "patient.birth_date: must be a date in the past"
    ]


@pytest.mark.parametrize(
    "value",
    [
        "1949-3-2",
        "1949-02-30",
        "19490302",
        "1949-W09-3",
        "1949-03-02T00:00:00",
        " 1949-03-02",
        "0000-01-01",
        "",
        "yesterday",
        19490302,
    ],
)
def test_it_rejects_a_birth_date_that_is_not_an_iso_date(value):
    assert_invalid("patient.birth_date", value, "must be an ISO date (YYYY-MM-DD)")


@pytest.mark.parametrize("sex", ["F", "M", "X", "U"])
def test_it_accepts_each_contract_sex(sex):
    assert_valid("patient.sex", sex)


@pytest.mark.parametrize("sex", ["f", "female", "", 1, True])
def test_it_rejects_any_other_sex(sex):
    assert_invalid("patient.sex", sex, "must be one of: F, M, X, U")


# --------------------------------------------------------------------------- provider


def test_it_rejects_an_npi_with_a_wrong_check_digit():
    assert_invalid("provider.npi", "1234567890", "invalid NPI check digit")


@pytest.mark.parametrize(
    "npi", ["123456789", "12345678931", "12345678a3", "", "1234567893\n", "١٢٣٤٥٦٧٨٩٣", "1234 67893"]
)
def test_it_rejects_an_npi_that_is_not_ten_digits(npi):
    assert_invalid("provider.npi", npi, "must be 10 digits")


@pytest.mark.parametrize("npi", [1234567893, 1234567893.0, True, ["1234567893"]])
def test_it_rejects_an_npi_that_is_not_a_string(npi):
    assert_invalid("provider.npi", npi, "must be a string")


def test_npi_is_valid_uses_the_luhn_digit_over_80840_and_the_first_nine_digits():
    for first_nine in ["123456789", "100000000", "999999999", "198765432"]:
        good = first_nine + luhn.calc_check_digit("80840" + first_nine)
        assert npi_is_valid(good), good
        for digit in "0123456789":
            if first_nine + digit != good:
                assert not npi_is_valid(first_nine + digit)


def test_npi_is_valid_rejects_non_strings_and_wrong_lengths():
    assert npi_is_valid("1234567893")
    assert not npi_is_valid(1234567893)  # type: ignore[arg-type]
    assert not npi_is_valid("01234567893")
    assert not npi_is_valid("")


def test_it_rejects_an_empty_provider_name():
    assert_invalid("provider.name", "", "must not be empty")


# --------------------------------------------------------------------------- procedure


@pytest.mark.parametrize("cpt", ["0275T", "G0276", "64483", "0001F", "0001U", "A1234", "V9999"])
def test_it_accepts_cpt_and_hcpcs_codes(cpt):
    assert_valid("procedure.cpt", cpt)


@pytest.mark.parametrize("cpt", ["0275t", "275T", "0275TT", "02750T", "W1234", "G027", "g0276", "0275X", "", " 0275T"])
def test_it_rejects_a_malformed_cpt_code(cpt):
    assert_invalid("procedure.cpt", cpt, "must be a CPT/HCPCS code, e.g. 0275T or G0276")


def test_it_rejects_a_cpt_code_that_is_not_a_string():
    assert_invalid("procedure.cpt", 64483, "must be a string")


@pytest.mark.parametrize("level", ["L1-L2", "L4-L5", "L5-S1", "T12-L1", "C7-T1", "C1-C2", "T9-T10", "T11-T12"])
def test_it_accepts_two_adjacent_vertebrae_as_a_level(level):
    assert_valid("procedure.levels", [level])


@pytest.mark.parametrize(
    "level",
    [
        "L4-L6",
        "L5-L4",
        "L4",
        "L4-",
        "l4-l5",
        "L4–L5",
        "L4 - L5",
        "L5-L6",
        "S1-S2",
        "L0-L1",
        "C8-T1",
        "T13-L1",
        "C7-C8",
        "L4-L5-S1",
        "L4/L5",
        "",
    ],
)
def test_it_rejects_a_malformed_level(level):
    errors = validate(case_with("procedure.levels", ["L3-L4", level]))
    assert [str(e) for e in errors] == ["procedure.levels.1: must be two adjacent vertebrae, e.g. L4-L5 or L5-S1"]


def test_it_accepts_an_empty_level_list():
    assert_valid("procedure.levels", [])


def test_it_rejects_levels_that_are_not_a_list():
    assert_invalid("procedure.levels", "L4-L5", "must be a list")


def test_it_rejects_a_level_that_is_not_a_string():
    assert messages(case_with("procedure.levels", ["L4-L5", 45, None])) == [
        "procedure.levels.1: must be a string",
        "procedure.levels.2: must be a string",
    ]


def test_it_accepts_any_iso_planned_date_and_rejects_others():
    assert_valid("procedure.planned_date", "2020-01-01")
    assert_invalid("procedure.planned_date", "2026-13-01", "must be an ISO date (YYYY-MM-DD)")
    assert_invalid("procedure.planned_date", "12/15/2026", "must be an ISO date (YYYY-MM-DD)")


@pytest.mark.parametrize("setting", ["hospital_outpatient", "asc", "office"])
def test_it_accepts_each_contract_setting(setting):
    assert_valid("procedure.setting", setting)


def test_it_rejects_any_other_setting():
    assert_invalid("procedure.setting", "inpatient", "must be one of: hospital_outpatient, asc, office")


# --------------------------------------------------------------------------- diagnoses


@pytest.mark.parametrize("code", ["M48.062", "M48062", "M48.061", "M48.07", "Z00.6", "A33", "T40.2X1A"])
def test_it_accepts_a_billable_icd10_code(code):
    assert_valid("diagnoses", [code])
    assert icd10_is_billable(code)


@pytest.mark.parametrize(
    "code",
    [
        "M48.06",
        "M4806",
        "M48",
        "M48.0",
        "M40-M54",
        "19",
        "m48.062",
        " M48.062",
        "M48.062 ",
        "M48.0621",
        "M48.06X",
        "M48.",
        "M4.8062",
        "XYZ",
        "Z00.60",
        "S32.001",
        "",
    ],
)
def test_it_rejects_a_non_billable_icd10_code(code):
    assert not icd10_is_billable(code)
    errors = validate(case_with("diagnoses", ["M48.062", code]))
    assert [e.path for e in errors] == ["diagnoses.1"]
    assert errors[0].message.endswith("is not a billable ICD-10-CM code")


def test_icd10_is_billable_returns_false_for_non_strings():
    for value in [None, 48062, ["M48.062"], {"code": "M48.062"}]:
        assert icd10_is_billable(value) is False  # type: ignore[arg-type]


def test_it_names_the_rejected_diagnosis_code_in_the_message():
    assert messages(case_with("diagnoses", ["M48.06"])) == ["diagnoses.0: 'M48.06' is not a billable ICD-10-CM code"]


def test_it_rejects_diagnoses_that_are_not_a_list_of_strings():
    assert_invalid("diagnoses", "M48.062", "must be a list")
    assert messages(case_with("diagnoses", [{"code": "M48.062"}])) == ["diagnoses.0: must be a string"]


def test_it_accepts_an_empty_diagnosis_list():
    assert_valid("diagnoses", [])


# --------------------------------------------------------------------------- clinical.symptoms


def test_it_accepts_every_symptom_type_and_location():
    assert_valid("clinical.symptoms.types", ["pain", "numbness", "tingling", "heaviness"])
    assert_valid("clinical.symptoms.locations", ["back", "legs", "buttocks"])
    assert_valid("clinical.symptoms.types", [])
    assert_valid("clinical.symptoms.types", ["pain", "pain"])


def test_it_rejects_a_symptom_type_outside_the_contract_list():
    assert messages(case_with("clinical.symptoms.types", ["pain", "burning", ["pain"]])) == [
        "clinical.symptoms.types.1: must be one of: pain, numbness, tingling, heaviness",
        "clinical.symptoms.types.2: must be one of: pain, numbness, tingling, heaviness",
    ]


def test_it_rejects_a_symptom_location_outside_the_contract_list():
    assert messages(case_with("clinical.symptoms.locations", ["neck"])) == [
        "clinical.symptoms.locations.0: must be one of: back, legs, buttocks"
    ]


def test_it_rejects_symptom_types_that_are_not_a_list():
    assert_invalid("clinical.symptoms.types", "pain", "must be a list")


@pytest.mark.parametrize("value", [1, 0, "true", "yes", "null"])
def test_it_rejects_a_with_standing_or_walking_that_is_not_a_boolean(value):
    assert_invalid("clinical.symptoms.with_standing_or_walking", value, "must be true or false")


def test_it_accepts_false_for_with_standing_or_walking():
    assert_valid("clinical.symptoms.with_standing_or_walking", False)


@pytest.mark.parametrize("value", [0, 0.0, 0.5, 3, 600])
def test_it_accepts_a_non_negative_symptom_duration(value):
    assert_valid("clinical.symptoms.duration_months", value)


def test_it_rejects_a_negative_symptom_duration():
    assert_invalid("clinical.symptoms.duration_months", -0.1, "must be between 0 and 1200")


@pytest.mark.parametrize("value", [True, False, "9", [9], {"months": 9}])
def test_it_rejects_a_symptom_duration_that_is_not_a_number(value):
    assert_invalid("clinical.symptoms.duration_months", value, "must be a number")


# --------------------------------------------------------------------------- clinical.imaging


@pytest.mark.parametrize("modality", ["MRI", "CT"])
def test_it_accepts_mri_and_ct(modality):
    assert_valid("clinical.imaging.modality", modality)


@pytest.mark.parametrize("modality", ["mri", "X-ray", "", 1])
def test_it_rejects_any_other_imaging_modality(modality):
    assert_invalid("clinical.imaging.modality", modality, "must be one of: MRI, CT")


def test_it_rejects_an_imaging_date_that_is_not_iso():
    assert_invalid("clinical.imaging.date", "2026-09-31", "must be an ISO date (YYYY-MM-DD)")


@pytest.mark.parametrize("value", [0, 0.0, 2.5, 30, 30.0, 29.99])
def test_it_accepts_a_ligamentum_flavum_thickness_from_0_to_30(value):
    assert_valid("clinical.imaging.ligamentum_flavum_mm", value)


@pytest.mark.parametrize("value", [30.01, 31, -0.1, -1, 10**400, -(10**400)])
def test_it_rejects_a_ligamentum_flavum_thickness_outside_0_to_30(value):
    assert_invalid("clinical.imaging.ligamentum_flavum_mm", value, "must be between 0 and 30")


@pytest.mark.parametrize("value", [True, False, "4.1", math.nan, math.inf, -math.inf, [4.1]])
def test_it_rejects_a_ligamentum_flavum_thickness_that_is_not_a_finite_number(value):
    assert_invalid("clinical.imaging.ligamentum_flavum_mm", value, "must be a number")


# --------------------------------------------------------------------------- spondylolisthesis


@pytest.mark.parametrize("grade", [0, 1, 2, 5, 1.0, 0.0, 5.0])
def test_it_accepts_a_spondylolisthesis_grade_from_0_to_5_including_integral_floats(grade):
    assert_valid("clinical.spondylolisthesis_grade", grade)


@pytest.mark.parametrize("grade", [-1, 6, 6.0, -1.0, 100])
def test_it_rejects_a_spondylolisthesis_grade_outside_0_to_5(grade):
    assert_invalid("clinical.spondylolisthesis_grade", grade, "must be between 0 and 5")


@pytest.mark.parametrize("grade", [1.5, 0.1, True, False, "1", "I", math.nan, math.inf])
def test_it_rejects_a_spondylolisthesis_grade_that_is_not_an_integer(grade):
    assert_invalid("clinical.spondylolisthesis_grade", grade, "must be an integer")


# --------------------------------------------------------------------------- conservative care


@pytest.mark.parametrize(
    "care_type",
    ["physical_therapy", "home_exercise", "oral_analgesics", "epidural_steroid_injection", "chiropractic", "other"],
)
@pytest.mark.parametrize("outcome", ["failed", "partial", "improved"])
def test_it_accepts_each_conservative_care_type_and_outcome(care_type, outcome):
    assert_valid("clinical.conservative_care", [{"type": care_type, "weeks": 0, "outcome": outcome}])


def test_it_accepts_an_empty_conservative_care_list_and_an_empty_entry():
    assert_valid("clinical.conservative_care", [])
    assert_valid("clinical.conservative_care", [{}])


def test_it_names_the_conservative_care_item_by_index():
    data = case_with("clinical.conservative_care.1.outcome", "worse")
    assert messages(data) == ["clinical.conservative_care.1.outcome: must be one of: failed, partial, improved"]


def test_it_rejects_an_unknown_conservative_care_type():
    assert_invalid(
        "clinical.conservative_care.0.type",
        "acupuncture",
        "must be one of: physical_therapy, home_exercise, oral_analgesics, "
        "epidural_steroid_injection, chiropractic, other",
    )


def test_it_rejects_negative_conservative_care_weeks():
    assert_valid("clinical.conservative_care.0.weeks", 0)
    assert_invalid("clinical.conservative_care.0.weeks", -0.5, "must be between 0 and 5200")
    assert_invalid("clinical.conservative_care.0.weeks", "8", "must be a number")


def test_it_rejects_a_conservative_care_item_that_is_not_an_object():
    assert messages(case_with("clinical.conservative_care", ["physical_therapy", None, []])) == [
        "clinical.conservative_care.0: must be an object",
        "clinical.conservative_care.1: must be an object",
        "clinical.conservative_care.2: must be an object",
    ]


def test_it_rejects_conservative_care_that_is_not_a_list():
    assert_invalid("clinical.conservative_care", {"type": "other"}, "must be a list")


# --------------------------------------------------------------------------- prior surgeries


@pytest.mark.parametrize("surgery", ["laminectomy", "laminotomy", "fusion", "interspinous_device", "mild", "other"])
def test_it_accepts_each_prior_surgery_type(surgery):
    assert_valid("clinical.prior_lumbar_surgeries", [{"type": surgery, "months_ago": 0}])


def test_it_rejects_an_unknown_prior_surgery_type_and_negative_months_ago():
    data = case_with(
        "clinical.prior_lumbar_surgeries",
        [{"type": "discectomy", "months_ago": 3}, {"type": "fusion", "months_ago": -1}],
    )
    assert messages(data) == [
        "clinical.prior_lumbar_surgeries.0.type: must be one of: laminectomy, laminotomy, "
        "fusion, interspinous_device, mild, other",
        "clinical.prior_lumbar_surgeries.1.months_ago: must be between 0 and 1200",
    ]


# --------------------------------------------------------------------------- pain scores


@pytest.mark.parametrize("field,high", [("vas_leg", 100), ("nprs", 10), ("odi", 100)])
def test_it_checks_each_pain_score_at_its_bounds(field, high):
    path = f"clinical.pain.{field}"
    for good in [0, high, high / 2, float(high)]:
        assert_valid(path, good)
    for bad in [-0.1, high + 0.1, -1, high + 1]:
        assert_invalid(path, bad, f"must be between 0 and {high}")
    for wrong in [True, "7", "null", [7]]:
        assert_invalid(path, wrong, "must be a number")


def test_it_accepts_a_pain_object_with_only_some_scores():
    assert_valid("clinical.pain", {"nprs": 6})
    assert_valid("clinical.pain", {})


# --------------------------------------------------------------------------- administrative


def test_it_accepts_an_nct_number_of_eight_digits():
    assert_valid("administrative.clinical_study_nct", "NCT02093520")


@pytest.mark.parametrize("nct", ["NCT0307292", "NCT030729270", "nct03072927", "03072927", "NCT 03072927", ""])
def test_it_rejects_a_malformed_nct_number(nct):
    assert_invalid("administrative.clinical_study_nct", nct, "must be NCT followed by 8 digits")


def test_it_rejects_an_nct_number_that_is_not_a_string():
    assert_invalid("administrative.clinical_study_nct", 3072927, "must be a string")


def test_it_checks_the_referral_number_and_expedited_flag():
    assert_valid("administrative.referral_number", "VA0012345")
    assert_invalid("administrative.referral_number", "", "must not be empty")
    assert_invalid("administrative.referral_number", 12345, "must be a string")
    assert_valid("administrative.expedited", True)
    assert_invalid("administrative.expedited", "false", "must be true or false")
    assert_invalid("administrative.expedited", 0, "must be true or false")


@pytest.mark.parametrize("flag", ["eligible", "alternate_resources_exhausted", "notified"])
def test_it_requires_the_ihs_prc_flags_to_be_booleans(flag):
    assert_valid(f"administrative.ihs_prc.{flag}", True)
    assert_valid(f"administrative.ihs_prc.{flag}", False)
    assert_invalid(f"administrative.ihs_prc.{flag}", 1, "must be true or false")


def test_it_rejects_ihs_prc_that_is_not_an_object():
    assert_invalid("administrative.ihs_prc", True, "must be an object")


def test_it_rejects_administrative_that_is_not_an_object():
    assert_invalid("administrative", ["NCT03072927"], "must be an object")


# --------------------------------------------------------------------------- containers


@pytest.mark.parametrize(
    "path",
    [
        "patient",
        "provider",
        "procedure",
        "clinical",
        "clinical.symptoms",
        "clinical.imaging",
        "clinical.pain",
        "administrative",
    ],
)
@pytest.mark.parametrize("value", [[], "x", 1, True])
def test_it_stops_at_a_wrong_typed_object_with_one_error(path, value):
    assert messages(case_with(path, value)) == [f"{path}: must be an object"]


def test_a_wrong_typed_container_does_not_stop_its_siblings_being_checked():
    data = copy.deepcopy(BASE_CASE)
    data["clinical"]["symptoms"] = ["pain"]
    data["clinical"]["imaging"]["ligamentum_flavum_mm"] = 31
    data["provider"] = "Dana"
    data["administrative"]["expedited"] = "no"
    assert messages(data) == [
        "provider: must be an object",
        "clinical.symptoms: must be an object",
        "clinical.imaging.ligamentum_flavum_mm: must be between 0 and 30",
        "administrative.expedited: must be true or false",
    ]


# --------------------------------------------------------------------------- order and collection


def test_it_reports_every_problem_in_document_order():
    data = copy.deepcopy(BASE_CASE)
    data["payer"] = "nobody"
    data["patient"]["sex"] = "female"
    data["patient"]["birth_date"] = "2999-01-01"
    data["provider"]["npi"] = "123"
    data["procedure"]["levels"] = ["L4-L5", "L5-L6"]
    data["diagnoses"] = ["M48.06", "M48.062", "Q"]
    data["clinical"]["imaging"]["ligamentum_flavum_mm"] = -1
    data["clinical"]["conservative_care"][0]["weeks"] = -2
    data["clinical"]["conservative_care"][1]["outcome"] = "bad"
    data["administrative"]["clinical_study_nct"] = "NCT1"
    assert [e.path for e in validate(data)] == [
        "payer",
        "patient.birth_date",
        "patient.sex",
        "provider.npi",
        "procedure.levels.1",
        "diagnoses.0",
        "diagnoses.2",
        "clinical.imaging.ligamentum_flavum_mm",
        "clinical.conservative_care.0.weeks",
        "clinical.conservative_care.1.outcome",
        "administrative.clinical_study_nct",
    ]


def test_document_order_follows_the_order_of_the_submitted_keys():
    data = {
        "clinical": {"pain": {"odi": 101}, "imaging": {"ligamentum_flavum_mm": 31}},
        "provider": {"npi": "1"},
        "payer": "medicare",
        "patient": {"sex": "?"},
    }
    assert [e.path for e in validate(data)] == [
        "clinical.pain.odi",
        "clinical.imaging.ligamentum_flavum_mm",
        "provider.npi",
        "patient.sex",
    ]


def test_a_missing_payer_is_reported_first():
    data = {"patient": {"sex": "?"}}
    assert [e.path for e in validate(data)] == ["payer", "patient.sex"]


def test_it_does_not_change_the_input():
    data = copy.deepcopy(BASE_CASE)
    data["clinical"]["imaging"]["ligamentum_flavum_mm"] = 99
    before = copy.deepcopy(data)
    validate(data)
    assert data == before


# --------------------------------------------------------------------------- CASE_FIELDS and ENUMS


def test_case_fields_lists_every_field_of_the_contract_with_its_type():
    expected = {
        "payer": "string",
        "patient": "object",
        "patient.first_name": "string",
        "patient.last_name": "string",
        "patient.birth_date": "date",
        "patient.sex": "string",
        "patient.member_id": "string",
        "provider": "object",
        "provider.npi": "string",
        "provider.name": "string",
        "procedure": "object",
        "procedure.cpt": "string",
        "procedure.levels": "list[string]",
        "procedure.planned_date": "date",
        "procedure.setting": "string",
        "diagnoses": "list[string]",
        "clinical": "object",
        "clinical.symptoms": "object",
        "clinical.symptoms.types": "list[string]",
        "clinical.symptoms.locations": "list[string]",
        "clinical.symptoms.with_standing_or_walking": "boolean",
        "clinical.symptoms.duration_months": "number",
        "clinical.imaging": "object",
        "clinical.imaging.modality": "string",
        "clinical.imaging.date": "date",
        "clinical.imaging.ligamentum_flavum_mm": "number",
        "clinical.spondylolisthesis_grade": "integer",
        "clinical.conservative_care": "list[object]",
        "clinical.conservative_care[].type": "string",
        "clinical.conservative_care[].weeks": "number",
        "clinical.conservative_care[].outcome": "string",
        "clinical.prior_lumbar_surgeries": "list[object]",
        "clinical.prior_lumbar_surgeries[].type": "string",
        "clinical.prior_lumbar_surgeries[].months_ago": "number",
        "clinical.pain": "object",
        "clinical.pain.vas_leg": "number",
        "clinical.pain.nprs": "number",
        "clinical.pain.odi": "number",
        "administrative": "object",
        "administrative.clinical_study_nct": "string",
        "administrative.referral_number": "string",
        "administrative.expedited": "boolean",
        "administrative.ihs_prc": "object",
        "administrative.ihs_prc.eligible": "boolean",
        "administrative.ihs_prc.alternate_resources_exhausted": "boolean",
        "administrative.ihs_prc.notified": "boolean",
    }
    assert expected == CASE_FIELDS


def test_enums_hold_the_contract_value_lists():
    assert ENUMS["patient.sex"] == {"F", "M", "X", "U"}
    assert ENUMS["procedure.setting"] == {"hospital_outpatient", "asc", "office"}
    assert ENUMS["clinical.imaging.modality"] == {"MRI", "CT"}
    assert ENUMS["clinical.symptoms.types"] == {"pain", "numbness", "tingling", "heaviness"}
    assert ENUMS["clinical.symptoms.locations"] == {"back", "legs", "buttocks"}
    assert ENUMS["clinical.conservative_care[].type"] == {
        "physical_therapy",
        "home_exercise",
        "oral_analgesics",
        "epidural_steroid_injection",
        "chiropractic",
        "other",
    }
    assert ENUMS["clinical.conservative_care[].outcome"] == {"failed", "partial", "improved"}
    assert ENUMS["clinical.prior_lumbar_surgeries[].type"] == {
        "laminectomy",
        "laminotomy",
        "fusion",
        "interspinous_device",
        "mild",
        "other",
    }
    assert {"L1-L2", "L5-S1", "T12-L1", "C7-T1"} <= ENUMS["procedure.levels"]
    assert len(ENUMS["procedure.levels"]) == 24
    assert all(isinstance(values, frozenset) for values in ENUMS.values())
    assert set(ENUMS) <= set(CASE_FIELDS)


def _concrete(path: str) -> str:
    return path.replace("[]", ".0")


def _wrong_value_for(tag: str):
    return "not an object" if tag == "object" else {"wrong": "type"}


def test_the_validator_checks_every_path_in_case_fields():
    for path, tag in CASE_FIELDS.items():
        data = case_with(_concrete(path), _wrong_value_for(tag))
        assert [e.path for e in validate(data)] == [_concrete(path)], path


def test_the_validator_accepts_every_enum_value_at_its_path():
    for path, values in ENUMS.items():
        for value in values:
            if CASE_FIELDS[path].startswith("list["):
                data = case_with(_concrete(path), [value])
            else:
                data = case_with(_concrete(path), value)
            assert validate(data) == [], (path, value)


@pytest.mark.parametrize(
    "path",
    [
        "payer",
        "clinical.imaging.ligamentum_flavum_mm",
        "clinical.conservative_care[].outcome",
        "administrative",
        "administrative.ihs_prc.eligible",
        "administrative.wiser.state",
        "administrative.anything",
    ],
)
def test_is_known_path_accepts_case_paths_and_anything_under_administrative(path):
    assert is_known_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "clinical.imaging.foo",
        "clinical.conservative_care.0.outcome",
        "patient.age",
        "",
        "administrative.",
        "administrative..x",
        "administrativex",
        "imaging",
        None,
        3,
    ],
)
def test_is_known_path_rejects_anything_else(path):
    assert not is_known_path(path)


def test_field_type_gives_the_tag_or_none():
    assert field_type("clinical.imaging.ligamentum_flavum_mm") == "number"
    assert field_type("clinical.conservative_care[].weeks") == "number"
    assert field_type("clinical.spondylolisthesis_grade") == "integer"
    assert field_type("administrative.ihs_prc.eligible") == "boolean"
    assert field_type("administrative.wiser_state") is None
    assert field_type("clinical.nope") is None


# --------------------------------------------------------------------------- junk never raises

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["M48.062", "M48.06", "L4-L5", "1234567893", "2026-02-30", "NCT03072927"])
)
_json = st.recursive(
    _json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=8) | st.sampled_from(sorted({p.split(".")[-1] for p in CASE_FIELDS})),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)
_paths = st.sampled_from(sorted(_concrete(p) for p in CASE_FIELDS))


def _assert_well_formed(errors):
    assert isinstance(errors, list)
    for error in errors:
        assert isinstance(error, FieldError)
        assert isinstance(error.path, str) and error.path
        assert isinstance(error.message, str) and error.message


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_json)
def test_it_never_raises_on_arbitrary_json(data):
    _assert_well_formed(validate(data))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=_paths, junk=_json)
def test_it_never_raises_on_junk_at_any_case_path(path, junk):
    errors = validate(case_with(path, junk))
    _assert_well_formed(errors)
    # the junk can only cause problems at or below its own path
    for error in errors:
        assert error.path == path or error.path.startswith(path + "."), (path, error)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    top=st.dictionaries(
        st.sampled_from(sorted(k for k in CASE_FIELDS if "." not in k)) | st.text(max_size=5),
        _json,
        max_size=8,
    )
)
def test_it_never_raises_on_junk_top_level_fields(top):
    _assert_well_formed(validate(top))


# --------------------------------------------------------------------------- the fast pass
# validate_case first asks a generated function whether the case is valid at all, and runs the
# checks that name each problem only when it is not: the two must agree on every input.

_EDGE_VALUES = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        -1,
        1,
        2,
        2.5,
        5,
        5.0,
        5.5,
        10,
        30,
        30.0,
        30.5,
        31,
        100,
        101,
        1200,
        1201,
        5200,
        5201,
        -0.0,
        1e308,
        float("nan"),
        float("inf"),
        -float("inf"),
        10**30,
        "",
        " ",
        "\t",
        "x",
        "x" * 200,
        "x" * 201,
        "a\x00b",
        "a\ud800b",
        "é",
        "F",
        "f",
        "MRI",
        "mri",
        "1900-01-01",
        "1899-12-31",
        "2199-12-31",
        "2200-01-01",
        "2026-11-24",
        "2026-11-25",
        "2026-11-26",
        "2026-02-29",
        "2026-1-01",
        "20261124",
        "M48.062",
        "M48062",
        "M48.06",
        "m48.062",
        " M48.062",
        "L4-L5",
        "L5-S1",
        "L4-L6",
        "1234567893",
        "1234567890",
        "123456789",
        "0275T",
        "G0276",
        "0275t",
        "NCT03072927",
        "NCT0307292",
        "medicare",
        "acme",
        [],
        {},
        ["L4-L5"],
        [None],
        [{}],
        {"x": 1},
    ]
)


def _agree(data) -> None:
    fast = validation._case_is_valid(data, PAYERS, TODAY)
    errors = validation._case_errors(data, PAYERS, TODAY)
    assert fast == (not errors), errors


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=_paths, value=_EDGE_VALUES | _json)
def test_the_fast_pass_agrees_with_the_checks_at_any_case_path(path, value):
    _agree(case_with(path, value))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    top=st.dictionaries(
        st.sampled_from(sorted(k for k in CASE_FIELDS if "." not in k)) | st.text(max_size=5),
        _EDGE_VALUES | _json,
        max_size=8,
    )
)
def test_the_fast_pass_agrees_with_the_checks_on_junk_top_level_fields(top):
    _agree(top)
    _agree({**BASE_CASE, **top})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_json)
def test_the_fast_pass_agrees_with_the_checks_on_arbitrary_json(data):
    _agree(data)


@pytest.mark.parametrize("count", [0, 1, 24, 25, 26, 50, 51])
@pytest.mark.parametrize(
    "path", ["procedure.levels", "diagnoses", "clinical.symptoms.types", "clinical.conservative_care"]
)
def test_the_fast_pass_agrees_with_the_checks_on_list_lengths(path, count):
    sample = {"procedure.levels": "L4-L5", "diagnoses": "M48.062", "clinical.symptoms.types": "pain"}
    item = sample.get(path, {"type": "other", "weeks": 1, "outcome": "failed"})
    _agree(case_with(path, [item] * count))


@pytest.mark.parametrize("keys", [1, 50, 51])
@pytest.mark.parametrize("depth", [1, 3, 4, 5])
def test_the_fast_pass_agrees_with_the_checks_under_the_open_administrative(keys, depth):
    nested: object = "x"
    for _ in range(depth):
        nested = {"k": nested}
    administrative = {f"key{i}": i for i in range(keys - 1)} | {"deep": nested}
    _agree(case_with("administrative", administrative))
    _agree(case_with("administrative", {"k" * 100: 1, "z": [1.5, float("inf")]}))
    _agree(case_with("administrative", {"k" * 101: 1}))
    _agree(case_with("administrative.ihs_prc", {"eligible": True, "extra\x00": 1}))


def test_the_fast_pass_agrees_with_the_checks_on_the_benchmark_cases():
    from bench.cases import generate_cases

    cases = generate_cases(3000, seed=7, invalid_share=0.3)
    for generated in cases:
        _agree(generated.data)
    assert sum(not validate(g.data, today=date.today()) for g in cases) == sum(g.valid for g in cases)
