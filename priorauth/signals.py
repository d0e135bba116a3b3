"""A newly published policy version re-checks its payer's undecided requests, in a Celery job."""

from __future__ import annotations

from django.db import transaction
from django.dispatch import receiver

from policies.services import policy_published


@receiver(policy_published, dispatch_uid="priorauth.recheck_on_policy_published")
def recheck_on_policy_published(sender, version, previous=None, **kwargs) -> None:
    from priorauth.services import recheck_publish

    version_id = version.pk
    transaction.on_commit(lambda: recheck_publish(version_id))


def sync_permission_groups(sender, **kwargs) -> None:
    """After migrate (post_migrate, connected in apps.py once the permissions exist)."""
    from priorauth.services import permission_groups_sync

    permission_groups_sync()
