"""Issue 11 through the REST API: a denial recorded with the payer's words, its code and the
deficiencies it names; the addressee chosen among the payer's desks; the practice's letterhead
facts validated."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from factories import advance, draft_for
from policies.models import PayerContact
from priorauth.models import Status


def sent(world, payer: str = "commercial"):
    return advance(draft_for(world, payer=payer), Status.SENT, world.alice, at=timezone.now() - dt.timedelta(days=3))


def test_it_records_a_denial_with_its_code_and_deficiencies_and_the_appeal_letter_can_answer_them(world, api):
    request = sent(world)
    response = api(world.alice).post(
        f"/api/v1/requests/{request.pk}/decision",
        {
            "decision": "denied",
            "received_at": (timezone.now() - dt.timedelta(days=1)).isoformat(),
            "stated_reason": "Experimental/investigational per policy SURG.00071.",
            "reason_category": "investigational",
            "denial_code": "CO-50",
            "deficiencies": [
                {"criterion": "conservative_care", "text": "No PT notes"},
                {"text": "Peer-reviewed evidence insufficient"},
            ],
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    decision = response.json()["decisions"][-1]
    assert decision["stated_reason"] == "Experimental/investigational per policy SURG.00071."
    assert decision["denial_code"] == "CO-50"
    assert decision["deficiencies"] == [
        {"criterion": "conservative_care", "text": "No PT notes"},
        {"criterion": "", "text": "Peer-reviewed evidence insufficient"},
    ]


@pytest.mark.parametrize(
    ("deficiencies", "field"),
    [
        ([{"criterion": "no_such_rule", "text": ""}], "deficiencies[0].criterion"),
        ([{"criterion": "", "text": "  "}], "deficiencies[0]"),
        ([{"criterion": "conservative_care", "colour": "red"}], "deficiencies[0]"),
    ],
)
def test_it_refuses_a_bad_deficiency_naming_it_and_writes_nothing(world, api, deficiencies, field):
    request = sent(world)
    response = api(world.alice).post(
        f"/api/v1/requests/{request.pk}/decision",
        {
            "decision": "denied",
            "received_at": timezone.now().isoformat(),
            "stated_reason": "No.",
            "reason_category": "other",
            "deficiencies": deficiencies,
        },
        format="json",
    )
    assert response.status_code == 400 and field in response.json(), response.json()
    request.refresh_from_db()
    assert request.status == Status.SENT and not request.decisions.exists()


def test_only_a_denial_names_deficiencies(world, api):
    request = sent(world)
    response = api(world.alice).post(
        f"/api/v1/requests/{request.pk}/decision",
        {
            "decision": "pended",
            "received_at": timezone.now().isoformat(),
            "stated_reason": "Send notes",
            "deficiencies": [{"text": "x"}],
        },
        format="json",
    )
    assert response.status_code == 400 and "deficiencies" in response.json()


def test_billing_staff_choose_the_addressee_among_the_payers_own_desks(world, api):
    request = draft_for(world, payer="commercial")
    mine = PayerContact.objects.create(
        payer=request.payer,
        key="c-appeals",
        kind="appeals",
        name="Acme Health",
        address="PO Box 1",
        review_status="verified",
    )
    other_payer = draft_for(world, payer="tricare").payer
    theirs = PayerContact.objects.create(
        payer=other_payer, key="t-appeals", kind="appeals", name="East region", review_status="verified"
    )
    url = f"/api/v1/requests/{request.pk}/payer-contact"

    listed = api(world.alice).get(url).json()
    assert listed["chosen"] is None and [c["id"] for c in listed["choices"]] == [mine.pk]
    assert "fax" in listed["choices"][0]["missing_fields"]
    refused = api(world.alice).put(url, {"payer_contact": theirs.pk}, format="json")
    assert refused.status_code == 400 and "payer_contact" in refused.json()
    assert (
        api(world.bob).put(url, {"payer_contact": mine.pk}, format="json").status_code == 403
    )  # the physician does not
    assert api(world.charlie).get(url).status_code == 404  # another practice
    chosen = api(world.alice).put(url, {"payer_contact": mine.pk}, format="json")
    assert chosen.status_code == 200 and chosen.json()["chosen"] == mine.pk
    assert api(world.alice).get(f"/api/v1/requests/{request.pk}").json()["payer_contact"] == mine.pk


@pytest.mark.parametrize(("field", "value"), [("npi", "1234567890"), ("tin", "12-345")])
def test_the_practice_letterhead_refuses_a_bad_npi_or_tin(world, field, value):
    practice = world.practice_a
    setattr(practice, field, value)
    with pytest.raises(ValidationError) as caught:
        practice.full_clean()
    assert field in caught.value.message_dict
