from django.apps import AppConfig


class PriorauthConfig(AppConfig):
    name = "priorauth"
    verbose_name = "Prior authorization"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from priorauth import signals
        from priorauth.letters import signals as letter_signals  # noqa: F401 (connects its receivers)

        # The practice admins' and the policy editors' groups, as the code defines them.
        signals.connect_access_audit()
        post_migrate.connect(signals.sync_permission_groups, sender=self, dispatch_uid="priorauth.permission_groups")
