"""Latency of POST /api/v1/coverage/check under gunicorn, against GET /api/v1/auth/me.

Starts gunicorn (config.wsgi, 2 sync workers by default) on 127.0.0.1 at a free port, on a seeded
database, with DEBUG off and persistent database connections as in production (CONN_MAX_AGE=60).
A small asyncio client keeps `--concurrency` requests in flight (keep-alive when the server offers
it; gunicorn's sync workers close each connection, as they do behind a proxy). After a warm-up of
both endpoints it sends the same number of requests to each, in alternating rounds, so that both
see the same machine. The check needs a signed-in practice member (issue 10), so the baseline is the
trivial authenticated endpoint, GET /api/v1/auth/me (who the token belongs to): the same project,
DRF stack, token authentication (a knox token, its audit entry) and throttles, and no other work.
Both send the same API token, of a bench user made in the database. The server's throttles are
raised for the run (THROTTLE_USER, THROTTLE_COVERAGE_CHECK): this measures the server, not them. Check bodies are generated cases (bench/cases.py), a share of them invalid
(answered 400). Target: check p95 at most 2× the baseline's p95. gunicorn is stopped at the end, also
on error or Ctrl-C.

    .venv/bin/python bench/api_latency.py [--requests 4000] [--concurrency 8] [--workers 2] [--json]

DATABASE_URL selects the database (see bench/project.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cases import generate_cases
from bench.project import PYTHON, ROOT, machine, machine_line, require_seeded_registry, seeded_database, setup_django

HOST = "127.0.0.1"
TARGET_P95_RATIO = 2.0
CHECK_PATH = "/api/v1/coverage/check"
HEALTH_PATH = "/api/v1/health"
BASELINE_PATH = "/api/v1/auth/me"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """gunicorn in its own session, so that stopping it stops its workers and nothing else."""

    def __init__(self, *, port: int, workers: int, worker_class: str, database_url: str, log: Path) -> None:
        self.port, self.log = port, log
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "CONN_MAX_AGE": "60",
            "LOG_LEVEL": "WARNING",
            "THROTTLE_USER": "10000000/minute",
            "THROTTLE_COVERAGE_CHECK": "10000000/minute",
        }
        argv = [
            PYTHON,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"{HOST}:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            worker_class,
            "--error-logfile",
            str(log),
            "--log-level",
            "warning",
        ]
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as s:
                    s.sendall(f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer {HEALTH_PATH} within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # the master stops its workers gracefully
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # its own session: only gunicorn's processes
                self.process.wait()

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0


async def _exchange(conn: list, raw: bytes, port: int) -> int:
    """Send one request on the task's connection (opened when needed); the response status."""
    if conn[0] is None:
        conn[0] = await asyncio.open_connection(HOST, port)
    reader, writer = conn[0]
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    else:
        await reader.read()  # no length: the body runs to the end of the connection
        headers["connection"] = "close"
    if headers.get("connection", "").lower() == "close":
        writer.close()
        conn[0] = None
    return status


async def drive(requests: list[bytes], *, port: int, concurrency: int) -> Run:
    run = Run()
    queue = iter(requests)

    async def client() -> None:
        conn: list = [None]
        try:
            for raw in queue:
                start = time.perf_counter()
                try:
                    status = await _exchange(conn, raw, port)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    status, conn[0] = 0, None  # counted as an error, not a latency
                    run.statuses[status] += 1
                    continue
                run.latencies.append(time.perf_counter() - start)
                run.statuses[status] += 1
        finally:
            if conn[0] is not None:
                conn[0][1].close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    run.seconds = time.perf_counter() - start
    return run


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    index = min(len(sorted_values), max(1, math.ceil(q / 100 * len(sorted_values)))) - 1
    return sorted_values[index]


def summary(run: Run) -> dict[str, object]:
    values = sorted(run.latencies)
    ms = {f"p{q}_ms": round(percentile(values, q) * 1000, 2) for q in (50, 95, 99)}
    return {
        **ms,
        "mean_ms": round(statistics.fmean(values) * 1000, 2),
        "max_ms": round(values[-1] * 1000, 2),
        "requests": len(run.latencies) + run.statuses.get(0, 0),
        "per_second": round(len(values) / run.seconds),
        "statuses": {str(k): v for k, v in sorted(run.statuses.items())},
    }


