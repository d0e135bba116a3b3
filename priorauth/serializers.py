"""Input and output shapes of the prior-authorization API (priorauth/api.py), named uniquely so the
OpenAPI components do not collide. Inputs only parse and type-check; the services validate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from coverage.serializers import (
    AdministrativeSerializer,
    ClinicalSerializer,
    DeterminationSerializer,
    ProcedureSerializer,
)
from policies.models import DenialCategory
from priorauth.models import (
    TRANSITIONS,
    Appeal,
    Attachment,
    AuditEntry,
    AuthorizationRequest,
    Patient,
    PayerDecision,
    Provider,
    RecheckResult,
    Sending,
    SendMethod,
    Status,
)
from priorauth.selectors import MAX_ID


class TextField(serializers.CharField):
    """A CharField that also refuses text a database cannot store (lone surrogates; DRF already
    refuses NUL characters)."""

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise serializers.ValidationError("Must be valid Unicode text.") from None
        return value


class InputSerializer(serializers.Serializer):
    """The base of every API body: a field the endpoint does not know is a 400 naming it, not
    silently dropped (a misspelt `payer_referance` would otherwise be "saved" as nothing)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = [key for key in data if key not in writable]
            if unknown:
                raise serializers.ValidationError({str(key): ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


class NoBodyInputSerializer(InputSerializer):
    """The body of an action that takes none: any field in it is unknown."""


def IdField(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class EnteredCaseSerializer(serializers.Serializer):
    """The case as billing staff enter it: the contract's case without payer, patient and provider,
    which the request's records supply."""

    procedure = ProcedureSerializer(required=False)
    diagnoses = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="billable ICD-10-CM codes"
    )
    clinical = ClinicalSerializer(required=False)
    administrative = AdministrativeSerializer(
        required=False, help_text="open object; `expedited: true` asks for the payer's expedited decision time"
    )


@extend_schema_field(EnteredCaseSerializer)
class CaseField(serializers.JSONField):
    pass


# ---------------------------------------------------------------------------------------------
# Inputs


class RequestCreateInputSerializer(InputSerializer):
    patient = IdField(help_text="id of a patient of your practice")
    treating_physician = IdField(help_text="id of a provider of your practice")
    payer = serializers.SlugField(max_length=64, help_text="payer code, e.g. medicare-advantage")
    case = CaseField(required=False, default=dict, help_text="validated against the case contract; may be incomplete")


class RequestUpdateInputSerializer(InputSerializer):
    patient = IdField(required=False)
    treating_physician = IdField(required=False)
    payer = serializers.SlugField(max_length=64, required=False)
    case = CaseField(required=False, help_text="replaces the entered case")


class NoteInputSerializer(InputSerializer):
    note = TextField(required=False, allow_blank=True, default="", max_length=2000)


class FollowUpInputSerializer(InputSerializer):
    follow_up_on = serializers.DateField(
        allow_null=True,
        help_text="the day to follow up with the payer (YYYY-MM-DD), for a payer that sets no decision deadline; "
        "null clears it",
        error_messages={"invalid": "Enter a real date as YYYY-MM-DD, e.g. 2026-12-15."},
    )


class RequestSendInputSerializer(NoteInputSerializer):
    sent_at = serializers.DateTimeField(required=False, help_text="when the payer received it; default now")
    method = serializers.ChoiceField(
        choices=SendMethod.choices, required=False, allow_blank=True, default="", help_text="how it was sent"
    )
    packet = IdField(required=False, allow_null=True, help_text="id of the fax packet sent (its SHA-256 is recorded)")


class DecisionInputSerializer(InputSerializer):
    decision = serializers.ChoiceField(choices=PayerDecision.Kind.choices)
    received_at = serializers.DateTimeField(help_text="date (and time) of the payer's decision notice")
    payer_reference = TextField(
        required=False, allow_blank=True, default="", max_length=64, help_text="the payer's case or denial number"
    )
    authorization_number = TextField(required=False, allow_blank=True, default="", max_length=64)
    valid_from = serializers.DateField(required=False, allow_null=True, default=None)
    valid_to = serializers.DateField(required=False, allow_null=True, default=None)
    stated_reason = TextField(
        required=False, allow_blank=True, default="", max_length=5000, help_text="required for a denial"
    )
    reason_category = serializers.ChoiceField(
        choices=DenialCategory.choices, required=False, allow_blank=True, default="", help_text="required for a denial"
    )
    denial_code = TextField(
        required=False,
        allow_blank=True,
        default="",
        max_length=32,
        help_text="the payer's reason code or CARC, when the notice gives one",
    )
    deficiencies = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        default=list,
        max_length=30,
        help_text='each deficiency the denial names: {"criterion": a criterion key of the determination, or "", "text": the notice\'s words}',
    )


class AppealStartInputSerializer(NoteInputSerializer):
    filed_at = serializers.DateTimeField(required=False, help_text="when the appeal was filed; default now")
    expedited = serializers.BooleanField(required=False, default=False)


class AttachmentUploadInputSerializer(InputSerializer):
    kind = serializers.ChoiceField(choices=Attachment.Kind.choices)
    file = serializers.FileField(help_text="PDF, JPEG, PNG or TIFF")


class PatientInputSerializer(InputSerializer):
    first_name = TextField(max_length=100)
    last_name = TextField(max_length=100)
    birth_date = serializers.DateField()
    sex = serializers.ChoiceField(choices=Patient.Sex.choices)
    member_id = TextField(max_length=64)


class DueFilterSerializer(serializers.Serializer):
    within_days = serializers.IntegerField(required=False, default=3, min_value=0, max_value=365)
    limit = serializers.IntegerField(
        required=False,
        default=100,
        min_value=1,
        max_value=500,
        help_text="at most this many, soonest first (X-Total-Count: how many in all; X-More-Count: left off)",
    )


class PeriodFilterSerializer(serializers.Serializer):
    since = serializers.DateField(required=False, help_text="first sent on or after (local date)")
    until = serializers.DateField(required=False, help_text="first sent on or before (local date)")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("since") and attrs.get("until") and attrs["until"] < attrs["since"]:
            raise serializers.ValidationError({"until": "Must not be before since."})
        return attrs


class RecheckFilterSerializer(serializers.Serializer):
    include_seen = serializers.BooleanField(required=False, default=False)


class AuditFilterSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=AuditEntry.Action.choices, required=False)
    object_type = serializers.CharField(required=False, max_length=100)
    object_id = serializers.CharField(required=False, max_length=64)
    username = serializers.CharField(required=False, max_length=150)


