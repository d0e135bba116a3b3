"""The prior-authorization API, one APIView per resource URL and a documented handler per operation.

Every object is looked up through a permission-scoped selector first, so another practice's object
(or, for a physician, another physician's request) answers 404 on every endpoint; a visible object
the user's role may not change answers 403. Reads, creates, updates and downloads of PHI-bearing
records are written to the audit trail.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import user_logged_in
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.exceptions import DATABASE_UNAVAILABLE
from config.parsers import BoundedJSONParser
from coverage.serializers import FIELD_ERRORS_SCHEMA
from policies.models import Payer
from priorauth import access_audit, downloads, permissions, practice_time, selectors, services, stored_files, worklist
from priorauth.models import Attachment, AuditEntry, AuthorizationRequest, Patient, RecheckResult
from priorauth.serializers import (
    AppealStartInputSerializer,
    AttachmentOutputSerializer,
    AttachmentUploadInputSerializer,
    AuditEntryOutputSerializer,
    AuditFilterSerializer,
    DecisionInputSerializer,
    DueFilterSerializer,
    DueItemOutputSerializer,
    FollowUpInputSerializer,
    NoBodyInputSerializer,
    NoteInputSerializer,
    PatientInputSerializer,
    PatientOutputSerializer,
    PayerMetricsOutputSerializer,
    PeriodFilterSerializer,
    ProviderOutputSerializer,
    RecheckFilterSerializer,
    RecheckResultOutputSerializer,
    RequestCreateInputSerializer,
    RequestDetailOutputSerializer,
    RequestSendInputSerializer,
    RequestSummaryOutputSerializer,
    RequestUpdateInputSerializer,
)

A = AuditEntry.Action
TAG = "prior authorization"

ERRORS_400 = OpenApiResponse(response=FIELD_ERRORS_SCHEMA, description="invalid fields, each named with its messages")
DETAIL = inline_serializer(name="ErrorDetail", fields={"detail": serializers.CharField()})
ERROR_403 = OpenApiResponse(
    response=DETAIL, description="not signed in, not a member of a practice, or your role may not do this"
)
ERROR_415 = OpenApiResponse(response=DETAIL, description="a body that is not sent as JSON, form or multipart data")
ERROR_404 = OpenApiResponse(
    response=DETAIL, description="no such object visible to you (another practice's answers 404)"
)


# The API's one JSON parser (config.parsers): bounded body, storable text, nesting refused as a 400.
JSONBodyParser = BoundedJSONParser


class IsPracticeMember(BasePermission):
    message = "You do not belong to a practice."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return selectors.membership_of(request.user) is not None


def audit(
    request: Request, action: str, obj: Model | None = None, *, model: type[Model] | None = None, detail: str = ""
) -> None:
    services.audit_record(
        user=request.user, action=action, obj=obj, model=model, request=request._request, detail=detail
    )


def parse(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200
    invalid_page_message = "{message}."

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: APIView | None = None) -> list[Any]:
        # A page that is not a number, below 1 or past the last is bad input, named like any other
        # (DRF answers it 404).
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as exc:
            raise serializers.ValidationError({"page": [str(exc.detail)]}) from None


PAGE_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT, description="page number (1-based)"),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="items per page (default 50, at most 200)"),
]


def paginated_schema(serializer_class: type[serializers.Serializer], name: str) -> serializers.Serializer:
    return inline_serializer(
        name=name,
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )


def paginate(
    request: Request,
    view: APIView,
    queryset: QuerySet,
    serializer_class: type[serializers.Serializer],
    *,
    model: type[Model],
) -> Response:
    """A page of the queryset, its listing audited with the ids shown."""
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    audit(request, A.LIST, model=model, detail="ids=" + ",".join(str(o.pk) for o in page))
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def visible_or_field_error(queryset: QuerySet, pk: int, field: str, label: str) -> Any:
    """A record referenced in a request body: one the user may not see is 'no such' (400), like one
    that does not exist, so neither leaks."""
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise ValidationError({field: f"No such {label} in your practice."})
    return obj


def payer_by_code(code: str) -> Payer:
    payer = Payer.objects.filter(code=code).first()
    if payer is None:
        raise ValidationError({"payer": f"Unknown payer {code!r}."})
    return payer


def request_detail(request: Request, obj: AuthorizationRequest, status_code: int = status.HTTP_200_OK) -> Response:
    obj = selectors.request_detail_get(user=request.user, pk=obj.pk)
    return Response(RequestDetailOutputSerializer(obj).data, status=status_code)


TOKEN_RESPONSE = inline_serializer(
    name="AuthTokenIssued",
    fields={
        "token": serializers.CharField(help_text="Send as `Authorization: Token <token>`."),
        "expiry": serializers.DateTimeField(help_text="When it ends unless used again before (idle time-out)."),
    },
)


class AuthTokenApi(APIView):
    """A username and password for a new API token (django-rest-knox: it expires after
    SESSION_IDLE_TIMEOUT without use and SESSION_COOKIE_AGE after issue; see priorauth/api_tokens.py)."""

    authentication_classes = ()
    permission_classes = ()
    parser_classes = (JSONBodyParser, FormParser, MultiPartParser)

    @extend_schema(
        tags=["auth"],
        operation_id="auth_token_create",
        summary="Exchange a username and password for an expiring API token",
        request=AuthTokenSerializer,
        responses={200: TOKEN_RESPONSE, 400: ERRORS_400, 415: ERROR_415},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = AuthTokenSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        instance, token = AuthToken.objects.create(user)
        # The sign-in is audited (priorauth.access_audit) as one for a token.
        request._request._signing_in_for_token = True
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        return Response({"token": token, "expiry": instance.expiry})


class AuthTokenRevokeApi(APIView):
    """Sign out: the token this call is made with stops working (with /all: every token of the user)."""

    permission_classes = (IsAuthenticated,)
    revoke_all = False

    @extend_schema(
        tags=["auth"],
        summary="Sign out: revoke this token (or all of your tokens)",
        request=None,
        responses={204: None, 403: ERROR_403},
    )
    def post(self, request: Request) -> Response:
        if self.revoke_all:
            count, _ = AuthToken.objects.filter(user=request.user).delete()
            detail = f"all ({count})"
        elif isinstance(request.auth, AuthToken):
            detail = f"token {request.auth.token_key}"
            request.auth.delete()
        else:
            detail = "none (signed in with a session)"
        access_audit.defer(request._request, user=request.user, action=A.TOKEN_REVOKE, obj=request.user, detail=detail)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BaseApi(APIView):
    permission_classes = [IsAuthenticated, IsPracticeMember]
    parser_classes = [JSONBodyParser, FormParser, MultiPartParser]

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        # The user is known only now (a token): their practice's calendar days from here on
        # (PracticeTimeZoneMiddleware resets it after the request).
        practice_time.activate_for(request.user)

    def dispatch(self, request, *args, **kwargs):
        """A change and its audit entry are saved together or not at all: any error answer (a
        refusal, invalid input, a lost database connection) leaves nothing of the request behind,
        and no change is saved without the entry that records it."""
        if request.method in SAFE_METHODS:
            return super().dispatch(request, *args, **kwargs)
        try:
            # A file written by the change (an attachment) is deleted too if it rolls back.
            with stored_files.deleted_on_rollback():
                response = super().dispatch(request, *args, **kwargs)
                if response.status_code >= 400:
                    transaction.set_rollback(True)
                return response
        except DATABASE_UNAVAILABLE as exc:
            # The connection was lost at COMMIT, after the view had answered: the same 503.
            return self.finalize_response(self.request, self.handle_exception(exc), *args, **kwargs)


class WhoAmIApi(BaseApi):
    """The signed-in user's name, practice and role: what a client checks its token with (and the
    trivial authenticated baseline of bench/api_latency.py)."""

    @extend_schema(
        tags=["auth"],
        operation_id="auth_me",
        summary="Who you are signed in as",
        responses={
            200: inline_serializer(
                name="WhoAmI",
                fields={
                    "username": serializers.CharField(),
                    "practice": serializers.CharField(),
                    "role": serializers.CharField(),
                },
            ),
            403: ERROR_403,
        },
    )
    def get(self, request: Request) -> Response:
        membership = selectors.membership_of(request.user)
        return Response(
            {"username": request.user.get_username(), "practice": membership.practice.name, "role": membership.role}
        )


# ---------------------------------------------------------------------------------------------
# Requests


class RequestListCreateApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="requests_list",
        summary="List the authorization requests you may see",
        parameters=[worklist.WorklistFilterSerializer, *PAGE_PARAMETERS],
        responses={
            200: paginated_schema(RequestSummaryOutputSerializer, "PaginatedRequestSummaryList"),
            400: ERRORS_400,
            403: ERROR_403,
        },
    )
    def get(self, request: Request) -> Response:
        # The same parameters and selector as the /requests/ page (priorauth.worklist).
        filters = parse(worklist.WorklistFilterSerializer, request.query_params)
        qs = worklist.requests_worklist(user=request.user, **filters)
        # The exact total as the page counts it (priorauth.worklist.requests_total), and each row's
        # determination as the page shows it (one query for the page's re-check results).
        total = worklist.requests_total(user=request.user, qs=qs, filters=filters)
        paginator = Pagination()
        paginator.django_paginator_class = worklist.counted_paginator(total)
        page = paginator.paginate_queryset(qs, request, view=self)
        audit(request, A.LIST, model=AuthorizationRequest, detail="ids=" + ",".join(str(o.pk) for o in page))
        context = {"decision_states": worklist.decision_states(page)}
        return paginator.get_paginated_response(RequestSummaryOutputSerializer(page, many=True, context=context).data)

    @extend_schema(
        tags=[TAG],
        operation_id="requests_create",
        summary="Create a draft request (billing staff)",
        request=RequestCreateInputSerializer,
        responses={201: RequestDetailOutputSerializer, 400: ERRORS_400, 403: ERROR_403, 415: ERROR_415},
    )
    def post(self, request: Request) -> Response:
        permissions.require(request.user, "request.create")
        data = parse(RequestCreateInputSerializer, request.data)
        obj = services.request_create(
            practice=selectors.membership_of(request.user).practice,
            patient=visible_or_field_error(
                selectors.patients_visible_to(request.user), data["patient"], "patient", "patient"
            ),
            treating_physician=visible_or_field_error(
                selectors.providers_visible_to(request.user),
                data["treating_physician"],
                "treating_physician",
                "provider",
            ),
            payer=payer_by_code(data["payer"]),
            case=data["case"],
            by=request.user,
            http_request=request._request,
        )
        return request_detail(request, obj, status.HTTP_201_CREATED)


def _step_schema(operation_id: str, summary: str, input_serializer: type[serializers.Serializer]) -> Any:
    """The schema of a write that answers with the request: an edit or a workflow step."""
    return extend_schema(
        tags=[TAG],
        operation_id=operation_id,
        summary=summary,
        request=input_serializer,
        responses={
            200: RequestDetailOutputSerializer,
            400: ERRORS_400,
            403: ERROR_403,
            404: ERROR_404,
            415: ERROR_415,
        },
    )


class RequestDetailApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="requests_retrieve",
        summary="A request with its case, determination, history, decisions, appeals and attachments",
        responses={200: RequestDetailOutputSerializer, 403: ERROR_403, 404: ERROR_404},
    )
    def get(self, request: Request, pk: int) -> Response:
        obj = selectors.request_detail_get(user=request.user, pk=pk)
        audit(request, A.READ, obj)
        return Response(RequestDetailOutputSerializer(obj).data)

    @_step_schema("requests_update", "Edit a draft (billing staff)", RequestUpdateInputSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        obj = selectors.request_get(user=request.user, pk=pk)
        permissions.require(request.user, "request.update", obj)
        data = parse(RequestUpdateInputSerializer, request.data)
        changes: dict[str, Any] = {}
        if "patient" in data:
            changes["patient"] = visible_or_field_error(
                selectors.patients_visible_to(request.user), data["patient"], "patient", "patient"
            )
        if "treating_physician" in data:
            changes["treating_physician"] = visible_or_field_error(
                selectors.providers_visible_to(request.user),
                data["treating_physician"],
                "treating_physician",
                "provider",
            )
        if "payer" in data:
            changes["payer"] = payer_by_code(data["payer"])
        if "case" in data:
            changes["case"] = data["case"]
        obj = services.request_update(request=obj, by=request.user, http_request=request._request, **changes)
        return request_detail(request, obj)


class RequestSubmitApi(BaseApi):
    @_step_schema(
        "requests_submit",
        "Submit a draft: check it under the payer's policy and store the determination (billing staff)",
        NoteInputSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        obj = selectors.request_get(user=request.user, pk=pk)
        permissions.require(request.user, "request.submit", obj)
        data = parse(NoteInputSerializer, request.data)
        obj = services.request_submit(request=obj, by=request.user, note=data["note"], http_request=request._request)
        return request_detail(request, obj)


class RequestSendApi(BaseApi):
    @_step_schema(
        "requests_send",
        "Record that the request (or the information a pend asked for) reached the payer; sets the decision due date. "
        "For an appeal in progress, records the appeal's sending (its packet) without changing the status",
        RequestSendInputSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        obj = selectors.request_get(user=request.user, pk=pk)
        permissions.require(request.user, "request.send", obj)
        data = parse(RequestSendInputSerializer, request.data)
        packet = None
        if data.get("packet") is not None:
            packet = selectors.packets_visible_to(request.user).filter(pk=data["packet"], letter__request=obj).first()
            if packet is None:
                raise ValidationError({"packet": "No such packet of this request."})
        obj = services.request_send(
            request=obj,
            by=request.user,
            sent_at=data.get("sent_at"),
            note=data["note"],
            method=data["method"],
            packet=packet,
            http_request=request._request,
        )
        return request_detail(request, obj)


class RequestDecisionApi(BaseApi):
    @_step_schema(
        "requests_decision",
        "Record the payer's answer to the request or to the appeal in progress (billing staff)",
        DecisionInputSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        obj = selectors.request_get(user=request.user, pk=pk)
        permissions.require(request.user, "request.decision", obj)
        data = parse(DecisionInputSerializer, request.data)
        services.decision_record(request=obj, by=request.user, http_request=request._request, **data)
        return request_detail(request, obj)


class RequestAppealApi(BaseApi):
    @_step_schema(
        "requests_appeal",
        "Start the next appeal level the payer's policy allows, within its filing deadline (billing staff)",
        AppealStartInputSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        obj = selectors.request_get(user=request.user, pk=pk)
        permissions.require(request.user, "request.appeal", obj)
        data = parse(AppealStartInputSerializer, request.data)
        services.appeal_start(
            request=obj,
            by=request.user,
            filed_at=data.get("filed_at"),
            expedited=data["expedited"],
            note=data["note"],
            http_request=request._request,
        )
        return request_detail(request, obj)


class RequestFollowUpApi(BaseApi):
    @_step_schema(
        "requests_follow_up",
        "Set (or clear, with null) the day to follow up with the payer, for a payer that sets no decision deadline "
        "(billing staff; a request the payer has: sent, pended or under appeal)",
        FollowUpInputSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        obj = selectors.request_get(user=request.user, pk=pk)
        permissions.require(request.user, "request.follow_up", obj)
        data = parse(FollowUpInputSerializer, request.data)
        # The same service as the request page's form; it writes the audit entry.
        obj = services.request_follow_up_set(
            request=obj, on=data["follow_up_on"], by=request.user, http_request=request._request
        )
        return request_detail(request, obj)


class RequestWithdrawApi(BaseApi):
    @_step_schema("requests_withdraw", "Withdraw the request (billing staff)", NoteInputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        obj = selectors.request_get(user=request.user, pk=pk)
        permissions.require(request.user, "request.withdraw", obj)
        data = parse(NoteInputSerializer, request.data)
        obj = services.request_withdraw(request=obj, by=request.user, note=data["note"], http_request=request._request)
        return request_detail(request, obj)


# ---------------------------------------------------------------------------------------------
# Attachments


class RequestAttachmentsApi(BaseApi):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        tags=[TAG],
        operation_id="attachments_list",
        summary="The request's attachments",
        responses={200: AttachmentOutputSerializer(many=True), 403: ERROR_403, 404: ERROR_404},
    )
    def get(self, request: Request, pk: int) -> Response:
        obj = selectors.request_get(user=request.user, pk=pk)
        attachments = list(obj.attachments.select_related("uploaded_by"))
        audit(
            request,
            A.LIST,
            model=Attachment,
            detail=f"request {obj.pk} ids=" + ",".join(str(a.pk) for a in attachments),
        )
        return Response(AttachmentOutputSerializer(attachments, many=True).data)

    @extend_schema(
        tags=[TAG],
        operation_id="attachments_upload",
        summary="Upload an imaging report, therapy notes, ... (billing staff, the treating physician)",
        request={"multipart/form-data": AttachmentUploadInputSerializer},
        responses={201: AttachmentOutputSerializer, 400: ERRORS_400, 403: ERROR_403, 404: ERROR_404, 415: ERROR_415},
    )
    def post(self, request: Request, pk: int) -> Response:
        obj = selectors.request_get(user=request.user, pk=pk)
        permissions.require(request.user, "attachment.upload", obj)
        data = parse(AttachmentUploadInputSerializer, request.data)
        attachment = services.attachment_add(
            request=obj, kind=data["kind"], upload=data["file"], by=request.user, http_request=request._request
        )
        return Response(AttachmentOutputSerializer(attachment).data, status=status.HTTP_201_CREATED)


class AttachmentDownloadApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="attachments_download",
        summary="Download an attachment, served as the type it was uploaded as",
        responses={
            **{
                (200, media_type): OpenApiResponse(response=OpenApiTypes.BINARY)
                for media_type in services.ATTACHMENT_TYPES
            },
            403: ERROR_403,
            404: ERROR_404,
        },
    )
    def get(self, request: Request, pk: int, attachment_id: int) -> FileResponse:
        return downloads.attachment_download(
            by=request.user, request_pk=pk, attachment_id=attachment_id, http_request=request._request
        )


# ---------------------------------------------------------------------------------------------
# Deadlines, re-checks, metrics


class DeadlinesApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="deadlines_list",
        summary="Overdue and soon-due deadlines: payer decisions, appeal decisions, appeal filing",
        parameters=[DueFilterSerializer],
        responses={200: DueItemOutputSerializer(many=True), 400: ERRORS_400, 403: ERROR_403},
    )
    def get(self, request: Request) -> Response:
        filters = parse(DueFilterSerializer, request.query_params)
        items = selectors.requests_due(
            user=request.user, within=dt.timedelta(days=filters["within_days"]), limit=filters["limit"]
        )
        audit(
            request,
            A.LIST,
            model=AuthorizationRequest,
            detail="deadlines ids=" + ",".join(str(i.request.pk) for i in items),
        )
        response = Response(DueItemOutputSerializer(items, many=True).data)
        response["X-Total-Count"], response["X-More-Count"] = str(items.total), str(items.more)
        return response


class RecheckResultsApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="rechecks_list",
        summary="Requests whose decision a policy change changed, with the criteria that changed",
        parameters=[RecheckFilterSerializer, *PAGE_PARAMETERS],
        responses={
            200: paginated_schema(RecheckResultOutputSerializer, "PaginatedRecheckResultList"),
            400: ERRORS_400,
            403: ERROR_403,
        },
    )
    def get(self, request: Request) -> Response:
        filters = parse(RecheckFilterSerializer, request.query_params)
        qs = selectors.recheck_results_visible_to(request.user).select_related("seen_by")
        if not filters["include_seen"]:
            qs = qs.filter(seen_at__isnull=True, superseded=False)
        return paginate(
            request, self, qs.order_by("-created_at", "-id"), RecheckResultOutputSerializer, model=RecheckResult
        )


class RecheckSeenApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="rechecks_seen",
        summary="Mark a re-check result seen (billing staff)",
        request=None,
        responses={200: RecheckResultOutputSerializer, 403: ERROR_403, 404: ERROR_404},
    )
    def post(self, request: Request, pk: int) -> Response:
        result = selectors.get_visible(selectors.recheck_results_visible_to(request.user), pk)
        permissions.require(request.user, "recheck.seen", result)
        parse(NoBodyInputSerializer, request.data)
        result = services.recheck_result_mark_seen(result=result, by=request.user, http_request=request._request)
        return Response(RecheckResultOutputSerializer(result).data)


class PayerMetricsApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="metrics_payers",
        summary="Per payer: requests, approval %, denial %, approved after appeal %, average and median days to decision",
        parameters=[PeriodFilterSerializer],
        responses={200: PayerMetricsOutputSerializer(many=True), 400: ERRORS_400, 403: ERROR_403},
    )
    def get(self, request: Request) -> Response:
        period = parse(PeriodFilterSerializer, request.query_params)
        rows = selectors.payer_metrics(
            requests=selectors.requests_visible_to(request.user), since=period.get("since"), until=period.get("until")
        )
        return Response(PayerMetricsOutputSerializer(rows, many=True).data)


class AuditEntriesApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="audit_list",
        summary="Your practice's audit trail (admins)",
        parameters=[AuditFilterSerializer, *PAGE_PARAMETERS],
        responses={
            200: paginated_schema(AuditEntryOutputSerializer, "PaginatedAuditEntryList"),
            400: ERRORS_400,
            403: ERROR_403,
        },
    )
    def get(self, request: Request) -> Response:
        permissions.require(request.user, "audit.list")
        filters = parse(AuditFilterSerializer, request.query_params)
        qs = selectors.audit_entries_visible_to(request.user).filter(**filters)
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(AuditEntryOutputSerializer(page, many=True).data)


# ---------------------------------------------------------------------------------------------
# Patients and providers


class PatientListCreateApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="patients_list",
        summary="The patients you may see",
        parameters=PAGE_PARAMETERS,
        responses={
            200: paginated_schema(PatientOutputSerializer, "PaginatedPatientList"),
            400: ERRORS_400,
            403: ERROR_403,
        },
    )
    def get(self, request: Request) -> Response:
        return paginate(
            request, self, selectors.patients_visible_to(request.user), PatientOutputSerializer, model=Patient
        )

    @extend_schema(
        tags=[TAG],
        operation_id="patients_create",
        summary="Add a patient to your practice (billing staff)",
        request=PatientInputSerializer,
        responses={201: PatientOutputSerializer, 400: ERRORS_400, 403: ERROR_403, 415: ERROR_415},
    )
    def post(self, request: Request) -> Response:
        permissions.require(request.user, "patient.create")
        data = parse(PatientInputSerializer, request.data)
        patient = services.patient_create(
            practice=selectors.membership_of(request.user).practice,
            by=request.user,
            http_request=request._request,
            **data,
        )
        return Response(PatientOutputSerializer(patient).data, status=status.HTTP_201_CREATED)


class PatientDetailApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="patients_retrieve",
        summary="A patient",
        responses={200: PatientOutputSerializer, 403: ERROR_403, 404: ERROR_404},
    )
    def get(self, request: Request, pk: int) -> Response:
        patient = selectors.get_visible(selectors.patients_visible_to(request.user), pk)
        audit(request, A.READ, patient)
        return Response(PatientOutputSerializer(patient).data)

    @extend_schema(
        tags=[TAG],
        operation_id="patients_update",
        summary="Correct a patient's details; their drafts follow (billing staff)",
        request=PatientInputSerializer(partial=True),
        responses={200: PatientOutputSerializer, 400: ERRORS_400, 403: ERROR_403, 404: ERROR_404, 415: ERROR_415},
    )
    def patch(self, request: Request, pk: int) -> Response:
        patient = selectors.get_visible(selectors.patients_visible_to(request.user), pk)
        permissions.require(request.user, "patient.update", patient)
        serializer = PatientInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        patient = services.patient_update(
            patient=patient, by=request.user, http_request=request._request, **serializer.validated_data
        )
        return Response(PatientOutputSerializer(patient).data)


class ProviderListApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="providers_list",
        summary="Your practice's providers (treating physicians)",
        responses={200: ProviderOutputSerializer(many=True), 403: ERROR_403},
    )
    def get(self, request: Request) -> Response:
        return Response(ProviderOutputSerializer(selectors.providers_visible_to(request.user), many=True).data)


class PayerScorecardApi(BaseApi):
    """The payer scorecard (priorauth.scorecard): per payer, for one year, the eight CMS-0057-F
    measures from the practice's own requests, the payer's published figures, the clock breaches."""

    @extend_schema(
        tags=[TAG],
        operation_id="metrics_scorecard",
        summary="Payer scorecard for a year (billing staff and admins)",
        parameters=[OpenApiParameter("year", OpenApiTypes.INT, description="calendar year (default: this year)")],
        responses={200: OpenApiTypes.OBJECT, 400: ERRORS_400, 403: ERROR_403},
    )
    def get(self, request: Request) -> Response:
        from django.utils import timezone

        from priorauth.scorecard import payer_scorecard

        permissions.require(request.user, "metrics.scorecard")
        this_year = timezone.localdate().year
        raw = request.query_params.get("year") or str(this_year)
        if not raw.isdigit() or not 2000 <= int(raw) <= this_year:
            raise ValidationError({"year": f"Must be a year from 2000 to {this_year}."})
        rows = payer_scorecard(requests=selectors.requests_visible_to(request.user), year=int(raw))
        audit(request, A.LIST, model=AuthorizationRequest, detail=f"payer scorecard {raw}")
        return Response({"year": int(raw), "payers": rows})
