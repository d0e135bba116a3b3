"""Record a payer's PAS response (a ClaimResponse bundle, FHIR JSON) as its decision on a request,
through the same services as the API. The request is named by --request, or found by the
reference the response echoes (ClaimResponse.identifier). A response that cannot be recorded
(an error response, a malformed bundle, a step the workflow refuses) prints one line per problem
on stderr, exits 2 and records nothing."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from priorauth import permissions
from priorauth.fhir.response import ResponseInvalid, read_response
from priorauth.fhir.services import pas_response_record
from priorauth.models import AuthorizationRequest


class Command(BaseCommand):
    help = "Record a PAS ClaimResponse bundle (FILE, or - for stdin) as the payer's decision."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument(
            "--request",
            help="the request's reference (default: the one the response names)",
        )

    def fail(self, problems: dict[str, list[str] | str]) -> None:
        for path, messages in problems.items():
            for message in [messages] if isinstance(messages, str) else messages:
                self.stderr.write(f"{path}: {message}")
        raise SystemExit(2)

    def handle(self, *args, file: str, request: str | None, **options) -> None:
        import sys

        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError) as exc:
            self.fail({"$": f"not JSON ({exc})"})
        if request:
            obj = AuthorizationRequest.objects.filter(reference=request.strip().upper()).first()
            if obj is None:
                raise CommandError(f"No request with reference {request!r}.")
        else:
            try:
                answer = read_response(payload)
            except ResponseInvalid as exc:
                self.fail(exc.problems)
            obj = AuthorizationRequest.objects.filter(reference__in=answer.identifiers).first()
            if obj is None:
                self.fail({"ClaimResponse.identifier": "names no request here; give --request REFERENCE"})
        try:
            decision = pas_response_record(request=obj, payload=payload, by=permissions.SYSTEM)
        except ValidationError as exc:
            self.fail(exc.message_dict)
        self.stdout.write(f"{obj.reference}: {decision.decision} recorded (decision #{decision.pk}).")
