"""The admins' tool for keeping payer policies current. Every record keeps its history
(django-simple-history: who, when, what, and the field-by-field changes on its history page), and
every save that changes what the checker evaluates publishes a new PolicyVersion whose summary lists
the changes. Publishing happens inside the save's transaction, so an edit and its version are
committed together or not at all."""

from django import forms
from django.contrib import admin
from django.db import models, transaction
from django.db.models import Q
from simple_history.admin import SimpleHistoryAdmin

from policies.models import (
    AppealLevel,
    ClaimRequirement,
    Criterion,
    EvidenceSource,
    Payer,
    PayerContact,
    Policy,
    PolicyVersion,
    PriorAuthRule,
)
from policies.services import policies_publish_citing, policy_publish
from policies.validation import CONTRACT_CLINICAL_KEYS


class CriterionFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return  # each form names its own problem first
        # The determination always reports the contract's clinical criteria, so a policy may not
        # lose one (deleted, renamed or moved to the payer section).
        kept = {
            (form.cleaned_data.get("key"), form.cleaned_data.get("section"))
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        }
        absent = [key for key in CONTRACT_CLINICAL_KEYS if (key, Criterion.Section.CLINICAL) not in kept]
        if absent:
            raise forms.ValidationError(
                f"Every policy needs the clinical criteria the case contract reports; missing: {', '.join(absent)}"
            )


class CriterionInline(admin.StackedInline):
    model = Criterion
    formset = CriterionFormSet
    extra = 0
    fields = (
        ("key", "section", "order", "required"),
        "label",
        ("path", "operator"),
        "value",
        "reason_met",
        "reason_not_met",
        "reason_missing",
        "citations",
    )
    filter_horizontal = ("citations",)


class ClaimRequirementInline(admin.TabularInline):
    model = ClaimRequirement
    extra = 0
    fields = ("order", "text", "fallback")


class PriorAuthRuleInline(admin.StackedInline):
    model = PriorAuthRule
    extra = 0
    max_num = 1
    fields = (
        ("required", "standard_decision_days", "expedited_decision_hours"),
        "notes",
        ("review_status", "review_reason"),
    )


class AppealLevelInline(admin.StackedInline):
    model = AppealLevel
    extra = 0
    fields = (
        ("order", "name", "decided_by"),
        ("filing_deadline_days", "decision_deadline_days", "expedited_decision_hours", "amount_in_controversy"),
        "notes",
        ("review_status", "review_reason"),
        "citations",
    )
    filter_horizontal = ("citations",)


class PolicyVersionInline(admin.TabularInline):
    """The published versions, newest first: what each determination names by its revision."""

    model = PolicyVersion
    verbose_name_plural = "published versions"
    extra = 0
    fields = ("revision", "created_at", "created_by", "summary")
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class PublishingAdmin(SimpleHistoryAdmin):
    """Publishes the edited record's policy after every save, delete and history revert."""

    def policy_of(self, obj) -> Policy | None:
        raise NotImplementedError

    def publish(self, request, obj, summary: str = "admin edit") -> None:
        policy = self.policy_of(obj)
        if policy is not None and policy.pk is not None:
            policy_publish(policy=policy, by=request.user, summary=summary)

    def save_related(self, request, form, formsets, change) -> None:
        # Publish only once the inlines and many-to-many fields are saved, so the version holds
        # the whole new policy.
        super().save_related(request, form, formsets, change)
        self.publish(request, form.instance)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # A revert from the history page saves the record without save_related (and outside the
        # change form's transaction); publish it too, atomically, or the checker would keep
        # evaluating the state the admin just reverted.
        with transaction.atomic():
            response = super().history_form_view(request, object_id, version_id, extra_context)
            if request.method == "POST" and response.status_code == 302:
                self.publish(request, self.get_object(request, object_id), summary="admin revert")
        return response


