"""The Django admin: practice admins manage their practice's users, roles and providers and see
only their practice's records; superusers without a practice see no PHI; the workflow is read-only."""

from __future__ import annotations

import pytest

from factories import UserFactory, draft_for
from priorauth.models import Membership, Role


@pytest.fixture
def adam_client(world, client):
    client.force_login(world.adam)
    return client


def test_a_practice_admin_sees_only_their_practice_in_every_list(world, adam_client):
    mine, theirs = draft_for(world), draft_for(world, "b")
    page = adam_client.get("/admin/priorauth/authorizationrequest/").content.decode()
    assert mine.reference in page and theirs.reference not in page
    users = adam_client.get("/admin/auth/user/").content.decode()
    assert "alice" in users and "erin" not in users and "charlie" not in users
    providers = adam_client.get("/admin/priorauth/provider/").content.decode()
    assert world.bob_provider.npi in providers and world.charlie_provider.npi not in providers
    practices = adam_client.get("/admin/priorauth/practice/").content.decode()
    assert "Lakeside Pain Center" in practices and "Hillcrest Spine" not in practices


def test_requests_are_read_only_in_the_admin(world, adam_client):
    request = draft_for(world)
    assert adam_client.get(f"/admin/priorauth/authorizationrequest/{request.pk}/change/").status_code == 200
    assert (
        adam_client.post(
            f"/admin/priorauth/authorizationrequest/{request.pk}/change/", {"status": "approved"}
        ).status_code
        == 403
    )
    assert (
        adam_client.post(f"/admin/priorauth/authorizationrequest/{request.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )


def test_a_practice_admin_gives_a_user_a_role_in_their_practice(world, adam_client):
    # A member of their practice (issue 10: never a user without a practice, who may be a superuser;
    # newcomers are added from the user admin with their membership, see below).
    response = adam_client.post(
        f"/admin/priorauth/membership/{world.alice.membership.pk}/change/",
        {"practice": world.practice_a.pk, "role": Role.ADMIN},
    )
    assert response.status_code == 302, response.content
    world.alice.refresh_from_db()
    assert world.alice.membership.role == Role.ADMIN and world.alice.is_staff
    newcomer = UserFactory(username="newcomer")
    response = adam_client.post(
        "/admin/priorauth/membership/add/", {"user": newcomer.pk, "practice": world.practice_a.pk, "role": Role.ADMIN}
    )
    assert response.status_code == 200 and not Membership.objects.filter(user=newcomer).exists()
    # Not into another practice.
    other = UserFactory(username="other")
    response = adam_client.post(
        "/admin/priorauth/membership/add/", {"user": other.pk, "practice": world.practice_b.pk, "role": "billing"}
    )
    assert response.status_code == 200  # the form refuses the choice
    assert not Membership.objects.filter(user=other).exists()


def test_a_practice_admin_cannot_make_anyone_a_superuser(world, adam_client):
    response = adam_client.get(f"/admin/auth/user/{world.alice.pk}/change/")
    assert response.status_code == 200 and 'name="username"' in response.content.decode()  # the real form
    page = response.content.decode()
    assert "is_superuser" not in page and "user_permissions" not in page


def test_a_superuser_without_a_practice_sees_no_phi(world, client):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    client.force_login(root)
    request = draft_for(world)
    page = client.get("/admin/priorauth/authorizationrequest/").content.decode()
    assert request.reference not in page
    assert world.patient_a.last_name not in client.get("/admin/priorauth/patient/").content.decode()
    # Non-PHI records are all theirs to manage.
    assert "Hillcrest Spine" in client.get("/admin/priorauth/practice/").content.decode()


def test_a_practice_admin_adds_a_user_with_a_role_in_one_step(world, adam_client):
    response = adam_client.post(
        "/admin/auth/user/add/",
        {
            "username": "newclerk",
            "password1": "a-long-unusual-passphrase-42",
            "password2": "a-long-unusual-passphrase-42",
            "usable_password": "true",
            "membership-TOTAL_FORMS": "1",
            "membership-INITIAL_FORMS": "0",
            "membership-MIN_NUM_FORMS": "0",
            "membership-MAX_NUM_FORMS": "1",
            "membership-0-practice": world.practice_a.pk,
            "membership-0-role": Role.BILLING,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    membership = Membership.objects.get(user__username="newclerk")
    assert (membership.practice, membership.role, membership.user.is_staff) == (world.practice_a, Role.BILLING, False)


def test_the_practice_time_zone_is_edited_in_the_admin_and_must_be_an_iana_name(world, client):
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    practice = world.practice_a
    url = f"/admin/priorauth/practice/{practice.pk}/change/"
    assert 'name="time_zone"' in client.get(url).content.decode()
    form = {"name": practice.name, "address": "", "phone": "", "fax": "", "npi": "", "facility_name": "", "tin": ""}
    page = client.post(url, {**form, "time_zone": "Mars/Olympus_Mons"}).content.decode()
    assert "Must be an IANA time zone name, such as America/Chicago." in page
    assert client.post(url, {**form, "time_zone": "America/Chicago"}).status_code == 302
    practice.refresh_from_db()
    assert practice.time_zone == "America/Chicago"
