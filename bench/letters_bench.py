"""Letter rendering: the worker's render path against bare WeasyPrint, throughput with two worker
processes, and request-to-PDF-ready latency over a burst.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mildpa_letters_bench \\
    REDIS_URL=redis://127.0.0.1:6379/6 .venv/bin/python bench/letters_bench.py [--letters 100] [--json]

The database must be PostgreSQL (two worker processes write to it at once), migrated and seeded
(`manage.py migrate && manage.py seed_policies`); the benchmark adds its own practice, people and
submitted requests, and leaves them there. REDIS_URL is the broker the workers consume.

1. Render time. For a sample of letters, in this one process and run: the render path the worker
   runs (letters.letter_context + pdf.render_letter, which reuses one parsed stylesheet and one
   font configuration) against bare WeasyPrint writing the same HTML with a freshly parsed
   stylesheet each time, as a plain script would. Target: at most 1.1× bare.
2. Throughput. Two `celery -A config worker --concurrency=1` processes render a burst of drafts
   requested in one go; letters per minute = letters / (last finished − first queued).
3. Latency. For that burst, each letter's time from its request (LetterJob.queued_at, written when
   staff ask) to its PDF being stored (finished_at); p50 / p95 / max. The worker's own per-letter
   render time (LetterJob.render_seconds) is reported beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.project import PYTHON, ROOT, Database, machine, machine_line, setup_django  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def make_requests(count: int):
    """A practice of its own with `count` submitted requests spread over the seeded payers."""
    import datetime as dt

    from django.contrib.auth import get_user_model

    from policies.models import Payer
    from priorauth import services
    from priorauth.models import Practice, Role

    tag = uuid.uuid4().hex[:6]
    practice = Practice.objects.create(name=f"Bench practice {tag}")
    User = get_user_model()
    clerk = User.objects.create_user(username=f"bench-clerk-{tag}")
    doctor = User.objects.create_user(username=f"bench-doctor-{tag}")
    services.membership_set(user=clerk, practice=practice, role=Role.BILLING)
    services.membership_set(user=doctor, practice=practice, role=Role.PHYSICIAN)
    provider = services.provider_create(practice=practice, npi="1234567893", name="Dana Whitfield, MD", user=doctor)
    case = json.loads((ROOT / "tests" / "fixtures" / "contract" / "medicare-meets-criteria.json").read_text())
    entered = {k: v for k, v in case.items() if k not in ("payer", "patient", "provider")}
    # Original Medicare has no prior-authorization letter (issue 11): the other programs' payers.
    payers = list(Payer.objects.exclude(program=Payer.Program.MEDICARE).order_by("code"))
    requests = []
    for i in range(count):
        patient = services.patient_create(
            practice=practice,
            by=clerk,
            first_name="Ada",
            last_name=f"Moreno-{i}",
            birth_date=dt.date(1949, 3, 2),
            sex="F",
            member_id=f"1EG4TE5MK{i:03d}",
        )
        request = services.request_create(
            practice=practice,
            patient=patient,
            payer=payers[i % len(payers)],
            treating_physician=provider,
            case=entered,
            by=clerk,
        )
        requests.append(services.request_submit(request=request, by=clerk))
    return clerk, requests


def render_comparison(letters_sample) -> dict[str, float]:
    import weasyprint

    from priorauth.letters import compose as letters
    from priorauth.letters import pdf

    worker_path, bare, html_by_letter = [], [], {}
    for letter in letters_sample:
        revision = letter.current_revision
        html_by_letter[letter.pk] = pdf.letter_html(letter.kind, letters.letter_context(letter, revision, final=False))
    pdf.render_letter(
        letters_sample[0].kind,
        letters.letter_context(letters_sample[0], letters_sample[0].current_revision, final=False),
    )  # warm
    for _round in range(3):
        for letter in letters_sample:
            revision = letter.current_revision
            started = time.perf_counter()
            pdf.render_letter(letter.kind, letters.letter_context(letter, revision, final=False))
            worker_path.append(time.perf_counter() - started)

            html = html_by_letter[letter.pk]
            started = time.perf_counter()
            weasyprint.HTML(string=html, base_url=str(pdf.TEMPLATE_DIR)).write_pdf(
                stylesheets=[weasyprint.CSS(filename=str(pdf.STYLESHEET))],
                pdf_variant=os.environ.get("LETTER_PDF_VARIANT", "pdf/ua-1"),
            )
            bare.append(time.perf_counter() - started)
    return {
        "worker_path_median_s": statistics.median(worker_path),
        "bare_weasyprint_median_s": statistics.median(bare),
        "ratio": statistics.median(worker_path) / statistics.median(bare),
        "renders_each": len(worker_path),
    }


def start_workers(n: int, database: Database) -> list[subprocess.Popen]:
    from config.celery import app

    env = {**os.environ, "DATABASE_URL": database.url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    names = [f"letters-bench-{uuid.uuid4().hex[:6]}-{i}@localhost" for i in range(n)]
    procs = [
        subprocess.Popen(
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=prefork",
                "--concurrency=1",
                "-n",
                name,
                "--loglevel=WARNING",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for name in names
    ]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(app.control.ping(destination=names, timeout=1)) == n:
            return procs
    sys.exit("the workers did not answer ping within 60 s")


def stop_workers(procs: list[subprocess.Popen]) -> None:
    import signal

    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--letters", type=int, default=100, help="letters in the burst (default 100)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=int, default=6, help="letters in the render-time comparison")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not url.startswith(("postgres://", "postgresql://")) or not redis_url.startswith("redis://"):
        sys.exit("set DATABASE_URL (PostgreSQL, migrated and seeded) and REDIS_URL: the workers share them")
    database = Database(url=url, label="postgresql " + url.rpartition("@")[2])
    setup_django(database)

    from config.celery import app
    from priorauth.letters import services as letter_services
    from priorauth.letters.models import Letter, LetterJob

    clerk, requests = make_requests(args.letters)
    app.control.purge()
    workers = start_workers(args.workers, database)
    try:
        burst_started = time.perf_counter()
        for request in requests:
            letter_services.letter_request_draft(request=request, kind="prior_authorization", by=clerk)
        letters = Letter.objects.filter(request__in=requests)
        deadline = time.monotonic() + 30 * 60
        while letters.exclude(status="draft_ready").exists():
            if time.monotonic() > deadline or letters.filter(status="failed").exists():
                sys.exit(
                    "letters failed or did not finish: "
                    + str(list(letters.values_list("status", flat=True).distinct()))
                )
            time.sleep(0.2)
        burst_wall = time.perf_counter() - burst_started
    finally:
        stop_workers(workers)

    jobs = list(LetterJob.objects.filter(revision__letter__in=letters, stage="draft"))
    latency = [(j.finished_at - j.queued_at).total_seconds() for j in jobs]
    span = (max(j.finished_at for j in jobs) - min(j.queued_at for j in jobs)).total_seconds()
    worker_render = [j.render_seconds for j in jobs]

    sample = list(
        letters.select_related(
            "request__practice", "request__payer", "request__treating_physician", "current_revision"
        )[: args.sample]
    )
    comparison = render_comparison(sample)

    result = {
        "machine": machine(),
        "database": database.label,
        "letters": len(jobs),
        "workers": args.workers,
        "render_in_process": {k: round(v, 4) if isinstance(v, float) else v for k, v in comparison.items()},
        "worker_render_seconds": {
            "median": round(statistics.median(worker_render), 4),
            "p95": round(percentile(worker_render, 0.95), 4),
        },
        "letters_per_minute": round(len(jobs) / span * 60, 1),
        "burst_wall_seconds": round(burst_wall, 2),
        "request_to_pdf_ready_seconds": {
            "p50": round(percentile(latency, 0.50), 2),
            "p95": round(percentile(latency, 0.95), 2),
            "max": round(max(latency), 2),
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    r, lat = result["render_in_process"], result["request_to_pdf_ready_seconds"]
    print(machine_line(result["machine"]) + f"; {database.label}")
    print(
        f"render, worker path vs bare WeasyPrint: {r['worker_path_median_s'] * 1000:.0f} ms vs "
        f"{r['bare_weasyprint_median_s'] * 1000:.0f} ms median = {r['ratio']:.2f}x (target <= 1.1x)"
    )
    print(
        f"in the workers: {result['worker_render_seconds']['median'] * 1000:.0f} ms median, "
        f"{result['worker_render_seconds']['p95'] * 1000:.0f} ms p95 per letter"
    )
    print(
        f"{result['letters']} letters, {args.workers} workers: {result['letters_per_minute']} letters/minute; "
        f"request to PDF ready p50 {lat['p50']} s, p95 {lat['p95']} s, max {lat['max']} s"
    )


if __name__ == "__main__":
    main()
