from django.apps import AppConfig


class PriorauthConfig(AppConfig):
    name = "priorauth"
    verbose_name = "Prior authorization"

    def ready(self) -> None:
        from priorauth import signals  # noqa: F401
