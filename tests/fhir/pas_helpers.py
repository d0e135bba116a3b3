"""Helpers of the PAS tests: the shared FHIR fixtures (copied from ../shared/fhir into
tests/fixtures/fhir) and a request with an attachment and a signed letter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile
from django.utils import timezone

from factories import draft_for
from priorauth.letters.models import Letter, LetterKind, LetterRevision
from priorauth.models import Attachment

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"
PDF = b"%PDF-1.7\n" + b"0" * 200 + b"\n%%EOF\n"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def preset(name: str, *, suite: str = "pas_client_v221_run_against_pas_server.json") -> Any:
    """One input of an Inferno preset (the kit's response bundles are JSON inside JSON)."""
    inputs = {i["name"]: i.get("value") for i in fixture(suite)["inputs"]}
    return json.loads(inputs[name])


def answering(bundle: dict[str, Any], reference: str) -> dict[str, Any]:
    """The response with its ClaimResponse echoing our request's identifier, as a payer does."""
    for entry in bundle.get("entry", []):
        resource = entry.get("resource", {})
        if resource.get("resourceType") == "ClaimResponse":
            resource["identifier"] = [
                {
                    "system": "https://mildpa.example.org/fhir/prior-authorization-request",
                    "value": reference,
                }
            ]
    return bundle


def with_documents(world):
    request = draft_for(world)
    attachment = Attachment(
        request=request,
        kind=Attachment.Kind.IMAGING_REPORT,
        original_name="mri.pdf",
        content_type="application/pdf",
        size=len(PDF),
        sha256="0" * 64,
        uploaded_by=world.alice,
    )
    attachment.file.save("mri.pdf", ContentFile(PDF), save=False)
    attachment.save()
    letter = Letter.objects.create(request=request, kind=LetterKind.PRIOR_AUTHORIZATION, created_by=world.alice)
    revision = LetterRevision(
        letter=letter,
        number=1,
        signed_by=world.bob,
        signed_at=timezone.now(),
        created_by=world.alice,
    )
    revision.final_pdf.save("final.pdf", ContentFile(PDF + b"signed"), save=False)
    revision.save()
    return request
