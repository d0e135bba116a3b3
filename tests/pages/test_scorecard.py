"""The payer scorecard: the eight CMS-0057-F measures per payer and year from the practice's own
requests, clock breaches for payers whose rule sets a clock, beside the payer's published figures."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from factories import draft_for
from policies.models import Payer
from priorauth import services
from priorauth.models import PublishedPayerMetrics

pytestmark = pytest.mark.django_db


def _sent(world, at):
    request = draft_for(world, payer="medicare-advantage")
    services.request_submit(request=request, by=world.alice, submitted_at=at)
    return services.request_send(request=request, by=world.alice, sent_at=at)


def test_it_computes_the_measures_breaches_and_shows_the_published_figures(world, client_for):
    year = timezone.localdate().year
    d0 = timezone.make_aware(dt.datetime(year, 1, 10, 9))
    fast = _sent(world, d0)
    services.decision_record(
        request=fast,
        by=world.alice,
        decision="approved",
        received_at=d0 + dt.timedelta(days=2),
    )
    late = _sent(world, d0)
    services.decision_record(
        request=late,
        by=world.alice,
        decision="denied",
        received_at=d0 + dt.timedelta(days=9),
        stated_reason="Not medically necessary",
        reason_category="criteria_not_met",
    )
    extended = _sent(world, d0)
    services.decision_record(
        request=extended,
        by=world.alice,
        decision="pended",
        received_at=d0 + dt.timedelta(days=1),
        stated_reason="MRI",
    )
    services.request_send(request=extended, by=world.alice, sent_at=d0 + dt.timedelta(days=2))
    services.decision_record(
        request=extended,
        by=world.alice,
        decision="approved",
        received_at=d0 + dt.timedelta(days=4),
    )
    PublishedPayerMetrics.objects.create(
        payer=Payer.objects.get(code="medicare-advantage"),
        year=year,
        source_url="https://payer.example/cms-metrics",
        published_on=dt.date(year, 3, 31),
        standard_approved_pct=91.5,
        standard_denied_pct=8.5,
    )

    body = client_for(world.alice).get(f"/api/v1/metrics/scorecard?year={year}")
    assert body.status_code == 200
    [row] = body.json()["payers"]
    ours = row["ours"]
    assert row["decided"] == 3
    assert ours["standard_approved_pct"] == 66.7 and ours["standard_denied_pct"] == 33.3
    assert ours["approved_after_extension_pct"] == 33.3
    assert ours["standard_median_hours"] == 96.0
    assert row["clock_breaches"] == 1 and row["clock_bound_decisions"] == 3  # 9 days > the 7-day clock
    assert row["published"]["standard_approved_pct"] == 91.5
    assert row["published_source"]["url"] == "https://payer.example/cms-metrics"

    html = client_for(world.alice).get(f"/metrics/?year={year}").content.decode()
    assert "Standard requests approved" in html and "66.7 %" in html and "91.5 %" in html
    assert "1 of 3</strong> decisions came late" in html
    assert 'class="bar ours" style="width: 66.7%"' in html
    assert client_for(world.alice).get("/api/v1/metrics/scorecard?year=1999").status_code == 400
    assert client_for(world.bob).get("/metrics/").status_code == 403


def test_the_decisions_are_read_by_a_subquery_not_a_list_of_every_request_id(world):
    # SQLite refuses more than 32,766 parameters in one statement: a busy practice's year broke it.
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from priorauth.models import AuthorizationRequest
    from priorauth.scorecard import payer_scorecard

    year = timezone.localdate().year
    for day in (10, 11, 12):
        _sent(world, timezone.make_aware(dt.datetime(year, 1, day, 9)))
    with CaptureQueriesContext(connection) as queries:
        rows = payer_scorecard(requests=AuthorizationRequest.objects.all(), year=year)
    assert rows and rows[0]["requests"] == 3
    reads = [q["sql"] for q in queries if 'FROM "priorauth_payerdecision"' in q["sql"]]
    assert reads and not any(re.search(r'"request_id" IN \(\d', sql) for sql in reads)
