"""The test run's settings: the one settings module, with what only a test run wants.

Real worker processes the tests start use `config.settings` itself (they are the production path).
"""

import os
import re

# Under pytest-xdist each test process (gw0, gw1, …) has its own PostgreSQL test database
# (pytest-django names it after the process) and here its own Redis database: a real Celery worker
# started by one process must never take the other's letters, nor one process's purge drop them.
# Set in the environment, so the worker subprocesses a test starts inherit it.
_xdist = os.environ.get("PYTEST_XDIST_WORKER", "")
if _xdist.startswith("gw") and os.environ.get("REDIS_URL", "").startswith("redis://"):
    _db = 10 + int(_xdist[2:])
    os.environ["REDIS_URL"] = re.sub(r"(/\d*)?$", f"/{_db}", os.environ["REDIS_URL"].rstrip("/"), count=1)

from config.settings import *  # noqa: E402, F403

# The default hasher is slow by design; test personas' passwords need not be.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
