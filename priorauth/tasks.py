"""Celery entry points. They take primary keys only (never PHI), load, call a service and own the
retry policy; services and signal receivers enqueue them with transaction.on_commit."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import DatabaseError

from policies.models import PolicyVersion
from priorauth import services

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
