"""Payer metrics (CMS-0057-F's figures, from the practice's side) on a known small dataset, from the
API and from the management command, which share one selector."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from factories import draft_for
from priorauth import selectors, services
from priorauth.models import AuthorizationRequest


def sent(w, payer, at, practice="a"):
    request = draft_for(w, practice, payer=payer)
    clerk = w.alice if practice == "a" else w.erin
    services.request_submit(request=request, by=clerk, submitted_at=at)
    services.request_send(request=request, by=clerk, sent_at=at)
    return request


def decide(request, by, decision, at, **extra):
    if decision == "denied":
        extra = {"stated_reason": "No", "reason_category": "investigational", **extra}
    services.decision_record(request=request, by=by, decision=decision, received_at=at, **extra)


@pytest.fixture
def dataset(world):
    d0 = timezone.now() - dt.timedelta(days=20)
    w = world
    r1 = sent(w, "medicare-advantage", d0)
    decide(r1, w.alice, "approved", d0 + dt.timedelta(days=2))
    r2 = sent(w, "medicare-advantage", d0)
    decide(r2, w.alice, "denied", d0 + dt.timedelta(days=4))
    services.appeal_start(request=r2, by=w.alice, filed_at=d0 + dt.timedelta(days=5))
    decide(r2, w.alice, "approved", d0 + dt.timedelta(days=9))
    r3 = sent(w, "medicare-advantage", d0)
    decide(r3, w.alice, "pended", d0 + dt.timedelta(days=1))
    services.request_send(request=r3, by=w.alice, sent_at=d0 + dt.timedelta(days=2))
    decide(r3, w.alice, "approved", d0 + dt.timedelta(days=6))
    sent(w, "medicare-advantage", d0)  # no answer yet
    r5 = sent(w, "commercial", d0)
    decide(r5, w.alice, "denied", d0 + dt.timedelta(days=1))
    old = sent(w, "commercial", d0 - dt.timedelta(days=40))  # before the period
    decide(old, w.alice, "approved", d0 - dt.timedelta(days=39))
    foreign = sent(w, "medicare-advantage", d0, practice="b")  # another practice's
    decide(foreign, w.erin, "denied", d0 + dt.timedelta(days=1))
    draft_for(w)  # never sent: not counted
    return timezone.localdate(d0)


EXPECTED = [
    {
        "payer": "commercial",
        "payer_name": "Commercial (PILD investigational)",
        "requests": 1,
        "decided": 1,
        "pending": 0,
        "approved": 0,
        "denied": 1,
        "approved_after_appeal": 0,
        "approval_pct": 0.0,
        "denial_pct": 100.0,
        "approved_after_appeal_pct": 0.0,
        "avg_days_to_decision": 1.0,
        "median_days_to_decision": 1.0,
    },
    {
        "payer": "medicare-advantage",
        "payer_name": "Medicare Advantage",
        "requests": 4,
        "decided": 3,
        "pending": 1,
        "approved": 2,
        "denied": 1,
        "approved_after_appeal": 1,
        "approval_pct": 66.7,
        "denial_pct": 33.3,
        "approved_after_appeal_pct": 33.3,
        "avg_days_to_decision": 4.0,
        "median_days_to_decision": 4.0,
    },
]


def payer_names():
    from policies.models import Payer

    return dict(Payer.objects.values_list("code", "name"))


def expected():
    names = payer_names()
    return [{**row, "payer_name": names[row["payer"]]} for row in EXPECTED]


def test_the_selector_computes_the_figures_for_the_period(dataset, world):
    rows = selectors.payer_metrics(
        requests=AuthorizationRequest.objects.filter(practice=world.practice_a), since=dataset
    )
    assert rows == expected()


def test_the_selector_reads_decisions_through_a_subquery_not_a_list_of_ids(dataset, world):
    # A list of ids is one parameter per request: SQLite refuses statements past 32,766 of them.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        selectors.payer_metrics(requests=AuthorizationRequest.objects.filter(practice=world.practice_a), since=dataset)
    decisions = [q["sql"] for q in queries.captured_queries if "payerdecision" in q["sql"].lower()]
    assert decisions and all(re.search(r"IN \(SELECT", sql, re.I) for sql in decisions)


def test_the_api_gives_the_same_figures_for_the_users_practice_only(dataset, world, api):
    response = api(world.alice).get(f"/api/v1/metrics/payers?since={dataset.isoformat()}")
    assert response.status_code == 200
    assert response.json() == expected()
    everything = api(world.alice).get("/api/v1/metrics/payers").json()
    commercial = next(r for r in everything if r["payer"] == "commercial")
    assert commercial["requests"] == 2 and commercial["approval_pct"] == 50.0
    erin = api(world.erin).get(f"/api/v1/metrics/payers?since={dataset.isoformat()}").json()
    assert [(r["payer"], r["requests"], r["denied"]) for r in erin] == [("medicare-advantage", 1, 1)]


@pytest.mark.parametrize(
    ("query", "errors"),
    [("since=2026-13-01", {"since"}), ("until=soon", {"until"}), ("since=2026-05-02&until=2026-05-01", {"until"})],
)
def test_a_bad_period_is_a_400_naming_the_parameter(world, api, query, errors):
    response = api(world.alice).get(f"/api/v1/metrics/payers?{query}")
    assert response.status_code == 400
    assert set(response.json()) == errors


def test_the_command_prints_the_same_figures(dataset, world, capsys):
    call_command("payer_metrics", "--since", dataset.isoformat(), "--practice", "Lakeside Pain Center", "--json")
    assert json.loads(capsys.readouterr().out) == {"Lakeside Pain Center": expected()}
    call_command("payer_metrics", "--since", dataset.isoformat())
    out = capsys.readouterr().out
    assert "Lakeside Pain Center: requests first sent from" in out
    lakeside = out.split("Lakeside Pain Center:")[1]
    ma_line = next(line for line in lakeside.splitlines() if line.strip().startswith("medicare-advantage"))
    assert ma_line.split() == ["medicare-advantage", "4", "3", "66.7", "33.3", "33.3", "4.0", "4.0"]
    assert "Hillcrest Spine" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "nope"], "'nope' is not an ISO date (YYYY-MM-DD)"),
        (["--since", "2026-05-02", "--until", "2026-05-01"], "--until must not be before --since"),
        (["--practice", "Nowhere"], "no practice named 'Nowhere'"),
    ],
)
def test_the_command_names_a_bad_option(world, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("payer_metrics", *args)
