"""Celery entry points. They take primary keys only (never PHI), load, call a service and own the
retry policy; services and signal receivers enqueue them with transaction.on_commit."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from celery.exceptions import TimeLimitExceeded
from celery.worker.request import Request
from django.conf import settings
from django.db import DatabaseError, OperationalError

from policies.models import PolicyVersion
from priorauth import letter_services, services

logger = logging.getLogger(__name__)


@shared_task(
    name="priorauth.recheck_open_requests",
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,
)
def recheck_open_requests(version_id: int) -> dict[str, int] | None:
    """Re-check the payer's undecided requests under a newly published policy version."""
    version = PolicyVersion.objects.select_related("policy").filter(pk=version_id).first()
    if version is None:
        logger.warning("re-check skipped: policy version %s no longer exists", version_id)
        return None
    run = services.requests_recheck(version=version)
    return {"run": run.pk, "checked": run.checked, "changed": run.changed}


@shared_task(name="priorauth.expire_authorizations", autoretry_for=(DatabaseError,), retry_backoff=True, max_retries=5)
def expire_authorizations() -> int:
    """Mark approved requests whose authorization window has ended as expired (run daily)."""
    return len(services.authorizations_expire())


# ---------------------------------------------------------------------------------------------
# Letters. A render that dies with its worker is redelivered (acks_late, reject_on_worker_lost);
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


@shared_task(
    name="priorauth.resend_rechecks",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=3,
)
def resend_rechecks() -> int:
    """Send again the policy re-checks the broker lost (beat, with resend_letter_jobs)."""
    return len(services.rechecks_resend())


@shared_task(
    name="priorauth.send_daily_digests",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=3,
)
def send_daily_digests() -> int:
    """Celery beat, once a day: each user's digest (idempotent: a second run sends nothing twice)."""
    from priorauth.notifications import digests_send

    return digests_send()
