"""The letters API: ask for a draft, read a request's letters, edit the narrative, hand a draft
for signature, sign, retry a failed render, and download a revision's draft or final PDF.

Letters are visible to the practice's billing staff and to the treating physician only; anyone
else (another practice, another physician, the practice's admins) gets 404. Every read and
download is written to the audit trail.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from priorauth import permissions, selectors
from priorauth.api import ERROR_403, ERROR_404, ERROR_415, ERRORS_400, A, BaseApi, audit, parse
from priorauth.letters import downloads
from priorauth.letters import services as letter_services
from priorauth.letters.models import Letter, LetterJob, LetterKind, LetterRevision
from priorauth.serializers import InputSerializer, NoBodyInputSerializer

TAG = "letters"


# ---------------------------------------------------------------------------------------------
# Serializers


class SentenceSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=letter_services.MAX_SENTENCE)
    citations = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list)
    note = serializers.CharField(read_only=True, help_text="Set while the sentence rests on an unverified source.")


class ParagraphSerializer(serializers.Serializer):
    key = serializers.SlugField(max_length=64)
    heading = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    sentences = SentenceSerializer(many=True)
    items = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class LetterCreateInputSerializer(InputSerializer):
    kind = serializers.ChoiceField(choices=LetterKind.choices)
    appeal = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="The appeal id (appeal letters)."
    )


class LetterEditInputSerializer(InputSerializer):
    paragraphs = serializers.JSONField(
        help_text="The narrative: a list of {key, heading, sentences: [{text, citations}]}."
    )
    enclosures = serializers.JSONField(required=False, help_text="Appeal letters: the list of enclosed documents.")


class JobOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = LetterJob
        fields = ["stage", "state", "attempts", "queued_at", "started_at", "finished_at", "render_seconds", "error"]


class RevisionOutputSerializer(serializers.ModelSerializer):
    has_draft_pdf = serializers.SerializerMethodField()
    has_final_pdf = serializers.SerializerMethodField()
    jobs = JobOutputSerializer(many=True, read_only=True)
    superseded_by = serializers.SerializerMethodField()

    class Meta:
        model = LetterRevision
        fields = [
            "number",
            "created_at",
            "edited_at",
            "signed_by",
            "signed_at",
            "supersedes",
            "superseded_by",
            "has_draft_pdf",
            "draft_sha256",
            "has_final_pdf",
            "final_sha256",
            "jobs",
        ]

    def get_has_draft_pdf(self, obj: LetterRevision) -> bool:
        return bool(obj.draft_pdf)

    def get_has_final_pdf(self, obj: LetterRevision) -> bool:
        return bool(obj.final_pdf)

    def get_superseded_by(self, obj: LetterRevision) -> int | None:
        later = getattr(obj, "superseded_by", None)
        return later.number if later else None


class LetterOutputSerializer(serializers.ModelSerializer):
    request = serializers.IntegerField(source="request_id")
    appeal_level = serializers.IntegerField(source="appeal.level_order", default=None, allow_null=True)
    revision = serializers.IntegerField(source="current_revision.number", default=None, allow_null=True)
    paragraphs = ParagraphSerializer(
        source="current_revision.paragraphs",
        many=True,
        default=None,
        allow_null=True,
        help_text="null until the first draft is made",
    )
    enclosures = serializers.ListField(
        source="current_revision.enclosures", child=serializers.CharField(), default=list
    )
    revisions = RevisionOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Letter
        fields = [
            "id",
            "request",
            "kind",
            "appeal",
            "appeal_level",
            "status",
            "revision",
            "paragraphs",
            "enclosures",
            "revisions",
            "created_at",
            "updated_at",
        ]


def letter_response(request: Request, letter: Letter, status_code: int = status.HTTP_200_OK) -> Response:
    letter = selectors.letter_get(user=request.user, pk=letter.pk)
    return Response(LetterOutputSerializer(letter).data, status=status_code)


# ---------------------------------------------------------------------------------------------
# Views


class RequestLettersApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="letters_list",
        summary="The letters of a request",
        responses={200: LetterOutputSerializer(many=True), 403: ERROR_403, 404: ERROR_404},
    )
    def get(self, request: Request, pk: int) -> Response:
        obj = selectors.request_get(user=request.user, pk=pk)
        found = list(selectors.letters_visible_to(request.user).filter(request=obj))
        audit(request, A.LIST, model=Letter, detail=f"request {obj.pk} ids=" + ",".join(str(x.pk) for x in found))
        return Response(LetterOutputSerializer(found, many=True).data)

    @extend_schema(
        tags=[TAG],
        operation_id="letters_create",
        summary="Ask for a letter's draft (billing staff or the treating physician); asking again returns the same letter",
        request=LetterCreateInputSerializer,
        responses={
            202: LetterOutputSerializer,
            200: LetterOutputSerializer,
            400: ERRORS_400,
            403: ERROR_403,
            404: ERROR_404,
            415: ERROR_415,
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        obj = selectors.request_get(user=request.user, pk=pk)
        permissions.require(request.user, "letter.draft", obj)
        data = parse(LetterCreateInputSerializer, request.data)
        appeal = None
        if data.get("appeal") is not None:
            appeal = obj.appeals.filter(pk=data["appeal"]).first()
            if appeal is None:
                raise ValidationError({"appeal": "No such appeal of this request."})
        letter, created = letter_services.letter_request_draft(
            request=obj, kind=data["kind"], by=request.user, appeal=appeal, http_request=request._request
        )
        return letter_response(request, letter, status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class LetterDetailApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="letters_retrieve",
        summary="A letter with its current narrative and all revisions",
        responses={200: LetterOutputSerializer, 403: ERROR_403, 404: ERROR_404},
    )
    def get(self, request: Request, pk: int) -> Response:
        letter = selectors.letter_get(user=request.user, pk=pk)
        audit(request, A.READ, letter)
        return Response(LetterOutputSerializer(letter).data)


class LetterParagraphsApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="letters_edit",
        summary="Edit the narrative (the treating physician); a signed letter gets a new revision that supersedes it",
        request=LetterEditInputSerializer,
        responses={202: LetterOutputSerializer, 400: ERRORS_400, 403: ERROR_403, 404: ERROR_404, 415: ERROR_415},
    )
    def put(self, request: Request, pk: int) -> Response:
        letter = selectors.letter_get(user=request.user, pk=pk)
        data = parse(LetterEditInputSerializer, request.data)
        letter_services.letter_edit(
            letter=letter,
            by=request.user,
            paragraphs=data["paragraphs"],
            enclosures=data.get("enclosures"),
            http_request=request._request,
        )
        return letter_response(request, letter, status.HTTP_202_ACCEPTED)


class LetterRequestSignatureApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="letters_request_signature",
        summary="Hand a ready draft to the treating physician for signature",
        request=None,
        responses={200: LetterOutputSerializer, 400: ERRORS_400, 403: ERROR_403, 404: ERROR_404},
    )
    def post(self, request: Request, pk: int) -> Response:
        parse(NoBodyInputSerializer, request.data)
        letter = letter_services.letter_request_signature(
            letter=selectors.letter_get(user=request.user, pk=pk), by=request.user, http_request=request._request
        )
        return letter_response(request, letter)


class LetterSignInputSerializer(InputSerializer):
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        trim_whitespace=True,
        help_text="why the letter is signed although required criteria are not met or not documented (kept in the audit trail)",
    )
    acknowledge_unverified = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: the physician checked the draft's statements that rest on unverified sources",
    )


class LetterSignApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="letters_sign",
        summary="Sign the current draft (the treating physician only); the final PDF is then rendered. 400 names each "
        "required criterion not met or not documented (override_reason), unacknowledged unverified sources "
        "(acknowledge_unverified) and a missing addressee (payer_contact)",
        request=LetterSignInputSerializer,
        responses={202: LetterOutputSerializer, 400: ERRORS_400, 403: ERROR_403, 404: ERROR_404, 415: ERROR_415},
    )
    def post(self, request: Request, pk: int) -> Response:
        letter = selectors.letter_get(user=request.user, pk=pk)
        data = parse(LetterSignInputSerializer, request.data)
        letter_services.letter_sign(letter=letter, by=request.user, http_request=request._request, **data)
        return letter_response(request, letter, status.HTTP_202_ACCEPTED)


class LetterRetryApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="letters_retry",
        summary="Queue a failed render again",
        request=None,
        responses={202: LetterOutputSerializer, 400: ERRORS_400, 403: ERROR_403, 404: ERROR_404, 415: ERROR_415},
    )
    def post(self, request: Request, pk: int) -> Response:
        parse(NoBodyInputSerializer, request.data)
        letter = selectors.letter_get(user=request.user, pk=pk)
        letter_services.letter_retry(letter=letter, by=request.user, http_request=request._request)
        return letter_response(request, letter, status.HTTP_202_ACCEPTED)


class PdfFilterSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=LetterJob.Stage.choices, default=LetterJob.Stage.FINAL)
    revision = serializers.IntegerField(required=False, min_value=1, help_text="Default: the current revision.")


class LetterPdfApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="letters_pdf",
        summary="Download a revision's draft or final PDF (audited)",
        parameters=[PdfFilterSerializer],
        responses={
            (200, "application/pdf"): OpenApiResponse(response=OpenApiTypes.BINARY),
            400: ERRORS_400,
            403: ERROR_403,
            404: ERROR_404,
        },
    )
    def get(self, request: Request, pk: int) -> FileResponse:
        letter = selectors.letter_get(user=request.user, pk=pk)
        data = parse(PdfFilterSerializer, request.query_params)
        return downloads.letter_pdf_download(
            by=request.user,
            letter=letter,
            number=data.get("revision"),
            stage=data["stage"],
            http_request=request._request,
        )


# ---------------------------------------------------------------------------------------------
# The addressee: the payer directory's desks a request's letters can go to (issue 11)


class PayerContactOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    kind_label = serializers.CharField(source="get_kind_display")
    name = serializers.CharField()
    department = serializers.CharField()
    address = serializers.CharField()
    phone = serializers.CharField()
    fax = serializers.CharField()
    portal_url = serializers.CharField()
    review_status = serializers.CharField()
    missing_fields = serializers.ListField(child=serializers.CharField(), help_text="what staff must still fill in")


class PayerContactInputSerializer(serializers.Serializer):
    payer_contact = serializers.IntegerField(
        allow_null=True, help_text="the id of one of the payer's entries; null clears it"
    )


class RequestPayerContactApi(BaseApi):
    @extend_schema(
        tags=[TAG],
        operation_id="requests_payer_contacts",
        summary="The payer's desks this request's letters can be addressed to, and the chosen one",
        responses={
            200: OpenApiResponse(description="{chosen: id or null, choices: [payer desks]}"),
            403: ERROR_403,
            404: ERROR_404,
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        from policies.models import PayerContact

        obj = selectors.request_get(user=request.user, pk=pk)
        audit(request, A.READ, obj, detail="payer contacts")
        choices = PayerContact.objects.filter(payer_id=obj.payer_id).order_by("kind", "name", "key")
        return Response(
            {"chosen": obj.payer_contact_id, "choices": PayerContactOutputSerializer(choices, many=True).data}
        )

    @extend_schema(
        tags=[TAG],
        operation_id="requests_payer_contact_choose",
        summary="Choose the payer desk the request's letters are addressed to (billing staff)",
        request=PayerContactInputSerializer,
        responses={200: OpenApiResponse(description="as GET"), 400: ERRORS_400, 403: ERROR_403, 404: ERROR_404},
    )
    def put(self, request: Request, pk: int) -> Response:
        from priorauth import services

        obj = selectors.request_get(user=request.user, pk=pk)
        permissions.require(request.user, "request.payer_contact", obj)
        data = parse(PayerContactInputSerializer, request.data)
        services.request_choose_payer_contact(
            request=obj, payer_contact_id=data["payer_contact"], by=request.user, http_request=request._request
        )
        return self.get(request, pk)
