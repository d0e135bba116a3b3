"""Print a request's Da Vinci PAS 2.2.1 request Bundle (FHIR JSON) on stdout, checked against the
guide's profiles first: the problems go to stderr, one per line by FHIR path, with exit status 2
(`--no-check` prints it regardless). Reads PHI: the export is written to the audit trail as the
system (no signed-in user)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from priorauth.fhir.bundle import request_bundle
from priorauth.fhir.validator import validate_bundle
from priorauth.models import AuditEntry, AuthorizationRequest
from priorauth.services import audit_record


class Command(BaseCommand):
    help = "Print the PAS request Bundle of the request with this reference (e.g. PA-1A2B3C4D5E)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("reference")
        parser.add_argument(
            "--no-check",
            action="store_true",
            help="print even if the bundle does not conform",
        )

    def handle(self, *args, reference: str, no_check: bool, **options) -> None:
        request = AuthorizationRequest.objects.filter(reference=reference.strip().upper()).first()
        if request is None:
            raise CommandError(f"No request with reference {reference!r}.")
        bundle = request_bundle(request)
        report = validate_bundle(bundle)
        audit_record(user=None, action=AuditEntry.Action.READ, obj=request, detail="pas_export")
        if not report.valid and not no_check:
            for problem in report.errors:
                self.stderr.write(str(problem))
            raise SystemExit(2)
        self.stdout.write(json.dumps(bundle, indent=2))
