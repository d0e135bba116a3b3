"""Celery entry points of the requests' workflow (the letters' are in priorauth/letters/tasks.py).
They take primary keys only (never PHI), load, call a service and own the retry policy; the signal
receiver enqueues a re-check with transaction.on_commit, through recheck_publish below."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

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


# Publishing a re-check lives here, beside its task, rather than in services: services never import
# tasks (tasks import services), and the signal receiver and resend_rechecks call these.


def recheck_publish(version_id: int) -> bool:
    """Hand a re-check to the broker. An unreachable broker fails neither the admin's save (already
    committed) nor the re-check: a version with no re-check run is owed one, and rechecks_resend
    sends it again."""
    try:
        recheck_open_requests.delay(version_id)
    except BrokerUnavailable as exc:
        logger.warning("re-check not sent, broker unavailable (resent later): policy version %s: %s", version_id, exc)
        return False
    return True


def rechecks_resend(*, older_than: dt.timedelta | None = None) -> list[int]:
    """Send again the re-checks the broker may have lost (a Redis restart empties its queues): the
    newest version of each policy, published longer than `older_than` ago
    (LETTER_RESEND_AFTER_SECONDS) and never re-checked. Only the newest: an older version's
    re-check would compare open requests against a policy no longer in force. A run is made and
    finished in one transaction, so a version with no run is one whose re-check never ran. Sending
    one too many is harmless (requests_recheck is idempotent per version). Returns the version ids."""
    if older_than is None:
        older_than = dt.timedelta(seconds=settings.LETTER_RESEND_AFTER_SECONDS)
    newest = PolicyVersion.objects.filter(policy_id=OuterRef("policy_id")).order_by("-revision").values("pk")[:1]
    owed = list(
        PolicyVersion.objects.filter(
            pk=Subquery(newest), created_at__lt=timezone.now() - older_than, recheck_run__isnull=True
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    sent = [pk for pk in owed if recheck_publish(pk)]
    if sent:
        logger.warning("policy re-checks sent again: versions %s", ",".join(map(str, sent)))
    return sent


@shared_task(name="priorauth.expire_authorizations", autoretry_for=(DatabaseError,), retry_backoff=True, max_retries=5)
def expire_authorizations() -> int:
    """Mark approved requests whose authorization window has ended as expired (run daily)."""
    return len(services.authorizations_expire())


@shared_task(
    name="priorauth.resend_rechecks",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=3,
)
def resend_rechecks() -> int:
    """Send again the policy re-checks the broker lost (beat, with resend_letter_jobs)."""
    return len(rechecks_resend())


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
