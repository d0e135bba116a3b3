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


# A letter handed to the physician for signature notifies them at once (priorauth.notifications).
from django.db.models.signals import post_save

from priorauth.models import Letter, LetterStatus


@receiver(post_save, sender=Letter, dispatch_uid="priorauth.notify_letter_awaiting_signature")
def notify_letter_awaiting_signature(sender, instance: Letter, **kwargs) -> None:
    if instance.status == LetterStatus.AWAITING_SIGNATURE:
        from priorauth.notifications import letter_signature_notify

        letter_signature_notify(letter=instance)
