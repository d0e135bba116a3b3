"""Faults injected into instances that the tests start for themselves, never into the machine's
shared PostgreSQL or Redis.

- Redis stopped in the middle of a burst of letter drafts and started again empty (it persists
  nothing, like the machine's), with a real worker and a real beat on that private redis-server:
  the drafts asked for while it was down are still answered, every letter is made exactly once, no
  job is left behind, and the same worker process carries on.
- The PostgreSQL connection of a request terminated from a second connection
  (pg_terminate_backend), before each of the request's writes in turn and before its COMMIT: a 503
  with a JSON detail (a plain page for pages), nothing of the request saved (no row, no status
  transition, no audit entry), and the next request succeeds on a new connection.
- A worker killed in the middle of a render: tests/priorauth/test_letters_worker.py
  (test_a_render_killed_with_sigkill_is_redone_once_after_a_restart), not repeated here.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kombu.pools
import pytest
import redis
from django.apps import apps
from django.db import connection, connections
from django.test import Client
from rest_framework.test import APIClient

from config.celery import app
from factories import advance, draft_for, entered_case, install_shipped_policies, personas
from priorauth.letters.models import Letter, LetterJob, LetterRevision, LetterStatus
from priorauth.models import AuditEntry, AuthorizationRequest, Status

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = "/usr/bin/redis-server"
NOTHING_SAVED = "The database is unavailable; nothing was saved. Try again."


def _letter_helpers():
    """tests/priorauth/letter_helpers.py (that folder is on sys.path only when its tests are collected)."""
    if "letter_helpers" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "letter_helpers", ROOT / "tests" / "priorauth" / "letter_helpers.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["letter_helpers"] = module
    return sys.modules["letter_helpers"]


def needs_postgresql(why: str) -> None:
    if connection.vendor == "postgresql":
        return
    reason = f"needs a PostgreSQL DATABASE_URL ({why})"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)  # a newcomer's SQLite run; CI always has PostgreSQL


@pytest.fixture
def world(transactional_db):
    install_shipped_policies()
    return personas()


def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str, logs: Callable[[], str] = lambda: "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{logs()}")


# ---------------------------------------------------------------------------------------------
# Redis stopped and started again, empty, in the middle of a burst of letters


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test's own on a free port, persisting nothing (as the machine's Redis):
    start() it, stop() it (SIGTERM: it saves nothing and exits), start() it again on the same port."""

    def __init__(self, workdir: Path):
        self.dir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)

    def start(self, timeout: float = 10) -> None:
        assert self.proc is None
        self.starts += 1
        with open(self.dir / f"redis-{self.starts}.log", "wb") as log:
            self.proc = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._answers, timeout=timeout, what=f"redis-server on port {self.port}", logs=self.log_text)

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted(self.dir.glob("redis-*.log")))


def point_celery_at(broker_url: str) -> None:
    """This process's Celery app publishes to `broker_url` from now on (the app reads Django settings
    under the CELERY_ namespace; its connection pools are made on first use, so they go too)."""
    app.conf.CELERY_BROKER_URL = broker_url
    # kombu keeps one pool per broker in a registry of its own: closed without reset(), the shared
    # broker's pool would stay there closed for the tests that come after.
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def private_redis(world, tmp_path, monkeypatch, settings) -> Iterator[PrivateRedis]:
    """A private Redis that this test, its worker and its beat all use, set up before the worker
    (celery_worker_process reads REDIS_URL from the environment). Resends are quick here: beat
    sweeps every second for jobs queued more than 5 s ago."""
    needs_postgresql("a worker process shares the test database")
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.fail(f"{REDIS_SERVER} is missing (Debian's redis-server package, installed by .ci/run)")
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = PrivateRedis(workdir)
    server.start()
    monkeypatch.setenv("REDIS_URL", server.url)
    monkeypatch.setenv("LETTER_RESEND_AFTER_SECONDS", "5")
    monkeypatch.setenv("LETTER_RESEND_INTERVAL_SECONDS", "1")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": server.url}}
    previous = app.conf.CELERY_BROKER_URL
    point_celery_at(server.url)
    yield server
    point_celery_at(previous)
    server.stop()


