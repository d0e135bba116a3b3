"""Print, per payer, the prior-authorization figures CMS-0057-F asks payers to publish, measured
from the practice's side: requests, approval %, denial %, approved after appeal %, and the average
and median days from sending to the payer's decision (priorauth.selectors.payer_metrics, the same
figures as GET /api/v1/metrics/payers)."""

from __future__ import annotations

import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from priorauth import selectors
from priorauth.models import AuthorizationRequest, Practice

COLUMNS = [
    ("payer", "payer"),
    ("requests", "requests"),
    ("decided", "decided"),
    ("approval_pct", "approved %"),
    ("denial_pct", "denied %"),
    ("approved_after_appeal_pct", "approved after appeal %"),
    ("avg_days_to_decision", "avg days"),
    ("median_days_to_decision", "median days"),
]


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = "Print per-payer prior-authorization metrics for a period (requests first sent in it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", help="first day of the period, YYYY-MM-DD (default: no lower bound)")
        parser.add_argument("--until", help="last day of the period, YYYY-MM-DD (default: no upper bound)")
        parser.add_argument("--practice", help="only this practice (its name); default: every practice, each apart")
        parser.add_argument("--json", dest="as_json", action="store_true", help="print JSON instead of a table")

    def handle(
        self, *args, since: str | None, until: str | None, practice: str | None, as_json: bool = False, **options
    ) -> None:
        since_date = _date(since) if since else None
        until_date = _date(until) if until else None
        if since_date and until_date and until_date < since_date:
            raise CommandError("--until must not be before --since")
        practices = Practice.objects.order_by("name")
        if practice:
            practices = practices.filter(name=practice)
            if not practices.exists():
                raise CommandError(f"no practice named {practice!r}")
        report = {
            p.name: selectors.payer_metrics(
                requests=AuthorizationRequest.objects.filter(practice=p), since=since_date, until=until_date
            )
            for p in practices
        }
        if as_json:
            self.stdout.write(json.dumps(report, indent=2))
            return
        period = f"{since_date or 'the beginning'} to {until_date or 'today'}"
        for name, rows in report.items():
            self.stdout.write(f"{name}: requests first sent from {period}")
            if not rows:
                self.stdout.write("  no requests sent in the period\n")
                continue
            table = [[label for _, label in COLUMNS]] + [[_cell(row[key]) for key, _ in COLUMNS] for row in rows]
            widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
            for index, r in enumerate(table):
                cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
                self.stdout.write("  " + "  ".join(cells))
                if index == 0:
                    self.stdout.write("  " + "  ".join("-" * w for w in widths))
            self.stdout.write("")


def _cell(value) -> str:
    return "—" if value is None else str(value)
