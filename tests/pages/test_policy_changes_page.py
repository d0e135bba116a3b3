"""The page of open requests a policy change affected, and the admin's way into the registry."""

from __future__ import annotations

import pytest

from factories import entered_case
from policies.models import Criterion, Payer
from policies.services import policy_publish
from priorauth import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def changed(world):
    """A draft that meets the criteria, then an admin raising the ligamentum flavum threshold to
    5 mm, which the re-check finds changes the draft's decision."""
    request = services.request_create(
        practice=world.practice_a,
        patient=world.patient_a,
        payer=Payer.objects.get(code="medicare"),
        treating_physician=world.bob_provider,
        case=entered_case(),
        by=world.alice,
    )
    criterion = Criterion.objects.get(policy__payer__code="medicare", key="ligamentum_flavum")
    criterion.value = 5
    criterion.save()
    version = policy_publish(policy=criterion.policy, by=world.adam, summary="threshold raised to 5 mm")
    services.requests_recheck(version=version)
    return request, version


def test_it_lists_the_requests_a_policy_change_affected(client_for, world, changed):
    request, version = changed
    html = client_for(world.adam).get("/policy-changes/").content.decode()
    assert f"Original Medicare: NCD 150.13, revision {version.revision}" in html
    assert request.reference in html
    assert "Meets criteria → <strong>Not met</strong>" in html
    assert "Hypertrophic ligamentum flavum" in html
    assert f'href="/admin/policies/policy/{version.policy_id}/history/"' in html
    assert 'href="/admin/policies/policy/"' in html
    assert "Moreno" not in html  # named by reference only


def test_billing_staff_mark_a_change_seen(client_for, world, changed):
    request, _ = changed
    client = client_for(world.alice)
    assert "1 request changed by a policy update" in client.get("/dashboard/").content.decode()
    html = client.get(f"/requests/{request.pk}/").content.decode()
    assert "A policy update" in html
    result = request.recheck_results.get()
    response = client.post(f"/policy-changes/{result.pk}/seen/", {"next": "https://evil.example/"})
    assert response["Location"] == "/policy-changes/"  # never off the site
    result.refresh_from_db()
    assert result.seen_by == world.alice
    client.get("/policy-changes/")  # shows (and so clears) the "marked as seen" message
    assert request.reference not in client.get("/policy-changes/").content.decode()
    assert request.reference in client.get("/policy-changes/?seen=1").content.decode()


def test_it_shows_another_practice_nothing(client_for, world, changed):
    request, _ = changed
    client = client_for(world.erin)
    assert request.reference not in client.get("/policy-changes/").content.decode()
    result = request.recheck_results.get()
    assert client.post(f"/policy-changes/{result.pk}/seen/").status_code == 404
    assert client_for(world.charlie).get("/policy-changes/").status_code == 403


def test_the_admin_reaches_the_registry_with_its_history(client_for, world, changed):
    _, version = changed
    client = client_for(world.adam)
    assert client.get("/admin/policies/policy/").status_code == 200
    history = client.get(f"/admin/policies/policy/{version.policy_id}/history/")
    assert history.status_code == 200
    assert client_for(world.alice).get("/admin/policies/policy/").status_code == 302  # not staff: the admin's sign-in


def test_staff_re_run_a_submitted_request_under_the_new_policy_from_the_banner(client_for, world):
    request = services.request_submit(
        request=services.request_create(
            practice=world.practice_a,
            patient=world.patient_a,
            payer=Payer.objects.get(code="medicare"),
            treating_physician=world.bob_provider,
            case=entered_case(),
            by=world.alice,
        ),
        by=world.alice,
    )
    assert request.decision == "meets_criteria"
    criterion = Criterion.objects.get(policy__payer__code="medicare", key="ligamentum_flavum")
    criterion.value = 5
    criterion.save()
    version = policy_publish(policy=criterion.policy, by=world.adam, summary="threshold raised to 5 mm")
    services.requests_recheck(version=version)
    client = client_for(world.alice)
    html = client.get(f"/requests/{request.pk}/").content.decode()
    # The banner says plainly that the box and the list still show the recorded determination.
    assert "still the one recorded under" in html and "Re-run the determination under the new policy" in html
    response = client.post(f"/requests/{request.pk}/redetermine/", follow=True)
    html = response.content.decode()
    request.refresh_from_db()
    assert request.decision == "not_met" and request.policy_version == version
    assert request.determination["policy"]["revision"] == version.revision
    assert "Determination re-run under the new policy: Not met (revision 2)" in html
    assert "A policy update" not in html  # the banner is resolved: everything agrees
    amendment = request.amendments.get()
    assert (
        amendment.previous_decision == "meets_criteria"
        and amendment.previous_determination["decision"] == "meets_criteria"
    )
    assert client_for(world.bob).post(f"/requests/{request.pk}/redetermine/").status_code == 403
