"""Create demo users (one per role) and print how to sign in. Safe to run again."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_PASSWORD = "demo-password-2026"


class Command(BaseCommand):
    help = "Create demo users of each role and print their sign-in details."

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        admin, _ = User.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
        admin.is_staff = admin.is_superuser = True
        admin.set_password(DEMO_PASSWORD)
        admin.save()
        self.stdout.write("Demo users (password for all: %s):" % DEMO_PASSWORD)
        self.stdout.write("  admin      — admin (policies, users)  http://127.0.0.1:8000/admin/")
