"""Sign-in, sign-out, automatic log-off after inactivity and throttled failed sign-ins."""

from __future__ import annotations

import time

import pytest
from axes.models import AccessAttempt
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from priorauth.pages.signin import LAST_ACTIVITY_KEY, SIGNED_IN_KEY

pytestmark = pytest.mark.django_db


def sign_in(client: Client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_it_shows_the_sign_in_form_with_a_label_for_each_input(client):
    response = client.get("/accounts/login/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<label for="id_username">' in html and '<label for="id_password">' in html
    assert 'class="skip-link" href="#main"' in html
    assert "after 30 minutes without activity" in html


@pytest.mark.parametrize(
    ("persona", "start"), [("alice", "/dashboard/"), ("bob", "/letters/"), ("adam", "/policy-changes/")]
)
def test_it_signs_each_role_in_to_its_start_page(client, world, persona, start):
    response = sign_in(client, persona, world.password)
    assert response.status_code == 302
    response = client.get(response["Location"], follow=True)
    assert response.redirect_chain[-1][0] == start
    assert response.status_code == 200


def test_it_says_why_a_sign_in_failed_next_to_the_form(client, world):
    response = sign_in(client, "alice", "wrong password")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'role="alert"' in html and "Please enter a correct username and password" in html


@pytest.mark.parametrize(
    "path", ["/", "/dashboard/", "/requests/", "/requests/new/", "/requests/1/", "/physician/", "/policy-changes/"]
)
def test_it_sends_anonymous_visitors_to_the_sign_in_form(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_it_signs_out_with_a_post_only(client_for, world):
    client = client_for(world.alice)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/dashboard/").status_code == 302


def test_it_signs_out_after_the_idle_timeout(client, world, settings):
    settings.SESSION_IDLE_TIMEOUT = 60
    sign_in(client, "alice", world.password)
    assert client.get("/dashboard/").status_code == 200
    session = client.session
    session[LAST_ACTIVITY_KEY] = int(time.time()) - 61
    session.save()

    response = client.get("/dashboard/", follow=True)
    assert response.redirect_chain[0][0].startswith("/accounts/login/?next=/dashboard/")
    assert "signed out after 1 minute without activity" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_signs_out_an_active_session_ten_hours_after_sign_in(client, world, settings):
    # Activity keeps a session from idling out, never past the absolute limit.
    settings.SESSION_COOKIE_AGE = 10 * 60 * 60
    sign_in(client, "alice", world.password)
    session = client.session
    assert session[SIGNED_IN_KEY] >= int(time.time()) - 5
    session[SIGNED_IN_KEY] = int(time.time()) - 10 * 60 * 60 - 1
    session[LAST_ACTIVITY_KEY] = int(time.time()) - 5  # active a moment ago
    session.save()

    response = client.get("/dashboard/", follow=True)
    assert response.redirect_chain[0][0].startswith("/accounts/login/?next=/dashboard/")
    assert "signed out 10 hours after signing in" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_keeps_an_active_session(client, world, settings):
    settings.SESSION_IDLE_TIMEOUT = 60
    sign_in(client, "alice", world.password)
    session = client.session
    session[LAST_ACTIVITY_KEY] = int(time.time()) - 59
    session.save()
    assert client.get("/dashboard/").status_code == 200
    assert client.session[LAST_ACTIVITY_KEY] >= int(time.time()) - 1


def test_a_request_soon_after_the_last_recorded_one_leaves_the_session_unsaved(client, world, settings):
    # The activity is recorded again once the recorded one is 1/60 of the timeout old (30 s of 30
    # minutes): a clerk clicking through pages does not write the session on every page.
    settings.SESSION_IDLE_TIMEOUT = 1800
    sign_in(client, "alice", world.password)
    session = client.session
    recent = int(time.time()) - 5
    session[LAST_ACTIVITY_KEY] = recent
    session.save()
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/dashboard/").status_code == 200
    assert not [q for q in ctx.captured_queries if "django_session" in q["sql"] and "UPDATE" in q["sql"]]
    assert client.session[LAST_ACTIVITY_KEY] == recent

    session = client.session
    session[LAST_ACTIVITY_KEY] = int(time.time()) - 31
    session.save()
    assert client.get("/dashboard/").status_code == 200
    assert client.session[LAST_ACTIVITY_KEY] >= int(time.time()) - 1


def test_a_signed_in_page_reads_the_user_with_the_membership_and_practice_in_one_query(client, world):
    sign_in(client, "alice", world.password)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/dashboard/").status_code == 200
    reads = [
        q["sql"]
        for q in ctx.captured_queries
        if 'FROM "auth_user"' in q["sql"] or 'FROM "priorauth_membership"' in q["sql"]
    ]
    assert len(reads) == 1 and "priorauth_membership" in reads[0] and "priorauth_practice" in reads[0]


def test_it_counts_a_keep_alive_as_activity(client, world):
    assert client.post("/accounts/keep-alive/").status_code == 401
    sign_in(client, "alice", world.password)
    response = client.post("/accounts/keep-alive/")
    assert response.status_code == 200
    assert response.json() == {"signed_in": True, "idle_timeout": 1800}


def test_it_locks_a_user_name_out_after_too_many_failures(client, world, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        assert sign_in(client, "alice", "wrong").status_code == 200
    response = sign_in(client, "alice", "wrong")
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()

    # Now even the right password is refused, and the lock is on this user name only.
    response = sign_in(client, "alice", world.password)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert AccessAttempt.objects.filter(username="alice").exists()
    assert sign_in(Client(), "bob", world.password).status_code == 302


def test_it_forgets_failures_after_a_successful_sign_in(client, world, settings):
    settings.AXES_FAILURE_LIMIT = 3
    sign_in(client, "alice", "wrong")
    sign_in(client, "alice", "wrong")
    assert sign_in(client, "alice", world.password).status_code == 302
    client.post("/accounts/logout/")
    sign_in(client, "alice", "wrong")
    sign_in(client, "alice", "wrong")
    assert sign_in(client, "alice", world.password).status_code == 302


def test_it_serves_its_own_css_and_javascript(client):
    for path in ("/static/priorauth/app.css", "/static/priorauth/checklist.js", "/static/priorauth/idle.js"):
        response = client.get(path)
        assert response.status_code == 200, path
        b"".join(response.streaming_content if response.streaming else [response.content])


def test_it_tells_a_user_without_a_practice_so(client_for, db):
    from factories import UserFactory

    response = client_for(UserFactory(username="nobody")).get("/", follow=True)
    assert response.status_code == 403
    assert "not part of a practice" in response.content.decode()
