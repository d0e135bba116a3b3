"""Electronic prior authorization (Da Vinci PAS): the cost of building and checking a request's PAS
bundle, and of importing a payer's response, each against a baseline in the same run. A benchmark,
not a timed test.

- bundle: priorauth.fhir.bundle.request_bundle + priorauth.fhir.validator.validate_bundle (+ the
  JSON text) per request, against building the same request's JSON detail as the API does
  (RequestDetailOutputSerializer over the detail's queryset, + the JSON text). Target ≤ 5×.
- import: reading a response bundle into the payer's answer (json.loads + response.read_response)
  against its JSON parse alone (json.loads), over the Inferno kit's response presets. Target ≤ 2×.
  Recording the answer (the workflow's decision_record, its audit entry, the exchange log, in a
  rolled-back transaction) is reported beside it, against the same parse, for information.

The requests are the demo seed's (seed_demo), every other one with a 100 kB PDF attachment (sent
inline, base64, as the PAS DocumentReference profile requires); everything the bench adds is rolled
back at the end.

    .venv/bin/python bench/pas_bench.py [--rounds 7] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.project import (
    ROOT,
    machine,
    machine_line,
    require_seeded_registry,
    seeded_database,
    setup_django,
)

BUNDLE_TARGET = 5.0
IMPORT_TARGET = 2.0
FIXTURES = ROOT / "tests" / "fixtures" / "fhir"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 400 + b"\n%%EOF\n"


def timed(fn, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    m = machine()
    with seeded_database() as database:
        setup_django(database)
        require_seeded_registry()
        figures = {"machine": m, "database": database.label, **run(args)}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    b, i, r = figures["bundle"], figures["import"], figures["record"]
    print(machine_line(m))
    print(f"database: {figures['database']}; guide package compiled once in {figures['package_load_ms']} ms")
    print(
        f"bundle build + validation: {b['ms_per_request']} ms per request ({b['requests']} requests, "
        f"{b['entries_mean']} entries on average) vs JSON detail {b['baseline_ms_per_request']} ms: "
        f"{b['ratio']}× (target ≤ {BUNDLE_TARGET:g}×: {'met' if b['ratio'] <= BUNDLE_TARGET else 'NOT met'})"
    )
    print(
        f"response import (parse + read): {i['ms_per_response']} ms vs JSON parse {i['baseline_ms']} ms: "
        f"{i['ratio']}× (target ≤ {IMPORT_TARGET:g}×: {'met' if i['ratio'] <= IMPORT_TARGET else 'NOT met'})"
    )
    print(
        f"recording the answer (parse + read + workflow + audit + log): {r['ms_per_response']} ms, {r['ratio']}× the parse"
    )


def run(args: argparse.Namespace) -> dict:
    from django.core.files.base import ContentFile
    from django.core.management import call_command
    from django.db import transaction
    from django.test import override_settings

    from priorauth.fhir import validator
    from priorauth.fhir.bundle import request_bundle
    from priorauth.fhir.response import read_response
    from priorauth.fhir.services import pas_response_record
    from priorauth.models import Attachment, AuthorizationRequest, Status
    from priorauth.serializers import RequestDetailOutputSerializer

    started = time.perf_counter()
    validator.package()
    package_ms = (time.perf_counter() - started) * 1000

    with (
        tempfile.TemporaryDirectory(prefix="pas-bench-media-") as media,
        override_settings(MEDIA_ROOT=media),
        transaction.atomic(),
    ):
        call_command("seed_demo", verbosity=0, stdout=io.StringIO())
        pks = list(AuthorizationRequest.objects.values_list("pk", flat=True))
        # Every other request carries a 100 kB PDF attachment, sent inline (base64) in its bundle.
        for pk in pks[::2]:
            request = AuthorizationRequest.objects.get(pk=pk)
            attachment = Attachment(
                request=request,
                kind=Attachment.Kind.IMAGING_REPORT,
                original_name="mri.pdf",
                content_type="application/pdf",
                size=len(PDF),
                sha256="0" * 64,
            )
            attachment.file.save("mri.pdf", ContentFile(PDF), save=False)
            attachment.save()
        detail_qs = AuthorizationRequest.objects.select_related(
            "payer", "patient", "treating_physician", "practice", "policy_version"
        ).prefetch_related(
            "transitions__by",
            "decisions__appeal",
            "appeals",
            "attachments__uploaded_by",
        )
        bundle_qs = AuthorizationRequest.objects.select_related("payer", "patient", "treating_physician", "practice")

        def detail_all() -> None:
            for pk in pks:
                json.dumps(
                    RequestDetailOutputSerializer(detail_qs.get(pk=pk)).data,
                    default=str,
                )

        entries = []

        def bundle_all() -> None:
            for pk in pks:
                bundle = request_bundle(bundle_qs.get(pk=pk))
                report = validator.validate_bundle(bundle)
                assert report.valid, report.errors
                json.dumps(bundle)
                entries.append(len(bundle["entry"]))

        inputs = {
            i["name"]: i.get("value")
            for i in json.loads((FIXTURES / "pas_client_v221_run_against_pas_server.json").read_text())["inputs"]
        }
        texts = [
            inputs[n]
            for n in (
                "approval_json_response",
                "denial_json_response",
                "pended_json_response",
                "modification_json_response",
            )
        ]
        ms = {
            i["name"]: i.get("value")
            for i in json.loads((FIXTURES / "pas_client_v221_must_support_preset.json").read_text())["inputs"]
        }
        texts.append(json.dumps(json.loads(ms["ms_submit_responses"])[0]))

        def parse_all() -> None:
            for text in texts:
                json.loads(text)

        def import_all() -> None:
            for text in texts:
                read_response(json.loads(text))

        sent = [r for r in bundle_qs.filter(status=Status.SENT)]

        def record_all() -> None:
            for text, request in zip(texts, sent * len(texts), strict=False):
                payload = json.loads(text)
                for entry in payload["entry"]:
                    if entry["resource"].get("resourceType") == "ClaimResponse":
                        entry["resource"]["identifier"] = [{"value": request.reference}]
                sid = transaction.savepoint()
                pas_response_record(request=request, payload=payload, by=None)
                transaction.savepoint_rollback(sid)

        (
            detail_all(),
            bundle_all(),
            parse_all(),
            import_all(),
        )  # warm caches and connections
        base, meas, parse, imp, rec = [], [], [], [], []
        for _ in range(args.rounds):
            base.append(timed(detail_all, 1))
            meas.append(timed(bundle_all, 1))
            parse.append(timed(parse_all, 50))
            imp.append(timed(import_all, 50))
            if sent:
                rec.append(timed(record_all, 1))
        transaction.set_rollback(True)

    n = len(pks)
    b, m_ = statistics.median(base), statistics.median(meas)
    p, i_ = statistics.median(parse), statistics.median(imp)
    r = statistics.median(rec) if rec else float("nan")
    recorded = min(len(texts), len(sent)) or 1
    return {
        "package_load_ms": round(package_ms),
        "bundle": {
            "requests": n,
            "entries_mean": round(statistics.mean(entries), 1),
            "ms_per_request": round(m_ / n * 1000, 2),
            "baseline_ms_per_request": round(b / n * 1000, 2),
            "ratio": round(m_ / b, 2),
            "target": BUNDLE_TARGET,
        },
        "import": {
            "responses": len(texts),
            "ms_per_response": round(i_ / len(texts) * 1000, 3),
            "baseline_ms": round(p / len(texts) * 1000, 3),
            "ratio": round(i_ / p, 2),
            "target": IMPORT_TARGET,
        },
        "record": {
            "ms_per_response": round(r / recorded * 1000, 2),
            "ratio": round((r / recorded) / (p / len(texts)), 1),
        },
    }


if __name__ == "__main__":
    main()
