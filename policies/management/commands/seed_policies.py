"""Load the shipped payer policies (policies/seed/policies.json) and letter texts
(policies/seed/letters.json). Safe to run again: records that exist are kept as admins left them;
--reset imports the shipped content as a new version."""

from django.core.management.base import BaseCommand

from policies.services import contacts_seed, letters_corrections, letters_seed, registry_corrections, registry_seed


class Command(BaseCommand):
    help = "Load the shipped payer policies and letter texts (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="overwrite edited policies with the shipped content (as new versions)"
        )

    def handle(self, *args, reset: bool = False, **options) -> None:
        result = registry_seed(reset=reset)
        # The corrections of 2026-12-01 reach a database seeded before them, record by record,
        # wherever an admin has not edited the record (policies.services.registry_corrections).
        corrected = registry_corrections() if not reset else None
        letters = letters_seed(reset=reset) if reset else letters_corrections()
        contacts = contacts_seed()
        created, changed = result.created, result.changed + (corrected.changed if corrected else [])
        for code in contacts:
            self.stdout.write(f"payer desk added: {code}")
        if not created and not changed and not letters.created and not letters.updated and not contacts:
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