def bench_token() -> str:
    """An API token of a billing clerk of a bench practice (made once, kept in the database)."""
    from django.contrib.auth import get_user_model
    from knox.models import AuthToken

    from priorauth.models import Practice, Role
    from priorauth.services import membership_set

    practice, _ = Practice.objects.get_or_create(name="Benchmark practice")
    user, created = get_user_model().objects.get_or_create(username="bench-api")
    if created:
        user.set_unusable_password()
        user.save()
    membership_set(user=user, practice=practice, role=Role.BILLING)
    return AuthToken.objects.create(user)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="timed requests per endpoint")
    parser.add_argument("--warmup", type=int, default=400, help="untimed requests per endpoint first")
    parser.add_argument("--rounds", type=int, default=16, help="alternating rounds the requests are split into")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally below stops gunicorn

    host = machine()
    port = free_port()
    host_header = f"Host: {HOST}:{port}\r\n"
    cases = generate_cases(2000, seed=args.seed)
    bodies = [json.dumps(c.data).encode() for c in cases]
    expected = Counter(200 if c.valid else 400 for c in cases)

    with seeded_database() as database, tempfile.TemporaryDirectory(prefix="mildpa-bench-") as tmp:
        setup_django(database)
        require_seeded_registry()
        auth = f"Authorization: Token {bench_token()}\r\n"
        baseline = f"GET {BASELINE_PATH} HTTP/1.1\r\n{host_header}{auth}Accept: application/json\r\n\r\n".encode()
        checks = [
            f"POST {CHECK_PATH} HTTP/1.1\r\n{host_header}{auth}Content-Type: application/json\r\n"
            f"Accept: application/json\r\nContent-Length: {len(b)}\r\n\r\n".encode()
            + b
            for b in bodies
        ]

        def check_requests(n: int, offset: int) -> list[bytes]:
            return [checks[(offset + i) % len(checks)] for i in range(n)]

        server = Server(
            port=port,
            workers=args.workers,
            worker_class=args.worker_class,
            database_url=database.url,
            log=Path(tmp) / "gunicorn.log",
        )
        try:
            server.wait_ready()
            asyncio.run(drive([baseline] * args.warmup, port=port, concurrency=args.concurrency))
            asyncio.run(drive(check_requests(args.warmup, 0), port=port, concurrency=args.concurrency))
            runs = {"baseline": Run(), "check": Run()}
            per_round = -(-args.requests // args.rounds)
            sent = {"baseline": 0, "check": 0}
            for r in range(args.rounds):
                for name in ("baseline", "check") if r % 2 == 0 else ("check", "baseline"):
                    n = min(per_round, args.requests - sent[name])
                    batch = [baseline] * n if name == "baseline" else check_requests(n, args.warmup + sent["check"])
                    done = asyncio.run(drive(batch, port=port, concurrency=args.concurrency))
                    runs[name].latencies += done.latencies
                    runs[name].statuses.update(done.statuses)
                    runs[name].seconds += done.seconds
                    sent[name] += n
            crashed = server.process.poll() is not None
        finally:
            server.stop()
            log = server.log_tail()

    results = {name: summary(run) for name, run in runs.items()}
    bad = {
        name: {k: v for k, v in run.statuses.items() if k not in ((200,) if name == "baseline" else (200, 400))}
        for name, run in runs.items()
    }
    p95_ratio = results["check"]["p95_ms"] / results["baseline"]["p95_ms"]
    figures = {
        "benchmark": "api_latency",
        "machine": host,
        "database": database.label,
        "server": {"workers": args.workers, "worker_class": args.worker_class, "debug": False, "conn_max_age": 60},
        "concurrency": args.concurrency,
        "requests_per_endpoint": args.requests,
        "warmup_per_endpoint": args.warmup,
        "check_bodies": {"distinct": len(cases), "valid_share": round(expected[200] / len(cases), 3)},
        "results": results,
        "ratio": {
            "p50": round(results["check"]["p50_ms"] / results["baseline"]["p50_ms"], 2),
            "p95": round(p95_ratio, 2),
        },
        "target": {
            "p95_ratio_at_most": TARGET_P95_RATIO,
            "met": p95_ratio <= TARGET_P95_RATIO and not any(bad.values()),
        },
        "unexpected_statuses": {k: v for k, v in bad.items() if v},
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"API latency — gunicorn {args.workers} {args.worker_class} workers on {HOST}:{port}, "
            f"concurrency {args.concurrency}, {args.requests:,} requests per endpoint after {args.warmup} warm-up, "
            f"{args.rounds} alternating rounds; database: {database.label}"
        )
        print(f"machine: {machine_line(host)}")
        print(f"{'':32}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'req/s':>8}  statuses")
        for name, label in (("baseline", f"GET {BASELINE_PATH}"), ("check", f"POST {CHECK_PATH}")):
            r = results[name]
            print(
                f"{label:32}{r['p50_ms']:>8.2f}{r['p95_ms']:>8.2f}{r['p99_ms']:>8.2f}{r['per_second']:>8,}  {r['statuses']}"
            )
        verdict = "met" if figures["target"]["met"] else "MISSED"
        print(
            f"ratio check / auth/me: p50 {figures['ratio']['p50']:.2f}×, p95 {p95_ratio:.2f}×   "
            f"target p95 ≤ {TARGET_P95_RATIO}×: {verdict}"
        )
        if figures["unexpected_statuses"]:
            print(f"unexpected statuses (0 = connection error): {figures['unexpected_statuses']}")
    if crashed or figures["unexpected_statuses"]:
        print(f"gunicorn log:\n{log}", file=sys.stderr)


if __name__ == "__main__":
    main()
