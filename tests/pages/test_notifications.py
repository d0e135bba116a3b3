"""Reminders: the daily digest by e-mail (a count and a link, no PHI) and in the app, idempotent;
a letter handed for signature notifies the physician at once; a notice leads to its page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from factories import advance, draft_for, entered_case
from policies.models import Payer
from priorauth import notifications, services
from priorauth.letters.models import Letter, LetterStatus
from priorauth.models import AuthorizationRequest, Notification, Status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _renders_in_process(eager_tasks):
    """Letter renders run in the test's process."""


def test_the_daily_digest_is_a_count_and_a_link_and_a_second_run_sends_nothing(world, settings):
    settings.SITE_URL = "https://pa.example.org"
    request = advance(draft_for(world, payer="medicare-advantage"), Status.SENT, world.alice)
    AuthorizationRequest.objects.filter(pk=request.pk).update(decision_due_at=timezone.now() - dt.timedelta(hours=2))
    assert notifications.digests_send() == 1
    [message] = mail.outbox
    assert message.to == [world.alice.email]
    assert message.subject == "1 prior-authorization item due today"
    assert "https://pa.example.org/dashboard/" in message.body
    for phi in ("Moreno", "Ada", world.patient_a.member_id, request.reference):
        assert phi not in message.body
    notice = Notification.objects.get(user=world.alice)
    assert notice.kind == "digest" and notice.count == 1 and notice.emailed_at is not None
    assert notifications.digests_send() == 0 and len(mail.outbox) == 1  # idempotent
    assert Notification.objects.filter(user=world.alice).count() == 1


def test_references_appear_only_when_the_deployment_allows_them(world, settings):
    settings.DIGEST_EMAIL_DETAIL = "references"
    request = advance(draft_for(world, payer="medicare-advantage"), Status.SENT, world.alice)
    AuthorizationRequest.objects.filter(pk=request.pk).update(decision_due_at=timezone.now() - dt.timedelta(hours=2))
    notifications.digests_send()
    assert request.reference in mail.outbox[0].body and "Moreno" not in mail.outbox[0].body


def test_a_failed_e_mail_is_retried_by_the_next_run(world, settings, monkeypatch):
    advance(draft_for(world, payer="medicare-advantage"), Status.SUBMITTED, world.alice)

    def broken(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(notifications, "send_mail", broken)
    assert notifications.digests_send() == 0
    assert Notification.objects.get(user=world.alice).emailed_at is None
    monkeypatch.undo()
    assert notifications.digests_send() == 1 and len(mail.outbox) == 1


def test_a_letter_handed_for_signature_notifies_the_physician_at_once_and_leads_to_it(
    letter_texts, client_for, django_capture_on_commit_callbacks
):
    world = letter_texts
    request = services.request_create(
        practice=world.practice_a,
        patient=world.patient_a,
        payer=Payer.objects.get(code="medicare-advantage"),
        treating_physician=world.bob_provider,
        case=entered_case(),
        by=world.alice,
    )
    services.request_submit(request=request, by=world.alice)
    alice = client_for(world.alice)
    with django_capture_on_commit_callbacks(execute=True):
        alice.post(f"/requests/{request.pk}/letters/", {"kind": "prior_authorization"})
    letter = Letter.objects.get()
    assert letter.status == LetterStatus.DRAFT_READY
    with django_capture_on_commit_callbacks(execute=True):
        alice.post(f"/letters/{letter.pk}/hand-over/")
    letter.refresh_from_db()
    assert letter.status == LetterStatus.AWAITING_SIGNATURE
    notice = Notification.objects.get(user=world.bob)
    assert notice.kind == "letter_signature" and notice.url == f"/letters/{letter.pk}/"
    assert [m.to for m in mail.outbox] == [[world.bob.email]] and "Moreno" not in mail.outbox[0].body

    bob = client_for(world.bob)
    assert "Notifications (1 new)" in bob.get("/letters/").content.decode()
    opened = bob.post(f"/notifications/{notice.pk}/open/")
    assert opened.status_code == 302 and opened["Location"] == f"/letters/{letter.pk}/"
    notice.refresh_from_db()
    assert notice.read_at is not None
    # Someone else's notice is not found.
    assert alice.post(f"/notifications/{notice.pk}/open/").status_code == 404


def test_the_navigation_counts_the_viewers_own_unread_notices_read_with_the_user(world, client_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n, user in enumerate((world.alice, world.alice, world.bob)):
        Notification.objects.create(user=user, kind="digest", key=f"digest:{n}", title="Digest", url="/dashboard/")
    alice = client_for(world.alice)
    with CaptureQueriesContext(connection) as ctx:
        html = alice.get("/dashboard/").content.decode()
    assert "Notifications (2 new)" in html
    # Counted in the query that loads the signed-in user, not in one of its own.
    sqls = [q["sql"] for q in ctx.captured_queries]
    assert not [sql for sql in sqls if "priorauth_notification" in sql and "auth_user" not in sql]
    assert [sql for sql in sqls if 'FROM "auth_user"' in sql and "priorauth_notification" in sql]
    first = Notification.objects.filter(user=world.alice).first()
    assert alice.post(f"/notifications/{first.pk}/open/").status_code == 302
    assert "Notifications (1 new)" in alice.get("/requests/").content.decode()
    Notification.objects.filter(user=world.alice).update(read_at=timezone.now())
    html = alice.get("/requests/").content.decode()
    assert "Notifications (" not in html and ">Notifications<" in html
