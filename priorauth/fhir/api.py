"""The PAS API: thin views over priorauth.fhir (bundle, validator, services, client).

Every request is looked up through the permission-scoped selector first, so another practice's
request answers 404; reads of the bundle (PHI) are audited like the request detail.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from priorauth import permissions, selectors
from priorauth.api import (
    ERROR_403,
    ERROR_404,
    ERROR_415,
    ERRORS_400,
    BaseApi,
    IsPracticeMember,
    JSONBodyParser,
    audit,
    request_detail,
)
from priorauth.fhir import client, notifications
from priorauth.fhir.bundle import request_bundle
from priorauth.fhir.services import pas_response_record
from priorauth.fhir.validator import validate_bundle
from priorauth.models import AuditEntry
from priorauth.serializers import RequestDetailOutputSerializer

A = AuditEntry.Action
TAG = "electronic prior authorization (Da Vinci PAS)"
FHIR_JSON = "application/fhir+json"


class FhirJSONParser(JSONBodyParser):
    media_type = FHIR_JSON


def fhir_response(payload: dict[str, Any], status_code: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(payload), content_type=FHIR_JSON, status=status_code)


class PasBundleApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="requests_pas_bundle",
        summary="The request as a Da Vinci PAS 2.2.1 request Bundle (application/fhir+json)",
        responses={
            (200, FHIR_JSON): OpenApiTypes.OBJECT,
            403: ERROR_403,
            404: ERROR_404,
        },
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        obj = selectors.request_get(user=request.user, pk=pk)
        audit(request, A.READ, obj, detail="pas-bundle")
        return fhir_response(request_bundle(obj))


class PasBundleCheckApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="requests_pas_bundle_check",
        summary="Check the request's PAS bundle against the PAS 2.2.1 profiles (errors and warnings by FHIR path)",
        responses={200: OpenApiTypes.OBJECT, 403: ERROR_403, 404: ERROR_404},
    )
    def get(self, request: Request, pk: int) -> Response:
        obj = selectors.request_get(user=request.user, pk=pk)
        audit(request, A.READ, obj, detail="pas-bundle check")
        return Response(validate_bundle(request_bundle(obj), must_support=True).as_dict())


class PasResponseApi(BaseApi):
    parser_classes = [FhirJSONParser, JSONBodyParser]

    @extend_schema(
        tags=[TAG],
        operation_id="requests_pas_response",
        summary="Record a payer's PAS response Bundle (ClaimResponse) as its decision (billing staff)",
        request={
            FHIR_JSON: OpenApiTypes.OBJECT,
            "application/json": OpenApiTypes.OBJECT,
        },
        responses={
            200: RequestDetailOutputSerializer,
            400: ERRORS_400,
            403: ERROR_403,
            404: ERROR_404,
            415: ERROR_415,
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        obj = selectors.request_get(user=request.user, pk=pk)
        permissions.require(request.user, "request.pas_response", obj)
        pas_response_record(
            request=obj,
            payload=request.data,
            by=request.user,
            http_request=request._request,
        )
        return request_detail(request, obj)


class PasSubmitApi(APIView):
    """Not wrapped in BaseApi's transaction: the exchange with the payer happens outside any
    transaction (no row lock held over the network) and its log entry stays even when recording
    the answer fails."""

    permission_classes = [IsAuthenticated, IsPracticeMember]
    parser_classes = [JSONBodyParser]

    @extend_schema(
        tags=[TAG],
        operation_id="requests_pas_submit",
        summary="Submit the request to the payer's PAS endpoint (Claim/$submit), where an admin enabled one (billing staff)",
        request=None,
        responses={
            200: RequestDetailOutputSerializer,
            400: ERRORS_400,
            403: ERROR_403,
            404: ERROR_404,
            415: ERROR_415,
            502: OpenApiResponse(description="the payer's endpoint could not be reached or answered unreadably"),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        obj = selectors.request_get(user=request.user, pk=pk)
        permissions.require(request.user, "request.pas_submit", obj)
        audit(request, A.READ, obj, detail="pas-submit")
        client.submit(request=obj, by=request.user, http_request=request._request)
        return request_detail(request, obj)


class PasNotificationApi(APIView):
    """Subscription notifications (R4 Subscriptions Backport, rest-hook) for pended requests, posted
    by the payer (or the practice's intermediary) with a practice user's API token."""

    permission_classes = [IsAuthenticated, IsPracticeMember]
    parser_classes = [FhirJSONParser, JSONBodyParser]

    @extend_schema(
        tags=[TAG],
        operation_id="pas_notifications",
        summary="Receive a PAS subscription notification (full-resource or id-only)",
        request={FHIR_JSON: OpenApiTypes.OBJECT},
        responses={
            200: OpenApiTypes.OBJECT,
            202: OpenApiTypes.OBJECT,
            400: ERRORS_400,
            403: ERROR_403,
            415: ERROR_415,
        },
    )
    def post(self, request: Request) -> Response:
        permissions.require(request.user, "pas.notification")
        result = notifications.notification_receive(
            payload=request.data, by=request.user, http_request=request._request
        )
        return Response(
            result,
            status=status.HTTP_202_ACCEPTED if result["fetch_needed"] else status.HTTP_200_OK,
        )
