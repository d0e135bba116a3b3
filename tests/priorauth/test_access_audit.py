"""Issue 10, item 8: the audit trail records the admin's history pages of PHI records, refused access
to a PHI object, sign-ins and failed sign-ins; on PostgreSQL the table itself refuses UPDATE, DELETE
and TRUNCATE."""

from __future__ import annotations

import os

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from factories import draft_for
from priorauth.models import AuditEntry

A = AuditEntry.Action


def test_the_admins_history_and_version_pages_of_patients_and_requests_are_audited(world, client):
    client.force_login(world.adam)
    request = draft_for(world)
    patient = world.patient_a
    assert client.get(f"/admin/priorauth/patient/{patient.pk}/history/").status_code == 200
    version = patient.history.first()
    assert client.get(f"/admin/priorauth/patient/{patient.pk}/history/{version.history_id}/").status_code == 200
    assert client.get(f"/admin/priorauth/authorizationrequest/{request.pk}/history/").status_code == 200
    reads = AuditEntry.objects.filter(action=A.READ, user=world.adam)
    got = {(e.object_type, e.object_id, e.detail) for e in reads}
    assert ("priorauth.patient", str(patient.pk), "admin history") in got
    assert ("priorauth.patient", str(patient.pk), f"admin history version {version.history_id}") in got
    assert ("priorauth.authorizationrequest", str(request.pk), "admin history") in got


def test_refused_access_to_another_practices_object_is_audited(world, api, client):
    theirs = draft_for(world, "b")
    assert api(world.alice).get(f"/api/v1/requests/{theirs.pk}").status_code == 404
    assert (
        api(world.alice).patch(f"/api/v1/patients/{world.patient_b.pk}", {"first_name": "X"}, format="json").status_code
        == 404
    )
    client.force_login(world.alice)
    assert client.get(f"/requests/{theirs.pk}/").status_code == 404
    refused = AuditEntry.objects.filter(action=A.REFUSED, user=world.alice).order_by("id")
    got = [(e.object_type, e.object_id, e.detail.split(" ")[0]) for e in refused]
    assert got == [
        ("priorauth.authorizationrequest", str(theirs.pk), "404"),
        ("priorauth.patient", str(world.patient_b.pk), "404"),
        ("priorauth.authorizationrequest", str(theirs.pk), "404"),
    ]
    assert all(e.practice == world.practice_a for e in refused)


def test_another_practices_history_pages_in_the_admin_are_refusals(world, client):
    client.force_login(world.adam)
    theirs = world.patient_b
    version = theirs.history.first()
    assert client.get(f"/admin/priorauth/patient/{theirs.pk}/history/").status_code == 404
    assert client.get(f"/admin/priorauth/patient/{theirs.pk}/history/{version.history_id}/").status_code == 404
    refused = AuditEntry.objects.filter(action=A.REFUSED, user=world.adam)
    assert [(e.object_type, e.object_id) for e in refused] == [("priorauth.patient", str(theirs.pk))] * 2


def test_a_visible_object_the_role_may_not_change_is_a_refusal_too(world, api):
    request = draft_for(world)
    assert api(world.bob).post(f"/api/v1/requests/{request.pk}/withdraw", {}, format="json").status_code == 403
    entry = AuditEntry.objects.get(action=A.REFUSED)
    assert (entry.user, entry.object_id, entry.detail.split(" ")[0]) == (world.bob, str(request.pk), "403")


def test_sign_ins_and_failed_sign_ins_are_audited(world, client):
    world.alice.set_password("alices-passphrase-1")
    world.alice.save()
    client.post("/accounts/login/", {"username": "alice", "password": "wrong"}, REMOTE_ADDR="203.0.113.9")
    client.post("/accounts/login/", {"username": "alice", "password": "alices-passphrase-1"})
    client.post(
        "/api/v1/auth/token", {"username": "alice", "password": "alices-passphrase-1"}, content_type="application/json"
    )
    client.post("/api/v1/auth/token", {"username": "nobody", "password": "x"}, content_type="application/json")
    entries = AuditEntry.objects.filter(action__in=[A.SIGN_IN, A.SIGN_IN_FAILED]).order_by("id")
    got = [(e.action, e.username, e.detail) for e in entries]
    assert got == [
        ("sign_in_failed", "alice", ""),
        ("sign_in", "alice", "session"),
        ("sign_in", "alice", "token"),
        ("sign_in_failed", "nobody", ""),
    ]
    assert entries[0].ip_address == "203.0.113.9" and entries[0].user is None
    assert "wrong" not in " ".join(e.detail for e in entries)
    client.post("/accounts/logout/")
    assert AuditEntry.objects.filter(action=A.SIGN_OUT, user=world.alice).count() == 1


def _postgresql_or_skip() -> None:
    if connection.vendor != "postgresql":
        if os.environ.get("CI") == "true":
            pytest.fail("the audit table's trigger needs PostgreSQL, which CI always has")
        pytest.skip("PostgreSQL only (set DATABASE_URL)")


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE priorauth_auditentry SET detail = 'tampered'",
        "DELETE FROM priorauth_auditentry",
        "TRUNCATE priorauth_auditentry",
        "TRUNCATE priorauth_auditentry CASCADE",
    ],
)
def test_postgresql_refuses_to_change_or_remove_audit_entries(world, sql):
    _postgresql_or_skip()
    entry = AuditEntry.objects.create(action=A.READ, object_type="priorauth.patient", object_id="1")
    with connection.cursor() as cursor:
        # The test's own transaction has deferred foreign-key checks pending, which TRUNCATE would
        # trip over before the trigger: check them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEntry.objects.get(pk=entry.pk).detail == ""
