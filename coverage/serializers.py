"""OpenAPI documentation of the case and the determination (docs only: coverage.validation is the
validator, so the API and check_case give the same messages)."""

from rest_framework import serializers


class PatientSerializer(serializers.Serializer):
    first_name = serializers.CharField(required=False, max_length=200)
    last_name = serializers.CharField(required=False, max_length=200)
    birth_date = serializers.DateField(required=False, help_text="ISO date in the past, on or after 1900-01-01")
    sex = serializers.ChoiceField(choices=["F", "M", "X", "U"], required=False)
    member_id = serializers.CharField(required=False, max_length=200)


class ProviderSerializer(serializers.Serializer):
    npi = serializers.RegexField(r"^\d{10}$", required=False, help_text="10 digits with a valid NPI check digit")
    name = serializers.CharField(required=False, max_length=200)


class ProcedureSerializer(serializers.Serializer):
    cpt = serializers.CharField(required=False, help_text="CPT/HCPCS code, e.g. 0275T or G0276")
    levels = serializers.ListField(child=serializers.CharField(), required=False, help_text="e.g. L4-L5, L5-S1")
    planned_date = serializers.DateField(required=False)
    setting = serializers.ChoiceField(choices=["hospital_outpatient", "asc", "office"], required=False)


class SymptomsSerializer(serializers.Serializer):
    types = serializers.ListField(
        child=serializers.ChoiceField(choices=["pain", "numbness", "tingling", "heaviness"]), required=False
    )
    locations = serializers.ListField(
        child=serializers.ChoiceField(choices=["back", "legs", "buttocks"]), required=False
    )
    with_standing_or_walking = serializers.BooleanField(required=False)
    duration_months = serializers.FloatField(min_value=0, max_value=1200, required=False)


class ImagingSerializer(serializers.Serializer):
    modality = serializers.ChoiceField(choices=["MRI", "CT"], required=False)
    date = serializers.DateField(required=False)
    ligamentum_flavum_mm = serializers.FloatField(min_value=0, max_value=30, required=False)


class ConservativeCareSerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=[
            "physical_therapy",
            "home_exercise",
            "oral_analgesics",
            "epidural_steroid_injection",
            "chiropractic",
            "other",
        ]
    )
    weeks = serializers.FloatField(min_value=0, max_value=5200, required=False)
    outcome = serializers.ChoiceField(choices=["failed", "partial", "improved"], required=False)


class PriorSurgerySerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=["laminectomy", "laminotomy", "fusion", "interspinous_device", "mild", "other"]
    )
    months_ago = serializers.FloatField(min_value=0, max_value=1200, required=False)


class PainSerializer(serializers.Serializer):
    vas_leg = serializers.FloatField(min_value=0, max_value=100, required=False)
    nprs = serializers.FloatField(min_value=0, max_value=10, required=False)
    odi = serializers.FloatField(min_value=0, max_value=100, required=False)


class ClinicalSerializer(serializers.Serializer):
    symptoms = SymptomsSerializer(required=False)
    imaging = ImagingSerializer(required=False)
    spondylolisthesis_grade = serializers.IntegerField(min_value=0, max_value=5, required=False)
    conservative_care = ConservativeCareSerializer(many=True, required=False)
    prior_lumbar_surgeries = PriorSurgerySerializer(many=True, required=False)
    pain = PainSerializer(required=False)


class IhsPrcSerializer(serializers.Serializer):
    eligible = serializers.BooleanField(required=False)
    alternate_resources_exhausted = serializers.BooleanField(required=False)
    notified = serializers.BooleanField(required=False)


class AdministrativeSerializer(serializers.Serializer):
    clinical_study_nct = serializers.RegexField(r"^NCT\d{8}$", required=False)
    referral_number = serializers.CharField(required=False, max_length=200)
    expedited = serializers.BooleanField(required=False)
    ihs_prc = IhsPrcSerializer(required=False)


class CaseSerializer(serializers.Serializer):
    """A mild® case (the case contract). Any field may be absent: its criterion is then `missing`."""

    payer = serializers.CharField(
        help_text="medicare, medicare-advantage, va-community-care, tricare, ihs-prc, commercial"
    )
    patient = PatientSerializer(required=False)
    provider = ProviderSerializer(required=False)
    procedure = ProcedureSerializer(required=False)
    diagnoses = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="billable ICD-10-CM codes"
    )
    clinical = ClinicalSerializer(required=False)
    administrative = AdministrativeSerializer(required=False, help_text="open object; payer criteria may read any key")


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
