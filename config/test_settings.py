"""The test run's settings: the one settings module, with what only a test run wants.

Real worker processes the tests start use `config.settings` itself (they are the production path).
"""

from config.settings import *  # noqa: F403

# The default hasher is slow by design; test personas' passwords need not be.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
