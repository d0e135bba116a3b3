"""Every create, read, update and download of PHI-bearing records is logged (who, when, which
object, what action, from which address), append-only, visible to admins, and holds no PHI; no
PHI reaches the application logs or Celery task arguments either."""

from __future__ import annotations

import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from factories import advance, draft_for, entered_case
from priorauth import services
from priorauth.models import AuditEntry, Status

PDF = b"%PDF-1.4\n%%EOF\n"


def phi_of(w) -> list[str]:
    p = w.patient_a
    return [p.first_name, p.last_name, p.member_id, p.birth_date.isoformat()]


def test_create_read_update_and_download_are_each_logged_with_who_what_and_where(world, api):
    client = api(world.alice)
    body = {
        "patient": world.patient_a.pk,
        "treating_physician": world.bob_provider.pk,
        "payer": "medicare-advantage",
        "case": entered_case(),
    }
    rid = client.post("/api/v1/requests", body, format="json", REMOTE_ADDR="203.0.113.7").json()["id"]
    client.get(f"/api/v1/requests/{rid}")
    client.patch(f"/api/v1/requests/{rid}", {"case": entered_case()}, format="json")
    client.post(f"/api/v1/requests/{rid}/submit", {}, format="json")
    aid = client.post(
        f"/api/v1/requests/{rid}/attachments",
        {"kind": "imaging_report", "file": SimpleUploadedFile("mri.pdf", PDF, content_type="application/pdf")},
        format="multipart",
    ).json()["id"]
    client.get(f"/api/v1/requests/{rid}/attachments/{aid}")
    client.get("/api/v1/requests")
    client.get(f"/api/v1/patients/{world.patient_a.pk}")

    entries = list(AuditEntry.objects.order_by("id"))
    got = [(e.action, e.object_type, e.object_id, e.detail.split(" ")[0]) for e in entries]
    assert got == [
        ("create", "priorauth.authorizationrequest", str(rid), ""),
        ("read", "priorauth.authorizationrequest", str(rid), ""),
        ("update", "priorauth.authorizationrequest", str(rid), "edit"),
        ("update", "priorauth.authorizationrequest", str(rid), "submit"),
        ("create", "priorauth.attachment", str(aid), "request"),
        ("download", "priorauth.attachment", str(aid), "request"),
        ("list", "priorauth.authorizationrequest", "", f"ids={rid}"),
        ("read", "priorauth.patient", str(world.patient_a.pk), ""),
    ]
    assert all(e.user == world.alice and e.username == "alice" and e.practice == world.practice_a for e in entries)
    assert entries[0].ip_address == "203.0.113.7"
    assert entries[1].ip_address == "127.0.0.1"
    assert all(abs((timezone.now() - e.at).total_seconds()) < 120 for e in entries)
    text = " ".join(f"{e.username} {e.action} {e.object_type} {e.object_id} {e.detail} {e}" for e in entries)
    for phi in phi_of(world):
        assert phi not in text


def test_the_forwarded_address_is_used_only_behind_a_trusted_proxy(world, api, settings):
    request = draft_for(world)
    client = api(world.alice)
    client.get(f"/api/v1/requests/{request.pk}", HTTP_X_FORWARDED_FOR="198.51.100.1")
    settings.AUDIT_TRUST_X_FORWARDED_FOR = True
    client.get(f"/api/v1/requests/{request.pk}", HTTP_X_FORWARDED_FOR="10.9.9.9, 198.51.100.1")
    assert list(AuditEntry.objects.order_by("id").values_list("ip_address", flat=True)) == ["127.0.0.1", "198.51.100.1"]


def test_the_sign_in_throttle_sees_the_same_address_as_the_audit_trail(settings, rf):
    from axes.helpers import get_client_ip_address

    behind_proxy = rf.get("/accounts/login/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.9.9.9, 198.51.100.1")
    assert get_client_ip_address(behind_proxy) == "127.0.0.1"
    settings.AUDIT_TRUST_X_FORWARDED_FOR = True
    assert get_client_ip_address(behind_proxy) == "198.51.100.1"


