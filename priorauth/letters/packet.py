"""The fax-ready packet of a signed letter: one PDF with a cover sheet, the signed letter, an index
of the enclosures and the enclosures themselves (PDF attachments merged as they are, images turned
into Letter-size pages).

The index and the merge are made from one list (`Enclosure`s, built once from the attachments
staff chose), so the index cannot name a document that is not in the packet, nor miss one, and its
page numbers are the pages the merge put them on. The cover sheet counts every page, itself
included, and carries nothing clinical.

Built synchronously, in the request that asks for it: the letter's final PDF is already stored by
the worker, so a build is one small WeasyPrint render (cover + index) and a pypdf merge — see
bench/packet_bench.py and docs/benchmarks.md for the figures behind that choice.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string

from priorauth import permissions
from priorauth.letters import compose as letters
from priorauth.letters import pdf
from priorauth.letters.models import FaxPacket, Letter, LetterKind, LetterStatus
from priorauth.models import Attachment, AuditEntry
from priorauth.permissions import User
from priorauth.services import audit_change

# US Letter in PDF points, and the margin an image keeps from the page edge (fax machines crop).
LETTER_WIDTH, LETTER_HEIGHT = 612.0, 792.0
IMAGE_MARGIN = 36.0
# More than this many attachments is not a fax anyone reads to the end; the API refuses it by name.
MAX_ENCLOSURES = 25
SUBJECTS = {
    LetterKind.PRIOR_AUTHORIZATION: "Prior authorization request, CPT 0275T",
    LetterKind.APPEAL: "Appeal of a denied prior authorization, CPT 0275T",
}


@dataclass
class Enclosure:
    """One enclosed document: what the index prints and what the merge appends, from one object."""

    attachment: Attachment
    title: str
    pages: list[Any] = field(default_factory=list)  # pypdf PageObjects, in order
    first_page: int = 0
    last_page: int = 0

    def record(self) -> dict[str, Any]:
        return {
            "attachment": self.attachment.pk,
            "kind": self.attachment.kind,
            "title": self.title,
            "content_type": self.attachment.content_type,
            "sha256": self.attachment.sha256,
            "pages": len(self.pages),
            "first_page": self.first_page,
            "last_page": self.last_page,
        }


# ---------------------------------------------------------------------------------------------
# Turning attachments into pages


def _read(file) -> bytes:
    with file.open("rb") as f:
        return f.read()


def _pdf_pages(content: bytes, at: str) -> list[Any]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ValidationError({at: "This PDF is password-protected; upload an unprotected copy."})
        pages = list(reader.pages)
    except ValidationError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ValidationError({at: f"This PDF cannot be read ({type(exc).__name__}); upload it again."}) from None
    if not pages:
        raise ValidationError({at: "This PDF has no pages."})
    return pages


def _image_pages(content: bytes, at: str) -> list[Any]:
    """Each frame of the image (a TIFF may hold several) on its own Letter page, scaled to fit
    inside the margin and centred, never enlarged past its own resolution's size."""
    from PIL import Image, ImageOps, UnidentifiedImageError
    from pypdf import PageObject, PdfReader, Transformation

    try:
        # WeasyPrint turns on Pillow's LOAD_TRUNCATED_IMAGES for the whole process, which would let a
        # cut-off scan through half grey; verify() still reads every chunk and refuses it.
        Image.open(io.BytesIO(content)).verify()
        image = Image.open(io.BytesIO(content))
        pages = []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            frame = ImageOps.exif_transpose(image.copy())
            frame = frame.convert("L" if frame.mode in ("1", "L", "LA", "I;16") else "RGB")
            dpi = frame.info.get("dpi") or image.info.get("dpi") or (150, 150)
            buffer = io.BytesIO()
            frame.save(buffer, "PDF", resolution=float(dpi[0] or 150))
            source = PdfReader(buffer).pages[0]
            width, height = float(source.mediabox.width), float(source.mediabox.height)
            scale = min((LETTER_WIDTH - 2 * IMAGE_MARGIN) / width, (LETTER_HEIGHT - 2 * IMAGE_MARGIN) / height, 1.0)
            page = PageObject.create_blank_page(width=LETTER_WIDTH, height=LETTER_HEIGHT)
            page.merge_transformed_page(
                source,
                Transformation()
                .scale(scale)
                .translate((LETTER_WIDTH - width * scale) / 2, (LETTER_HEIGHT - height * scale) / 2),
            )
            pages.append(page)
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        ZeroDivisionError,
        Image.DecompressionBombError,
    ) as exc:
        raise ValidationError({at: f"This image cannot be read ({type(exc).__name__}); upload it again."}) from None
    return pages


