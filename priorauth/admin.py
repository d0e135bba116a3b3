"""The admin: practice admins manage their practice's users, memberships and providers (and, in
policies/, the payer policies). Records holding PHI are scoped to the viewer's own practice for
everyone, superusers included, and every view of them is written to the audit trail. The workflow
itself (status, decisions, appeals) is read-only here: it changes only through the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from simple_history.admin import SimpleHistoryAdmin

from priorauth import selectors, services
from priorauth.models import (
    Appeal,
    Attachment,
    AuditEntry,
    AuthorizationRequest,
    Membership,
    Patient,
    PayerDecision,
    Practice,
    Provider,
    PublishedPayerMetrics,
    RecheckResult,
    RecheckRun,
    Role,
    StatusTransition,
)

User = get_user_model()
A = AuditEntry.Action


def _practice_id(request: HttpRequest) -> int | None:
    membership = selectors.membership_of(request.user)
    return membership.practice_id if membership else None


class PracticeScopedMixin:
    """Narrows the admin's querysets to the viewer's practice (`practice_path` names the field)."""

    practice_path = "practice"
    superuser_sees_all = False  # True only for records without PHI

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        if self.superuser_sees_all and request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.practice_path}_id": _practice_id(request)})


class AuditedMixin:
    """Writes list, read, create, update and delete of PHI-bearing records to the audit trail."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if request.method == "GET" and response.status_code == 200:
            services.audit_record(user=request.user, action=A.LIST, model=self.model, request=request, detail="admin")
        return response

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200:
            obj = self.get_object(request, object_id)
            if obj is not None:
                services.audit_record(user=request.user, action=A.READ, obj=obj, request=request, detail="admin")
        return response

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None) -> HttpResponse:
        response = super().history_view(request, object_id, extra_context)
        self._audit_history(request, object_id, response, "admin history")
        return response

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context=None
    ) -> HttpResponse:
        response = super().history_form_view(request, object_id, version_id, extra_context)
        self._audit_history(request, object_id, response, f"admin history version {version_id}")
        return response

    def _audit_history(self, request: HttpRequest, object_id: str, response: HttpResponse, detail: str) -> None:
        # A history page shows every past version of the record's PHI: a read like the change page.
        if request.method == "GET" and response.status_code == 200:
            obj = self.get_object(request, unquote(object_id))
            if obj is not None:
                services.audit_record(user=request.user, action=A.READ, obj=obj, request=request, detail=detail)

    def log_addition(self, request, obj, message):
        services.audit_record(user=request.user, action=A.CREATE, obj=obj, request=request, detail="admin")
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        services.audit_record(user=request.user, action=A.UPDATE, obj=obj, request=request, detail="admin")
        return super().log_change(request, obj, message)


class ScopedHistoryAdmin(SimpleHistoryAdmin):
    """django-simple-history's pages find a record in its history table rather than in this admin's
    queryset, and its revert form saves with the view permission alone. Here a record outside the
    viewer's queryset (another practice's) is not found on them either, as an id that never existed,
    and only those who may change a record revert it."""

    def _visible_or_404(self, request: HttpRequest, object_id: str):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        return obj

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None) -> HttpResponse:
        self._visible_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context=None
    ) -> HttpResponse:
        obj = self._visible_or_404(request, object_id)
        if request.method == "POST" and not self.has_change_permission(request, obj):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


# ---------------------------------------------------------------------------------------------
# Practices, people


