"""The letters' Celery entry points. They take primary keys only (never PHI), load, call a letter
service and own the retry policy; letter services enqueue them with transaction.on_commit.

Each keeps the registered name it had as priorauth.tasks (`priorauth.render_letter_draft`, ...):
queued messages, beat's schedule and letter_jobs_resend name them. The worker loads this module
through config/celery.py's autodiscovery of the `priorauth.letters` package.
"""

from __future__ import annotations

from celery import Task, shared_task
from celery.exceptions import TimeLimitExceeded
from celery.worker.request import Request
from django.conf import settings
from django.db import DatabaseError, OperationalError

from priorauth.letters import services as letter_services

# A render that dies with its worker is redelivered (acks_late, reject_on_worker_lost);
# one that fails for good is recorded on its LetterJob, where staff see it and can retry it; one
# whose message the broker lost (a Redis restart) is sent again by resend_letter_jobs. The LetterJob
# is the result: nothing reads Celery's, so none is stored and sending touches only the broker.

LETTER_TASK_OPTIONS = {
    "bind": True,
    # Past the soft limit the render is interrupted (SoftTimeLimitExceeded, not retried) and its job
    # marked failed with the reason; past the hard one the pool process is killed (LetterRenderRequest).
    "soft_time_limit": settings.LETTER_RENDER_SOFT_TIME_LIMIT,
    "time_limit": settings.LETTER_RENDER_TIME_LIMIT,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "autoretry_for": (OSError, ConnectionError, OperationalError),
    "retry_backoff": True,
    "max_retries": 5,
}


class LetterRenderRequest(Request):
    """A render killed at its hard time limit never reaches on_failure (the pool process is gone and
    Celery acknowledges the message): the worker's main process records the failure instead, or the
    job would stay "running" for letter_jobs_resend to send again, and again."""

    def on_timeout(self, soft: bool, timeout: float) -> None:
        super().on_timeout(soft, timeout)
        if not soft:
            revision_id = self.args[0] if self.args else self.kwargs.get("revision_id")
            letter_services.letter_render_failed(
                revision_id=revision_id, stage=self.task.stage, error=TimeLimitExceeded(timeout)
            )


class LetterRenderTask(Task):
    Request = LetterRenderRequest
    stage = ""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        revision_id = args[0] if args else kwargs.get("revision_id")
        letter_services.letter_render_failed(revision_id=revision_id, stage=self.stage, error=exc)


class DraftRenderTask(LetterRenderTask):
    stage = "draft"


class FinalRenderTask(LetterRenderTask):
    stage = "final"


@shared_task(name="priorauth.render_letter_draft", base=DraftRenderTask, **LETTER_TASK_OPTIONS)
def render_letter_draft(self, revision_id: int) -> bool:
    """Compose (first time) and render the draft PDF of a letter revision."""
    return letter_services.letter_render(revision_id=revision_id, stage="draft")


@shared_task(name="priorauth.render_letter_final", base=FinalRenderTask, **LETTER_TASK_OPTIONS)
def render_letter_final(self, revision_id: int) -> bool:
    """Render the final PDF of a signed letter revision."""
    return letter_services.letter_render(revision_id=revision_id, stage="final")


@shared_task(
    name="priorauth.resend_letter_jobs",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=3,
)
def resend_letter_jobs() -> int:
    """Send again the renders the broker lost (Celery beat runs it every LETTER_RESEND_INTERVAL_SECONDS)."""
    return len(letter_services.letter_jobs_resend())
