import os
import socket
import time
from collections import defaultdict
from urllib.parse import urlparse

import pytest
from django.conf import settings

from factories import SEED_ROWS, install_shipped_policies
from policies.snapshot import forget_snapshot
from xdist_scheduling import DURATIONS_FILE, read_durations, write_durations


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=3):
            return True
    except OSError:
        return False


def _allow_audit_truncate_in_flush() -> None:
    """On PostgreSQL the audit table refuses TRUNCATE (priorauth migration 0003) unless the
    transaction says otherwise; Django's flush between transactional tests truncates every table, so
    here its statements begin by saying so (the application itself never does)."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        return ["SET LOCAL priorauth.allow_audit_truncate = 'on'", *statements] if statements else statements

    DatabaseOperations.sql_flush = sql_flush


def pytest_configure(config) -> None:
    """Under CI the suite must run on the real services: fail loudly rather than skip."""
    _allow_audit_truncate_in_flush()
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


@pytest.fixture(autouse=True)
def _throttles_out_of_the_way(monkeypatch):
    # The suite sends thousands of API requests a minute from one address and a few users; the
    # throttles' own tests (tests/config/test_throttling.py, tests/coverage/test_check_throttle.py)
    # set the rates they test on the classes themselves, which this does not touch.
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": None, "anon": None, "coverage_check": None})


# ---------------------------------------------------------------------------------------------
# The seeded registry, built once per run. `registry_seed()` takes one to three seconds (history rows,
# validation, publishing); hundreds of tests need its result, none its timing. So the test database
# is seeded once, what that wrote is captured as rows, and each test that asks for `seeded` gets the
# same rows inserted back inside its own transaction (tens of milliseconds), rolled back with it.


@pytest.fixture(scope="session")
def django_db_setup(_db_setup_clock, django_db_setup, django_db_blocker):
    from django.db import connection

    with django_db_blocker.unblock():
        SEED_ROWS.capture(connection)
    _db_setup_seconds.append(time.monotonic() - _db_setup_clock)


@pytest.fixture
def seeded(db):
    """The shipped policies, exactly as `seed_policies` leaves a fresh database."""
    install_shipped_policies()
    return settings


@pytest.fixture
def eager_tasks(settings):
    """Enqueued Celery tasks run in-process, their exceptions raised, even where REDIS_URL sends them
    to a broker with no worker for this test database (CI). Tests of the real path use
    `celery_worker_process`."""
    from config.celery import app

    # The Django-namespaced keys (from settings) take precedence over app.conf.task_always_eager.
    saved = app.conf.CELERY_TASK_ALWAYS_EAGER, app.conf.CELERY_TASK_EAGER_PROPAGATES
    app.conf.CELERY_TASK_ALWAYS_EAGER, app.conf.CELERY_TASK_EAGER_PROPAGATES = True, True
    yield
    app.conf.CELERY_TASK_ALWAYS_EAGER, app.conf.CELERY_TASK_EAGER_PROPAGATES = saved


# ---------------------------------------------------------------------------------------------
# Real Celery worker processes (tests marked `worker`): `celery -A config worker` as a subprocess
# on the real Redis broker, sharing this test run's PostgreSQL database. Eager mode would hide
# exactly what these tests exist for: serialization of ids, acks_late, redelivery after a crash.


def _database_url(settings_dict: dict) -> str:
    from urllib.parse import quote

    user = quote(settings_dict.get("USER") or "")
    password = quote(settings_dict.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


class CeleryWorkerProcess:
    """One worker at a time: start() it, stop() it gracefully or kill() it with SIGKILL."""

    def __init__(self, *, log_dir, media_root: str, database_url: str):
        import uuid

        self.log_dir = log_dir
        self.media_root = media_root
        self.database_url = database_url
        self.proc = None
        self.starts = 0
        self.nodename = ""
        self._tag = uuid.uuid4().hex[:8]

    def start(self, *, env: dict[str, str] | None = None, timeout: float = 60) -> None:
        import subprocess
        import sys
        import time
        from pathlib import Path

        from config.celery import app

        assert self.proc is None, "a worker is already running"
        self.starts += 1
        self.nodename = f"pytest-{self._tag}-{self.starts}@localhost"
        log = Path(self.log_dir) / f"worker-{self.starts}.log"
        child_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self.database_url,
            "MEDIA_ROOT": self.media_root,
            **(env or {}),
        }
        self._log = open(log, "wb")  # noqa: SIM115 - closed in _reap
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=prefork",
                "--concurrency=1",
                "-n",
                self.nodename,
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=str(Path(__file__).resolve().parents[1]),
            env=child_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the pool children die with it
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the worker exited with {self.proc.returncode}:\n{self.log_text()}")
            if app.control.ping(destination=[self.nodename], timeout=0.5):
                return
        self.kill()
        raise RuntimeError(f"the worker did not answer ping within {timeout:g} s:\n{self.log_text()}")

    def pool_children(self) -> list[int]:
        """Pids of the prefork pool processes (they run the tasks)."""
        from pathlib import Path

        out = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:  # field 4 of /proc/PID/stat: the parent pid
                out.append(int(stat.parent.name))
        return out

    def kill(self) -> None:
        """SIGKILL the worker's process group (main process and pool children), no warm shutdown."""
        import signal

        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._reap()

    def stop(self, timeout: float = 30) -> None:
        import signal
        import subprocess

        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)  # warm shutdown: finish the running task, then exit
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        self.proc.wait()
        self.proc = None
        self._log.close()

    def log_text(self) -> str:
        from pathlib import Path

        return "\n".join(p.read_text(errors="replace")[-4000:] for p in sorted(Path(self.log_dir).glob("worker-*.log")))


