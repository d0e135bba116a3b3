"""Renders the broker lost: a letter asked for while Redis is unreachable is still made, and
letter_jobs_resend (beat's priorauth.resend_letter_jobs, `manage.py resend_letter_jobs`) sends again
the jobs whose message a Redis restart emptied away. tests/hardening/test_faults.py restarts a real
Redis in the middle of a burst."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from celery.app.task import Task
from django.core.management import call_command
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from factories import advance, draft_for
from letter_helpers import install_letter_texts
from priorauth import tasks as core_tasks
from priorauth.letters import services as letter_services
from priorauth.letters import tasks
from priorauth.letters.models import LetterJob, LetterStatus
from priorauth.models import Status


@pytest.fixture(autouse=True)
def _tasks_in_process(eager_tasks):
    return


@pytest.fixture
def sent(monkeypatch):
    """The renders handed to the broker, as (task name, revision id); none runs."""
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(Task, "delay", lambda self, *args, **kwargs: calls.append((self.name, *args)))
    return calls


@pytest.fixture
def broker_down(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise BrokerUnavailable("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(Task, "delay", refuse)


@pytest.fixture
def submitted(world):
    install_letter_texts()
    return advance(draft_for(world, payer="medicare-advantage"), Status.SUBMITTED, world.alice)


def ask(world, request, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        letter, _ = letter_services.letter_request_draft(request=request, kind="prior_authorization", by=world.alice)
    return letter, LetterJob.objects.get(revision__letter=letter)


def age(job: LetterJob, *, minutes: int, field: str = "queued_at") -> None:
    LetterJob.objects.filter(pk=job.pk).update(**{field: timezone.now() - dt.timedelta(minutes=minutes)})


def test_a_letter_asked_for_while_the_broker_is_down_is_kept_queued(
    world, submitted, broker_down, django_capture_on_commit_callbacks, caplog
):
    with caplog.at_level(logging.WARNING, logger="priorauth.letters.services"):
        letter, job = ask(world, submitted, django_capture_on_commit_callbacks)
    assert (letter.status, job.state) == (LetterStatus.DRAFTING, LetterJob.State.QUEUED)
    assert f"revision {letter.current_revision_id} draft" in caplog.text and "resent later" in caplog.text


def test_it_resends_a_job_queued_longer_than_the_age_and_the_render_then_makes_the_letter(
    world, submitted, broker_down, django_capture_on_commit_callbacks, monkeypatch
):
    letter, job = ask(world, submitted, django_capture_on_commit_callbacks)
    age(job, minutes=10)
    monkeypatch.undo()  # the broker is back

    with django_capture_on_commit_callbacks(execute=True):
        resent = letter_services.letter_jobs_resend(older_than=dt.timedelta(minutes=5))

    assert resent == [job.pk]
    letter.refresh_from_db()
    job.refresh_from_db()
    assert (letter.status, job.state, job.attempts) == (LetterStatus.DRAFT_READY, LetterJob.State.DONE, 1)


def test_it_leaves_young_finished_and_failed_jobs_alone(world, submitted, sent, django_capture_on_commit_callbacks):
    ask(world, submitted, django_capture_on_commit_callbacks)  # queued just now
    long_ago = timezone.now() - dt.timedelta(hours=1)
    for state in (LetterJob.State.DONE, LetterJob.State.FAILED):
        other = advance(draft_for(world, payer="commercial"), Status.SUBMITTED, world.alice)
        _, job = ask(world, other, django_capture_on_commit_callbacks)
        LetterJob.objects.filter(pk=job.pk).update(state=state, queued_at=long_ago, started_at=long_ago)
    sent.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert letter_services.letter_jobs_resend(older_than=dt.timedelta(minutes=5)) == []
    assert sent == []


def test_it_resends_a_render_whose_worker_died_as_queued_again(
    world, submitted, sent, django_capture_on_commit_callbacks
):
    _, job = ask(world, submitted, django_capture_on_commit_callbacks)
    LetterJob.objects.filter(pk=job.pk).update(state=LetterJob.State.RUNNING, attempts=1)
    age(job, minutes=10, field="started_at")
    sent.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert letter_services.letter_jobs_resend(older_than=dt.timedelta(minutes=5)) == [job.pk]

    job.refresh_from_db()
    assert (job.state, job.started_at, job.attempts) == (LetterJob.State.QUEUED, None, 1)
    assert timezone.now() - job.queued_at < dt.timedelta(minutes=1)
    assert sent == [("priorauth.render_letter_draft", job.revision_id)]


def test_a_job_resent_once_waits_the_full_age_before_it_is_resent_again(
    world, submitted, sent, django_capture_on_commit_callbacks
):
    _, job = ask(world, submitted, django_capture_on_commit_callbacks)
    age(job, minutes=10)
    with django_capture_on_commit_callbacks(execute=True):
        assert letter_services.letter_jobs_resend(older_than=dt.timedelta(minutes=5)) == [job.pk]
        assert letter_services.letter_jobs_resend(older_than=dt.timedelta(minutes=5)) == []


def test_the_command_and_the_beat_task_resend_with_the_configured_age(
    world, submitted, sent, django_capture_on_commit_callbacks, settings
):
    _, job = ask(world, submitted, django_capture_on_commit_callbacks)
    age(job, minutes=2)
    settings.LETTER_RESEND_AFTER_SECONDS = 300
    assert tasks.resend_letter_jobs.apply().get() == 0

    from io import StringIO

    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("resend_letter_jobs", "--older-than", "60", stdout=out)
    assert out.getvalue().splitlines()[0] == "1 letter render(s) sent again."
    assert sent[-1] == ("priorauth.render_letter_draft", job.revision_id)


def test_beat_runs_the_resend_and_the_renders_store_no_results(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["resend-letter-jobs"]
    assert entry["task"] == tasks.resend_letter_jobs.name
    assert entry["schedule"] == settings.LETTER_RESEND_INTERVAL_SECONDS
    assert settings.CELERY_BEAT_SCHEDULE["resend-rechecks"]["task"] == core_tasks.resend_rechecks.name
    assert all(
        t.ignore_result for t in (tasks.render_letter_draft, tasks.render_letter_final, tasks.resend_letter_jobs)
    )
