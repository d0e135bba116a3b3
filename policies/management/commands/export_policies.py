"""Print the registry's policies as JSON (docs/policy-format.md), for review or import elsewhere."""

import json
import sys

from django.core.management.base import BaseCommand

from policies.models import Payer
from policies.selectors import export_document


class Command(BaseCommand):
    help = "Print payer policies as JSON."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--payer", help="only this payer's policy (and the evidence it cites)")

    def handle(self, *args, payer: str | None = None, **options) -> None:
        if payer is not None and not Payer.objects.filter(code=payer).exists():
            codes = ", ".join(Payer.objects.order_by("code").values_list("code", flat=True))
            self.stderr.write(f"--payer: unknown payer {payer!r}; expected one of: {codes}")
            sys.exit(2)
        self.stdout.write(json.dumps(export_document(payer_code=payer), indent=2, ensure_ascii=False))