@pytest.fixture
def celery_worker_env() -> dict[str, str]:
    """Extra environment of the worker celery_worker_process starts; a test that needs other
    settings in the worker parametrizes this, rather than stopping the worker and starting another."""
    return {}


@pytest.fixture
def celery_worker_process(request, transactional_db, settings, tmp_path, celery_worker_env):
    """A real worker on the real broker and this run's test database (use it with
    @pytest.mark.django_db(transaction=True), so that what the test writes is committed and the
    worker sees it). Started once here (with celery_worker_env); the test may kill() and start() it again."""
    from django.db import connection

    redis_url = os.environ.get("REDIS_URL", "")
    postgres = connection.vendor == "postgresql"
    if not (redis_url.startswith("redis://") and postgres):
        reason = (
            "needs REDIS_URL and a PostgreSQL DATABASE_URL (a worker process shares the broker and the test database)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)  # a newcomer's SQLite run; CI always has both services

    from config.celery import app

    media = tmp_path / "media"
    media.mkdir(exist_ok=True)
    settings.MEDIA_ROOT = str(media)
    app.control.purge()  # messages other tests published into the shared queue
    worker = CeleryWorkerProcess(
        log_dir=tmp_path, media_root=str(media), database_url=_database_url(connection.settings_dict)
    )
    worker.start(env=celery_worker_env)
    yield worker
    if worker.proc is not None:
        worker.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(worker.log_text())


# ---------------------------------------------------------------------------------------------
# How the test files are shared out between the processes (bin/test: pytest-xdist, --dist loadfile):
# heaviest first, the longest cut in parts (tests/xdist_scheduling.py), by the seconds each file
# took last time (tests/durations.json, rewritten by `bin/test --store-durations`).


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--store-durations",
        action="store_true",
        help=f"write the seconds each test file took into tests/{DURATIONS_FILE.name} (files not run keep theirs)",
    )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist_scheduling import HeaviestFilesFirst

    return HeaviestFilesFirst(config, log, durations=read_durations())


_db_setup_seconds: list[float] = []


@pytest.fixture(scope="session")
def _db_setup_clock() -> float:
    return time.monotonic()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)  # lets fixtures see whether the test failed
    if report.when == "setup" and _db_setup_seconds:
        # The test databases' creation (migrations) lands in the first database test's setup; it is
        # the process's, not that file's, so the durations table leaves it out.
        report.user_properties.append(("db_setup_seconds", _db_setup_seconds.pop()))
    return report


_seconds_by_file: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report) -> None:
    # Every report reaches the controlling process (under xdist) or the only one: setup, call and
    # teardown of each test; a module-scoped fixture counts in the test that first asked for it.
    db_setup = dict(report.user_properties).get("db_setup_seconds", 0.0)
    _seconds_by_file[report.nodeid.split("::", 1)[0]] += max(0.0, report.duration - db_setup)


def pytest_sessionfinish(session) -> None:
    config = session.config
    if config.getoption("store_durations", False) and not hasattr(config, "workerinput"):
        write_durations(_seconds_by_file)