@admin.register(Policy)
class PolicyAdmin(PublishingAdmin):
    list_display = ("payer", "code", "version", "revision", "effective_date", "review_status", "updated_at")
    list_filter = (
        "review_status",
        "payer__program",
        "prior_authorization__required",
        "prior_authorization__review_status",
    )
    search_fields = ("code", "title", "payer__code", "payer__name", "criteria__key", "criteria__label")
    readonly_fields = ("revision", "updated_at")
    filter_horizontal = ("sources",)
    inlines = [CriterionInline, ClaimRequirementInline, PriorAuthRuleInline, AppealLevelInline, PolicyVersionInline]
    fieldsets = (
        (None, {"fields": ("payer", ("code", "version", "effective_date"), "title", "sources")}),
        ("Review", {"fields": ("review_status", "review_reason")}),
        ("Publication", {"fields": ("revision", "updated_at")}),
    )

    def policy_of(self, obj: Policy) -> Policy:
        return obj


@admin.register(Criterion)
class CriterionAdmin(PublishingAdmin):
    list_display = ("key", "policy", "section", "operator", "value", "required")
    list_filter = ("section", "required", "operator", "policy__payer")
    search_fields = ("key", "label", "path", "policy__code", "policy__payer__code")
    filter_horizontal = ("citations",)

    def policy_of(self, obj: Criterion) -> Policy:
        return obj.policy

    def has_delete_permission(self, request, obj=None) -> bool:
        # Every determination reports the contract's clinical criteria: those are edited, never deleted.
        if obj is not None and obj.section == Criterion.Section.CLINICAL and obj.key in CONTRACT_CLINICAL_KEYS:
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj: Criterion) -> None:
        policy = obj.policy
        super().delete_model(request, obj)
        policy_publish(policy=policy, by=request.user, summary=f"criterion {obj.key} deleted")

    def delete_queryset(self, request, queryset) -> None:
        contract = queryset.filter(section=Criterion.Section.CLINICAL, key__in=CONTRACT_CLINICAL_KEYS)
        policies = list(Policy.objects.filter(criteria__in=queryset.exclude(pk__in=contract)).distinct())
        # The bulk action skips has_delete_permission(obj): keep the contract's criteria here too.
        super().delete_queryset(request, queryset.exclude(pk__in=contract))
        for policy in policies:
            policy_publish(policy=policy, by=request.user, summary="criteria deleted")


@admin.register(Payer)
class PayerAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "program")
    list_filter = ("program",)
    search_fields = ("code", "name")

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        policy = Policy.objects.filter(payer=obj).first()
        if policy is not None:
            policy_publish(policy=policy, by=request.user, summary="payer edited")


