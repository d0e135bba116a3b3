"""The fax packet: the product's path from a signed letter to its packet (letter + three
attachments) against bare WeasyPrint on the same letter plus a pypdf merge of the same files, in
one process and run.

    .venv/bin/python bench/packet_bench.py [--rounds 12] [--json]

Without DATABASE_URL it works on a temporary SQLite file it migrates and seeds (bench/project.py);
media go to a temporary directory either way. Tasks run in this process (REDIS_URL is ignored).

1. Packet path (what the product runs to get a packet out): the worker's final render of the signed
   letter (letters.letter_context + pdf.render_letter, cached stylesheet and fonts), then
   packet.packet_build with the three attachments — the cover sheet and enclosure index rendered,
   a two-page PDF and a one-page PDF merged, a scanned page (PNG, 200 dpi Letter) turned into a
   PDF page, the SHA-256 taken, the file stored and its row written.
2. Baseline (what a plain script would do): WeasyPrint writing the same final letter HTML with a
   freshly parsed stylesheet, the PNG saved as PDF by Pillow (pypdf cannot read an image), and a
   pypdf merge of the letter and the three files.
Rounds alternate them so that machine load falls on all alike; medians and their ratio (target at
most 1.2x). A stricter baseline is reported beside it: the same, with the product's parsed
stylesheet and font configuration reused (a plain script parses its stylesheet each time, which
the product's cache saves), so the cost of the cover sheet, index and packaging shows undiluted. packet_build alone is reported too: it is what the API request that builds
a packet waits for (the reason it is synchronous, not a Celery task).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.project import ROOT, machine, machine_line, seeded_database, setup_django


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def scanned_page_png() -> bytes:
    """A Letter page scanned at 200 dpi in grey, with some ink on it (a blank image compresses to
    nothing and would flatter both sides)."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (1700, 2200), 255)
    draw = ImageDraw.Draw(image)
    for y in range(150, 2050, 36):
        draw.line((150, y, 1550 - (y * 7) % 400, y), fill=40, width=6)
    out = io.BytesIO()
    image.save(out, "PNG", dpi=(200, 200))
    return out.getvalue()


def text_pdf(title: str, pages: int) -> bytes:
    from priorauth.letters import pdf

    body = "".join(
        f'<section style="break-after: page"><h2>{title}, page {n}</h2>'
        + "<p>Findings and notes of the visit. " * 40
        + "</p></section>"
        for n in range(1, pages + 1)
    )
    return pdf.html_pdf(f'<html lang="en"><body>{body}</body></html>')


def make_signed_letter():
    """A practice of its own with one submitted Medicare request, its prior-authorization letter
    signed (final PDF rendered in this process) and three attachments."""
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile

    from policies.models import Payer
    from priorauth import services
    from priorauth.letters import services as letter_services
    from priorauth.models import Practice, Role

    tag = uuid.uuid4().hex[:6]
    practice = Practice.objects.create(
        name=f"Bench practice {tag}",
        address="1 Main St, Springfield, IL 62701",
        phone="217-555-0100",
        fax="217-555-0101",
    )
    User = get_user_model()
    clerk = User.objects.create_user(username=f"bench-clerk-{tag}")
    doctor = User.objects.create_user(username=f"bench-doctor-{tag}")
    services.membership_set(user=clerk, practice=practice, role=Role.BILLING)
    services.membership_set(user=doctor, practice=practice, role=Role.PHYSICIAN)
    provider = services.provider_create(practice=practice, npi="1234567893", name="Dana Whitfield, MD", user=doctor)
    case = json.loads((ROOT / "tests" / "fixtures" / "contract" / "medicare-meets-criteria.json").read_text())
    entered = {k: v for k, v in case.items() if k not in ("payer", "patient", "provider")}
    patient = services.patient_create(
        practice=practice,
        by=clerk,
        first_name="Ada",
        last_name="Moreno",
        birth_date=dt.date(1949, 3, 2),
        sex="F",
        member_id="1EG4TE5MK72",
    )
    request = services.request_create(
        practice=practice,
        patient=patient,
        payer=Payer.objects.get(code="medicare"),
        treating_physician=provider,
        case=entered,
        by=clerk,
    )
    request = services.request_submit(request=request, by=clerk)
    letter, _ = letter_services.letter_request_draft(request=request, kind="prior_authorization", by=clerk)
    letter.refresh_from_db()
    letter_services.letter_sign(letter=letter, by=doctor)
    letter.refresh_from_db()
    if letter.status != "signed":
        sys.exit(f"the letter did not reach signed (it is {letter.status})")
    files = [
        ("imaging.pdf", text_pdf("MRI lumbar spine report", 2), "application/pdf", "imaging_report"),
        ("therapy.pdf", text_pdf("Physical therapy discharge summary", 1), "application/pdf", "therapy_note"),
        ("scan.png", scanned_page_png(), "image/png", "clinical_note"),
    ]
    attachments = [
        services.attachment_add(
            request=request, kind=kind, upload=SimpleUploadedFile(name, content, content_type), by=clerk
        )
        for name, content, content_type, kind in files
    ]
    return clerk, letter, attachments, files


