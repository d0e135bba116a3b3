"""What every benchmark needs from the project: its root and Python, and a seeded database.

The database is the one DATABASE_URL names (PostgreSQL in practice), which must already be migrated
and seeded (`manage.py migrate && manage.py seed_policies`); without DATABASE_URL it is a temporary
SQLite file, migrated and seeded here and deleted afterwards, so a benchmark never touches the
project's own db.sqlite3.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.cases import PAYERS

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass(frozen=True)
class Database:
    url: str
    label: str  # "sqlite (temporary file)" or "postgresql 127.0.0.1:5432/mildpa_bench"


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True)


@contextmanager
def seeded_database() -> Iterator[Database]:
    url = os.environ.get("DATABASE_URL", "")
    if url:
        scheme, _, rest = url.partition("://")
        engine = "postgresql" if scheme.startswith("postgres") else scheme
        yield Database(url=url, label=f"{engine} {rest.rpartition('@')[2]}")  # no user or password
        return
    with tempfile.TemporaryDirectory(prefix="mildpa-bench-") as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite3"
        env = {**os.environ, "DATABASE_URL": url}
        manage("migrate", "--noinput", env=env)
        manage("seed_policies", env=env)
        yield Database(url=url, label="sqlite (temporary file, migrated and seeded)")


def setup_django(database: Database) -> None:
    """Django in this process, on `database` (settings read DATABASE_URL when first imported)."""
    os.environ["DATABASE_URL"] = database.url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def require_seeded_registry() -> int:
    """The number of published policies; exits naming the fix when a payer has none."""
    from policies.selectors import latest_versions

    published = {v.policy.payer.code for v in latest_versions()}
    absent = [p for p in PAYERS if p not in published]
    if absent:
        sys.exit(
            f"the registry has no published policy for {', '.join(absent)}: run "
            "`manage.py migrate && manage.py seed_policies` against DATABASE_URL first"
        )
    return len(published)


def machine() -> dict[str, object]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        # Other work on the machine skews every figure (ratios least): worth a look before trusting one.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def machine_line(m: dict[str, object]) -> str:
    return f"{m['date']}, {m['cpus']} CPUs, Python {m['python']}, load average {m['load_average_1m']} at the start"
