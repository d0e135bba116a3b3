"""A newly published policy version re-checks its payer's undecided requests, in a Celery job."""

from __future__ import annotations

from django.db import transaction
from django.dispatch import receiver

from policies.services import policy_published


@receiver(policy_published, dispatch_uid="priorauth.recheck_on_policy_published")
def recheck_on_policy_published(sender, version, previous=None, **kwargs) -> None:
    from priorauth.tasks import recheck_publish

    version_id = version.pk
    transaction.on_commit(lambda: recheck_publish(version_id))


def sync_permission_groups(sender, **kwargs) -> None:
    """After migrate (post_migrate, connected in apps.py once the permissions exist)."""
    from priorauth.services import permission_groups_sync

    permission_groups_sync()


def connect_access_audit() -> None:
    """Sign-ins, failed sign-ins and sign-outs to the audit trail; token revocation on a password
    change or deactivation (priorauth.api_tokens' receivers)."""
    from django.contrib.auth import signals as auth_signals

    from priorauth import access_audit, api_tokens  # noqa: F401 (api_tokens connects its receivers)

    auth_signals.user_logged_in.connect(access_audit.on_signed_in, dispatch_uid="priorauth.audit_sign_in")
    auth_signals.user_login_failed.connect(
        access_audit.on_sign_in_failed, dispatch_uid="priorauth.audit_sign_in_failed"
    )
    auth_signals.user_logged_out.connect(access_audit.on_signed_out, dispatch_uid="priorauth.audit_sign_out")
