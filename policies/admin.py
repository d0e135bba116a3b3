"""The admins' tool for keeping payer policies current. Every record keeps its history
(django-simple-history: who, when, what), and every save that changes what the checker evaluates
publishes a new PolicyVersion whose summary lists the changes."""

from django.contrib import admin
from django.db import transaction
from simple_history.admin import SimpleHistoryAdmin

from policies.models import (
    AppealLevel,
    ClaimRequirement,
    Criterion,
    EvidenceSource,
    Payer,
    Policy,
    PolicyVersion,
    PriorAuthRule,
)
from policies.services import policies_publish_citing, policy_publish


class CriterionInline(admin.StackedInline):
    model = Criterion
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
    fields = (("required", "standard_decision_days", "expedited_decision_hours"), "notes", ("review_status", "review_reason"))


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


@admin.register(Policy)
class PolicyAdmin(SimpleHistoryAdmin):
    list_display = ("payer", "code", "version", "revision", "effective_date", "review_status", "updated_at")
    list_filter = ("review_status", "payer__program")
    search_fields = ("code", "title", "payer__code", "payer__name", "criteria__key", "criteria__label")
    readonly_fields = ("revision", "updated_at")
    filter_horizontal = ("sources",)
    inlines = [CriterionInline, ClaimRequirementInline, PriorAuthRuleInline, AppealLevelInline]
    fieldsets = (
        (None, {"fields": ("payer", ("code", "version", "effective_date"), "title", "sources")}),
        ("Review", {"fields": ("review_status", "review_reason")}),
        ("Publication", {"fields": ("revision", "updated_at")}),
    )

    def save_related(self, request, form, formsets, change) -> None:
        # Publish only once the inlines are saved, so the version holds the whole new policy.
        super().save_related(request, form, formsets, change)
        policy = form.instance
        transaction.on_commit(lambda: policy_publish(policy=policy, by=request.user, summary="admin edit"))


@admin.register(Criterion)
class CriterionAdmin(SimpleHistoryAdmin):
    list_display = ("key", "policy", "section", "operator", "value", "required")
    list_filter = ("section", "required", "operator", "policy__payer")
    search_fields = ("key", "label", "path", "policy__code", "policy__payer__code")
    filter_horizontal = ("citations",)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        policy = form.instance.policy
        transaction.on_commit(lambda: policy_publish(policy=policy, by=request.user, summary="admin edit"))


@admin.register(Payer)
class PayerAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "program")
    list_filter = ("program",)
    search_fields = ("code", "name")

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        policy = Policy.objects.filter(payer=obj).first()
        if policy is not None:
            transaction.on_commit(lambda: policy_publish(policy=policy, by=request.user, summary="payer edited"))


@admin.register(EvidenceSource)
class EvidenceSourceAdmin(SimpleHistoryAdmin):
    list_display = ("key", "short", "kind", "certainty")
    list_filter = ("kind", "certainty")
    search_fields = ("key", "short", "citation", "note")

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        transaction.on_commit(lambda: policies_publish_citing(evidence=obj, by=request.user))


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    """Published versions are history: readable, never editable."""

    list_display = ("policy", "revision", "created_at", "created_by", "first_change")
    list_filter = ("policy__payer",)
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
