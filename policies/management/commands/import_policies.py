"""Load a policy JSON file: each policy that changed gets a new version (the old one stays in
history) and the next check uses it. An unchanged file creates nothing. Invalid files write nothing
and exit 2 with one `path: problem` line per problem."""

import json
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from policies.services import registry_import


class Command(BaseCommand):
    help = "Import payer policies from a JSON file (as exported)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="policy JSON file, or - for standard input")

    def handle(self, *args, path: str, **options) -> None:
        try:
            text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
            document = json.loads(text)
        except OSError as exc:
            self._fail([f"{path}: cannot read the file ({exc.strerror or exc})"])
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._fail([f"(root): invalid JSON: {exc}"])
        try:
            result = registry_import(document=document, summary=f"import_policies {path}")
        except ValidationError as exc:
            self._fail([f"{field}: {m}" for field, messages in exc.message_dict.items() for m in messages])
        for code in result.created:
            self.stdout.write(f"created {code}")
        for code in result.changed:
            self.stdout.write(f"new version of {code}")
        if not result.created and not result.changed:
            self.stdout.write("No policy changed: no new version.")

    def _fail(self, lines: list[str]) -> None:
        for line in lines:
            self.stderr.write(line)
        sys.exit(2)
