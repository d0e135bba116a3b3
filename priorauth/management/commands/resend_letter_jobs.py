"""Send again the letter renders (and policy re-checks) the broker lost (a Redis restart empties its queues; a render asked
for while it was down never reached it). Celery beat runs the same service every minute
(priorauth.resend_letter_jobs); run this from cron where there is no beat, or by hand after an outage."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand

from priorauth.letters.services import letter_jobs_resend
from priorauth.tasks import rechecks_resend


class Command(BaseCommand):
    help = (
        "Send again the letter renders queued (or started by a dead worker) and the policy re-checks "
        "owed longer than --older-than seconds ago."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=None,
            metavar="SECONDS",
            help="Age of a job to send again (default: the LETTER_RESEND_AFTER_SECONDS setting).",
        )

    def handle(self, *args, older_than: int | None, **options) -> None:
        age = None if older_than is None else dt.timedelta(seconds=older_than)
        sent = letter_jobs_resend(older_than=age)
        self.stdout.write(f"{len(sent)} letter render(s) sent again.")
        rechecks = rechecks_resend(older_than=age)
        self.stdout.write(f"{len(rechecks)} policy re-check(s) sent again.")
