import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("mildpa")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The letters are a package of the priorauth app, not an app of their own: name it, so the worker
# registers priorauth/letters/tasks.py too.
app.autodiscover_tasks(["priorauth.letters"])


@worker_init.connect
def _import_weasyprint_before_fork(**_kwargs) -> None:
    # Web processes import WeasyPrint only when they render; a worker renders letters all day, so
    # its parent imports it once before forking and every pool child shares those pages.
    import weasyprint  # noqa: F401