# ---------------------------------------------------------------------------------------------
# Outputs


class PatientOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = ["id", "first_name", "last_name", "birth_date", "sex", "member_id", "created_at", "updated_at"]


class PatientRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = ["id", "first_name", "last_name"]


class ProviderOutputSerializer(serializers.ModelSerializer):
    has_login = serializers.SerializerMethodField()

    class Meta:
        model = Provider
        fields = ["id", "npi", "name", "has_login"]

    def get_has_login(self, obj: Provider) -> bool:
        return obj.user_id is not None


class PayerRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class TransitionOutputSerializer(serializers.Serializer):
    from_status = serializers.CharField(help_text="empty: created")
    to_status = serializers.CharField()
    by = serializers.CharField(source="by.username", default=None, allow_null=True, help_text="empty: the system")
    at = serializers.DateTimeField()
    note = serializers.CharField()


class DecisionOutputSerializer(serializers.ModelSerializer):
    appeal_level = serializers.IntegerField(source="appeal.level_order", default=None, allow_null=True)

    class Meta:
        model = PayerDecision
        fields = [
            "id",
            "appeal_level",
            "received_at",
            "decision",
            "payer_reference",
            "authorization_number",
            "valid_from",
            "valid_to",
            "stated_reason",
            "reason_category",
            "denial_code",
            "deficiencies",
        ]


class AppealOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Appeal
        fields = [
            "id",
            "level_order",
            "level_name",
            "decided_by",
            "expedited",
            "filed_at",
            "filing_deadline",
            "decision_due_at",
            "outcome",
            "decided_at",
        ]


class AttachmentOutputSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.CharField(source="uploaded_by.username", default=None, allow_null=True)

    class Meta:
        model = Attachment
        fields = ["id", "kind", "original_name", "content_type", "size", "sha256", "uploaded_by", "uploaded_at"]


class PolicyVersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    revision = serializers.IntegerField()
    policy_code = serializers.CharField(source="policy.code")


class NextAppealLevelSerializer(serializers.Serializer):
    order = serializers.IntegerField()
    name = serializers.CharField()
    file_by = serializers.DateField(allow_null=True)


class ChangedCriterionSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    old_status = serializers.CharField(allow_null=True)
    new_status = serializers.CharField(allow_null=True)
    reason = serializers.CharField()


class DecisionStateOutputSerializer(serializers.Serializer):
    """The latest determination revision's decision, and whether a newer policy version has made
    it stale: the same answer (and words) as the request list, the request page's determination
    box and its policy-change banner (priorauth.worklist.DecisionState)."""

    decision = serializers.CharField(help_text="meets_criteria | not_met | incomplete; empty before any check")
    label = serializers.CharField(help_text="the decision in words")
    recheck_needed = serializers.BooleanField(
        help_text="a published policy change would decide otherwise and nobody has re-run it or marked it seen"
    )
    decision_under_new_policy = serializers.CharField(help_text="what the newer policy version decides; empty if none")
    new_policy = serializers.CharField(help_text="the newer policy version, in words; empty if none")
    text = serializers.CharField(help_text='e.g. "Meets criteria — Re-check needed: Not met under …"')