def attachment_pages(attachment: Attachment, at: str) -> list[Any]:
    content = _read(attachment.file)
    if attachment.content_type == "application/pdf":
        return _pdf_pages(content, at)
    return _image_pages(content, at)


def enclosure_title(attachment: Attachment) -> str:
    """What the payer's reviewer reads in the index: the kind and the upload date (the file's own
    name may be a scanner's or hold anything; it stays on the staff's screens)."""
    received = attachment.request.practice.localdate(attachment.uploaded_at)
    return f"{attachment.get_kind_display()}, received {letters.long_date(received)}"


# ---------------------------------------------------------------------------------------------
# The cover sheet and index


def _recipient(request) -> dict[str, str]:
    """The payer desk from the request's directory entry (payer_contact, when the payer directory
    is installed), else the payer's own name with no fax on record."""
    contact = getattr(request, "payer_contact", None)
    if contact is not None:
        return {
            "name": getattr(contact, "name", "") or request.payer.name,
            "department": getattr(contact, "department", "") or "",
            "fax": getattr(contact, "fax", "") or "",
            "phone": getattr(contact, "phone", "") or "",
        }
    return {"name": request.payer.name, "department": "", "fax": "", "phone": ""}


def _sender(request) -> dict[str, str]:
    practice = request.practice
    return {
        "name": getattr(practice, "facility_name", "") or practice.name,
        "physician": request.treating_physician.name,
        "fax": getattr(practice, "fax", "") or "",
        "phone": getattr(practice, "phone", "") or "",
    }


def _payer_reference(letter: Letter) -> str:
    if letter.kind != LetterKind.APPEAL or letter.appeal is None:
        return ""
    denial = letters.denial_for(letter.appeal)
    return denial.payer_reference if denial is not None else ""


def _front_matter(context: dict[str, Any]) -> tuple[Any, int, int]:
    """The laid-out cover + index document, with how many pages the cover and the index took."""
    document = pdf.html_document(render_to_string("letters/cover_sheet.html", context))
    index_start = next(
        (i for i, page in enumerate(document.pages) if "enclosure-index" in page.anchors), len(document.pages)
    )
    return document, index_start, len(document.pages) - index_start


def front_matter(*, base: dict[str, Any], letter_pages: int, enclosures: list[Enclosure]) -> tuple[bytes, int, int]:
    """Cover sheet and index as PDF bytes, numbered for the packet: cover, letter, index, enclosures.

    The index's own length decides where the enclosures start, which the index prints; a first
    layout assumes one cover page and one index page, and a second is made only when the
    assumption was wrong (an index of more than ~30 documents, a cover that overflowed)."""
    cover_pages, index_pages = 1, 1 if enclosures else 0
    for _ in range(3):
        letter_first = cover_pages + 1
        index_first = letter_first + letter_pages
        position = index_first + index_pages
        for enclosure in enclosures:
            enclosure.first_page, enclosure.last_page = position, position + len(enclosure.pages) - 1
            position += len(enclosure.pages)
        context = base | {
            "total_pages": position - 1,
            "letter_first": letter_first,
            "letter_last": index_first - 1,
            "index_first": index_first,
            "index_last": index_first + index_pages - 1,
            "index_pages": index_pages,
            "enclosures": [e.record() for e in enclosures],
        }
        document, got_cover, got_index = _front_matter(context)
        if (got_cover, got_index) == (cover_pages, index_pages):
            return document.write_pdf(), cover_pages, index_pages
        cover_pages, index_pages = got_cover, got_index
    raise RuntimeError("the cover sheet and enclosure index did not settle on a page count")


# ---------------------------------------------------------------------------------------------
# The service


