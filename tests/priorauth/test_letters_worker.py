"""Letters rendered by a real `celery -A config worker` process on the real Redis broker, sharing
the test database (committed data: transaction=True): draft → sign → final PDF, and a worker
killed with SIGKILL in the middle of a render leaves each letter exactly once after a restart."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest

from factories import addressed, advance, draft_for
from letter_helpers import install_letter_texts, pdf_text
from priorauth.letters import services as letter_services
from priorauth.letters import tasks
from priorauth.letters.models import Letter, LetterJob, LetterRevision, LetterStatus
from priorauth.models import Status

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, *, timeout: float = 90, what: str = "", worker=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{worker.log_text()}" if worker else ""))


def letter_status(letter: Letter) -> str:
    return Letter.objects.values_list("status", flat=True).get(pk=letter.pk)


def test_a_worker_process_drafts_and_after_signing_renders_the_final_pdf(world, celery_worker_process):
    install_letter_texts()
    request = addressed(advance(draft_for(world, payer="medicare-advantage"), Status.SUBMITTED, world.alice))
    letter, _ = letter_services.letter_request_draft(request=request, kind="prior_authorization", by=world.alice)
    wait_for(lambda: letter_status(letter) == LetterStatus.DRAFT_READY, what="the draft", worker=celery_worker_process)

    letter_services.letter_sign(letter=letter, by=world.bob, acknowledge_unverified=True)
    wait_for(lambda: letter_status(letter) == LetterStatus.SIGNED, what="the final PDF", worker=celery_worker_process)
    revision = LetterRevision.objects.get(letter=letter)
    with revision.final_pdf.open("rb") as f:
        content = f.read()
    assert hashlib.sha256(content).hexdigest() == revision.final_sha256
    text = pdf_text(content)
    assert "Ada Moreno" in text and "NCD 150.13" in text and "Electronically signed by Bob Baker, MD" in text


def running_job(letter: Letter, *, attempt: int):
    return LetterJob.objects.filter(
        revision__letter=letter, stage="draft", state="running", attempts__gte=attempt
    ).exists()


# Renders that last long enough to be killed in the middle, and a short visibility timeout so that
# the message of a worker killed outright comes back to the restarted worker.
SLOW = {"LETTER_RENDER_DELAY_SECONDS": "4", "CELERY_VISIBILITY_TIMEOUT": "8"}


@pytest.mark.parametrize("celery_worker_env", [SLOW], ids=["slow-renders"])
def test_a_render_killed_with_sigkill_is_redone_once_after_a_restart(world, celery_worker_process, settings):
    install_letter_texts()
    worker = celery_worker_process  # started with SLOW (celery_worker_env)

    requests = [
        advance(draft_for(world, payer=payer), Status.SUBMITTED, world.alice)
        for payer in ("medicare-advantage", "commercial")
    ]
    ours = [
        letter_services.letter_request_draft(request=r, kind="prior_authorization", by=world.alice)[0] for r in requests
    ]
    first = ours[0]

    # 1. A pool process dies mid-render: the worker rejects the message back onto the queue.
    wait_for(lambda: running_job(first, attempt=1), what="the first render to start", worker=worker)
    time.sleep(1)
    children = worker.pool_children()
    assert children, worker.log_text()
    for pid in children:
        os.kill(pid, signal.SIGKILL)

    # 2. The whole worker dies mid-render (the redelivered one): nothing acknowledged the message.
    wait_for(lambda: running_job(first, attempt=2), what="the redelivered render", worker=worker)
    time.sleep(1)
    worker.kill()
    assert letter_status(first) == LetterStatus.DRAFTING
    time.sleep(9)  # past the visibility timeout: the restarted worker restores the message at start

    worker.start(env=SLOW)
    for letter in ours:
        wait_for(
            lambda letter=letter: letter_status(letter) == LetterStatus.DRAFT_READY,
            timeout=120,
            what=f"letter {letter.pk}",
            worker=worker,
        )

    media = Path(settings.MEDIA_ROOT)
    for request, letter in zip(requests, ours):
        assert Letter.objects.filter(request=request).count() == 1
        revision = LetterRevision.objects.get(letter=letter)
        files = sorted(p.name for p in (media / "letters" / str(request.practice_id) / str(letter.pk)).iterdir())
        assert files == [Path(revision.draft_pdf.name).name]  # one PDF, under its unguessable name
        with revision.draft_pdf.open("rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == revision.draft_sha256
        job = LetterJob.objects.get(revision=revision)
        assert job.state == "done"
    assert LetterJob.objects.get(revision__letter=first).attempts >= 3


def _limits(soft: int, hard: int) -> tuple[int, int, dict[str, str]]:
    # The worker is started with these limits and a render slower than both (celery_worker_env).
    env = {"LETTER_RENDER_SOFT_TIME_LIMIT": str(soft), "LETTER_RENDER_TIME_LIMIT": str(hard)}
    return soft, hard, {**env, "LETTER_RENDER_DELAY_SECONDS": "30"}


@pytest.mark.parametrize(
    ("soft", "hard", "celery_worker_env"),
    [
        _limits(2, 60),  # the soft limit interrupts the render inside the task: on_failure records it
        # Celery schedules the kill when the soft limit passes: with both at 2 s the pool process is
        # killed at once, whether or not it recorded its own failure; the main process records it.
        _limits(2, 2),
    ],
    ids=["soft", "hard"],
)
def test_a_render_past_its_time_limit_fails_cleanly_with_the_reason(
    world, celery_worker_process, soft, hard, monkeypatch, settings
):
    install_letter_texts()
    worker = celery_worker_process
    # The limits travel in the task's message from the process that sends it (this one; in a
    # deployment the web process and the worker share one environment); the worker applies them.
    for task in (tasks.render_letter_draft, tasks.render_letter_final):
        monkeypatch.setattr(task, "soft_time_limit", soft)
        monkeypatch.setattr(task, "time_limit", hard)
        monkeypatch.setattr(task, "_exec_options", None)  # Celery caches them at the first send
    request = advance(draft_for(world, payer="medicare-advantage"), Status.SUBMITTED, world.alice)
    letter, _ = letter_services.letter_request_draft(request=request, kind="prior_authorization", by=world.alice)
    wait_for(lambda: letter_status(letter) == LetterStatus.FAILED, timeout=60, what="the render to fail", worker=worker)
    job = LetterJob.objects.get(revision__letter=letter, stage="draft")
    assert job.state == "failed"
    assert job.error.startswith(f"The PDF took longer than its time limit of {soft} seconds to render and was stopped.")
    revision = LetterRevision.objects.get(letter=letter)
    assert not revision.draft_pdf
    time.sleep(3)  # nothing sends it again by itself: it stays failed until someone retries
    assert LetterJob.objects.get(pk=job.pk).state == "failed"
