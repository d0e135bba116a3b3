"""Letters under hostile input (issue 10, items 3, 4 and 9): every editable part is bounded and a
400 names the part beyond its bound; NUL and lone surrogates are refused naming the field; no
database transaction is open while WeasyPrint renders; a render past its Celery time limit fails
cleanly and the physician reads why on the letter (page and API); WeasyPrint fetches nothing but
the letters' own assets."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from unittest import mock

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection

from config.celery import app
from factories import addressed, advance, draft_for
from letter_helpers import install_letter_texts, pdf_text
from priorauth.letters import pdf, tasks
from priorauth.letters import services as letter_services
from priorauth.letters.models import LetterJob, LetterStatus
from priorauth.models import Status


@pytest.fixture(autouse=True)
def _tasks_in_process(monkeypatch):
    # In process, and without propagating a task's error: a worker calls the task's on_failure
    # handler (which records the failure), and eager mode skips it when it propagates.
    monkeypatch.setattr(app.conf, "CELERY_TASK_ALWAYS_EAGER", True)
    monkeypatch.setattr(app.conf, "CELERY_TASK_EAGER_PROPAGATES", False)


@pytest.fixture
def drafted(world, django_capture_on_commit_callbacks):
    install_letter_texts()
    submitted = addressed(advance(draft_for(world, payer="medicare-advantage"), Status.SUBMITTED, world.alice))
    with django_capture_on_commit_callbacks(execute=True):
        letter, _ = letter_services.letter_request_draft(request=submitted, kind="prior_authorization", by=world.alice)
    letter.refresh_from_db()
    assert letter.status == LetterStatus.DRAFT_READY
    return letter


def edit(api, world, letter, paragraphs, enclosures=None):
    body = {"paragraphs": paragraphs}
    if enclosures is not None:
        body["enclosures"] = enclosures
    return api(world.bob).put(f"/api/v1/letters/{letter.pk}/paragraphs", body, format="json")


def paragraph(key="p", sentences=1, text="The patient cannot stand for long.", items=()):
    return {"key": key, "heading": "", "sentences": [{"text": text, "citations": []}] * sentences, "items": list(items)}


# ------------------------------------------------------------------------------------------ bounds


@pytest.mark.parametrize(
    ("paragraphs", "enclosures", "field", "message"),
    [
        ([paragraph(f"p{i}") for i in range(31)], None, "paragraphs", "Must have at most 30 paragraphs."),
        ([paragraph(sentences=31)], None, "paragraphs[0].sentences", "Must have at most 30 sentences."),
        ([paragraph(text="x" * 2001)], None, "paragraphs[0].sentences[0].text", "Must be at most 2000 characters."),
        ([paragraph(items=["i"] * 31)], None, "paragraphs[0].items", "Must have at most 30 items."),
        ([paragraph(items=["ok", "y" * 100_000])], None, "paragraphs[0].items[1]", "Must be at most 500 characters."),
        ([paragraph()], ["MRI report"] * 31, "enclosures", "Must have at most 30 enclosures."),
        ([paragraph()], ["z" * 201], "enclosures[0]", "Must be at most 200 characters."),
        (
            [paragraph(f"p{i}", sentences=30, text="w " * 999 + "w") for i in range(2)],
            None,
            "paragraphs",
            "The letter's text is 119940 characters; the limit is 40000.",
        ),
    ],
)
def test_an_edit_beyond_a_bound_is_a_400_naming_the_part(world, api, drafted, paragraphs, enclosures, field, message):
    before = copy.deepcopy(drafted.current_revision.paragraphs)
    response = edit(api, world, drafted, paragraphs, enclosures)
    assert response.status_code == 400, response.content
    assert response.json()[field] == [message]
    drafted.current_revision.refresh_from_db()
    assert drafted.current_revision.paragraphs == before  # nothing half-written


def test_the_bounds_are_settings(world, api, drafted, settings):
    settings.LETTER_MAX_PARAGRAPHS = 2
    response = edit(api, world, drafted, [paragraph("a"), paragraph("b"), paragraph("c")])
    assert response.json() == {"paragraphs": ["Must have at most 2 paragraphs."]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"paragraphs": [{"key": "p", "sentences": [{"text": "a\\u0000b"}]}]}', "paragraphs.0.sentences.0.text"),
        ('{"paragraphs": [{"key": "p", "sentences": [{"text": "a\\ud800b"}]}]}', "paragraphs.0.sentences.0.text"),
        ('{"paragraphs": [{"key": "p", "sentences": [{"text": "ok"}], "items": ["\\udc00"]}]}', "paragraphs.0.items.0"),
        ('{"paragraphs": [{"key": "p", "sentences": [{"text": "ok"}]}], "enclosures": ["MRI\\u0000"]}', "enclosures.0"),
        ('{"paragraphs": [{"key": "p", "\\ud800": 1, "sentences": [{"text": "ok"}]}]}', "paragraphs.0.\\ud800"),
    ],
)
def test_nul_or_a_lone_surrogate_in_letter_text_is_a_400_naming_the_field(world, api, drafted, body, field):
    response = api(world.bob).put(f"/api/v1/letters/{drafted.pk}/paragraphs", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_the_service_refuses_unstorable_text_too(world, drafted):
    # Pages and other callers reach the service without the API's JSON parser.
    paragraphs = [paragraph(text="a\x00b"), paragraph("q", items=["\ud800"])]
    with pytest.raises(letter_services.ValidationError) as caught:
        letter_services.letter_edit(letter=drafted, by=world.bob, paragraphs=paragraphs, enclosures=["x\x00"])
    assert set(caught.value.message_dict) == {
        "paragraphs[0].sentences[0].text",
        "paragraphs[1].items[0]",
        "enclosures[0]",
    }


def test_the_largest_letter_the_bounds_allow_is_accepted(world, api, drafted, django_capture_on_commit_callbacks):
    # 20 paragraphs of 1 sentence of 2000 characters = 40,000: exactly the total allowed.
    words = ("stenosis " * 223)[:2000]
    with django_capture_on_commit_callbacks(execute=True):
        response = edit(api, world, drafted, [paragraph(f"p{i}", text=words) for i in range(20)])
    assert response.status_code == 202, response.content


# ------------------------------------------------------------------------------- render locks


def test_no_transaction_is_open_while_weasyprint_renders(world, drafted, django_capture_on_commit_callbacks):
    depth_outside = len(connection.atomic_blocks)  # the test's own transaction
    seen: list[int] = []
    real = pdf.render_letter

    def render(kind, context):
        seen.append(len(connection.atomic_blocks))
        return real(kind, context)

    with django_capture_on_commit_callbacks(execute=True):
        letter_services.letter_edit(letter=drafted, by=world.bob, paragraphs=[paragraph()])
    with (
        mock.patch("priorauth.letters.pdf.render_letter", side_effect=render),
        django_capture_on_commit_callbacks(execute=True),
    ):
        letter_services.letter_edit(letter=drafted, by=world.bob, paragraphs=[paragraph(text="Edited again.")])
    assert seen == [depth_outside]
    drafted.refresh_from_db()
    assert drafted.status == LetterStatus.DRAFT_READY
    assert "Edited again." in pdf_text(drafted.current_revision.draft_pdf.open("rb").read())


def test_an_edit_made_during_a_render_keeps_the_render_from_storing_stale_text(
    world, drafted, django_capture_on_commit_callbacks
):
    revision = drafted.current_revision
    with django_capture_on_commit_callbacks(execute=False):  # queued, not yet run
        letter_services.letter_edit(letter=drafted, by=world.bob, paragraphs=[paragraph(text="First edit.")])
    real = pdf.render_letter

    def render_while_edited(kind, context):
        content = real(kind, context)
        with django_capture_on_commit_callbacks(execute=False):
            letter_services.letter_edit(letter=drafted, by=world.bob, paragraphs=[paragraph(text="Second edit.")])
        return content

    with mock.patch("priorauth.letters.pdf.render_letter", side_effect=render_while_edited):
        assert letter_services.letter_render(revision_id=revision.pk, stage="draft") is False
    revision.refresh_from_db()
    assert not revision.draft_pdf  # the PDF of the first edit was not kept
    assert revision.jobs.get().state == LetterJob.State.QUEUED  # the second edit's render is owed
    assert letter_services.letter_render(revision_id=revision.pk, stage="draft") is True
    revision.refresh_from_db()
    assert "Second edit." in pdf_text(revision.draft_pdf.open("rb").read())


# -------------------------------------------------------------------------------- time limits


def test_the_render_tasks_have_soft_and_hard_time_limits(settings):
    for task in (tasks.render_letter_draft, tasks.render_letter_final):
        assert task.soft_time_limit == settings.LETTER_RENDER_SOFT_TIME_LIMIT == 120
        assert task.time_limit == settings.LETTER_RENDER_TIME_LIMIT == 150
        assert task.Request is tasks.LetterRenderRequest


def test_a_render_past_its_soft_limit_fails_and_the_physician_reads_why(
    world, api, client, drafted, django_capture_on_commit_callbacks
):
    with (
        mock.patch("priorauth.letters.pdf.render_letter", side_effect=SoftTimeLimitExceeded()),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = edit(api, world, drafted, [paragraph(text="A long letter.")])
    assert response.status_code == 202
    drafted.refresh_from_db()
    assert drafted.status == LetterStatus.FAILED
    job = drafted.current_revision.jobs.get()
    assert job.state == LetterJob.State.FAILED
    reason = "The PDF took longer than its time limit of 120 seconds to render and was stopped."
    assert job.error.startswith(reason)
    api_jobs = api(world.bob).get(f"/api/v1/letters/{drafted.pk}").json()["revisions"][-1]["jobs"]
    assert api_jobs[0]["state"] == "failed" and api_jobs[0]["error"].startswith(reason)
    client.force_login(world.bob)
    assert reason in client.get(f"/letters/{drafted.pk}/").content.decode()


def test_a_render_killed_at_its_hard_limit_is_marked_failed_by_the_worker(
    world, drafted, django_capture_on_commit_callbacks
):
    revision = drafted.current_revision
    with django_capture_on_commit_callbacks(execute=False):
        letter_services.letter_edit(letter=drafted, by=world.bob, paragraphs=[paragraph()])
    letter_services._job_start(revision.pk, "draft")  # the pool process had started it

    class KilledRender(tasks.LetterRenderRequest):
        # The worker's request of the killed task, without the broker message it is made from.
        args, kwargs, task = [revision.pk], {}, tasks.render_letter_draft

        def __init__(self) -> None:
            pass

    with mock.patch("celery.worker.request.Request.on_timeout") as celery_own:  # acks, marks the result
        KilledRender().on_timeout(soft=False, timeout=150)
    celery_own.assert_called_once_with(False, 150)
    job = revision.jobs.get()
    assert job.state == LetterJob.State.FAILED
    assert "time limit of 150 seconds" in job.error
    drafted.refresh_from_db()
    assert drafted.status == LetterStatus.FAILED


# ------------------------------------------------------------------------------- url fetcher

HOSTILE = """<html><head><link rel="stylesheet" href="file:///etc/passwd"><style>
body {{ background: url("http://169.254.169.254/latest/meta-data/") }}</style></head>
<body><p>Letter</p><img src="http://example.invalid/track.png"><img src="file://{outside}">
<img src="../../priorauth/models.py"><img src="https://example.invalid/x.png"></body></html>"""


def test_weasyprint_fetches_only_the_letters_own_assets(tmp_path, caplog):
    secret = tmp_path / "other-patient.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\n")
    fetched: list[str] = []
    real = pdf.letter_url_fetcher

    def spy(url, *args, **kwargs):
        fetched.append(url)
        return real(url, *args, **kwargs)

    with (
        mock.patch("weasyprint.urls.urlopen", side_effect=AssertionError("no network")) as network,
        mock.patch("priorauth.letters.pdf.letter_url_fetcher", side_effect=spy),
        caplog.at_level(logging.WARNING),
    ):
        content = pdf.html_pdf(HOSTILE.format(outside=secret))
    assert content.startswith(b"%PDF")
    assert network.call_count == 0
    assert any(u.startswith("http://") for u in fetched) and any(u.startswith("file:///etc") for u in fetched)
    for url in fetched:
        with pytest.raises(ValueError, match="its own assets"):
            real(url)
    # Its own stylesheet still loads through the same fetcher.
    assert real(pdf.STYLESHEET.resolve().as_uri())
    assert Path(pdf.ASSETS_DIR, "print.css").is_file()
