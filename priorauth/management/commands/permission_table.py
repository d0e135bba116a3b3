"""Print the table of who may do what (priorauth.permissions.ACTIONS) as Markdown: the table in
docs/prior-authorization.md is this output, and tests/priorauth/test_permissions.py keeps it so."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from priorauth.permissions import markdown_table


class Command(BaseCommand):
    help = "Print the permission table (action x role) as Markdown, for docs/prior-authorization.md."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(markdown_table(), ending="")
