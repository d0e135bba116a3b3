"""Policy-change re-check: N stored open requests of one payer re-checked after that payer's policy
changes, by the service the Celery job runs (priorauth.services.requests_recheck). A benchmark,
not a timed test. Target: 100,000 requests in under 60 s on PostgreSQL.

It stores N undecided requests (draft / submitted / sent / pended) of medicare-advantage in a
practice of its own, with varied cases (bench/cases.py) and their decisions on record; publishes a
changed medicare-advantage policy (the ligamentum flavum threshold moved between 2.5 and 5 mm);
times the re-check; prints the seconds, requests/s and how many decisions changed; and removes its
practice again (--keep leaves it). Baseline: streaming the same rows and columns without evaluating
them, in the same run, so the ratio separates reading from checking.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mildpa_bench .venv/bin/python bench/recheck_bench.py [--requests 100000] [--json]

The database must be migrated and seeded first (see bench/project.py).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cases import generate_cases  # noqa: E402
from bench.project import machine, require_seeded_registry, seeded_database, setup_django  # noqa: E402

TARGET_SECONDS = 60.0
PAYER = "medicare-advantage"
UNDECIDED = ("draft", "submitted", "sent", "pended")
DISTINCT_CASES = 5_000  # cycled over the N requests
INSERT_BATCH = 5_000


def changed_policy_document() -> dict:
    """The payer's policy with the ligamentum flavum threshold moved (2.5 → 5, or back)."""
    from policies.selectors import export_document

    document = copy.deepcopy(export_document(payer_code=PAYER))
    for criterion in document["payers"][0]["policy"]["criteria"]:
        if criterion["key"] == "ligamentum_flavum":
            criterion["value"] = 2.5 if criterion["value"] != 2.5 else 5.0
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the bench practice and its requests in the database")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    with seeded_database() as database:
        setup_django(database)
        require_seeded_registry()
        figures = run(args, database.label)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    r = figures["recheck"]
    print(f"database: {figures['database']}")
    print(f"stored {figures['requests']:,} open {PAYER} requests in {figures['store_seconds']:.1f} s")
    print(f"baseline (stream the same rows, no evaluation): {figures['baseline_stream_seconds']:.2f} s")
    print(
        f"re-check: {r['seconds']:.2f} s ({r['x_baseline']}× baseline), {r['per_second']:,} requests/s, "
        f"{r['checked']:,} checked, {r['changed']:,} decisions changed"
    )
    print(
        f"target: under {TARGET_SECONDS:.0f} s for 100,000 requests: {'met' if figures['target']['met'] else 'NOT met'}"
    )


def run(args: argparse.Namespace, database_label: str) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test import override_settings

    from coverage.engine import compile_policy, evaluate
    from policies.models import Payer, PolicyVersion
    from policies.services import policy_published, registry_import
    from priorauth import services
    from priorauth.models import AuthorizationRequest, Patient, Practice, Provider, RecheckRun
    from priorauth.signals import recheck_on_policy_published

    payer = Payer.objects.get(code=PAYER)
    version = PolicyVersion.objects.filter(policy__payer=payer).order_by("-revision").first()
    compiled = compile_policy(version.snapshot, revision=version.revision)

    generated = [g.data for g in generate_cases(DISTINCT_CASES, seed=args.seed) if g.valid]
    started = time.perf_counter()
    with transaction.atomic():
        practice = Practice.objects.create(name=f"Bench practice {uuid.uuid4().hex[:8]}")
        clerk = get_user_model().objects.create(username=f"bench-{practice.pk}")
        provider = Provider.objects.create(practice=practice, npi="1234567893", name="Dana Whitfield, MD")
        patients = Patient.objects.bulk_create(
            Patient(
                practice=practice,
                first_name=f"P{i}",
                last_name="Bench",
                birth_date=dt.date(1950, 1, 1),
                sex="U",
                member_id=f"B{i:06d}",
            )
            for i in range(1_000)
        )
        cases = []
        for i, data in enumerate(generated):
            patient = patients[i % len(patients)]
            case = {**data, "payer": PAYER, "patient": patient.case_part(), "provider": provider.case_part()}
            determination = evaluate(case, compiled)
            statuses = {
                c["key"]: c["status"] for s in ("clinical", "payer_rules") for c in determination[s]["criteria"]
            }
            cases.append((patient, case, determination["decision"], statuses))
        batch = []
        for i in range(args.requests):
            patient, case, decision, statuses = cases[i % len(cases)]
            batch.append(
                AuthorizationRequest(
                    practice=practice,
                    patient=patient,
                    payer=payer,
                    treating_physician=provider,
                    status=UNDECIDED[i % 4],
                    case=case,
                    decision=decision,
                    criteria_statuses=statuses,
                    created_by=clerk,
                )
            )
            if len(batch) == INSERT_BATCH:
                AuthorizationRequest.objects.bulk_create(batch)
                batch = []
        AuthorizationRequest.objects.bulk_create(batch)
    store_seconds = time.perf_counter() - started

    # Publish the change without the signal's job, so the re-check below is the one timed.
    policy_published.disconnect(recheck_on_policy_published, dispatch_uid="priorauth.recheck_on_policy_published")
    try:
        new_version = registry_import(document=changed_policy_document(), summary="recheck benchmark").versions[0]
    finally:
        policy_published.connect(recheck_on_policy_published, dispatch_uid="priorauth.recheck_on_policy_published")

    rows = AuthorizationRequest.objects.filter(payer=payer, status__in=UNDECIDED).exclude(decision="")
    open_requests = rows.count()
    # Baseline: stream the same rows and columns the re-check reads, and do nothing with them.
    started = time.perf_counter()
    for _ in (
        rows.order_by()
        .values_list("pk", "case", "decision", "criteria_statuses")
        .iterator(chunk_size=services.RECHECK_CHUNK)
    ):
        pass
    baseline_seconds = time.perf_counter() - started

    started = time.perf_counter()
    run = services.requests_recheck(version=new_version)
    seconds = time.perf_counter() - started

    if not args.keep:
        with transaction.atomic(), override_settings(SIMPLE_HISTORY_ENABLED=False):
            RecheckRun.objects.filter(pk=run.pk).delete()
            with connection.cursor() as cursor:  # 100k rows: straight SQL rather than the ORM's cascade
                cursor.execute(
                    f"DELETE FROM {AuthorizationRequest._meta.db_table} WHERE practice_id = %s", [practice.pk]
                )
            Patient.objects.filter(practice=practice).delete()
            Provider.objects.filter(practice=practice).delete()
            practice.delete()
            clerk.delete()

    return {
        "benchmark": "recheck",
        "machine": machine(),
        "database": database_label,
        "requests": args.requests,
        "open_requests_of_payer": open_requests,
        "store_seconds": round(store_seconds, 2),
        "baseline_stream_seconds": round(baseline_seconds, 2),
        "recheck": {
            "x_baseline": round(seconds / baseline_seconds, 2) if baseline_seconds else None,
            "seconds": round(seconds, 2),
            "per_second": round(run.checked / seconds) if seconds else None,
            "checked": run.checked,
            "changed": run.changed,
        },
        "target": {"seconds_for_100k": TARGET_SECONDS, "met": seconds * 100_000 / max(run.checked, 1) < TARGET_SECONDS},
    }


if __name__ == "__main__":
    main()
