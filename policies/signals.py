"""Deleting a payer or policy removes it from the checker in every process."""

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from policies.models import Payer, Policy


@receiver(post_delete, sender=Payer)
@receiver(post_delete, sender=Policy)
def registry_changed(sender, **kwargs) -> None:
    from policies.services import registry_bump

    transaction.on_commit(registry_bump)
