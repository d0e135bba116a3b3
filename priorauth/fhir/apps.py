from django.apps import AppConfig


class PasConfig(AppConfig):
    name = "priorauth.fhir"
    label = "pas"
    verbose_name = "Electronic prior authorization (Da Vinci PAS)"
    default_auto_field = "django.db.models.BigAutoField"
