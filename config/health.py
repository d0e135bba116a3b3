"""GET /api/v1/health: the process is up and serves the API.

It touches no database (a liveness probe must not fail with a slow database), and it goes through
the same DRF stack as every other endpoint, which makes it the baseline of bench/api_latency.py.
"""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class HealthApi(APIView):
    permission_classes = [AllowAny]
    # A load balancer probes it every few seconds from one address: never throttled.
    throttle_classes = ()

    @extend_schema(
        operation_id="health",
        summary="Liveness: the API process is serving",
        responses={200: inline_serializer("Health", {"status": serializers.CharField()})},
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})