class RequestSummaryOutputSerializer(serializers.ModelSerializer):
    payer = PayerRefSerializer()
    patient = PatientRefSerializer()
    treating_physician = ProviderOutputSerializer()
    determination_state = serializers.SerializerMethodField()

    @extend_schema_field(DecisionStateOutputSerializer)
    def get_determination_state(self, obj: AuthorizationRequest) -> dict[str, Any]:
        from priorauth import worklist

        states = self.context.get("decision_states")
        state = states[obj.pk] if states and obj.pk in states else worklist.decision_state(obj)
        return {
            "decision": state.decision,
            "label": state.label,
            "recheck_needed": state.recheck_needed,
            "decision_under_new_policy": state.new_decision,
            "new_policy": state.policy_label,
            "text": state.text,
        }

    class Meta:
        model = AuthorizationRequest
        fields = [
            "id",
            "reference",
            "status",
            "payer",
            "patient",
            "treating_physician",
            "expedited",
            "decision",
            "created_at",
            "updated_at",
            "submitted_at",
            "sent_at",
            "decision_due_at",
            "appeal_file_by",
            "follow_up_on",
            "determination_state",
        ]


class SendingOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Sending
        fields = ["id", "method", "sent_at", "packet", "packet_sha256", "note", "recorded_by", "recorded_at"]


class RequestDetailOutputSerializer(RequestSummaryOutputSerializer):
    determination = DeterminationSerializer(allow_null=True, help_text="stored at submission")
    policy_version = PolicyVersionRefSerializer(allow_null=True)
    case = CaseField(help_text="the contract's case, payer/patient/provider built from the records")
    transitions = TransitionOutputSerializer(many=True)
    decisions = DecisionOutputSerializer(many=True)
    appeals = AppealOutputSerializer(many=True)
    attachments = AttachmentOutputSerializer(many=True)
    sendings = SendingOutputSerializer(
        many=True, help_text="each sending to the payer: how, when, the packet's SHA-256"
    )
    allowed_transitions = serializers.SerializerMethodField()
    next_appeal_level = serializers.SerializerMethodField()
    payer_contact = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text="the payer desk letters are addressed to (PUT requests/{id}/payer-contact)",
    )

    class Meta(RequestSummaryOutputSerializer.Meta):
        fields = [
            *RequestSummaryOutputSerializer.Meta.fields,
            "case",
            "criteria_statuses",
            "determination",
            "policy_version",
            "first_sent_at",
            "decision_due_basis",
            "transitions",
            "decisions",
            "appeals",
            "attachments",
            "sendings",
            "allowed_transitions",
            "next_appeal_level",
            "payer_contact",
        ]

    def get_allowed_transitions(self, obj: AuthorizationRequest) -> list[str]:
        return sorted(to for frm, to in TRANSITIONS if frm == obj.status)

    @extend_schema_field(NextAppealLevelSerializer(allow_null=True))
    def get_next_appeal_level(self, obj: AuthorizationRequest) -> dict[str, Any] | None:
        from priorauth.selectors import next_appeal_level

        if obj.status not in (Status.DENIED, Status.APPEAL_DENIED):
            return None
        level = next_appeal_level(obj)
        if level is None:
            return None
        return {"order": level.order, "name": level.name, "file_by": obj.appeal_file_by}


class DueItemOutputSerializer(serializers.Serializer):
    request = RequestSummaryOutputSerializer()
    kind = serializers.ChoiceField(choices=["payer_decision", "appeal_decision", "appeal_filing"])
    due_at = serializers.DateTimeField()
    overdue = serializers.BooleanField()


class RecheckResultOutputSerializer(serializers.ModelSerializer):
    request_id = serializers.IntegerField()
    reference = serializers.CharField(source="request.reference")
    status = serializers.CharField(source="request.status")
    payer = serializers.CharField(source="request.payer.code")
    policy_version = serializers.IntegerField(source="run.version_id")
    policy_revision = serializers.IntegerField(source="run.version.revision")
    policy_changes = serializers.CharField(source="run.version.summary")
    changed_criteria = ChangedCriterionSerializer(many=True)
    seen_by = serializers.CharField(source="seen_by.username", default=None, allow_null=True)

    class Meta:
        model = RecheckResult
        fields = [
            "id",
            "request_id",
            "reference",
            "status",
            "payer",
            "policy_version",
            "policy_revision",
            "policy_changes",
            "old_decision",
            "new_decision",
            "changed_criteria",
            "created_at",
            "seen_at",
            "seen_by",
        ]


class PayerMetricsOutputSerializer(serializers.Serializer):
    payer = serializers.CharField()
    payer_name = serializers.CharField()
    requests = serializers.IntegerField(help_text="sent to the payer in the period")
    decided = serializers.IntegerField(help_text="with an initial approval or denial")
    pending = serializers.IntegerField()
    approved = serializers.IntegerField()
    denied = serializers.IntegerField()
    approved_after_appeal = serializers.IntegerField()
    approval_pct = serializers.FloatField(allow_null=True, help_text="approved / decided × 100")
    denial_pct = serializers.FloatField(allow_null=True, help_text="denied / decided × 100")
    approved_after_appeal_pct = serializers.FloatField(
        allow_null=True, help_text="approved after appeal / decided × 100"
    )
    avg_days_to_decision = serializers.FloatField(allow_null=True)
    median_days_to_decision = serializers.FloatField(allow_null=True)


class AuditEntryOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = ["id", "at", "username", "action", "object_type", "object_id", "ip_address", "detail"]
