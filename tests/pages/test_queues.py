"""The dashboard's work queues and the follow-up date for a payer without a clock."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from factories import advance, draft_for
from priorauth.models import AuthorizationRequest, PayerDecision, Status

pytestmark = pytest.mark.django_db


def queue_html(html: str, key: str) -> str:
    """One queue's part of the page: from its id to the next queue (or the end of the list)."""
    return html.split(f'id="queue-{key}"')[1].split('<li class="queue ')[0].split("</section>")[0]


def test_the_dashboard_shows_each_queue_with_its_count_and_first_items(world, client_for):
    draft_for(world, payer="medicare")
    advance(draft_for(world, payer="medicare"), Status.SUBMITTED, world.alice)
    pended = advance(draft_for(world, payer="medicare-advantage"), Status.PENDED, world.alice)
    advance(draft_for(world, payer="medicare-advantage"), Status.DENIED, world.alice)
    html = client_for(world.alice).get("/dashboard/").content.decode()
    for key, title in [
        ("drafts", "Drafts to finish"),
        ("submitted", "Submitted, not yet sent"),
        ("waiting", "Waiting for the payer"),
        ("pended", "Pended: the payer asks for more"),
        ("denied", "Denied: appeal clock running"),
        ("awaiting_signature", "Letters awaiting signature"),
        ("ready_to_send", "Signed letters ready to send"),
    ]:
        assert title in queue_html(html, key)
    assert '<p class="n" aria-label="1 in this queue">1</p>' in queue_html(html, "pended")
    assert pended.reference in queue_html(html, "pended") and "Asked for: Send the MRI report" in queue_html(
        html, "pended"
    )
    assert "File the appeal by" in queue_html(html, "denied")
    assert "Quist" not in html


def test_staff_set_a_follow_up_date_when_the_payer_has_no_clock_and_it_joins_the_queue(world, client_for):
    request = advance(draft_for(world, payer="medicare-advantage"), Status.SENT, world.alice)
    AuthorizationRequest.objects.filter(pk=request.pk).update(decision_due_at=None)
    client = client_for(world.alice)
    day = timezone.localdate() + dt.timedelta(days=2)
    response = client.post(f"/requests/{request.pk}/follow-up/", {"follow_up_on": day.isoformat()})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.follow_up_on == day
    html = client.get("/dashboard/").content.decode()
    assert f"Follow up with the payer {day:%m/%d/%Y}" in queue_html(html, "waiting")
    assert request.reference in client.get("/requests/?due=this_week").content.decode()

    past = client.post(f"/requests/{request.pk}/follow-up/", {"follow_up_on": "2020-01-01"})
    assert past.status_code == 400 and "Must be today or later." in past.content.decode()
    bad = client.post(f"/requests/{request.pk}/follow-up/", {"follow_up_on": "2026-02-30"})
    assert bad.status_code == 400 and "Enter a real date" in bad.content.decode()
    assert (
        client_for(world.bob).post(f"/requests/{request.pk}/follow-up/", {"follow_up_on": day.isoformat()}).status_code
        == 403
    )


def test_a_physician_home_shows_their_own_queue(world, client_for):
    from factories import ProviderFactory, member
    from priorauth.models import Role

    dave_provider = ProviderFactory(
        practice=world.practice_a,
        name="Dave Diaz, MD",
        user=member("dave", world.practice_a, Role.PHYSICIAN),
    )
    mine = advance(draft_for(world, payer="medicare-advantage"), Status.SENT, world.alice)
    theirs = advance(
        draft_for(world, payer="medicare-advantage", treating_physician=dave_provider),
        Status.SENT,
        world.alice,
    )
    html = client_for(world.bob).get("/physician/").content.decode()
    assert "Letters waiting for your signature" in html and "Your patients&#x27; open requests" in html
    assert mine.reference in html and theirs.reference not in html
    assert PayerDecision.objects.count() == 0


def test_a_physician_home_says_how_many_requests_there_are_beyond_the_newest_it_lists(world, client_for, monkeypatch):
    for _ in range(3):
        draft_for(world, payer="medicare-advantage")
    client = client_for(world.bob)
    assert 'id="all-requests"' not in client.get("/physician/").content.decode()
    monkeypatch.setattr("priorauth.pages.views.PHYSICIAN_HOME_LIMIT", 2)
    html = client.get("/physician/").content.decode()
    assert "The newest 2 of 3" in html and 'href="/requests/">all 3 in the request list</a>' in html


def test_a_backlog_of_deadlines_is_counted_up_to_the_cap_and_then_said_to_be_more(world, client_for, monkeypatch):
    from priorauth import queues
    from priorauth.pages import views

    for _ in range(4):
        request = advance(draft_for(world, payer="medicare-advantage"), Status.SENT, world.alice)
        AuthorizationRequest.objects.filter(pk=request.pk).update(decision_due_at=timezone.now() - dt.timedelta(days=3))
    exact = queues.dashboard(user=world.alice, within=dt.timedelta(days=7), limit=1)
    capped = queues.dashboard(user=world.alice, within=dt.timedelta(days=7), limit=1, count_cap=2)
    assert exact["decisions_overdue_count"] == 4 and len(exact["decisions_overdue"]) == 1
    assert capped["decisions_overdue_count"] == 3  # one past the cap: "more than 2"
    assert capped["decisions_overdue"] == exact["decisions_overdue"]

    monkeypatch.setattr(views, "DASHBOARD_LIST_LIMIT", 1)
    monkeypatch.setattr(views, "DEADLINE_COUNT_CAP", 2)
    html = client_for(world.alice).get("/dashboard/").content.decode()
    assert "All overdue: more than 2</a>" in html
    monkeypatch.setattr(views, "DEADLINE_COUNT_CAP", 1000)
    html = client_for(world.alice).get("/dashboard/").content.decode()
    assert "All 4 overdue</a>" in html