def test_audit_entries_cannot_be_changed_or_deleted(world):
    entry = services.audit_record(user=world.alice, action="read", obj=world.patient_a)
    entry.detail = "tampered"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=entry.pk).update(detail="tampered")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    entry.refresh_from_db()
    assert entry.detail == ""


def test_admins_see_the_audit_trail_in_the_admin_but_cannot_edit_or_delete_it(world, client):
    entry = services.audit_record(user=world.alice, action="read", obj=world.patient_a)
    client.force_login(world.adam)
    assert client.get("/admin/priorauth/auditentry/").status_code == 200
    page = client.get(f"/admin/priorauth/auditentry/{entry.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # a view-only page: no Save button
    assert client.post(f"/admin/priorauth/auditentry/{entry.pk}/change/", {"detail": "x"}).status_code == 403
    assert client.post(f"/admin/priorauth/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/priorauth/auditentry/add/").status_code == 403
    entry.refresh_from_db()
    assert entry.detail == ""


def test_reading_phi_in_the_admin_is_audited_and_scoped_to_the_practice(world, client):
    client.force_login(world.adam)
    response = client.get(f"/admin/priorauth/patient/{world.patient_a.pk}/change/")
    assert response.status_code == 200
    assert AuditEntry.objects.filter(
        action="read", object_type="priorauth.patient", object_id=str(world.patient_a.pk), user=world.adam
    ).exists()
    # Practice B's patient is not there for practice A's admin.
    assert client.get(f"/admin/priorauth/patient/{world.patient_b.pk}/change/").status_code == 302
    listing = client.get("/admin/priorauth/patient/")
    assert world.patient_a.last_name.encode() in listing.content
    assert world.patient_b.last_name.encode() not in listing.content
    assert AuditEntry.objects.filter(action="list", object_type="priorauth.patient").exists()


def test_no_phi_reaches_the_application_logs(world, api, caplog):
    caplog.set_level(logging.DEBUG)
    client = api(world.alice)
    body = {
        "patient": world.patient_a.pk,
        "treating_physician": world.bob_provider.pk,
        "payer": "medicare-advantage",
        "case": entered_case(),
    }
    created = client.post("/api/v1/requests", body, format="json")
    assert created.status_code == 201
    rid = created.json()["id"]
    # Each step must really run (and log what it logs) for the absence of PHI below to mean anything.
    assert client.get(f"/api/v1/requests/{rid}").status_code == 200
    assert client.post(f"/api/v1/requests/{rid}/submit", {}, format="json").status_code == 200
    assert client.post(f"/api/v1/requests/{rid}/send", {}, format="json").status_code == 200
    bad = {"decision": "bogus", "received_at": "x"}
    assert client.post(f"/api/v1/requests/{rid}/decision", bad, format="json").status_code == 400
    assert client.get(f"/api/v1/patients/{world.patient_a.pk}").status_code == 200
    assert client.get("/api/v1/requests/999999").status_code == 404
    text = caplog.text
    assert "Bad Request" in text and "Not Found" in text  # the log was captured
    for phi in phi_of(world):
        assert phi not in text


def test_celery_tasks_are_given_primary_keys_only(world, monkeypatch, django_capture_on_commit_callbacks):
    from celery.app.task import Task

    from policies.models import PolicyVersion
    from policies.services import policy_published

    sent = []
    monkeypatch.setattr(
        Task, "apply_async", lambda self, args=None, kwargs=None, **opts: sent.append((self.name, args, kwargs))
    )
    advance(draft_for(world), Status.SENT, world.alice)
    version = PolicyVersion.objects.get(policy__payer__code="medicare-advantage")
    with django_capture_on_commit_callbacks(execute=True):
        policy_published.send(sender=PolicyVersion, version=version, previous=None)
    assert sent == [("priorauth.recheck_open_requests", (version.pk,), {})]
    assert all(isinstance(a, int) for _, args, _ in sent for a in args)


def test_an_address_that_is_not_an_ip_is_recorded_as_unknown(world, api, settings):
    settings.AUDIT_TRUST_X_FORWARDED_FOR = True
    request = draft_for(world)
    response = api(world.alice).get(f"/api/v1/requests/{request.pk}", HTTP_X_FORWARDED_FOR="not-an-ip")
    assert response.status_code == 200
    assert AuditEntry.objects.get(action="read").ip_address is None
