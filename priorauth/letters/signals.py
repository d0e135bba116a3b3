"""The letters' signal receivers, connected by priorauth/apps.py when the app is ready."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from priorauth.letters.models import Letter, LetterStatus
from priorauth.notifications import letter_signature_notify


# A letter handed to the physician for signature notifies them at once (priorauth.notifications).
@receiver(post_save, sender=Letter, dispatch_uid="priorauth.notify_letter_awaiting_signature")
def notify_letter_awaiting_signature(sender, instance: Letter, **kwargs) -> None:
    if instance.status == LetterStatus.AWAITING_SIGNATURE:
        letter_signature_notify(letter=instance)