def packet_path(letter, attachments, clerk) -> tuple[float, float, int]:
    from priorauth.letters import compose as letters
    from priorauth.letters import packet, pdf

    started = time.perf_counter()
    pdf.render_letter(letter.kind, letters.letter_context(letter, letter.current_revision, final=True))
    rendered = time.perf_counter()
    built = packet.packet_build(letter=letter, attachment_ids=[a.pk for a in attachments], by=clerk)
    done = time.perf_counter()
    return done - started, done - rendered, built.page_count


def baseline(html: str, files: list[tuple[str, bytes, str, str]], *, cached_css: bool = False) -> tuple[float, int]:
    import weasyprint
    from PIL import Image
    from pypdf import PdfReader, PdfWriter

    from priorauth.letters import pdf

    started = time.perf_counter()
    variant = os.environ.get("LETTER_PDF_VARIANT", "pdf/ua-1")
    if cached_css:  # the strict baseline: the product's parsed stylesheet and fonts, reused
        letter_pdf = weasyprint.HTML(string=html, base_url=str(pdf.TEMPLATE_DIR)).write_pdf(
            stylesheets=[pdf.stylesheet()], font_config=pdf.font_config(), pdf_variant=variant
        )
    else:
        letter_pdf = weasyprint.HTML(string=html, base_url=str(pdf.TEMPLATE_DIR)).write_pdf(
            stylesheets=[weasyprint.CSS(filename=str(pdf.STYLESHEET))], pdf_variant=variant
        )
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(letter_pdf)))
    for _name, content, content_type, _kind in files:
        if content_type == "application/pdf":
            writer.append(PdfReader(io.BytesIO(content)))
        else:
            converted = io.BytesIO()
            Image.open(io.BytesIO(content)).save(converted, "PDF", resolution=200.0)
            writer.append(PdfReader(converted))
    out = io.BytesIO()
    writer.write(out)
    return time.perf_counter() - started, len(writer.pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    os.environ.pop("REDIS_URL", None)  # renders run in this process (CELERY_TASK_ALWAYS_EAGER)
    with tempfile.TemporaryDirectory(prefix="mildpa-packet-bench-") as media, seeded_database() as database:
        os.environ["MEDIA_ROOT"] = media
        setup_django(database)
        from priorauth.letters import compose as letters
        from priorauth.letters import pdf

        clerk, letter, attachments, files = make_signed_letter()
        html = pdf.letter_html(letter.kind, letters.letter_context(letter, letter.current_revision, final=True))
        packet_path(letter, attachments, clerk)  # warm: fonts, stylesheet, imports
        baseline(html, files)

        product, build_only, bare, bare_cached = [], [], [], []
        for _round in range(args.rounds):
            total, build, pages = packet_path(letter, attachments, clerk)
            product.append(total)
            build_only.append(build)
            seconds, bare_pages = baseline(html, files)
            bare.append(seconds)
            bare_cached.append(baseline(html, files, cached_css=True)[0])

        result = {
            "machine": machine(),
            "database": database.label,
            "rounds": args.rounds,
            "packet_pages": pages,
            "baseline_pages": bare_pages,
            "packet_path_median_s": round(statistics.median(product), 4),
            "baseline_median_s": round(statistics.median(bare), 4),
            "ratio": round(statistics.median(product) / statistics.median(bare), 3),
            "baseline_cached_css_median_s": round(statistics.median(bare_cached), 4),
            "ratio_vs_cached_css": round(statistics.median(product) / statistics.median(bare_cached), 3),
            "packet_build_only_s": {
                "median": round(statistics.median(build_only), 4),
                "p95": round(percentile(build_only, 0.95), 4),
            },
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(machine_line(result["machine"]) + f"; {result['database']}")
    print(
        f"fax packet (letter + 3 attachments, {result['packet_pages']} pages) vs bare WeasyPrint + pypdf merge "
        f"({result['baseline_pages']} pages): {result['packet_path_median_s'] * 1000:.0f} ms vs "
        f"{result['baseline_median_s'] * 1000:.0f} ms median = {result['ratio']:.2f}x (target <= 1.2x)"
    )
    print(
        f"against the strict baseline (the product's parsed stylesheet and fonts reused): "
        f"{result['baseline_cached_css_median_s'] * 1000:.0f} ms = {result['ratio_vs_cached_css']:.2f}x"
    )
    b = result["packet_build_only_s"]
    print(
        f"packet_build alone (what the API request waits for): {b['median'] * 1000:.0f} ms median, {b['p95'] * 1000:.0f} ms p95"
    )


if __name__ == "__main__":
    main()