@pytest.fixture
def letter_stack(private_redis, celery_worker_process, tmp_path) -> Iterator[SimpleNamespace]:
    """The private Redis, a worker and a beat on it (beat runs priorauth.resend_letter_jobs)."""
    with open(tmp_path / "beat.log", "wb") as log:
        beat = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel=INFO",
                "-s",
                str(tmp_path / "beat-schedule"),
            ],
            cwd=str(ROOT),
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = SimpleNamespace(redis=private_redis, worker=celery_worker_process, beat=beat)
    stack.logs = lambda: "\n".join(
        [
            celery_worker_process.log_text(),
            (tmp_path / "beat.log").read_text(errors="replace")[-3000:],
            private_redis.log_text(),
        ]
    )
    yield stack
    beat.terminate()
    try:
        beat.wait(10)
    except subprocess.TimeoutExpired:
        beat.kill()
        beat.wait()


def ask_for_letter(client: APIClient, request: AuthorizationRequest) -> float:
    """POST the draft request through the API; returns how long the answer took."""
    started = time.monotonic()
    response = client.post(f"/api/v1/requests/{request.pk}/letters", {"kind": "prior_authorization"}, format="json")
    assert response.status_code == 202, response.content
    return time.monotonic() - started


@pytest.mark.worker
def test_redis_restarted_empty_in_a_burst_of_letters_loses_none_and_makes_none_twice(
    world, letter_stack, settings, caplog
):
    _letter_helpers().install_letter_texts()
    stack = letter_stack
    worker_pid = stack.worker.proc.pid
    requests = [
        advance(draft_for(world, payer=("medicare-advantage", "commercial")[i % 2]), Status.SUBMITTED, world.alice)
        for i in range(24)
    ]
    before, during, after = requests[:8], requests[8:16], requests[16:]
    client = APIClient()
    client.force_authenticate(world.alice)

    # 1. A burst the worker cannot keep up with: messages wait in Redis.
    for request in before:
        ask_for_letter(client, request)
    wait_for(
        lambda: LetterJob.objects.filter(state__in=["running", "done"]).exists(),
        timeout=60,
        what="the first render",
        logs=stack.logs,
    )
    waiting = stack.redis.client().llen("celery")
    assert waiting > 0, "the burst should leave messages in the queue for the outage to lose"

    # 2. Redis goes away, and what it held with it. Drafts asked for meanwhile are still answered.
    stack.redis.stop()
    with caplog.at_level(logging.WARNING, logger="priorauth.letters.services"):
        took = [ask_for_letter(client, request) for request in during]
    assert max(took) < 5, took
    assert caplog.text.count("broker unavailable") == len(during)
    assert stack.worker.proc.poll() is None, "the worker must survive the outage"

    # 3. Redis is back, empty; more drafts are asked for.
    stack.redis.start()
    for request in after:
        ask_for_letter(client, request)

    wait_for(
        lambda: (
            not LetterJob.objects.exclude(state=LetterJob.State.DONE).exists()
            and LetterJob.objects.count() == len(requests)
        ),
        timeout=120,
        what="every letter's draft",
        logs=stack.logs,
    )

    media = Path(settings.MEDIA_ROOT)
    for request in requests:
        letter = Letter.objects.get(request=request)
        assert letter.status == LetterStatus.DRAFT_READY
        revision = LetterRevision.objects.get(letter=letter)
        job = LetterJob.objects.get(revision=revision)
        assert (job.stage, job.state, job.attempts, job.error) == ("draft", "done", 1, ""), f"letter {letter.pk}"
        files = sorted(p.name for p in (media / "letters" / str(request.practice_id) / str(letter.pk)).iterdir())
        assert files == [Path(revision.draft_pdf.name).name]  # one PDF, under its unguessable name
        with revision.draft_pdf.open("rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == revision.draft_sha256
    assert Letter.objects.count() == LetterRevision.objects.count() == len(requests)

    # The same worker process reconnected and is still serving.
    assert stack.worker.proc.poll() is None and stack.worker.proc.pid == worker_pid and stack.worker.starts == 1
    assert app.control.ping(destination=[stack.worker.nodename], timeout=2), stack.logs()


# ---------------------------------------------------------------------------------------------
# The PostgreSQL connection cut in the middle of a request


def _is_counted_write(sql: str) -> bool:
    # Saving the session happens after the view, outside its transaction (and the API does not use
    # one here); the request's own work is what is being cut.
    words = sql.lstrip().split(None, 1)
    return bool(words) and words[0].upper() in ("INSERT", "UPDATE", "DELETE") and "django_session" not in sql


class ConnectionCut:
    """Terminates this thread's PostgreSQL backend from a second connection, as a failover or a cut
    network would, just before the `at`-th write the request makes, or just before its COMMIT
    (at="commit"). With at=None it only counts the writes."""

    def __init__(self, at: int | str | None):
        self.at = at
        self.writes = 0
        self.done = False

    def __call__(self, execute, sql, params, many, context):
        if _is_counted_write(sql):
            self.writes += 1
            if self.writes == self.at:
                self.cut(context["connection"])
        return execute(sql, params, many, context)

    def cut(self, wrapper) -> None:
        import psycopg

        settings_dict = wrapper.settings_dict
        pid = wrapper.connection.info.backend_pid
        with psycopg.connect(
            dbname=settings_dict["NAME"],
            user=settings_dict["USER"] or None,
            password=settings_dict["PASSWORD"] or None,
            host=settings_dict["HOST"] or "127.0.0.1",
            port=settings_dict["PORT"] or 5432,
            autocommit=True,
        ) as other:
            # Waits (up to 5 s) until the backend has exited, so the next statement finds it gone.
            assert other.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone()[0]
        self.done = True


@contextlib.contextmanager
def connection_cut(at: int | str | None, monkeypatch) -> Iterator[ConnectionCut]:
    wrapper = connections["default"]
    cut = ConnectionCut(at)
    if at == "commit":
        real_commit = wrapper._commit

        def cut_then_commit():
            if not cut.done:  # the request's own COMMIT, not the session's after it
                cut.cut(wrapper)
            return real_commit()

        monkeypatch.setattr(wrapper, "_commit", cut_then_commit)
    with wrapper.execute_wrapper(cut):
        yield cut
    if at == "commit":
        monkeypatch.setattr(wrapper, "_commit", real_commit)


def saved_rows() -> dict[str, int]:
    """Rows of every table of the requests app (requests, their history, transitions, audit...)."""
    return {
        model._meta.db_table: model._default_manager.count() for model in apps.get_app_config("priorauth").get_models()
    }


def cut_points(make_request: Callable[[], Any], monkeypatch) -> list[int | str]:
    """Before each write that one such request makes, and before its COMMIT."""
    with connection_cut(None, monkeypatch) as counter:
        make_request()
    assert counter.writes >= 3, counter.writes
    return [*range(1, counter.writes + 1), "commit"]


def assert_cut_everywhere(make_request, *, prepare, monkeypatch, expect_error: Callable[[Any], None]) -> None:
    """For each cut point: the clean error, and not a row more or less than before."""
    points = cut_points(lambda: make_request(prepare()), monkeypatch)
    for at in points:
        subject = prepare()
        before = saved_rows()
        with connection_cut(at, monkeypatch) as cut:
            response = make_request(subject)
        assert cut.done, f"the cut at {at!r} did not happen"
        expect_error(response)
        assert saved_rows() == before, f"cut before write {at!r}: something was saved"


def clean_api_error(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": NOTHING_SAVED}
    assert response["Retry-After"] == "5"


def clean_page_error(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("text/html")
    text = response.content.decode()
    assert NOTHING_SAVED in text and "Traceback" not in text and "psycopg" not in text


@pytest.fixture
def postgres(world):
    needs_postgresql("the fault is a PostgreSQL backend terminated mid-request")


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def create_body(w) -> dict[str, Any]:
    return {
        "patient": w.patient_a.pk,
        "treating_physician": w.bob_provider.pk,
        "payer": "medicare-advantage",
        "case": entered_case(),
    }


def test_a_connection_cut_while_creating_a_request_saves_nothing_and_the_next_create_succeeds(
    world, postgres, monkeypatch
):
    client = api_client(world.alice)
    body = create_body(world)
    assert_cut_everywhere(
        lambda _: client.post("/api/v1/requests", body, format="json"),
        prepare=lambda: None,
        monkeypatch=monkeypatch,
        expect_error=clean_api_error,
    )

    before = saved_rows()
    response = client.post("/api/v1/requests", body, format="json")
    assert response.status_code == 201, response.content
    created = AuthorizationRequest.objects.get(pk=response.json()["id"])
    assert [t.to_status for t in created.transitions.all()] == ["draft"]
    assert AuditEntry.objects.filter(action="create", object_id=str(created.pk)).count() == 1
    assert saved_rows()["priorauth_authorizationrequest"] == before["priorauth_authorizationrequest"] + 1


def test_a_connection_cut_while_submitting_leaves_the_draft_a_draft_and_the_next_submit_succeeds(
    world, postgres, monkeypatch
):
    client = api_client(world.alice)
    draft = draft_for(world)
    spare = draft_for(world)  # submitted once to count the writes a submit makes

    def submit(request: AuthorizationRequest):
        return client.post(f"/api/v1/requests/{request.pk}/submit", {"note": "to the payer"}, format="json")

    prepared = iter([spare])
    assert_cut_everywhere(
        submit, prepare=lambda: next(prepared, draft), monkeypatch=monkeypatch, expect_error=clean_api_error
    )

    draft.refresh_from_db()
    assert (draft.status, draft.determination, draft.submitted_at) == (Status.DRAFT, None, None)
    assert [t.to_status for t in draft.transitions.all()] == ["draft"]
    assert not AuditEntry.objects.filter(object_id=str(draft.pk), detail="submit").exists()

    response = submit(draft)
    assert response.status_code == 200, response.content
    draft.refresh_from_db()
    assert draft.status == Status.SUBMITTED and draft.determination["decision"]
    assert [t.to_status for t in draft.transitions.all()] == ["draft", "submitted"]
    assert AuditEntry.objects.filter(object_id=str(draft.pk), detail="submit").count() == 1


def test_a_connection_cut_while_a_page_submits_shows_a_plain_503_page_and_saves_nothing(world, postgres, monkeypatch):
    client = Client()
    client.force_login(world.alice)
    draft = draft_for(world)
    spare = draft_for(world)

    def submit(request: AuthorizationRequest):
        return client.post(f"/requests/{request.pk}/submit/", {"submit-note": ""})

    prepared = iter([spare])
    assert_cut_everywhere(
        submit, prepare=lambda: next(prepared, draft), monkeypatch=monkeypatch, expect_error=clean_page_error
    )

    draft.refresh_from_db()
    assert draft.status == Status.DRAFT
    response = submit(draft)
    assert response.status_code == 302, response.content
    draft.refresh_from_db()
    assert draft.status == Status.SUBMITTED
    assert AuditEntry.objects.filter(object_id=str(draft.pk), detail="submit").count() == 1


def test_a_database_error_answers_503_with_a_detail_on_the_api_and_a_plain_page_on_pages(world, monkeypatch, caplog):
    """The answers themselves, on any database (the cuts above need PostgreSQL)."""
    from django.db import OperationalError

    from priorauth import services

    def lost(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "request_submit", lost)
    draft = draft_for(world)
    with caplog.at_level(logging.ERROR, logger="config.exceptions"):
        clean_api_error(api_client(world.alice).post(f"/api/v1/requests/{draft.pk}/submit", {}, format="json"))
        page = Client()
        page.force_login(world.alice)
        clean_page_error(page.post(f"/requests/{draft.pk}/submit/", {"submit-note": ""}))
    assert caplog.text.count("database unavailable") == 2 and "Traceback" not in caplog.text
