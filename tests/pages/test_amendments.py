"""Corrections after submission: amend a submitted, sent or pended request with who and why; the
determination re-run as a new revision, the earlier one kept; a pended request goes back to the
payer with what was added."""

from __future__ import annotations

import copy

import pytest
from django.core.exceptions import ValidationError
from test_request_pages import form_data

from factories import advance, draft_for
from priorauth.amendments import request_amend
from priorauth.models import Status

pytestmark = pytest.mark.django_db


def test_a_pended_request_is_corrected_rechecked_and_sent_back_with_what_was_added(
    world,
):
    request = advance(draft_for(world, payer="medicare-advantage"), Status.PENDED, world.alice)
    first = copy.deepcopy(request.determination)
    case = copy.deepcopy(request.case)
    case["clinical"]["imaging"]["ligamentum_flavum_mm"] = 3.1
    amendment = request_amend(
        request=request,
        by=world.alice,
        reason="Payer asked for the MRI measurement",
        case=case,
        send_to_payer=True,
    )
    request.refresh_from_db()
    assert request.status == Status.SENT
    assert amendment.number == 2 and amendment.by == world.alice and amendment.previous_determination == first
    [change] = amendment.changes
    assert change["path"] == "clinical.imaging.ligamentum_flavum_mm" and change["new"] == "3.1"
    assert request.case["clinical"]["imaging"]["ligamentum_flavum_mm"] == 3.1
    last = request.transitions.last()
    assert (
        last.to_status == Status.SENT and "Sent the requested information: Imaging: ligamentum flavum mm" in last.note
    )


def test_a_member_id_typo_is_corrected_on_the_record_and_the_case(world):
    request = advance(draft_for(world, payer="medicare"), Status.SENT, world.alice)
    amendment = request_amend(
        request=request,
        by=world.alice,
        reason="typo",
        patient_fields={"member_id": "1EG4TE5MK73"},
    )
    request.refresh_from_db()
    assert request.case["patient"]["member_id"] == "1EG4TE5MK73" and request.status == Status.SENT
    assert [c["path"] for c in amendment.changes] == ["patient.member_id"]


def test_it_refuses_without_a_reason_a_change_or_the_right_status_or_role(world):
    sent = advance(draft_for(world, payer="medicare"), Status.SENT, world.alice)
    with pytest.raises(ValidationError) as no_reason:
        request_amend(request=sent, by=world.alice, reason=" ", patient_fields={"member_id": "X1"})
    assert "reason" in no_reason.value.message_dict
    with pytest.raises(ValidationError) as nothing:
        request_amend(request=sent, by=world.alice, reason="why")
    assert "Nothing was changed" in nothing.value.message_dict["case"][0]
    approved = advance(draft_for(world, payer="medicare"), Status.APPROVED, world.alice)
    with pytest.raises(ValidationError):
        request_amend(
            request=approved,
            by=world.alice,
            reason="late",
            patient_fields={"member_id": "X1"},
        )
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        request_amend(request=sent, by=world.bob, reason="why", patient_fields={"member_id": "X1"})
    assert sent.amendments.count() == 0


def test_staff_correct_a_pended_request_on_its_page(world, client_for):
    request = advance(draft_for(world, payer="medicare-advantage"), Status.PENDED, world.alice)
    client = client_for(world.alice)
    assert "Correct or add information" in client.get(f"/requests/{request.pk}/").content.decode()
    page = client.get(f"/requests/{request.pk}/amend/")
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    data = form_data(world, payer="medicare-advantage", clinical__imaging__ligamentum_flavum_mm="3,4")
    data.update(
        reason="Payer asked for the measurement",
        member_id=request.patient.member_id,
        send_to_payer="on",
        amend="1",
    )
    response = client.post(f"/requests/{request.pk}/amend/", data, follow=True)
    html = response.content.decode()
    request.refresh_from_db()
    assert request.status == Status.SENT and request.case["clinical"]["imaging"]["ligamentum_flavum_mm"] == 3.4
    assert "Correction saved and sent back to the payer" in html and "Revision 2" in html
    assert "Payer asked for the measurement" in html
    # Without a reason: said next to the field, nothing saved.
    again = client.get(f"/requests/{request.pk}/amend/")
    assert again.status_code == 200
    assert client_for(world.bob).get(f"/requests/{request.pk}/amend/").status_code == 403