def _chosen_attachments(letter: Letter, attachment_ids: Any) -> list[Attachment]:
    if not isinstance(attachment_ids, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) for x in attachment_ids
    ):
        raise ValidationError({"attachments": "Must be a list of attachment ids of this request."})
    if len(attachment_ids) > MAX_ENCLOSURES:
        raise ValidationError({"attachments": f"At most {MAX_ENCLOSURES} attachments go in one packet."})
    if len(set(attachment_ids)) != len(attachment_ids):
        raise ValidationError({"attachments": "An attachment is listed twice."})
    found = {a.pk: a for a in letter.request.attachments.filter(pk__in=attachment_ids)}
    missing = [str(x) for x in attachment_ids if x not in found]
    if missing:
        raise ValidationError({"attachments": f"No such attachment of this request: {', '.join(missing)}."})
    return [found[x] for x in attachment_ids]  # in the order staff chose


def packet_build(
    *, letter: Letter, attachment_ids: Any, by: User, http_request: HttpRequest | None = None
) -> FaxPacket:
    """Build and store the packet of the letter's signed current revision with the chosen
    attachments, in the order given. Billing staff of the request's practice only."""
    permissions.require(by, "packet.build", letter)
    started = time.perf_counter()
    with transaction.atomic():
        letter = (
            Letter.objects.select_for_update(of=("self",))
            .select_related(
                "request__practice", "request__payer", "request__treating_physician", "current_revision", "appeal"
            )
            .get(pk=letter.pk)
        )
        revision = letter.current_revision
        if letter.status != LetterStatus.SIGNED or revision is None or not revision.is_signed or not revision.final_pdf:
            raise ValidationError(
                {
                    "letter": f"Only a signed letter with its final PDF can go in a packet (the letter is {letter.get_status_display().lower()})."
                }
            )
        chosen = _chosen_attachments(letter, attachment_ids)
        enclosures = [Enclosure(attachment=a, title=enclosure_title(a)) for a in chosen]
        for i, enclosure in enumerate(enclosures):
            enclosure.pages = attachment_pages(enclosure.attachment, f"attachments[{i}]")

        letter_pages = _pdf_pages(_read(revision.final_pdf), "letter")
        request = letter.request
        base = {
            "to": _recipient(request),
            "sender": _sender(request),
            "date": letters.long_date(request.practice.localdate()),
            "letter_date": letters.long_date(request.practice.localdate(revision.signed_at)),
            "subject": SUBJECTS.get(letter.kind, letter.get_kind_display()),
            "reference": request.reference,
            "payer_reference": _payer_reference(letter),
        }
        front, cover_pages, _index_pages = front_matter(
            base=base, letter_pages=len(letter_pages), enclosures=enclosures
        )
        content, page_count = merge(front, cover_pages, letter_pages, enclosures)

        packet = FaxPacket(
            letter=letter,
            revision=revision,
            sha256=hashlib.sha256(content).hexdigest(),
            page_count=page_count,
            enclosures=[e.record() for e in enclosures],
            recipient=base["to"],
            built_by=by,
        )
        packet.file.save("packet.pdf", ContentFile(content), save=False)
        try:
            packet.build_seconds = time.perf_counter() - started
            packet.save()
        except Exception:
            packet.file.delete(save=False)
            raise
        audit_change(
            by,
            AuditEntry.Action.CREATE,
            packet,
            http_request,
            f"letter {letter.pk} r{revision.number} attachments="
            + ",".join(str(e["attachment"]) for e in packet.enclosures),
        )
        return packet


def merge(front: bytes, cover_pages: int, letter_pages: list[Any], enclosures: list[Enclosure]) -> tuple[bytes, int]:
    """Cover, letter, index, enclosures — the enclosures from the very list the index was made from."""
    from pypdf import PdfReader, PdfWriter

    front_pages = PdfReader(io.BytesIO(front)).pages
    writer = PdfWriter()
    for page in list(front_pages)[:cover_pages]:
        writer.add_page(page)
    for page in letter_pages:
        writer.add_page(page)
    for page in list(front_pages)[cover_pages:]:
        writer.add_page(page)
    for enclosure in enclosures:
        for page in enclosure.pages:
            writer.add_page(page)
    writer.add_metadata({"/Title": "Fax packet", "/Producer": "mild prior-authorization"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), len(writer.pages)