@admin.register(EvidenceSource)
class EvidenceSourceAdmin(SimpleHistoryAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("key", "short", "kind", "certainty")
    list_filter = ("kind", "certainty")
    search_fields = ("key", "short", "citation", "note")

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        policies_publish_citing(evidence=obj, by=request.user)

    def delete_model(self, request, obj: EvidenceSource) -> None:
        self.delete_queryset(request, EvidenceSource.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset) -> None:
        # Deleting a source drops it from every policy that cites it: those change too.
        citing = list(
            Policy.objects.filter(
                Q(sources__in=queryset) | Q(criteria__citations__in=queryset) | Q(appeal_levels__citations__in=queryset)
            ).distinct()
        )
        super().delete_queryset(request, queryset)
        for policy in citing:
            policy_publish(policy=policy, by=request.user, summary="evidence deleted")


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    """Published versions are history: readable, never editable."""

    list_display = ("policy", "revision", "created_at", "created_by", "first_change")
    list_filter = ("policy__payer", "created_by")
    search_fields = ("policy__code", "policy__payer__code", "summary")
    readonly_fields = ("policy", "revision", "created_at", "created_by", "summary", "snapshot")

    @admin.display(description="summary")
    def first_change(self, obj: PolicyVersion) -> str:
        return (obj.summary or "").splitlines()[0] if obj.summary else ""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# ---------------------------------------------------------------------------------------------
# Letter texts. Drafts copy these when they are made, so an edit here changes later drafts only.

from policies.models import (  # noqa: E402
    CoverageParagraph,
    CoverageParagraphClaim,
    EvidenceClaim,
    RebuttalParagraph,
    RebuttalParagraphClaim,
)


@admin.register(EvidenceClaim)
class EvidenceClaimAdmin(SimpleHistoryAdmin):
    list_display = ("key", "topic", "review_status", "in_evidence_summary", "order", "sources", "text")
    list_filter = ("topic", "review_status", "in_evidence_summary", "citations__certainty", "citations__kind")
    search_fields = ("key", "text", "review_reason", "citations__key", "citations__short")
    filter_horizontal = ("citations",)
    fieldsets = (
        (None, {"fields": ("key", "topic", "text", "citations")}),
        ("Evidence summary", {"fields": ("in_evidence_summary", "order")}),
        ("Review", {"fields": ("review_status", "review_reason")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("citations")

    @admin.display(description="sources")
    def sources(self, obj: EvidenceClaim) -> str:
        return ", ".join(f"{e.key} ({e.certainty})" for e in obj.citations.all())

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        # A sentence without a source is not a claim; say so rather than let letters cite nothing.
        if not form.instance.citations.exists():
            self.message_user(
                request, f"{form.instance.key} cites no source: add one before letters use it.", level="warning"
            )


class CoverageParagraphClaimInline(admin.TabularInline):
    model = CoverageParagraphClaim
    extra = 0
    fields = ("order", "claim")
    autocomplete_fields = ("claim",)


class RebuttalParagraphClaimInline(admin.TabularInline):
    model = RebuttalParagraphClaim
    extra = 0
    fields = ("order", "claim")
    autocomplete_fields = ("claim",)


@admin.register(CoverageParagraph)
class CoverageParagraphAdmin(SimpleHistoryAdmin):
    list_display = ("key", "program", "payer", "order", "heading", "updated_at")
    list_filter = ("program", "payer")
    search_fields = (
        "key",
        "heading",
        "lead",
        "closing",
        "patient_sentence",
        "claim_links__claim__key",
        "claim_links__claim__text",
    )
    inlines = [CoverageParagraphClaimInline]
    fieldsets = (
        (None, {"fields": ("key", ("program", "payer", "order"), "heading", "lead", "closing")}),
        ("About the patient", {"fields": ("patient_sentence", "patient_fallback")}),
    )


@admin.register(RebuttalParagraph)
class RebuttalParagraphAdmin(SimpleHistoryAdmin):
    list_display = (
        "key",
        "category",
        "program",
        "payer",
        "order",
        "cites_patient_evidence",
        "lists_enclosures",
        "updated_at",
    )
    list_filter = ("category", "program", "payer", "cites_patient_evidence", "lists_enclosures")
    search_fields = ("key", "heading", "lead", "closing", "claim_links__claim__key", "claim_links__claim__text")
    inlines = [RebuttalParagraphClaimInline]
    fieldsets = (
        (None, {"fields": ("key", ("category", "program", "payer", "order"), "heading", "lead", "closing")}),
        ("Patient's evidence and enclosures", {"fields": ("cites_patient_evidence", "lists_enclosures")}),
    )


@admin.register(PayerContact)
class PayerContactAdmin(SimpleHistoryAdmin):
    """The payer directory: where each payer's prior-authorization requests and appeals go."""

    list_display = ("payer", "kind", "name", "department", "fax", "phone", "review_status", "needs")
    list_filter = ("payer", "kind", "review_status")
    search_fields = ("key", "name", "department", "address")
    fields = (
        "payer",
        "key",
        "kind",
        "name",
        "department",
        "address",
        "phone",
        "fax",
        "portal_url",
        "notes",
        "review_status",
        "review_reason",
    )

    @admin.display(description="still to fill in")
    def needs(self, obj: PayerContact) -> str:
        return ", ".join(obj.missing_fields()) or "—"
