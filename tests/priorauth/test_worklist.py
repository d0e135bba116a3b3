"""The worklist selector behind /requests/ and GET /api/v1/requests: search over names, date of
birth, member ID, our reference and the payer's reference; filters; due; sort; pages with a count;
permission scope; and the patient search of the new-request page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from factories import PatientFactory, advance, draft_for
from priorauth import worklist
from priorauth.models import AuthorizationRequest, PayerDecision, Status

pytestmark = pytest.mark.django_db


def refs(qs) -> list[str]:
    return [r.reference for r in qs]


@pytest.fixture
def three(world):
    """Three requests of practice A: Ada Moreno's draft, Hugo Lindqvist's sent one, Ada's pended one."""
    hugo = PatientFactory(
        practice=world.practice_a,
        first_name="Hugo",
        last_name="Lindqvist",
        birth_date=dt.date(1941, 7, 4),
        member_id="ZZT55512",
    )
    a = draft_for(world, payer="medicare")
    b = advance(
        draft_for(world, payer="medicare-advantage", patient=hugo),
        Status.SENT,
        world.alice,
    )
    c = advance(
        draft_for(world, payer="medicare-advantage", treating_physician=world.dave_provider),
        Status.PENDED,
        world.alice,
    )
    PayerDecision.objects.filter(request=c).update(payer_reference="UHC-778899")
    return a, b, c, hugo


def test_it_finds_by_last_name_full_name_birth_date_member_id_and_references(world, three):
    a, b, c, _hugo = three

    def find(q):
        return set(refs(worklist.requests_worklist(user=world.alice, q=q)))

    assert find("lindq") == {b.reference}
    assert find("Hugo Lindqvist") == find("Lindqvist, Hugo") == {b.reference}
    assert find("07/04/1941") == find("1941-07-04") == {b.reference}
    assert find("zzt555") == {b.reference}
    assert find(a.reference.lower()) == {a.reference}
    assert find("UHC-7788") == {c.reference}
    assert find("Moreno") == {a.reference, c.reference}
    assert find("nobody-at-all") == set()


def test_it_filters_by_status_payer_physician_and_keeps_to_the_user_scope(world, three):
    _a, b, c, _ = three
    assert refs(worklist.requests_worklist(user=world.alice, status=[Status.SENT])) == [b.reference]
    assert set(refs(worklist.requests_worklist(user=world.alice, payer="medicare-advantage"))) == {
        b.reference,
        c.reference,
    }
    assert refs(worklist.requests_worklist(user=world.alice, physician=world.dave_provider.pk)) == [c.reference]
    # A physician sees only their own patients' requests; another practice sees nothing.
    assert refs(worklist.requests_worklist(user=world.dave, q="Moreno")) == [c.reference]
    assert refs(worklist.requests_worklist(user=world.erin, q="Moreno")) == []


def test_it_lists_overdue_and_this_week_including_a_follow_up_date(world, three):
    _a, b, _c, _ = three
    now = timezone.now()
    AuthorizationRequest.objects.filter(pk=b.pk).update(decision_due_at=now - dt.timedelta(hours=1))
    assert refs(worklist.requests_worklist(user=world.alice, due="overdue")) == [b.reference]
    AuthorizationRequest.objects.filter(pk=b.pk).update(
        decision_due_at=None, follow_up_on=timezone.localdate() + dt.timedelta(days=3)
    )
    assert refs(worklist.requests_worklist(user=world.alice, due="this_week")) == [b.reference]
    assert refs(worklist.requests_worklist(user=world.alice, due="overdue")) == []


def test_it_sorts_by_due_waiting_and_created_both_ways(world, three):
    a, b, c, _ = three
    now = timezone.now()
    AuthorizationRequest.objects.filter(pk=b.pk).update(
        decision_due_at=now + dt.timedelta(days=2), sent_at=now - dt.timedelta(days=1)
    )
    AuthorizationRequest.objects.filter(pk=c.pk).update(
        decision_due_at=now + dt.timedelta(days=1), sent_at=now - dt.timedelta(days=9)
    )
    assert refs(worklist.requests_worklist(user=world.alice, sort="due"))[:2] == [
        c.reference,
        b.reference,
    ]
    assert refs(worklist.requests_worklist(user=world.alice, sort="-due"))[:2] == [
        b.reference,
        c.reference,
    ]
    assert refs(worklist.requests_worklist(user=world.alice, sort="waiting"))[:2] == [
        c.reference,
        b.reference,
    ]
    assert refs(worklist.requests_worklist(user=world.alice, sort="created")) == [
        a.reference,
        b.reference,
        c.reference,
    ]
    assert refs(worklist.requests_worklist(user=world.alice)) == [
        c.reference,
        b.reference,
        a.reference,
    ]


def test_the_api_takes_the_same_parameters_and_pages_with_a_count(world, three, api):
    a, _b, _c, _ = three
    client = api(world.alice)
    body = client.get("/api/v1/requests", {"q": "Moreno", "sort": "created", "page_size": 1}).json()
    assert body["count"] == 2 and [r["reference"] for r in body["results"]] == [a.reference]
    assert body["next"] and "q=Moreno" in body["next"]
    assert client.get("/api/v1/requests", {"due": "overdue"}).json()["count"] == 0
    bad = client.get("/api/v1/requests", {"sort": "sideways", "due": "someday", "status": "lost"})
    assert bad.status_code == 400
    assert set(bad.json()) >= {"sort", "due", "status"}