@admin.register(Practice)
class PracticeAdmin(ScopedHistoryAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(pk=_practice_id(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser


def practice_members_managed_by(request: HttpRequest) -> QuerySet:
    """The users a practice admin manages: their practice's members who are not superusers."""
    return User.objects.filter(membership__practice_id=_practice_id(request), is_superuser=False)


class MembershipChoicesMixin:
    """Practice admins assign only their own practice and its (or not yet placed) users."""

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "practice" and not request.user.is_superuser:
            kwargs["queryset"] = Practice.objects.filter(pk=_practice_id(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Membership)
class MembershipAdmin(MembershipChoicesMixin, PracticeScopedMixin, ScopedHistoryAdmin):
    superuser_sees_all = True
    list_display = ("user", "practice", "role")
    list_filter = ("role", "practice")
    search_fields = ("user__username", "practice__name")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        # A superuser's membership is managed by superusers alone: moving it into a practice admin's
        # practice would hand that admin the superuser's account.
        return qs if request.user.is_superuser else qs.filter(user__is_superuser=False)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            # Only the practice's own non-superuser members: never a user without a practice (the
            # first superuser is one) nor another practice's. New people are added from the user admin.
            kwargs["queryset"] = practice_members_managed_by(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return ("user",) if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Membership, form, change: bool) -> None:
        saved = services.membership_set(user=obj.user, practice=obj.practice, role=obj.role)
        obj.pk = saved.pk


class MembershipInline(MembershipChoicesMixin, admin.StackedInline):
    model = Membership
    extra = 1
    max_num = 1
    can_delete = False


@admin.register(Provider)
class ProviderAdmin(PracticeScopedMixin, ScopedHistoryAdmin):
    superuser_sees_all = True
    list_display = ("name", "npi", "practice", "user")
    list_filter = ("practice",)
    search_fields = ("name", "npi")

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if not request.user.is_superuser:
            if db_field.name == "practice":
                kwargs["queryset"] = Practice.objects.filter(pk=_practice_id(request))
            elif db_field.name == "user":
                # Whoever is linked signs letters in the provider's name: the practice's physicians.
                kwargs["queryset"] = practice_members_managed_by(request).filter(membership__role=Role.PHYSICIAN)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Provider, form, change: bool) -> None:
        services.provider_save(provider=obj, by=request.user, request=request)


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Practice admins add and edit their practice's users and roles; only superusers grant
    superuser, staff or individual permissions."""

    inlines = [MembershipInline]
    list_display = ("username", "email", "first_name", "last_name", "role", "practice", "is_active")

    @admin.display(description="role")
    def role(self, obj) -> str:
        membership = getattr(obj, "membership", None)
        return membership.get_role_display() if membership else "—"

    @admin.display(description="practice")
    def practice(self, obj) -> str:
        membership = getattr(obj, "membership", None)
        return str(membership.practice) if membership else "—"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The change, password-reset and history pages all find the user through this queryset: a
        # superuser (or another practice's user) is not found for a practice admin.
        qs = super().get_queryset(request).select_related("membership__practice")
        if request.user.is_superuser:
            return qs
        return qs.filter(membership__practice_id=_practice_id(request), is_superuser=False)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def get_fieldsets(self, request: HttpRequest, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser or obj is None:
            return fieldsets
        return [(name, opts) for name, opts in fieldsets if name != "Permissions"] + [
            (None, {"fields": ("is_active",)})
        ]

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        for instance in formset.save(commit=False):
            services.membership_set(user=form.instance, practice=instance.practice, role=instance.role)


# ---------------------------------------------------------------------------------------------
# PHI: patients, requests, attachments


@admin.register(Patient)
class PatientAdmin(AuditedMixin, PracticeScopedMixin, ScopedHistoryAdmin):
    list_display = ("id", "last_name", "first_name", "birth_date", "member_id")
    search_fields = ("last_name", "first_name", "member_id")
    readonly_fields = ("practice", "created_at", "updated_at")
    fields = ("practice", ("first_name", "last_name"), ("birth_date", "sex"), "member_id", ("created_at", "updated_at"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # patients are added by billing staff in the application

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Patient, form, change: bool) -> None:
        services.patient_update(
            patient=obj,
            by=request.user,
            **{name: form.cleaned_data[name] for name in services.PATIENT_FIELDS if name in form.cleaned_data},
        )


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class TransitionInline(ReadOnlyInline):
    model = StatusTransition
    fields = readonly_fields = ("at", "from_status", "to_status", "by", "note")


class DecisionInline(ReadOnlyInline):
    model = PayerDecision
    fields = readonly_fields = (
        "received_at",
        "decision",
        "appeal",
        "authorization_number",
        "valid_from",
        "valid_to",
        "reason_category",
        "stated_reason",
    )


class AppealInline(ReadOnlyInline):
    model = Appeal
    fields = readonly_fields = (
        "level_order",
        "level_name",
        "filed_at",
        "filing_deadline",
        "decision_due_at",
        "outcome",
        "decided_at",
    )


class AttachmentInline(ReadOnlyInline):
    model = Attachment
    fields = readonly_fields = ("kind", "original_name", "content_type", "size", "uploaded_by", "uploaded_at")


@admin.register(AuthorizationRequest)
class AuthorizationRequestAdmin(AuditedMixin, PracticeScopedMixin, ReadOnlyMixin, ScopedHistoryAdmin):
    list_display = ("reference", "status", "payer", "treating_physician", "decision", "created_at", "decision_due_at")
    list_filter = ("status", "payer", "decision")
    search_fields = ("reference",)
    inlines = [TransitionInline, DecisionInline, AppealInline, AttachmentInline]
    readonly_fields = (
        "reference",
        "status",
        "practice",
        "patient",
        "payer",
        "treating_physician",
        "expedited",
        "decision",
        "policy_version",
        "case",
        "determination",
        "created_by",
        "created_at",
        "updated_at",
        "submitted_at",
        "first_sent_at",
        "sent_at",
        "decision_due_at",
        "decision_due_basis",
        "appeal_file_by",
    )
    exclude = ("criteria_statuses",)


@admin.register(Attachment)
class AttachmentAdmin(AuditedMixin, PracticeScopedMixin, ReadOnlyMixin, admin.ModelAdmin):
    practice_path = "request__practice"
    list_display = ("id", "request", "kind", "content_type", "size", "uploaded_by", "uploaded_at")
    list_filter = ("kind", "content_type")
    exclude = ("file",)  # downloads go through the API, which checks who may see them


# ---------------------------------------------------------------------------------------------
# Audit trail and re-checks


@admin.register(AuditEntry)
class AuditEntryAdmin(PracticeScopedMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Append-only: nobody adds, edits or deletes an entry, superusers included."""

    superuser_sees_all = True
    list_display = ("at", "username", "action", "object_type", "object_id", "ip_address", "detail")
    list_filter = ("action", "object_type")
    search_fields = ("username", "object_id", "ip_address")
    date_hierarchy = "at"

    def get_actions(self, request: HttpRequest):
        return {}

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # A superuser sees every practice's entries in one list: the title says so, and the practice
        # column tells them apart.
        if request.user.is_superuser:
            extra_context = {**(extra_context or {}), "title": "Audit entries of all practices"}
        return super().changelist_view(request, extra_context)

    def get_list_display(self, request: HttpRequest):
        if request.user.is_superuser:
            return (*self.list_display[:2], "practice", *self.list_display[2:])
        return self.list_display


class RecheckResultInline(ReadOnlyInline):
    model = RecheckResult
    fields = readonly_fields = ("request", "old_decision", "new_decision", "changed_criteria", "seen_at", "superseded")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(request__practice_id=_practice_id(request))


@admin.register(RecheckRun)
class RecheckRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("version", "started_at", "finished_at", "checked", "changed", "elapsed_seconds")
    readonly_fields = ("version", "previous", "started_at", "finished_at", "checked", "changed", "elapsed_seconds")
    inlines = [RecheckResultInline]


# Payers' published CMS-0057-F figures (priorauth/scorecard.py shows them beside the practice's own).
@admin.register(PublishedPayerMetrics)
class PublishedPayerMetricsAdmin(admin.ModelAdmin):
    list_display = ("payer", "year", "published_on", "source_url")
    list_filter = ("payer", "year")
    readonly_fields = ("entered_by", "entered_at")

    def save_model(self, request, obj, form, change) -> None:
        obj.entered_by = request.user
        super().save_model(request, obj, form, change)
