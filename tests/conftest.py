import os
import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings

from coverage.snapshot import forget_snapshot


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=3):
            return True
    except OSError:
        return False


def pytest_configure(config) -> None:
    """Under CI the suite must run on the real services: fail loudly rather than skip."""
    if os.environ.get("CI") != "true":
        return
    db_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    problems = []
    if not db_url.startswith(("postgres://", "postgresql://")):
        problems.append("DATABASE_URL must point at PostgreSQL under CI")
    elif not _reachable(db_url, 5432):
        problems.append(f"PostgreSQL at {urlparse(db_url).hostname} is unreachable")
    if not redis_url.startswith("redis://"):
        problems.append("REDIS_URL must point at Redis under CI")
    elif not _reachable(redis_url, 6379):
        problems.append(f"Redis at {urlparse(redis_url).hostname} is unreachable")
    if problems:
        pytest.exit("; ".join(problems), returncode=3)


@pytest.fixture(autouse=True)
def _fresh_checker_snapshot():
    # A rolled-back test can leave the registry generation at a number the next test reaches again
    # with other content, so no compiled snapshot may outlive a test.
    forget_snapshot()
    yield
    forget_snapshot()


@pytest.fixture
def seeded(db):
    from policies.services import registry_seed

    registry_seed()
    return settings
