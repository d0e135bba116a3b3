from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "Payer policies"

    def ready(self) -> None:
        from policies import signals  # noqa: F401
