"""A draft letter as DOCX (issue 11, item 7): the same content as the draft — headings,
paragraphs, lists, tables, references — checked and audited like the PDF downloads."""

from __future__ import annotations

import io
import re

import docx
import pytest
from lxml import html as lxml_html

from config.celery import app
from factories import addressed, advance, draft_for
from letter_helpers import install_letter_texts
from priorauth.letters import compose as letters
from priorauth.letters import docx as docx_export
from priorauth.letters import pdf
from priorauth.letters import services as letter_services
from priorauth.models import AuditEntry, Status


@pytest.fixture(autouse=True)
def _tasks_in_process():
    eager = app.conf.CELERY_TASK_ALWAYS_EAGER
    app.conf.CELERY_TASK_ALWAYS_EAGER = True
    yield
    app.conf.CELERY_TASK_ALWAYS_EAGER = eager


@pytest.fixture
def drafted(world, django_capture_on_commit_callbacks):
    install_letter_texts()
    request = addressed(advance(draft_for(world, payer="medicare-advantage"), Status.SUBMITTED, world.alice))
    with django_capture_on_commit_callbacks(execute=True):
        letter, _ = letter_services.letter_request_draft(request=request, kind="prior_authorization", by=world.alice)
    letter.refresh_from_db()
    return letter


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def document_of(content: bytes) -> docx.document.Document:
    return docx.Document(io.BytesIO(content))


def all_text(document) -> str:
    parts = [p.text for p in document.paragraphs]
    parts += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return squash("\n".join(parts))


def test_it_downloads_the_draft_as_docx_with_the_drafts_content(world, drafted, api):
    response = api(world.alice).get(f"/api/v1/letters/{drafted.pk}/docx")
    assert response.status_code == 200
    assert response["Content-Type"] == docx_export.DOCX_CONTENT_TYPE
    assert response["Content-Disposition"].endswith('-draft.docx"') and response["Cache-Control"] == "private, no-store"
    document = document_of(response.content)
    text = all_text(document)

    revision = drafted.current_revision
    html = lxml_html.document_fromstring(
        pdf.letter_html(drafted.kind, letters.letter_context(drafted, revision, final=False))
    )
    headings = {(int(h.tag[1]), squash(h.text_content())) for h in html.iter("h1", "h2", "h3")}
    got = {
        (int(p.style.name.rsplit(" ", 1)[1]), squash(p.text))
        for p in document.paragraphs
        if p.style.name.startswith("Heading ")
    }
    assert headings == got
    for paragraph in revision.paragraphs:
        for sentence in paragraph["sentences"]:
            assert squash(sentence["text"]).rstrip(".!?:") in text
        for item in paragraph.get("items", []):
            assert any(p.style.name == "List Bullet" and squash(p.text) == squash(item) for p in document.paragraphs)
    # The references keep the numbers the [n] citations use.
    references = letters.letter_context(drafted, revision, final=False)["references"]
    assert references
    for ref in references:
        printed = squash(ref.get("citation") or ref["short"])  # the letter prints the full citation
        assert any(squash(p.text).startswith(f"{ref['number']}. {printed}") for p in document.paragraphs)
    # The request-details table, cell by cell.
    facts = [t for t in document.tables if t.rows[0].cells[0].text == "Patient"]
    assert facts and facts[0].rows[0].cells[1].text == "Ada Moreno"
    # The draft banner, as on the draft PDF.
    assert "DRAFT 1" in text and document.core_properties.author == "Bob Baker, MD"

    assert AuditEntry.objects.filter(
        action="download",
        object_type="priorauth.letterrevision",
        object_id=str(revision.pk),
        detail__endswith="docx",
        user=world.alice,
    ).exists()


def test_it_follows_the_physicians_edit(world, drafted, api, django_capture_on_commit_callbacks):
    paragraphs = drafted.current_revision.paragraphs
    paragraphs[0]["sentences"][0]["text"] = "An edited opening sentence, in the physician's own words."
    with django_capture_on_commit_callbacks(execute=True):
        letter_services.letter_edit(letter=drafted, by=world.bob, paragraphs=paragraphs)
    content = api(world.bob).get(f"/api/v1/letters/{drafted.pk}/docx").content
    assert "An edited opening sentence, in the physician's own words." in all_text(document_of(content))


def test_the_treating_physician_downloads_it_and_the_page_links_it(world, drafted, api, client):
    assert api(world.bob).get(f"/api/v1/letters/{drafted.pk}/docx").status_code == 200
    client.force_login(world.bob)
    page = client.get(f"/letters/{drafted.pk}/").content.decode()
    link = f"/letters/{drafted.pk}/r1/draft.docx"
    assert link in page
    response = client.get(link)
    assert response.status_code == 200 and response["Content-Type"] == docx_export.DOCX_CONTENT_TYPE
    assert document_of(response.content).paragraphs


@pytest.mark.parametrize("persona", ["erin", "charlie", "dave", "adam"])
def test_anyone_else_gets_404(world, drafted, api, client, persona):
    user = getattr(world, persona)
    assert api(user).get(f"/api/v1/letters/{drafted.pk}/docx").status_code == 404
    client.force_login(user)
    assert client.get(f"/letters/{drafted.pk}/r1/draft.docx").status_code == 404
    # Only the refusals are recorded (issue 10), never a download.
    assert not AuditEntry.objects.filter(detail__endswith="docx").exclude(action="refused").exists()


def test_a_bad_revision_is_a_400_naming_it_and_an_unknown_one_404(world, drafted, api):
    bad = api(world.alice).get(f"/api/v1/letters/{drafted.pk}/docx?revision=x")
    assert bad.status_code == 400 and "revision" in bad.json()
    assert api(world.alice).get(f"/api/v1/letters/{drafted.pk}/docx?revision=9").status_code == 404
