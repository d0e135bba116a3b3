"""Sending a letter: its draft as DOCX, and the fax-ready packet of its signed final (build, list,
download). Visibility is the letters' (billing staff and the treating physician; anyone else gets
404); only billing staff build a packet. Every read and download is in the audit trail.
"""

from __future__ import annotations

from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from priorauth import selectors
from priorauth.api import (
    ERROR_403,
    ERROR_404,
    ERROR_415,
    ERRORS_400,
    A,
    BaseApi,
    audit,
    parse,
)
from priorauth.letters import docx as docx_export
from priorauth.letters import downloads, packet
from priorauth.letters.models import FaxPacket

TAG = "letters"


class DocxFilterSerializer(serializers.Serializer):
    revision = serializers.IntegerField(required=False, min_value=1, help_text="Default: the current revision.")


class PacketCreateInputSerializer(serializers.Serializer):
    attachments = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        default=list,
        max_length=packet.MAX_ENCLOSURES,
        help_text="Ids of this request's attachments to enclose, in the order they go in the packet.",
    )


class PacketOutputSerializer(serializers.ModelSerializer):
    revision = serializers.IntegerField(source="revision.number")

    class Meta:
        model = FaxPacket
        fields = [
            "id",
            "letter",
            "revision",
            "sha256",
            "page_count",
            "enclosures",
            "recipient",
            "build_seconds",
            "built_by",
            "built_at",
        ]


class LetterDocxApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="letters_docx",
        summary="Download a revision's draft as DOCX, to edit in a word processor (audited)",
        parameters=[DocxFilterSerializer],
        responses={
            (200, docx_export.DOCX_CONTENT_TYPE): OpenApiResponse(response=OpenApiTypes.BINARY),
            400: ERRORS_400,
            403: ERROR_403,
            404: ERROR_404,
        },
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        letter = selectors.letter_get(user=request.user, pk=pk)
        data = parse(DocxFilterSerializer, request.query_params)
        return downloads.letter_docx_download(
            by=request.user, letter=letter, number=data.get("revision"), http_request=request._request
        )


class LetterPacketsApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="packets_list",
        summary="The fax packets built for a letter",
        responses={200: PacketOutputSerializer(many=True), 403: ERROR_403, 404: ERROR_404},
    )
    def get(self, request: Request, pk: int) -> Response:
        letter = selectors.letter_get(user=request.user, pk=pk)
        found = list(selectors.packets_visible_to(request.user).filter(letter=letter))
        audit(request, A.LIST, model=FaxPacket, detail=f"letter {letter.pk} ids=" + ",".join(str(p.pk) for p in found))
        return Response(PacketOutputSerializer(found, many=True).data)

    @extend_schema(
        tags=[TAG],
        operation_id="packets_create",
        summary="Build the fax packet of the signed letter: cover sheet, letter, enclosure index, the chosen attachments (billing staff)",
        request=PacketCreateInputSerializer,
        responses={201: PacketOutputSerializer, 400: ERRORS_400, 403: ERROR_403, 404: ERROR_404, 415: ERROR_415},
    )
    def post(self, request: Request, pk: int) -> Response:
        letter = selectors.letter_get(user=request.user, pk=pk)
        data = parse(PacketCreateInputSerializer, request.data)
        built = packet.packet_build(
            letter=letter, attachment_ids=data["attachments"], by=request.user, http_request=request._request
        )
        return Response(PacketOutputSerializer(built).data, status=status.HTTP_201_CREATED)


class PacketDetailApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="packets_retrieve",
        summary="A fax packet: its SHA-256, pages and enclosures",
        responses={200: PacketOutputSerializer, 403: ERROR_403, 404: ERROR_404},
    )
    def get(self, request: Request, pk: int) -> Response:
        found = selectors.packet_get(user=request.user, pk=pk)
        audit(request, A.READ, found)
        return Response(PacketOutputSerializer(found).data)


class PacketPdfApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="packets_pdf",
        summary="Download the fax packet PDF (audited)",
        responses={
            (200, "application/pdf"): OpenApiResponse(response=OpenApiTypes.BINARY),
            403: ERROR_403,
            404: ERROR_404,
        },
    )
    def get(self, request: Request, pk: int) -> FileResponse:
        return downloads.packet_download(by=request.user, packet_pk=pk, http_request=request._request)
