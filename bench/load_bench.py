"""Load: gunicorn and a Celery worker on PostgreSQL and Redis, `--users` simulated users for
`--seconds`, every response checked; per-operation and overall p50 / p95 / p99 and throughput.

    .venv/bin/python bench/load_bench.py [--seconds 60] [--users 50] [--think 0] [--workers 3] [--threads 4] [--json]

Needs PostgreSQL (default postgres://postgres@127.0.0.1:5432/mildpa_load) and Redis (default
redis://127.0.0.1:6379/14). The benchmark owns both: it drops and re-creates that database (its name
must contain "load" or "bench"), flushes that Redis database, migrates, runs `seed_policies` and
`seed_demo`, and drops the database and flushes Redis again at the end unless `--keep`.

The server runs as in production (APP_ENV=production, DEBUG off, a generated SECRET_KEY,
ALLOWED_HOSTS=127.0.0.1, persistent database connections); the client sends
`X-Forwarded-Proto: https` as the TLS proxy in front of it would, and opens a connection per request
as nginx's proxy_pass does (`--keepalive`: one per user, kept open). gunicorn: `--workers` gthread
workers of `--threads` threads each (3 × 4 by default on 2 CPUs: the threads overlap database
round trips, and three processes keep both cores busy while one collects garbage or holds the GIL).
One `celery -A config worker --concurrency=1` renders letters.

Before the run the benchmark adds to the two demo practices `--users` users (60 % billing staff,
40 % physicians, each physician a provider) with API tokens, a few hundred patients,
`--existing` requests per practice (most of them submitted), attachments, and a prior-authorization
letter per physician rendered by the worker. Then each simulated user loops over what their role
does, with no pause between requests by default (a closed loop: the figures are those of a saturated
server) or, with `--think S`, a random pause of 0 to 2·S seconds after each response:

- billing staff: check a case (POST /coverage/check, 5 % invalid cases answered 400), sometimes add
  a patient, create a request, submit it, attach a PDF to half of them, ask for its letter one time
  in ten (the worker renders it meanwhile), list requests (paginated, filtered by status, payer,
  physician or date), retrieve two, download an attachment and a letter PDF;
- physicians: list their requests, retrieve two, read a request's letters, download a letter PDF and
  an attachment, check a case.

Throttles stay as deployed: the check's (THROTTLE_COVERAGE_CHECK, 100,000 a minute per signed-in
user) is far above what a user sends here, and django-axes counts only failed password sign-ins,
which token requests never make. The users have no usable password (a sign-in is not part of the
load: its hash is slow by design).

The first `--warmup` seconds are not counted. An error is any unexpected status, a download whose
size or content is wrong, a connection error or timeout, or a letter the worker failed; the
benchmark exits 1 if there was one. Every process it started is stopped at the end, also on an
error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api_latency import free_port, percentile  # noqa: E402
from bench.cases import PAYERS, generate_cases  # noqa: E402
from bench.project import PYTHON, ROOT, Database, machine, machine_line, manage, setup_django  # noqa: E402

HOST = "127.0.0.1"
API = "/api/v1"
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/mildpa_load"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
RECORD_PARTS = ("payer", "patient", "provider")  # built from the request's records (priorauth.services)
STATUSES_LISTED = ("submitted", "draft", "submitted,sent", "draft,submitted")
OPERATIONS = (
    "check", "patient_create", "request_create", "request_submit", "attachment_upload", "letter_ask",
    "request_list", "request_retrieve", "letters_list", "attachment_download", "letter_pdf",
)  # fmt: skip


def fake_pdf(size: int, label: str) -> bytes:
    """A small, well-formed PDF padded with a comment to `size` bytes, as a scanned report would be."""
    body = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        + f"% {label}\n".encode()
    )
    tail = b"trailer<</Root 1 0 R>>\n%%EOF\n"
    return body + b"%" + b"x" * max(0, size - len(body) - len(tail) - 2) + b"\n" + tail


# ---------------------------------------------------------------------------------------------
# The services: database, gunicorn, Celery


def recreate_database(url: str, *, drop_only: bool = False) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    if not re.fullmatch(r"[a-z0-9_]+", name) or not ("load" in name or "bench" in name):
        sys.exit(f"refusing to drop database {name!r}: the load benchmark only drops one named *load* or *bench*")
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


class Service:
    """A child process in its own session, so that stopping it stops its children and nothing else
    (and a Ctrl-C in the terminal reaches only this script, which then stops it in order)."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 30) -> None:
        if self.running():
            self.process.terminate()  # gunicorn and celery both shut down gracefully on SIGTERM
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def wait_for_gunicorn(server: Service, port: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.running():
            sys.exit(f"gunicorn exited with {server.process.returncode}:\n{server.tail()}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", f"{API}/health", headers={"X-Forwarded-Proto": "https"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    sys.exit(f"gunicorn did not answer {API}/health within {timeout:.0f} s:\n{server.tail()}")


def wait_for_worker(worker: Service, name: str, timeout: float = 90) -> None:
    from config.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not worker.running():
            sys.exit(f"the Celery worker exited with {worker.process.returncode}:\n{worker.tail()}")
        if app.control.ping(destination=[name], timeout=1):
            return
    sys.exit(f"the Celery worker did not answer ping within {timeout:.0f} s:\n{worker.tail()}")


def cpu_seconds(service_sessions: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system) so far of each service's processes (its session) and of this
    process (the simulated users). Not PostgreSQL's: its backends come and go with the web
    processes' connections (CONN_MAX_AGE), and the time of one that has exited is not to be found."""
    tick = os.sysconf("SC_CLK_TCK")
    totals = dict.fromkeys(service_sessions, 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
            used = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            session = int(fields[3])
            name = next((n for n, sid in service_sessions.items() if sid == session), None)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
        if name is not None:
            totals[name] += used
    own = os.times()
    totals["client"] = own.user + own.system
    return totals


# ---------------------------------------------------------------------------------------------
# What the users work on


@dataclass
class Persona:
    username: str
    role: str  # "billing" | "physician"
    practice_id: int
    token: str
    provider_id: int | None = None
    attachments: list[tuple[int, int, int]] = field(default_factory=list)  # (request, attachment, size)
    letters: list[int] = field(default_factory=list)


@dataclass
class Population:
    personas: list[Persona]
    patients: dict[int, list[int]]  # practice → patient ids
    providers: dict[int, list[int]]  # practice → provider ids
    entered_cases: list[tuple[str, dict[str, Any]]]  # (payer, case without its record parts) accepted by the service
    requests: int
    letters: int
    attachments: int


def _npi(rng: random.Random) -> str:
    from stdnum import luhn

    first9 = str(rng.randint(100_000_000, 999_999_999))
    return first9 + luhn.calc_check_digit("80840" + first9)


def populate(
    *, users: int, existing: int, patients_per_practice: int, rng: random.Random, worker_timeout: float
) -> Population:
    """Users, patients, requests, attachments and rendered letters in the two demo practices."""
    from django.contrib.auth import get_user_model
    from django.core.exceptions import ValidationError
    from django.core.files.uploadedfile import SimpleUploadedFile
    from knox.models import AuthToken

    from policies.models import Payer
    from priorauth import services
    from priorauth.letters import services as letter_services
    from priorauth.letters.models import Letter, LetterJob, LetterStatus
    from priorauth.models import Patient, Practice, Provider, Role, Status

    User = get_user_model()
    practices = list(Practice.objects.order_by("pk"))[:2]  # seed_demo: Lakeside Pain Center, Hillcrest Spine & Pain
    personas: list[Persona] = []
    for i in range(users):
        practice = practices[0] if i % 3 != 2 else practices[1]
        role = Role.BILLING if i % 5 < 3 else Role.PHYSICIAN
        # API users with tokens and no usable password: signing in is not part of the load (its
        # PBKDF2 hash is slow on purpose), and fifty hashes would add a minute to the set-up.
        user = User.objects.create_user(username=f"load-{role}-{i:02d}")
        services.membership_set(user=user, practice=practice, role=role)
        provider_id = None
        if role == Role.PHYSICIAN:
            provider_id = services.provider_create(
                practice=practice, npi=_npi(rng), name=f"Dr Load {i:02d}, MD", user=user
            ).pk
        personas.append(Persona(user.username, str(role), practice.pk, AuthToken.objects.create(user)[1], provider_id))

    clerks = {}  # the practice's first simulated billing clerk sets the data up
    for persona in reversed(personas):
        if persona.role == Role.BILLING:
            clerks[persona.practice_id] = User.objects.get(username=persona.username)
    payers = {p.code: p for p in Payer.objects.all()}
    patients: dict[int, list[int]] = {}
    providers: dict[int, list[int]] = {}
    for practice in practices:
        patients[practice.pk] = [
            services.patient_create(
                practice=practice,
                by=clerks[practice.pk],
                first_name=rng.choice(("Ada", "Walter", "Lucia", "Harold", "Ruth", "Samuel", "Ines", "Farid")),
                last_name=f"Load-{practice.pk}-{n:04d}",
                birth_date=dt.date(1930, 1, 1) + dt.timedelta(days=rng.randint(0, 30 * 365)),
                sex=rng.choice("FMXU"),
                member_id=f"LD{practice.pk}{n:07d}",
            ).pk
            for n in range(patients_per_practice)
        ]
        providers[practice.pk] = list(Provider.objects.filter(practice=practice).values_list("pk", flat=True))

    # Entered cases: the generated valid cases without their record parts, kept when the service accepts them.
    entered_cases: list[tuple[str, dict[str, Any]]] = []
    created: dict[int, list] = {p.pk: [] for p in practices}
    for generated in generate_cases(existing * len(practices) * 2, seed=rng.randint(0, 10**6)):
        if len(entered_cases) >= existing * len(practices):
            break
        if not generated.valid:
            continue
        payer = generated.data.get("payer") or rng.choice(PAYERS)
        entered = {k: v for k, v in generated.data.items() if k not in RECORD_PARTS}
        practice = practices[len(entered_cases) % len(practices)]
        try:
            request = services.request_create(
                practice=practice,
                patient=Patient.objects.get(pk=rng.choice(patients[practice.pk])),
                payer=payers[payer],
                treating_physician=Provider.objects.get(pk=rng.choice(providers[practice.pk])),
                case=entered,
                by=clerks[practice.pk],
            )
        except ValidationError:
            continue
        if rng.random() < 0.8:
            request = services.request_submit(request=request, by=clerks[practice.pk])
        entered_cases.append((payer, entered))
        created[practice.pk].append(request)

    # Attachments: on every tenth request, and on one request of each physician.
    attachments = 0
    first_of_provider: dict[int, Any] = {}
    for practice in practices:
        for n, request in enumerate(created[practice.pk]):
            first = first_of_provider.setdefault(request.treating_physician_id, request) is request
            if n % 10 and not first:
                continue
            content = fake_pdf(rng.randint(20_000, 200_000), request.reference)
            upload = SimpleUploadedFile(f"mri-{request.reference}.pdf", content, content_type="application/pdf")
            attachment = services.attachment_add(
                request=request, kind="imaging_report", upload=upload, by=clerks[practice.pk]
            )
            attachments += 1
            for persona in personas:
                if persona.practice_id == practice.pk and (
                    persona.role == Role.BILLING or persona.provider_id == request.treating_physician_id
                ):
                    persona.attachments.append((request.pk, attachment.pk, len(content)))

    # Letters: one on a submitted request of each simulated physician, rendered by the worker now.
    letter_requests = []
    for persona in personas:
        if persona.role == Role.PHYSICIAN:
            mine = (r for r in created[persona.practice_id] if r.treating_physician_id == persona.provider_id)
            # Original Medicare has no prior-authorization letter (issue 11).
            request = next((r for r in mine if r.status == Status.SUBMITTED and r.payer.program != "medicare"), None)
            if request is not None:
                letter_requests.append(request)
    letters = [
        letter_services.letter_request_draft(request=r, kind="prior_authorization", by=clerks[r.practice_id])[0]
        for r in letter_requests
    ]
    deadline = time.monotonic() + worker_timeout
    pending = Letter.objects.filter(pk__in=[x.pk for x in letters])
    while pending.exclude(status=LetterStatus.DRAFT_READY).exists():
        if pending.filter(status=LetterStatus.FAILED).exists() or time.monotonic() > deadline:
            jobs = LetterJob.objects.filter(revision__letter__in=pending).exclude(error="")
            errors = jobs.values_list("error", flat=True)
            sys.exit(
                "letters failed or were not rendered in time: "
                + str(Counter(pending.values_list("status", flat=True)))
                + "".join(f"\n  {e}" for e in errors[:5])
            )
        time.sleep(0.3)
    for letter in pending.select_related("request"):
        for persona in personas:
            if persona.practice_id == letter.request.practice_id and (
                persona.role == Role.BILLING or persona.provider_id == letter.request.treating_physician_id
            ):
                persona.letters.append(letter.pk)
    return Population(
        personas=personas,
        patients=patients,
        providers=providers,
        entered_cases=entered_cases,
        requests=sum(len(v) for v in created.values()),
        letters=len(letters),
        attachments=attachments,
    )


# ---------------------------------------------------------------------------------------------
# The simulated users


@dataclass
class OpStats:
    latencies: list[float] = field(default_factory=list)  # of requests started inside the measured window
    errors: int = 0
    samples: list[str] = field(default_factory=list)


class User(threading.Thread):
    def __init__(self, persona: Persona, population: Population, *, port: int, checks: list[tuple[bytes, int]],
                 window: tuple[float, float], stop: threading.Event, seed: int, think: float,
                 keepalive: bool) -> None:  # fmt: skip
        super().__init__(daemon=True, name=persona.username)
        self.persona, self.population, self.port, self.checks = persona, population, port, checks
        self.window_start, self.window_end = window
        self.stop_event, self.think = stop, think
        self.rng = random.Random(seed)
        self.stats: dict[str, OpStats] = {op: OpStats() for op in OPERATIONS}
        self.warmup_requests = 0
        self.reconnects = 0
        self.conn: http.client.HTTPConnection | None = None
        self.seen: list[int] = []  # request ids from the last list, and those this user created
        self.list_counts: dict[str, int] = {}
        self.headers = {
            "Host": f"{HOST}:{port}",
            "Authorization": f"Token {persona.token}",
            "Accept": "application/json",
            "X-Forwarded-Proto": "https",  # as the TLS proxy in front of gunicorn sets it
        }
        if not keepalive:
            # nginx's proxy_pass speaks HTTP/1.0 to gunicorn by default: one connection per request,
            # each accepted by whichever worker is free, rather than a connection tied to one worker.
            self.headers["Connection"] = "close"

    # -- HTTP

    def _exchange(
        self, method: str, path: str, body: bytes | None, content_type: str | None
    ) -> tuple[int, dict, bytes]:
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        for attempt in (0, 1):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if reused and attempt == 0:
                    # The server closed a kept-alive connection while it was idle (gunicorn's
                    # keep-alive timeout) before reading this request: send it again, as any client does.
                    self.reconnects += 1
                    continue
                raise
            if response.will_close:
                self.conn.close()
                self.conn = None
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        raise AssertionError("unreachable")

    def call(self, op: str, method: str, path: str, *, expect: tuple[int, ...], body: Any = None,
             raw: bytes | None = None, content_type: str | None = None, verify=None) -> Any:  # fmt: skip
        """One timed request; the decoded JSON body (or the bytes), None when it was an error or
        the run is over (the rest of the iteration is then skipped)."""
        if self.stop_event.is_set() or time.monotonic() >= self.window_end:
            return None
        if body is not None:
            raw, content_type = json.dumps(body).encode(), "application/json"
        started = time.monotonic()
        result, problem = None, ""
        try:
            status, headers, data = self._exchange(method, path, raw, content_type)
            if status not in expect:
                problem = f"{method} {path} → {status}: {data[:300]!r}"
            else:
                result = json.loads(data) if headers.get("content-type", "").startswith("application/json") else data
                if verify is not None:
                    problem = verify(result, headers) or ""
                    if problem:
                        problem, result = f"{method} {path}: {problem}", None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            problem = f"{method} {path}: {type(exc).__name__}: {exc}"
            if self.conn is not None:
                self.conn.close()
                self.conn = None
        elapsed = time.monotonic() - started
        if self.think:
            self.stop_event.wait(self.rng.uniform(0, 2 * self.think))  # a user reads before the next click
        if self.window_start <= started < self.window_end:
            stats = self.stats[op]
            stats.latencies.append(elapsed)
            if problem:
                stats.errors += 1
                if len(stats.samples) < 5:
                    stats.samples.append(problem)
        else:
            self.warmup_requests += 1
            if problem:
                # An error in the warm-up is still an error.
                stats = self.stats[op]
                stats.errors += 1
                if len(stats.samples) < 5:
                    stats.samples.append("(warm-up) " + problem)
        return None if problem else result

    # -- operations

    def check(self) -> None:
        body, expected = self.rng.choice(self.checks)
        self.call(
            "check", "POST", f"{API}/coverage/check", raw=body, content_type="application/json", expect=(expected,)
        )

    def request_list(self) -> None:
        p = self.persona
        page_size = self.rng.choice((20, 50))
        params: dict[str, Any] = {"page_size": page_size}
        kind = self.rng.choice(("all", "status", "payer", "physician", "recent"))
        if kind == "status":
            params["status"] = self.rng.choice(STATUSES_LISTED)
        elif kind == "payer":
            params["payer"] = self.rng.choice(PAYERS)
        elif kind == "physician" and p.role == "billing":
            params["physician"] = self.rng.choice(self.population.providers[p.practice_id])
        elif kind == "recent":
            params["created_since"] = (dt.date.today() - dt.timedelta(days=7)).isoformat()
        key = urlencode(sorted(params.items()))
        pages = -(-self.list_counts.get(key, 0) // page_size)
        if pages > 1:
            params["page"] = self.rng.randint(1, pages)
        found = self.call("request_list", "GET", f"{API}/requests?{urlencode(params)}", expect=(200,))
        if found:
            self.list_counts[key] = found["count"]
            if found["results"]:
                self.seen = [r["id"] for r in found["results"]] + self.seen[-20:]

    def request_retrieve(self) -> None:
        if self.seen:
            pk = self.rng.choice(self.seen)
            self.call("request_retrieve", "GET", f"{API}/requests/{pk}", expect=(200,),
                      verify=lambda r, h: "" if r["id"] == pk else f"answered request {r['id']}")  # fmt: skip

    def attachment_download(self) -> None:
        if self.persona.attachments:
            request, attachment, size = self.rng.choice(self.persona.attachments)

            def verify(data: Any, headers: dict) -> str:
                if isinstance(data, bytes) and len(data) == size and data.startswith(b"%PDF-"):
                    return ""
                return f"downloaded {len(data) if isinstance(data, bytes) else repr(data)[:40]}, stored {size} bytes"

            path = f"{API}/requests/{request}/attachments/{attachment}"
            self.call("attachment_download", "GET", path, expect=(200,), verify=verify)

    def letter_pdf(self) -> None:
        if self.persona.letters:
            letter = self.rng.choice(self.persona.letters)

            def verify(data: Any, headers: dict) -> str:
                return "" if isinstance(data, bytes) and data.startswith(b"%PDF-") else "not a PDF"

            self.call("letter_pdf", "GET", f"{API}/letters/{letter}/pdf?stage=draft", expect=(200,), verify=verify)

    def billing_iteration(self) -> None:
        p, rng = self.persona, self.rng
        self.check()
        patient = rng.choice(self.population.patients[p.practice_id])
        if rng.random() < 0.15:
            n = rng.randint(0, 10**9)
            made = self.call("patient_create", "POST", f"{API}/patients", expect=(201,), body={
                "first_name": "Nora", "last_name": f"Walk-in {n}", "birth_date": "1951-06-14", "sex": "F",
                "member_id": f"WI{n:010d}",
            })  # fmt: skip
            if made:
                patient = made["id"]
        payer, entered = rng.choice(self.population.entered_cases)
        made = self.call("request_create", "POST", f"{API}/requests", expect=(201,), body={
            "patient": patient, "treating_physician": rng.choice(self.population.providers[p.practice_id]),
            "payer": payer, "case": entered,
        })  # fmt: skip
        if made:
            pk = made["id"]
            self.seen.append(pk)
            submitted = self.call("request_submit", "POST", f"{API}/requests/{pk}/submit", expect=(200,), body={})
            if rng.random() < 0.5:
                content = fake_pdf(rng.randint(20_000, 200_000), f"request {pk}")
                boundary = uuid.uuid4().hex
                form = (
                    (
                        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\ntherapy_note\r\n'
                        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="pt-notes-{pk}.pdf"\r\n'
                        "Content-Type: application/pdf\r\n\r\n"
                    ).encode()
                    + content
                    + f"\r\n--{boundary}--\r\n".encode()
                )
                added = self.call("attachment_upload", "POST", f"{API}/requests/{pk}/attachments", raw=form,
                                  content_type=f"multipart/form-data; boundary={boundary}", expect=(201,))  # fmt: skip
                if added:
                    p.attachments.append((pk, added["id"], len(content)))
            if submitted and rng.random() < 0.1:
                self.call("letter_ask", "POST", f"{API}/requests/{pk}/letters", expect=(202, 200),
                          body={"kind": "prior_authorization"})  # fmt: skip
        self.check()
        self.request_list()
        self.request_retrieve()
        self.request_retrieve()
        self.attachment_download()
        self.letter_pdf()

    def physician_iteration(self) -> None:
        self.request_list()
        self.request_retrieve()
        self.request_retrieve()
        if self.seen:
            self.call("letters_list", "GET", f"{API}/requests/{self.rng.choice(self.seen)}/letters", expect=(200,))
        self.letter_pdf()
        self.attachment_download()
        self.check()

    def run(self) -> None:
        iteration = self.billing_iteration if self.persona.role == "billing" else self.physician_iteration
        try:
            while not self.stop_event.is_set() and time.monotonic() < self.window_end:
                iteration()
        finally:
            if self.conn is not None:
                self.conn.close()


# ---------------------------------------------------------------------------------------------
# Figures


def op_figures(latencies: list[float], errors: int, seconds: float) -> dict[str, Any]:
    values = sorted(latencies)
    if not values:
        return {"requests": 0, "errors": errors}
    return {
        "requests": len(values),
        "per_second": round(len(values) / seconds, 1),
        "p50_ms": round(percentile(values, 50) * 1000, 1),
        "p95_ms": round(percentile(values, 95) * 1000, 1),
        "p99_ms": round(percentile(values, 99) * 1000, 1),
        "mean_ms": round(statistics.fmean(values) * 1000, 1),
        "max_ms": round(values[-1] * 1000, 1),
        "errors": errors,
    }


def server_env(args: argparse.Namespace, tmp: Path) -> dict[str, str]:
    """The environment of every process: production settings on the benchmark's database and Redis."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": HOST,
        "DEBUG": "false",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "MEDIA_ROOT": str(tmp / "media"),  # shared by gunicorn, the worker and this process
        "STATIC_ROOT": str(tmp / "static"),
        "LOG_LEVEL": "WARNING",
    }


def start_services(args: argparse.Namespace, env: dict[str, str], tmp: Path, port: int) -> tuple[Service, Service, str]:
    worker_name = f"load-bench-{uuid.uuid4().hex[:6]}@localhost"
    worker = Service("celery", [
        PYTHON, "-m", "celery", "-A", "config", "worker", "--pool=prefork", f"--concurrency={args.celery_concurrency}",
        "-n", worker_name, "--loglevel=WARNING", "--without-gossip", "--without-mingle",
    ], env=env, log=tmp / "celery.log")  # fmt: skip
    server = Service("gunicorn", [
        PYTHON, "-m", "gunicorn", "config.wsgi:application", "--bind", f"{HOST}:{port}",
        "--workers", str(args.workers), "--worker-class", "gthread", "--threads", str(args.threads),
        "--timeout", "60", "--log-level", "warning",
    ], env=env, log=tmp / "gunicorn.log")  # fmt: skip
    return worker, server, worker_name


@dataclass
class Run:
    users: list[User]
    cpu_seconds: dict[str, float]
    load_before: float
    load_after: float
    crashed: list[str]


def run_users(args: argparse.Namespace, population: Population, *, port: int, worker: Service, server: Service,
              stop: threading.Event) -> Run:  # fmt: skip
    checks = [(json.dumps(c.data).encode(), 200 if c.valid else 400) for c in generate_cases(2000, seed=args.seed + 1)]
    sys.setswitchinterval(0.001)  # fifty client threads: hand the GIL to a thread whose answer came in sooner
    start = time.monotonic() + 0.5
    window = (start + args.warmup, start + args.warmup + args.seconds)
    users = [
        User(
            persona,
            population,
            port=port,
            checks=checks,
            window=window,
            stop=stop,
            seed=args.seed * 1000 + i,
            think=args.think,
            keepalive=args.keepalive,
        )  # fmt: skip
        for i, persona in enumerate(population.personas)
    ]
    load_before = os.getloadavg()[0]
    sessions = {"gunicorn": server.process.pid, "celery": worker.process.pid}
    cpu_at: dict[str, dict[str, float]] = {}
    for user in users:
        user.start()
    while any(u.is_alive() for u in users):
        if not server.running() or not worker.running():
            stop.set()
            break
        now = time.monotonic()
        if "start" not in cpu_at and now >= window[0]:
            cpu_at["start"] = cpu_seconds(sessions)
        if "end" not in cpu_at and now >= window[1]:
            cpu_at["end"] = cpu_seconds(sessions)
        time.sleep(0.05)
    for user in users:
        user.join(timeout=90)
    used = {}
    if "start" in cpu_at and "end" in cpu_at:
        used = {k: round(cpu_at["end"][k] - cpu_at["start"][k], 1) for k in cpu_at["start"]}
    crashed = [s.name for s in (server, worker) if not s.running()]
    return Run(users, used, load_before, os.getloadavg()[0], crashed)


def summarize(args: argparse.Namespace, host: dict[str, Any], database: Database, population: Population,
              set_up_seconds: float, run: Run, asked_letters: Counter) -> dict[str, Any]:  # fmt: skip
    by_op: dict[str, Any] = {}
    all_latencies: list[float] = []
    samples: list[str] = []
    for op in OPERATIONS:
        latencies = [x for u in run.users for x in u.stats[op].latencies]
        errors = sum(u.stats[op].errors for u in run.users)
        if latencies or errors:
            by_op[op] = op_figures(latencies, errors, args.seconds)
        all_latencies += latencies
        samples += [s for u in run.users for s in u.stats[op].samples][:5]
    errors = sum(f["errors"] for f in by_op.values()) + asked_letters.get("failed", 0) + len(run.crashed)
    roles = Counter(p.role for p in population.personas)
    return {
        "benchmark": "load_bench",
        "machine": {
            **host,
            "load_average_1m_before_run": round(run.load_before, 2),
            "load_average_1m_after_run": round(run.load_after, 2),
        },
        "database": database.label,
        "redis": args.redis_url.rpartition("@")[2],
        "server": {
            "gunicorn": f"{args.workers} gthread workers x {args.threads} threads",
            "celery": f"1 worker, concurrency {args.celery_concurrency}",
            "app_env": "production",
            "debug": False,
            "conn_max_age": 60,
        },
        "users": {"total": args.users, "billing": roles["billing"], "physician": roles["physician"]},
        "before_the_run": {
            "requests": population.requests,
            "attachments": population.attachments,
            "letters_rendered": population.letters,
            "set_up_seconds": round(set_up_seconds, 1),
        },
        "think_seconds_mean": args.think,
        "connections": "kept alive per user" if args.keepalive else "one per request",
        "seconds": args.seconds,
        "warmup_seconds": args.warmup,
        "operations": by_op,
        "overall": op_figures(all_latencies, errors, args.seconds),
        "cpu_seconds_in_run": run.cpu_seconds,
        "letters_asked_during_run": dict(asked_letters),
        "reconnects_after_idle_keepalive": sum(u.reconnects for u in run.users),
        "crashed": run.crashed,
        "error_samples": samples[:10],
    }


def print_report(f: dict[str, Any]) -> None:
    think = f"{f['think_seconds_mean']:g} s mean think time" if f["think_seconds_mean"] else "no think time"
    print(
        f"Load — {f['users']['total']} users ({f['users']['billing']} billing, {f['users']['physician']} physicians), "
        f"{think}, {f['connections']}, {f['seconds']:.0f} s after {f['warmup_seconds']:.0f} s warm-up; gunicorn {f['server']['gunicorn']}, "
        f"Celery {f['server']['celery']}; {f['database']}, Redis {f['redis']}"
    )
    print(f"machine: {machine_line(f['machine'])}, {f['machine']['load_average_1m_after_run']:.2f} after the run")
    before = f["before_the_run"]
    print(
        f"before the run: {before['requests']:,} requests, {before['attachments']} attachments, "
        f"{before['letters_rendered']} letters rendered ({before['set_up_seconds']:.0f} s)"
    )
    columns = ("requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms")
    print(f"{'operation':22}" + "".join(f"{c:>9}" for c in columns) + f"{'errors':>8}")
    for name, o in [*f["operations"].items(), ("all", f["overall"])]:
        if name == "all":
            print("-" * 84)
        print(
            f"{name:22}{o['requests']:>9,}{o.get('per_second', 0):>9.1f}{o.get('p50_ms', 0):>9.1f}"
            f"{o.get('p95_ms', 0):>9.1f}{o.get('p99_ms', 0):>9.1f}{o.get('max_ms', 0):>9.1f}{o['errors']:>8}"
        )
    if f["cpu_seconds_in_run"]:
        cpus = f["machine"]["cpus"]
        per_request = f["cpu_seconds_in_run"]["gunicorn"] / max(1, f["overall"]["requests"]) * 1000
        print(
            f"CPU seconds in the {f['seconds']:.0f} s ({cpus} CPUs: {cpus * f['seconds']:.0f} s available): "
            + ", ".join(f"{k} {v:.1f}" for k, v in f["cpu_seconds_in_run"].items())
            + f"; gunicorn {per_request:.1f} ms per request"
        )
    print(f"letters asked for during the run, by status at its end: {f['letters_asked_during_run'] or 'none'}")
    if f["crashed"]:
        print(f"stopped during the run: {', '.join(f['crashed'])}")
    for sample in f["error_samples"]:
        print(f"error: {sample}")
    print(f"errors: {f['overall']['errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="measured run (default 60)")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of load before the measured run, not counted")
    parser.add_argument("--users", type=int, default=50, help="simulated users (default 50)")
    parser.add_argument(
        "--think", type=float, default=0,
        help="mean pause of a user after each response, in seconds (default 0: a closed loop at full speed)",
    )  # fmt: skip
    parser.add_argument(
        "--keepalive", action="store_true",
        help="keep each user's connection open (default: one connection per request, as nginx's proxy_pass does)",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes (default 3)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (gthread, default 4)")
    parser.add_argument("--celery-concurrency", type=int, default=1)
    parser.add_argument("--existing", type=int, default=500, help="requests stored per practice before the run")
    parser.add_argument("--patients", type=int, default=200, help="patients per practice before the run")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE, help="PostgreSQL database to (re-)create")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help="Redis database to flush and use")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if not args.database_url.startswith(("postgres://", "postgresql://")) or not args.redis_url.startswith("redis://"):
        sys.exit("--database-url must be PostgreSQL and --redis-url Redis")
    if args.users < 5:
        sys.exit("--users must be at least 5 (both roles in both practices)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally below stops everything

    host = machine()
    services: list[Service] = []
    stop = threading.Event()
    database_created = False
    tmp = Path(tempfile.mkdtemp(prefix="mildpa-load-"))
    try:
        env = server_env(args, tmp)
        os.environ.update(env)  # this process sets up the data with the same settings
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
        recreate_database(args.database_url)
        database_created = True
        for command in (("migrate", "--noinput"), ("seed_policies",), ("seed_demo",)):
            manage(*command, env=env)

        port = free_port()
        worker, server, worker_name = start_services(args, env, tmp, port)
        services += [worker, server]
        database = Database(url=args.database_url, label="postgresql " + args.database_url.rpartition("@")[2])
        setup_django(database)
        wait_for_worker(worker, worker_name)
        set_up_started = time.monotonic()
        population = populate(
            users=args.users, existing=args.existing, patients_per_practice=args.patients,
            rng=random.Random(args.seed), worker_timeout=600,
        )  # fmt: skip
        set_up_seconds = time.monotonic() - set_up_started
        wait_for_gunicorn(server, port)
        run = run_users(args, population, port=port, worker=worker, server=server, stop=stop)

        from priorauth.letters.models import Letter

        prepared = [pk for p in population.personas for pk in p.letters]
        asked_letters = Counter(Letter.objects.exclude(pk__in=prepared).values_list("status", flat=True))
    except KeyboardInterrupt:
        sys.exit("interrupted: stopping gunicorn and the worker")
    finally:
        stop.set()
        for service in reversed(services):
            service.stop()
        if database_created and not args.keep:
            from django.db import connections

            connections.close_all()
            recreate_database(args.database_url, drop_only=True)
            redis.Redis.from_url(args.redis_url).flushdb()  # the run's results, throttle logs, queues
        for service in services:
            log = service.tail(400).splitlines()
            if any(word in line for line in log for word in ("Traceback", "ERROR", "CRITICAL")):
                print(f"{service.name} log, last lines:\n{service.tail()}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)

    figures = summarize(args, host, database, population, set_up_seconds, run, asked_letters)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_report(figures)
    sys.exit(1 if figures["overall"]["errors"] else 0)


if __name__ == "__main__":
    main()
