"""The /requests/ worklist page (the API's parameters and selector), the patient combobox's search
endpoint, and the status colours' contrast."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from factories import PatientFactory, draft_for
from priorauth import worklist
from priorauth.models import Status

pytestmark = pytest.mark.django_db

CSS = Path(__file__).resolve().parents[2] / "priorauth/static/priorauth/app.css"


def test_the_page_pages_with_a_count_and_keeps_the_filters(world, client_for):
    for _ in range(worklist.PAGE_SIZE + 3):
        draft_for(world, payer="medicare")
    client = client_for(world.alice)
    html = client.get("/requests/?q=Moreno").content.decode()
    assert f"{worklist.PAGE_SIZE + 3} requests match" in html and "Page 1 of 2" in html
    assert "?q=Moreno&amp;page=2" in html
    second = client.get("/requests/?q=Moreno&page=2").content.decode()
    assert "showing 51–53" in second
    assert client.get("/requests/?page=9").status_code == 400
    bad = client.get("/requests/?sort=sideways").content.decode()
    assert 'id="f-sort-error"' in bad and "not one of the choices" in bad


def test_the_patient_search_returns_a_few_matches_never_the_list(world, client_for):
    for i in range(20):
        PatientFactory(practice=world.practice_a, first_name=f"Max{i}", last_name="Moreland")
    client = client_for(world.alice)
    assert len(client.get("/requests/patients/?q=More").json()["results"]) == 8
    assert client.get("/requests/patients/?q=M").json()["results"] == []  # two characters at least
    assert client_for(world.bob).get("/requests/patients/?q=More").status_code == 403


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_every_status_has_its_own_colour_shape_and_at_least_4_5_to_1_contrast():
    css = CSS.read_text()
    pairs = {}
    for selectors, fg, bg in re.findall(r"([^{}]+)\{ color: (#[0-9a-f]{6}); background: (#[0-9a-f]{6})", css):
        for name in re.findall(r"\.st-(\w+)", selectors):
            pairs[name] = (fg, bg)
    assert set(pairs) == set(Status.values)
    for name, (fg, bg) in pairs.items():
        hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
        assert (hi + 0.05) / (lo + 0.05) >= 4.5, name
        assert re.search(rf"\.st-{name}::before[^{{]*\{{ content:", css) or re.search(rf"\.st-{name}::before", css), (
            name
        )
    # Distinct: only a decision and its appeal's counterpart share a colour.
    assert len(set(pairs.values())) >= 8


def test_the_rows_escape_what_staff_typed(world, client_for):
    # The worklist's rows, the queues' items and the deadline tables are made in Python (not by the
    # template engine): every value typed in is escaped there as the templates would.
    typed = PatientFactory(practice=world.practice_a, first_name='"Jo" & <i>', last_name="O'Hara<script>")
    draft_for(world, patient=typed, payer="medicare")
    client = client_for(world.alice)
    escaped = "O&#x27;Hara&lt;script&gt;, &quot;Jo&quot; &amp; &lt;i&gt;"
    for url in ("/requests/", "/dashboard/"):
        html = client.get(url).content.decode()
        assert escaped in html, url
        assert "<script>" not in html and "<i>" not in html, url
