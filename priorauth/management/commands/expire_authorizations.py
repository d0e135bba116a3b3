"""Mark approved requests whose authorization validity window has ended as expired. Run it daily
(cron, or the Celery task priorauth.expire_authorizations from a beat schedule)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from priorauth.services import authorizations_expire


class Command(BaseCommand):
    help = "Expire approved requests whose authorization window has ended."

    def handle(self, *args, **options) -> None:
        expired = authorizations_expire()
        self.stdout.write(f"{len(expired)} authorization(s) expired.")
