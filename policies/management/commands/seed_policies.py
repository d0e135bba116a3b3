"""Load the shipped payer policies (policies/seed/policies.json) and letter texts
(policies/seed/letters.json). Safe to run again: records that exist are kept as admins left them;
--reset imports the shipped content as a new version."""

from django.core.management.base import BaseCommand

from policies.services import letters_seed, registry_seed


class Command(BaseCommand):
    help = "Load the shipped payer policies and letter texts (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--reset", action="store_true", help="overwrite edited policies with the shipped content (as new versions)")

    def handle(self, *args, reset: bool = False, **options) -> None:
        result = registry_seed(reset=reset)
        letters = letters_seed(reset=reset)
        created, changed = result.created, result.changed
        if not created and not changed and not letters.created and not letters.updated:
            self.stdout.write("Policies already seeded: nothing changed.")
            return
        for code in created:
            self.stdout.write(f"created {code}")
        for code in changed:
            self.stdout.write(f"new version of {code}")
        if letters.created:
            self.stdout.write(f"letter texts created: {len(letters.created)}")
        for name in letters.updated:
            self.stdout.write(f"letter text reset: {name}")
