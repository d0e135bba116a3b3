"""OpenAPI documentation of the case and the determination (docs only: coverage.validation is the
validator, so the API and check_case give the same messages).

The case's serializers are made from the case format (coverage/case_format.py), one class per
object of it, named after it (``Patient`` -> ``PatientSerializer``)."""

from rest_framework import serializers

from coverage.case_format import CASE, Field


def _field(spec: Field, *, item: bool = False) -> serializers.Field:
    """The serializer field of one case field; a list's items (``item``) take no ``required``."""
    kwargs = {} if item or spec.required else {"required": False}
    if spec.help_text:
        kwargs["help_text"] = spec.help_text
    kind = spec.kind
    if kind == "object":
        return _serializer(spec)(**kwargs)
    if kind == "list":
        if spec.item.kind == "object":
            return _serializer(spec.item)(many=True, **kwargs)
        return serializers.ListField(child=_field(spec.item, item=True), **kwargs)
    if kind == "text":
        return serializers.CharField(max_length=200, **kwargs)
    if kind == "choice":
        return serializers.ChoiceField(choices=list(spec.values), **kwargs)
    if kind == "date":
        return serializers.DateField(**kwargs)
    if kind == "boolean":
        return serializers.BooleanField(**kwargs)
    if kind == "number":
        number = serializers.IntegerField if spec.integer else serializers.FloatField
        return number(min_value=spec.low, max_value=spec.high, **kwargs)
    if kind == "npi":
        return serializers.RegexField(r"^\d{10}$", **kwargs)
    if kind == "nct":
        return serializers.RegexField(r"^NCT\d{8}$", **kwargs)
    return serializers.CharField(**kwargs)  # payer, cpt, icd10, level: codes the validator checks


_made: dict[str, type[serializers.Serializer]] = {}


def _serializer(spec: Field) -> type[serializers.Serializer]:
    if spec.name not in _made:
        attrs = {name: _field(child) for name, child in spec.fields.items()}
        attrs["__module__"] = __name__
        if spec.doc:
            attrs["__doc__"] = spec.doc
        _made[spec.name] = type(f"{spec.name}Serializer", (serializers.Serializer,), attrs)
    return _made[spec.name]


CaseSerializer = _serializer(CASE)
PatientSerializer = _made["Patient"]
ProviderSerializer = _made["Provider"]
ProcedureSerializer = _made["Procedure"]
SymptomsSerializer = _made["Symptoms"]
ImagingSerializer = _made["Imaging"]
ConservativeCareSerializer = _made["ConservativeCare"]
PriorSurgerySerializer = _made["PriorSurgery"]
PainSerializer = _made["Pain"]
ClinicalSerializer = _made["Clinical"]
IhsPrcSerializer = _made["IhsPrc"]
AdministrativeSerializer = _made["Administrative"]


class CriterionResultSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    status = serializers.ChoiceField(choices=["met", "not_met", "missing"])
    reason = serializers.CharField()
    required = serializers.BooleanField(help_text="false: advisory, never changes a decision")
    path = serializers.CharField()
    citations = serializers.ListField(child=serializers.CharField())


class SectionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["meets_criteria", "incomplete", "not_met"])
    criteria = CriterionResultSerializer(many=True)


class PolicyRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    version = serializers.CharField(help_text="the payer's version label")
    effective_date = serializers.DateField()
    review_status = serializers.ChoiceField(choices=["verified", "unverified"])
    review_reason = serializers.CharField(allow_blank=True)
    revision = serializers.IntegerField(allow_null=True, help_text="our published revision used for this determination")
    sources = serializers.ListField(child=serializers.CharField())


class PriorAuthorizationSerializer(serializers.Serializer):
    required = serializers.BooleanField(allow_null=True)
    standard_decision_days = serializers.IntegerField(allow_null=True)
    expedited_decision_hours = serializers.IntegerField(allow_null=True)
    notes = serializers.CharField(allow_blank=True)
    review_status = serializers.CharField()
    review_reason = serializers.CharField(allow_blank=True)
    expedited_requested = serializers.BooleanField()
    decision_due_within = serializers.CharField(allow_null=True)


class DeterminationSerializer(serializers.Serializer):
    payer = serializers.CharField()
    payer_name = serializers.CharField()
    policy = PolicyRefSerializer()
    decision = serializers.ChoiceField(choices=["meets_criteria", "incomplete", "not_met"])
    clinical = SectionSerializer()
    payer_rules = SectionSerializer()
    missing = serializers.ListField(child=serializers.CharField())
    claim_requirements = serializers.ListField(child=serializers.CharField())
    prior_authorization = PriorAuthorizationSerializer()
    warnings = serializers.ListField(child=serializers.CharField())


FIELD_ERRORS_SCHEMA = {
    "type": "object",
    "description": 'Each invalid field\'s dotted path maps to its messages, e.g. {"provider.npi": ["invalid NPI check digit"]}.',
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
