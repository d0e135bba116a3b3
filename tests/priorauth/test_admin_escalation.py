"""Issue 10, items 1, 2 (the admin side) and 12: a practice admin cannot take over a superuser, link a
provider to someone who is not one of the practice's physicians, or change the shared payer policies."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from factories import ProviderFactory, UserFactory
from policies.models import Policy
from priorauth import services
from priorauth.models import AuditEntry, Membership, Provider, Role

PASSWORD = "the-superusers-own-passphrase-77"


@pytest.fixture
def adam_client(world, client):
    client.force_login(world.adam)
    return client


@pytest.fixture
def root(world, django_user_model):
    # The README's first `createsuperuser`: no practice.
    return django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)


def test_it_refuses_the_takeover_of_a_superuser_by_a_practice_admin(world, adam_client, root, client):
    # 1. The membership admin does not offer the superuser (nor anyone without a practice).
    form = adam_client.get("/admin/priorauth/membership/add/").context["adminform"].form
    assert root not in form.fields["user"].queryset
    response = adam_client.post(
        "/admin/priorauth/membership/add/", {"user": root.pk, "practice": world.practice_a.pk, "role": Role.BILLING}
    )
    assert response.status_code == 200 and not Membership.objects.filter(user=root).exists()
    # 2. Even a superuser who is a member of the admin's practice is out of reach: not listed, no
    #    change page, no password reset, no membership to move.
    services.membership_set(user=root, practice=world.practice_a, role=Role.ADMIN)
    assert "root" not in adam_client.get("/admin/auth/user/").content.decode()
    assert adam_client.get(f"/admin/auth/user/{root.pk}/change/").status_code in (302, 404)
    reset = {
        "password1": "attacker-chosen-passphrase-1",
        "password2": "attacker-chosen-passphrase-1",
        "usable_password": "true",
    }
    assert adam_client.post(f"/admin/auth/user/{root.pk}/password/", reset).status_code == 404
    root.refresh_from_db()
    assert root.check_password(PASSWORD)
    membership = root.membership
    response = adam_client.post(
        f"/admin/priorauth/membership/{membership.pk}/change/", {"practice": world.practice_a.pk, "role": Role.BILLING}
    )
    assert response.status_code in (302, 404)
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    # 3. So signing in as the superuser with the attacker's password fails.
    assert not client.login(username="root", password="attacker-chosen-passphrase-1")


def test_membership_choices_never_include_another_practices_user_or_one_without_a_practice(world, adam_client):
    loner = UserFactory(username="loner")
    form = adam_client.get("/admin/priorauth/membership/add/").context["adminform"].form
    assert set(form.fields["user"].queryset) == {world.alice, world.bob, world.dave, world.adam}
    assert loner not in form.fields["user"].queryset


def test_a_practice_admin_still_resets_a_member_of_their_practice(world, adam_client):
    new = {
        "password1": "a-fresh-passphrase-for-alice",
        "password2": "a-fresh-passphrase-for-alice",
        "usable_password": "true",
    }
    assert adam_client.post(f"/admin/auth/user/{world.alice.pk}/password/", new).status_code == 302
    world.alice.refresh_from_db()
    assert world.alice.check_password("a-fresh-passphrase-for-alice")


def test_a_superuser_still_manages_superusers(world, root, client):
    other = UserFactory(username="root2", is_superuser=True, is_staff=True)
    client.force_login(root)
    assert client.get(f"/admin/auth/user/{other.pk}/change/").status_code == 200


# ---------------------------------------------------------------------------------------------
# Item 2: only a physician member of the provider's practice may be its user


@pytest.mark.parametrize("who", ["alice", "adam", "charlie"])
def test_a_provider_refuses_a_user_who_is_not_a_physician_of_its_practice(world, who):
    provider = world.bob_provider
    provider.user = getattr(world, who)
    with pytest.raises(ValidationError) as caught:
        provider.full_clean()
    assert "user" in caught.value.message_dict
    with pytest.raises(ValidationError):
        provider.save()  # the rule holds outside forms too
    assert Provider.objects.get(pk=provider.pk).user == world.bob


def test_the_provider_admin_refuses_to_link_billing_staff(world, adam_client):
    provider = world.bob_provider
    form = adam_client.get(f"/admin/priorauth/provider/{provider.pk}/change/").context["adminform"].form
    assert set(form.fields["user"].queryset) == {world.bob, world.dave}
    response = adam_client.post(
        f"/admin/priorauth/provider/{provider.pk}/change/",
        {"practice": world.practice_a.pk, "npi": provider.npi, "name": provider.name, "user": world.alice.pk},
    )
    assert response.status_code == 200
    assert Provider.objects.get(pk=provider.pk).user == world.bob


def test_changing_a_providers_user_is_audited(world, adam_client):
    # Dave's provider record is unlinked, then linked to a new physician of the practice.
    newdoc = UserFactory(username="newdoc")
    services.membership_set(user=newdoc, practice=world.practice_a, role=Role.PHYSICIAN)
    provider = ProviderFactory(practice=world.practice_a, name="New Doc, MD")
    response = adam_client.post(
        f"/admin/priorauth/provider/{provider.pk}/change/",
        {"practice": world.practice_a.pk, "npi": provider.npi, "name": provider.name, "user": newdoc.pk},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.get(object_type="priorauth.provider", object_id=str(provider.pk))
    assert (entry.user, entry.action, entry.detail) == (world.adam, "update", f"linked user - -> {newdoc.pk}")


# ---------------------------------------------------------------------------------------------
# Item 12: the payer policies are the platform's, not one practice's


def test_a_practice_admin_reads_but_cannot_change_the_shared_policies(world, adam_client):
    policy = Policy.objects.get(payer__code="medicare")
    assert adam_client.get(f"/admin/policies/policy/{policy.pk}/change/").status_code == 200
    assert adam_client.post(f"/admin/policies/policy/{policy.pk}/change/", {}).status_code == 403
    assert adam_client.get("/admin/policies/policy/add/").status_code == 403
    assert not world.adam.has_perm("policies.change_policy")


def test_a_platform_policy_editor_changes_the_policies(world, client):
    editor = UserFactory(username="editor", is_staff=True)
    editor.groups.add(Group.objects.get(name=services.POLICY_EDITOR_GROUP))
    assert editor.has_perm("policies.change_policy") and editor.has_perm("policies.change_criterion")
    client.force_login(editor)
    assert client.get("/admin/policies/policy/add/").status_code == 200


def test_a_superusers_audit_trail_says_it_spans_practices(world, root, client, adam_client):
    assert "all practices" not in adam_client.get("/admin/priorauth/auditentry/").content.decode()
    client.force_login(root)
    page = client.get("/admin/priorauth/auditentry/").content.decode()
    assert "Audit entries of all practices" in page
