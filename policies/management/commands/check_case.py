"""Print the coverage determination of a case file (or - for standard input) as JSON.

Exit 0 whatever the decision; exit 2 with one `field.path: problem` line per problem on stderr and
nothing on stdout when the input is invalid. Never a traceback: a billing clerk reads this.
"""

import json
import sys

from django.core.management.base import BaseCommand

from coverage.checker import CaseInvalid, check
from policies.snapshot import current_snapshot


class Command(BaseCommand):
    help = "Check a mild® case against its payer's policy and print the determination as JSON."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="case JSON file, or - for standard input")
        parser.add_argument("--payer", help="payer code that overrides the case's payer")

    def handle(self, *args, path: str, payer: str | None = None, **options) -> None:
        try:
            text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
        except OSError as exc:
            self._fail([f"{path}: cannot read the file ({exc.strerror or exc})"])
        except UnicodeDecodeError:
            self._fail([f"{path}: not UTF-8 text"])
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            self._fail([f"(root): invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"])
        except RecursionError:  # the decoder's own limit on nesting, not a bug to show as a traceback
            self._fail(["(root): invalid JSON: nested too deeply"])
        try:
            determination = check(data, payer=payer, snapshot=current_snapshot())
        except CaseInvalid as exc:
            self._fail([str(e) for e in exc.errors])
        self.stdout.write(json.dumps(determination, indent=2, ensure_ascii=False))

    def _fail(self, lines: list[str]) -> None:
        for line in lines:
            self.stderr.write(line)
        sys.exit(2)
