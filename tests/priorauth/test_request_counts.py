"""The per-status request counts the database keeps (RequestStatusCount, migration
0008_worklist_speed): exact after every kind of write, scoped like the requests themselves, and what
the dashboard's counts and the worklist's total read, so a busy practice's pages do not count rows."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from factories import advance, draft_for
from policies.models import Payer
from priorauth import queues, selectors, services, worklist
from priorauth.models import AuthorizationRequest, RequestStatusCount, Status

pytestmark = pytest.mark.django_db


def counted(user) -> dict[str, int]:
    return {s: n for s, n in queues.status_counts(user=user).items() if n}


def actual(user) -> dict[str, int]:
    return dict(Counter(selectors.requests_visible_to(user).values_list("status", flat=True)))


def test_the_kept_counts_follow_every_write(world):
    drafts = [draft_for(world, payer="medicare-advantage") for _ in range(3)]
    advance(drafts[0], Status.PENDED, world.alice)
    services.request_withdraw(request=drafts[1], by=world.alice)
    services.request_update(request=drafts[2], by=world.alice, payer=Payer.objects.get(code="medicare"))
    draft_for(world, payer="medicare", treating_physician=world.dave_provider)
    draft_for(world, practice="b", payer="medicare")
    # Writes that bypass the services are counted too: a bulk insert, a queryset update and delete.
    template = drafts[2]
    AuthorizationRequest.objects.bulk_create(
        [
            AuthorizationRequest(
                practice=world.practice_a,
                patient=template.patient,
                payer=template.payer,
                treating_physician=world.bob_provider,
                status=Status.SENT,
                case={},
            )
            for _ in range(4)
        ]
    )
    AuthorizationRequest.objects.filter(status=Status.SENT).order_by("id")[:1].get().delete()
    AuthorizationRequest.objects.filter(pk=template.pk).update(status=Status.SUBMITTED)

    for user in (world.alice, world.bob, world.dave, world.erin):
        assert counted(user) == actual(user), user.username
    assert counted(world.alice) == {"pended": 1, "withdrawn": 1, "submitted": 1, "draft": 1, "sent": 3}
    assert counted(world.bob) == {"pended": 1, "withdrawn": 1, "submitted": 1, "sent": 3}  # his patients only
    assert counted(world.erin) == {"draft": 1}
    assert not RequestStatusCount.objects.filter(n__lt=0).exists()


def test_the_worklist_total_is_exact_with_and_without_the_kept_counts(world):
    advance(draft_for(world, payer="medicare-advantage"), Status.SENT, world.alice)
    advance(draft_for(world, payer="medicare"), Status.DENIED, world.alice)
    draft_for(world, payer="medicare", treating_physician=world.dave_provider)
    draft_for(world, practice="b", payer="medicare")
    cases = [
        {},
        {"status": [Status.SENT, Status.DRAFT]},
        {"payer": "medicare"},
        {"physician": world.dave_provider.pk, "sort": "due"},
        {"q": "Moreno"},
        {"due": "overdue"},
        {"created_since": timezone.localdate() - dt.timedelta(days=1)},
    ]
    for user in (world.alice, world.bob, world.erin):
        for filters in cases:
            qs = worklist.requests_worklist(user=user, **filters)
            assert worklist.requests_total(user=user, qs=qs, filters=filters) == qs.count(), (user, filters)
            ids, total = worklist.page_ids(user=user, qs=qs, filters=filters, number=1)
            assert (ids, total) == (list(qs.values_list("pk", flat=True)[: worklist.PAGE_SIZE]), qs.count())
            assert worklist.page_ids(user=user, qs=qs, filters=filters, number=9) == ([], qs.count())


def test_the_dashboard_reads_the_same_few_queries_however_many_requests(world):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            board = queues.dashboard(user=world.alice, within=dt.timedelta(days=7))
        assert board["queues"]
        return len(ctx.captured_queries)

    advance(draft_for(world, payer="medicare-advantage"), Status.SENT, world.alice)
    queries()  # the user's membership, read once per user object
    few = queries()
    for status in (Status.SENT, Status.PENDED, Status.DENIED, Status.SUBMITTED, Status.DRAFT) * 3:
        advance(draft_for(world, payer="medicare-advantage"), status, world.alice)
    assert queries() == few <= 3


def test_the_worklists_prepared_page_answers_what_the_querysets_answer(world):
    """counted_page (one statement compiled once per shape) against page_ids + list_rows, for each
    role and each filter it takes, on the first page, a later one and past the last."""
    for i in range(7):
        advance(draft_for(world, payer="medicare-advantage" if i % 2 else "medicare"), Status.SENT, world.alice)
    advance(draft_for(world, payer="medicare"), Status.DENIED, world.alice)
    draft_for(world, payer="medicare", treating_physician=world.dave_provider)
    draft_for(world, practice="b", payer="medicare")
    cases = [
        {},
        {"status": [Status.SENT, Status.DRAFT]},
        {"status": [Status.DENIED]},
        {"payer": "medicare"},
        {"payer": "no-such-payer"},
        {"physician": world.dave_provider.pk, "sort": "due"},
        {"physician": world.bob_provider.pk, "payer": "medicare-advantage", "sort": "-waiting"},
        {"sort": "created"},
    ]
    with mock.patch.object(worklist, "PAGE_SIZE", 3):
        for user in (world.alice, world.bob, world.dave, world.erin):
            for filters in cases:
                qs = worklist.requests_worklist(user=user, **filters)
                for number in (1, 2, 9):
                    ids, total = worklist.page_ids(user=user, qs=qs, filters=filters, number=number)
                    rows, prepared_total = worklist.counted_page(user=user, filters=filters, number=number)
                    assert prepared_total == total == qs.count(), (user, filters, number)
                    assert rows == worklist.list_rows(qs, ids), (user, filters, number)


def test_the_worklists_prepared_page_leaves_searches_and_due_filters_to_the_querysets(world):
    assert worklist.counted_page(user=world.alice, filters={"q": "Moreno"}, number=1) is None
    assert worklist.counted_page(user=world.alice, filters={"due": "overdue"}, number=1) is None


def test_the_worklists_prepared_search_answers_what_the_querysets_answer(world):
    """search_page (three statements compiled once per shape) against the worklist's queryset with
    its search, for names, member IDs, references (ours and the payer's), words with LIKE's own
    characters, each role and the filters it combines with."""
    from priorauth.models import PayerDecision

    sent = [advance(draft_for(world, payer="medicare"), Status.SENT, world.alice) for _ in range(4)]
    advance(draft_for(world, payer="medicare-advantage"), Status.DENIED, world.alice)
    draft_for(world, payer="medicare", treating_physician=world.dave_provider)
    draft_for(world, practice="b", payer="medicare")
    PayerDecision.objects.create(
        request=sent[0], decision="pended", payer_reference="PAYREF-77%_X", received_at=timezone.now()
    )
    some = sent[1]
    searches = [
        some.patient.last_name[:4],
        f"{some.patient.last_name}, {some.patient.first_name}",
        f"{some.patient.first_name} {some.patient.last_name}",
        some.patient.member_id,
        some.reference,
        "payref-77",
        "77%_x",
        "%",
        "_",
        "nobody-at-all",
    ]
    extras = [
        {},
        {"status": [Status.SENT]},
        {"payer": "medicare", "sort": "created"},
        {"physician": world.bob_provider.pk},
    ]
    with mock.patch.object(worklist, "PAGE_SIZE", 2):
        for user in (world.alice, world.bob, world.dave, world.erin):
            for q in searches:
                for extra in extras:
                    filters = {"q": q, **extra}
                    qs = worklist.requests_worklist(user=user, **filters)
                    found = worklist.search_page(user=user, filters=filters, number=1)
                    assert found is not None, (user, filters)
                    rows, total = found
                    assert total == qs.count(), (user, filters)
                    assert rows == worklist.list_rows(qs, list(qs.values_list("pk", flat=True)[:2])), (user, filters)
                    if total > 2:
                        rows2, total2 = worklist.search_page(user=user, filters=filters, number=2)
                        assert rows2 == worklist.list_rows(qs, list(qs.values_list("pk", flat=True)[2:4]))


def test_a_search_by_date_of_birth_is_left_to_the_querysets(world):
    assert worklist.search_page(user=world.alice, filters={"q": "02/03/1950"}, number=1) is None
