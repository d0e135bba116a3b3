"""The request list, the API list, the request page's determination box and its policy-change
banner say the same thing about a request's determination: the latest revision's decision, and
"Re-check needed" in the same words everywhere once a newer policy version would decide otherwise."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from rest_framework.test import APIClient

from factories import entered_case
from policies.models import Criterion, Payer
from policies.services import policy_publish
from priorauth import services

pytestmark = pytest.mark.django_db


def text_of(fragment: str) -> str:
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", "", fragment))).strip()


def list_row(client, request) -> str:
    page = client.get(f"/requests/?q={request.reference}").content.decode()
    row = re.search(r"<tr>\s*<td data-label=\"Reference\">.*?</tr>", page, re.S)
    assert row and request.reference in row.group(0)
    cell = re.search(r'<td data-label="Determination">(.*?)</td>', row.group(0), re.S)
    return text_of(cell.group(1))


def api_state(user, request) -> dict:
    client = APIClient()
    client.force_authenticate(user)
    results = client.get(f"/api/v1/requests?q={request.reference}").json()["results"]
    return next(r["determination_state"] for r in results if r["id"] == request.pk)


@pytest.fixture
def submitted(world):
    return services.request_submit(
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


def raise_threshold(world):
    criterion = Criterion.objects.get(policy__payer__code="medicare", key="ligamentum_flavum")
    criterion.value = 5
    criterion.save()
    version = policy_publish(policy=criterion.policy, by=world.adam, summary="threshold raised to 5 mm")
    services.requests_recheck(version=version)
    return version


def test_the_list_shows_the_determination_column_again(world, client_for, submitted):
    client = client_for(world.alice)
    page = client.get("/requests/").content.decode()
    assert '<th scope="col">Determination</th>' in page
    assert list_row(client, submitted) == "Meets criteria"
    state = api_state(world.alice, submitted)
    assert state["decision"] == "meets_criteria" and state["text"] == "Meets criteria"
    assert state["recheck_needed"] is False


def test_list_api_box_and_banner_agree_after_a_policy_change_and_after_the_re_run(world, client_for, submitted):
    version = raise_threshold(world)
    client = client_for(world.alice)
    words = f"Re-check needed: Not met under Original Medicare's policy, revision {version.revision}"

    assert list_row(client, submitted) == f"Meets criteria — {words}"
    state = api_state(world.alice, submitted)
    assert state == {
        "decision": "meets_criteria",
        "label": "Meets criteria",
        "recheck_needed": True,
        "decision_under_new_policy": "not_met",
        "new_policy": f"Original Medicare's policy, revision {version.revision}",
        "text": f"Meets criteria — {words}",
    }
    page = client.get(f"/requests/{submitted.pk}/").content.decode()
    banner = text_of(re.search(r'<div [^>]*id="recheck-banner".*?</div>', page, re.S).group(0))
    box = text_of(re.search(r'<p [^>]*id="determination-recheck".*?</p>', page, re.S).group(0))
    assert banner.startswith(words + ".") and "from Meets criteria to Not met" in banner
    assert box == f"On record: Meets criteria — {words}"
    assert "Overall: Meets criteria" in page  # the stored determination itself, until it is re-run

    client.post(f"/requests/{submitted.pk}/redetermine/")
    page = client.get(f"/requests/{submitted.pk}/").content.decode()
    assert "Re-check needed" not in page and "Overall: Not met" in page
    assert list_row(client, submitted) == "Not met"
    assert api_state(world.alice, submitted)["text"] == "Not met"


def test_a_change_marked_seen_keeps_the_recorded_determination_everywhere(world, client_for, submitted):
    raise_threshold(world)
    client = client_for(world.alice)
    result = submitted.recheck_results.get()
    client.post(f"/policy-changes/{result.pk}/seen/")
    page = client.get(f"/requests/{submitted.pk}/").content.decode()
    assert "Re-check needed" not in page and 'id="recheck-banner"' not in page
    assert list_row(client, submitted) == "Meets criteria"
    assert api_state(world.alice, submitted)["recheck_needed"] is False


def test_a_draft_saved_again_under_the_new_policy_needs_no_re_check(world, client_for):
    draft = services.request_create(
        practice=world.practice_a,
        patient=world.patient_a,
        payer=Payer.objects.get(code="medicare"),
        treating_physician=world.bob_provider,
        case=entered_case(),
        by=world.alice,
    )
    raise_threshold(world)
    client = client_for(world.alice)
    assert list_row(client, draft).startswith("Meets criteria — Re-check needed: Not met")
    page = client.get(f"/requests/{draft.pk}/").content.decode()
    assert "Last saved as Meets criteria — Re-check needed: Not met" in text_of(page)
    services.request_update(request=draft, by=world.alice, case=entered_case())
    assert list_row(client, draft) == "Not met"
    assert "Re-check needed" not in client.get(f"/requests/{draft.pk}/").content.decode()
