"""POST /api/v1/coverage/check: the determination of a case, or 400 naming each invalid field.

Stateless: it stores nothing and reads no stored patient data, so it needs no object permissions. But
the case it takes is PHI: only a signed-in member of a practice may check one, throttled per user
(THROTTLE_COVERAGE_CHECK).
"""

import json
from array import array

from django.core.exceptions import RequestDataTooBig
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.parsers import BodyTooLarge, api_max_body_bytes, check_body_size, text_errors
from config.throttling import ScopedUserThrottle
from coverage.checker import CaseInvalid, check
from coverage.serializers import FIELD_ERRORS_SCHEMA, CaseSerializer, DeterminationSerializer
from policies.snapshot import current_snapshot
from priorauth.selectors import membership_of

BODY_TOO_LARGE_SCHEMA = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}


class CheckRateThrottle(ScopedUserThrottle):
    """DRF's scoped throttle, per user, with its log of request times kept as an array of doubles.

    The log holds one time per request in the window (up to the rate) and the
    cache pickles all of it on every request: a list of N floats is N objects to pickle, an array
    one block of bytes, ten times cheaper; as a list it was the dearest part of a check at a few
    thousand requests a minute (bench/api_latency.py). Same decisions, keys and lifetimes.
    """

    def throttle_success(self) -> bool:
        if not isinstance(self.history, array):
            self.history = array("d", self.history)
        return super().throttle_success()


class IsPracticeMember(BasePermission):
    """The same rule as the prior-authorization API's: a signed-in user without a practice is refused."""

    message = "You do not belong to a practice."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return membership_of(request.user) is not None


def field_errors_response(errors) -> Response:
    body: dict[str, list[str]] = {}
    for e in errors:
        body.setdefault(e.path, []).append(e.message)
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


class CoverageCheckApi(APIView):
    # The body is read as JSON whatever its content type; listing only the JSON parser keeps the
    # schema from offering form-encoded and multipart bodies, which would be refused.
    parser_classes = [JSONParser]
    permission_classes = [IsAuthenticated, IsPracticeMember]
    throttle_classes = [CheckRateThrottle]
    throttle_scope = "coverage_check"

    def initial(self, request: Request, *args, **kwargs) -> None:
        # Keep the raw body before authentication: for a signed-in browser (session auth), DRF's
        # CSRF check reads request.POST, which consumes the stream that post() parses as JSON.
        # The body limit is checked first: a body over it is never read (a JSON 413 naming it).
        check_body_size(request.META)
        try:
            request._request.body  # noqa: B018 (reading it caches it)
        except RequestDataTooBig:  # Django's own limit, when it is the lower one
            raise BodyTooLarge(api_max_body_bytes()) from None
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="coverage_check",
        summary="Check a case against its payer's policy",
        request=CaseSerializer,
        responses={
            200: DeterminationSerializer,
            400: OpenApiResponse(response=FIELD_ERRORS_SCHEMA, description="invalid fields, by dotted path"),
            403: OpenApiResponse(description="not signed in, or not a member of a practice"),
            429: OpenApiResponse(description="over THROTTLE_COVERAGE_CHECK for this user"),
            413: OpenApiResponse(response=BODY_TOO_LARGE_SCHEMA, description="a body over API_MAX_BODY_BYTES"),
        },
        examples=[
            OpenApiExample(
                "invalid NPI",
                value={"provider.npi": ["invalid NPI check digit"]},
                response_only=True,
                status_codes=["400"],
            )
        ],
    )
    def post(self, request: Request) -> Response:
        try:
            data = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            return Response({"(root)": [f"invalid JSON: {exc}"]}, status=status.HTTP_400_BAD_REQUEST)
        except RecursionError:  # the decoder's own limit on nesting
            return Response({"(root)": ["invalid JSON: nested too deeply"]}, status=status.HTTP_400_BAD_REQUEST)
        # A NUL or a lone surrogate can only come spelled as a \u escape; a body without one skips the walk.
        if b"\\u" in request.body:
            errors = text_errors(data)
            if errors:
                return Response(errors, status=status.HTTP_400_BAD_REQUEST)
        try:
            return Response(check(data, snapshot=current_snapshot(), today=timezone.localdate()))
        except CaseInvalid as exc:
            return field_errors_response(exc.errors)
