"""The case format is written once (coverage/case_format.py): the validator, the API description,
the case form's choices and the letters' words are all made from it, and it is the contract's."""

from __future__ import annotations

import ast
from pathlib import Path

from rest_framework import serializers
from sample_case import sample_case

import coverage.case_format
from coverage.case_format import CASE, SPINAL_LEVELS, Field, choices_of, field_at
from coverage.serializers import CaseSerializer
from coverage.validation import CASE_FIELDS, ENUMS, validate_case

PAYERS = frozenset({"medicare", "medicare-advantage", "va-community-care", "tricare", "ihs-prc", "commercial"})


def _paths(spec: Field, prefix: str = ""):
    for name, child in spec.fields.items():
        yield prefix + name, child
        if child.kind == "object":
            yield from _paths(child, f"{prefix}{name}.")
        elif child.kind == "list" and child.item.kind == "object":
            yield from _paths(child.item, f"{prefix}{name}[].")


def test_it_imports_nothing_of_the_project():
    tree = ast.parse(Path(coverage.case_format.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported <= {"__future__", "dataclasses", "datetime"}, imported


def test_the_validator_knows_exactly_the_format_s_paths_and_choices():
    assert list(CASE_FIELDS) == [path for path, _ in _paths(CASE)]
    for path, spec in _paths(CASE):
        choices = spec.item.choices if spec.kind == "list" and spec.item.kind == "choice" else spec.choices
        if choices:
            assert ENUMS[path] == frozenset(c.value for c in choices), path
    assert ENUMS["procedure.levels"] == frozenset(SPINAL_LEVELS)


def test_field_at_finds_list_item_fields():
    assert field_at("clinical.conservative_care[].outcome").values == ("failed", "partial", "improved")
    assert field_at("clinical.imaging.ligamentum_flavum_mm").high == 30
    assert [c.value for c in choices_of("clinical.symptoms.types")] == ["pain", "numbness", "tingling", "heaviness"]


def test_the_api_description_has_every_field_of_the_format_with_its_choices_in_order():
    def walk(serializer: serializers.Serializer, spec: Field, prefix: str = ""):
        assert list(serializer.fields) == list(spec.fields), prefix
        for name, child in spec.fields.items():
            field = serializer.fields[name]
            if isinstance(field, serializers.ListSerializer):
                walk(field.child, child.item, f"{prefix}{name}[].")
            elif isinstance(field, serializers.Serializer):
                walk(field, child, f"{prefix}{name}.")
            else:
                if isinstance(field, serializers.ListField):
                    field, child = field.child, child.item
                if child.kind == "choice":
                    assert list(field.choices) == list(child.values), prefix + name
                if child.kind == "number":
                    assert (field.min_value, field.max_value) == (child.low, child.high), prefix + name

    walk(CaseSerializer(), CASE)


def test_the_case_form_offers_the_format_s_choices_in_order_with_its_labels():
    from priorauth.pages.case_form import CaseForm, ConservativeCareRow, PriorSurgeryRow

    fields = CaseForm.base_fields
    for name, path in [
        ("patient__sex", "patient.sex"),
        ("procedure__setting", "procedure.setting"),
        ("clinical__imaging__modality", "clinical.imaging.modality"),
    ]:
        assert list(fields[name].choices)[1:] == [(c.value, c.label) for c in choices_of(path)]
    for name, path in [
        ("clinical__symptoms__types", "clinical.symptoms.types"),
        ("clinical__symptoms__locations", "clinical.symptoms.locations"),
    ]:
        assert list(fields[name].choices) == [(c.value, c.label) for c in choices_of(path)]
    assert list(ConservativeCareRow.base_fields["type"].choices)[1:] == [
        (c.value, c.label) for c in choices_of("clinical.conservative_care[].type")
    ]
    assert ("interspinous_device", "Interspinous spacer") in PriorSurgeryRow.base_fields["type"].choices


def test_letters_name_each_setting_in_the_format_s_words():
    from priorauth.letters.compose import SETTINGS

    assert {c.value: c.phrase for c in choices_of("procedure.setting")} == SETTINGS
    assert SETTINGS["asc"] == "ambulatory surgery center"


def test_the_sample_case_fills_every_section_of_the_format_and_is_valid():
    case = sample_case()
    assert set(case) == set(CASE.fields)
    assert validate_case(case, payer_codes=PAYERS) == []


def test_the_api_description_requires_only_what_the_validator_requires_the_payer():
    def required(serializer: serializers.Serializer, prefix: str = ""):
        for name, field in serializer.fields.items():
            if field.required:
                yield prefix + name
            if isinstance(field, serializers.ListSerializer):
                yield from required(field.child, f"{prefix}{name}[].")
            elif isinstance(field, serializers.Serializer):
                yield from required(field, f"{prefix}{name}.")

    assert list(required(CaseSerializer())) == ["payer"]
    case = sample_case()
    case["clinical"]["conservative_care"] = [{"weeks": 6, "outcome": "failed"}]
    case["clinical"]["prior_lumbar_surgeries"] = [{"months_ago": 30}]
    assert validate_case(case, payer_codes=PAYERS) == []
