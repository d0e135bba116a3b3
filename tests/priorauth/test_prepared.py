"""Querysets compiled once and run with new values (priorauth.prepared): the same rows as the
queryset itself, values escaped as Django escapes them, counted as queries, and a slot the SQL does
not take as a parameter refused when the shape is compiled."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models.expressions import RawSQL
from django.test.utils import CaptureQueriesContext

from factories import draft_for
from priorauth.models import AuthorizationRequest, Patient
from priorauth.prepared import PreparedQuery, Slot

pytestmark = pytest.mark.django_db

FIELDS = ("pk", "reference", "created_at", "patient__birth_date", "patient__last_name")


def by_practice(*, practice_id: int, status: str):
    return (
        AuthorizationRequest.objects.filter(practice_id=practice_id, status=status)
        .order_by("-created_at", "-id")
        .values_list(*FIELDS)
    )


def test_it_answers_what_the_queryset_answers_for_each_value(world):
    for _ in range(3):
        draft_for(world, payer="medicare")
    draft_for(world, practice="b", payer="medicare")
    query = PreparedQuery("test", by_practice, Slot("practice_id", int), Slot("status", str))
    for practice in (world.practice_a, world.practice_b):
        for status in ("draft", "sent"):
            expected = list(by_practice(practice_id=practice.pk, status=status))
            assert query.rows("one", practice_id=practice.pk, status=status) == expected
    # Dates and moments come back as Django makes them (converters applied), not as stored text.
    row = query.rows("one", practice_id=world.practice_a.pk, status="draft")[0]
    assert row[2].tzinfo is not None and row[3] is not None and not isinstance(row[3], str)


def test_a_search_word_is_escaped_as_djangos_own_lookups_escape_it(world):
    draft_for(world, payer="medicare")
    Patient.objects.filter(practice=world.practice_a).update(last_name="Moreno_50%")

    def by_name(*, word: str):
        return Patient.objects.filter(last_name__icontains=word).order_by("pk").values_list("pk", "last_name")

    query = PreparedQuery("test names", by_name, Slot("word", str))
    for word in ("moreno", "_50%", "%", "o_5", "x%y", "no one"):
        assert query.rows("one", word=word) == list(by_name(word=word)), word
    assert query.rows("one", word="%") and not query.rows("one", word="x%y")


def test_it_counts_as_a_query(world):
    query = PreparedQuery("test", by_practice, Slot("practice_id", int), Slot("status", str))
    query.rows("one", practice_id=world.practice_a.pk, status="draft")  # compiled outside the count
    with CaptureQueriesContext(connection) as ctx:
        query.rows("one", practice_id=world.practice_a.pk, status="draft")
    assert len(ctx.captured_queries) == 1


def test_a_slot_that_became_sql_text_is_refused_when_compiled():
    def literal(*, status: str):
        # The mistake it guards against: a value written into the SQL rather than passed.
        return AuthorizationRequest.objects.annotate(s=RawSQL(f"'{status}'", [])).values_list("pk", "s")

    with pytest.raises(ImproperlyConfigured, match="slot 'status'"):
        PreparedQuery("test literal", literal, Slot("status", str)).rows("one", status="draft")


def test_only_plain_values_can_be_slotted():
    with pytest.raises(ImproperlyConfigured, match="only int, str and datetime"):
        Slot("ids", list)


def test_a_prepared_insert_stores_the_row_as_save_would_and_sets_its_key(world):
    from priorauth.models import AuditEntry
    from priorauth.prepared import PreparedInsert

    entry = PreparedInsert(AuditEntry).insert(
        AuditEntry(
            user=world.alice,
            username="alice",
            practice=world.practice_a,
            action="list",
            object_type="priorauth.authorizationrequest",
            ip_address="2001:db8::1",
            detail="request list ids=1,2",
        )
    )
    assert entry.pk and not entry._state.adding
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.user_id, stored.practice_id, stored.ip_address, stored.detail, stored.object_id) == (
        world.alice.pk,
        world.practice_a.pk,
        "2001:db8::1",
        "request list ids=1,2",
        "",
    )
    assert stored.at == entry.at and stored.at.tzinfo is not None
