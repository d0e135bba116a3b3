"""Deadlines come from the payer's policy records (PriorAuthRule, AppealLevel), never from code:
the payer's decision due date when a request is sent, the filing deadline and decision due date of
each appeal level; overdue and soon-due requests are listed."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from factories import PatientFactory, PracticeFactory, advance, draft_for, entered_case
from policies.models import AppealLevel, PriorAuthRule
from priorauth import selectors, services
from priorauth.models import AuthorizationRequest, Status


def expedited_case():
    case = entered_case()
    case["administrative"]["expedited"] = True
    return case


def deny(request, by, at):
    services.decision_record(
        request=request,
        by=by,
        decision="denied",
        received_at=at,
        stated_reason="Not reasonable and necessary",
        reason_category="criteria_not_met",
    )
    request.refresh_from_db()


def test_medicare_advantage_standard_decision_is_due_in_7_calendar_days(world):
    request = advance(draft_for(world), Status.SUBMITTED, world.alice)
    sent_at = timezone.now() - dt.timedelta(hours=1)
    services.request_send(request=request, by=world.alice, sent_at=sent_at)
    request.refresh_from_db()
    assert request.decision_due_at == sent_at + dt.timedelta(days=7)
    assert request.decision_due_basis == "7 calendar days (standard), NCD 150.13 (Medicare Advantage)"


def test_medicare_advantage_expedited_decision_is_due_in_72_hours(world):
    request = advance(draft_for(world, case=expedited_case()), Status.SUBMITTED, world.alice)
    assert request.expedited and request.case["administrative"]["expedited"] is True
    sent_at = timezone.now()
    services.request_send(request=request, by=world.alice, sent_at=sent_at)
    request.refresh_from_db()
    assert request.decision_due_at == sent_at + dt.timedelta(hours=72)
    assert request.decision_due_basis.startswith("72 hours (expedited)")


def test_a_payer_without_a_decision_time_has_no_due_date(world):
    request = advance(draft_for(world, payer="medicare"), Status.SENT, world.alice)
    assert request.decision_due_at is None
    assert request.decision_due_basis == "NCD 150.13 sets no decision time"


def test_the_due_date_follows_the_policy_record_an_admin_edits(world):
    PriorAuthRule.objects.filter(policy__payer__code="medicare-advantage").update(standard_decision_days=14)
    request = advance(draft_for(world), Status.SENT, world.alice)
    assert request.decision_due_at == request.sent_at + dt.timedelta(days=14)


def test_medicare_appeal_levels_give_120_days_to_file_and_60_to_decide(world):
    start = timezone.now() - dt.timedelta(days=30)
    request = advance(draft_for(world, payer="medicare"), Status.SENT, world.alice, at=start)
    denied_at = start + dt.timedelta(days=1)
    deny(request, world.alice, denied_at)
    assert request.appeal_file_by == timezone.localdate(denied_at) + dt.timedelta(days=120)

    filed_at = denied_at + dt.timedelta(days=3)
    appeal = services.appeal_start(request=request, by=world.alice, filed_at=filed_at)
    assert (appeal.level_order, appeal.level_name) == (1, "Redetermination")
    assert appeal.filing_deadline == timezone.localdate(denied_at) + dt.timedelta(days=120)
    assert appeal.decision_due_at == filed_at + dt.timedelta(days=60)
    request.refresh_from_db()
    assert request.decision_due_at == appeal.decision_due_at

    # Level 2 (reconsideration): 180 days from the redetermination's denial, decided in 60.
    second_denial = filed_at + dt.timedelta(days=5)
    deny(request, world.alice, second_denial)
    assert request.status == Status.APPEAL_DENIED
    assert request.appeal_file_by == timezone.localdate(second_denial) + dt.timedelta(days=180)
    appeal = services.appeal_start(request=request, by=world.alice)
    assert (appeal.level_order, appeal.level_name) == (2, "Reconsideration")
    assert appeal.decision_due_at == appeal.filed_at + dt.timedelta(days=60)

    # Level 3 (ALJ): 60 days to file, no fixed decision time in the record.
    deny(request, world.alice, timezone.now())
    appeal = services.appeal_start(request=request, by=world.alice)
    assert appeal.level_name == "Administrative Law Judge hearing"
    assert appeal.filing_deadline == timezone.localdate() + dt.timedelta(days=60)
    assert appeal.decision_due_at is None


def test_an_expedited_medicare_advantage_reconsideration_is_due_in_72_hours(world):
    request = advance(draft_for(world), Status.DENIED, world.alice)
    filed_at = timezone.now()
    appeal = services.appeal_start(request=request, by=world.alice, filed_at=filed_at, expedited=True)
    assert appeal.level_name == "Plan reconsideration"
    assert appeal.decision_due_at == filed_at + dt.timedelta(hours=72)
    denial = request.decisions.get()
    assert appeal.filing_deadline == timezone.localdate(denial.received_at) + dt.timedelta(days=65)


def test_an_appeal_after_the_filing_deadline_is_refused_naming_the_deadline(world):
    long_ago = timezone.now() - dt.timedelta(days=200)
    request = advance(draft_for(world, payer="medicare"), Status.SENT, world.alice, at=long_ago)
    deny(request, world.alice, long_ago + dt.timedelta(days=1))
    deadline = timezone.localdate(long_ago + dt.timedelta(days=1)) + dt.timedelta(days=120)
    with pytest.raises(ValidationError) as exc:
        services.appeal_start(request=request, by=world.alice)
    assert exc.value.message_dict == {
        "filed_at": [f"The filing deadline for Redetermination was {deadline.isoformat()}."]
    }
    # Filed in time (entered late): accepted.
    appeal = services.appeal_start(request=request, by=world.alice, filed_at=long_ago + dt.timedelta(days=100))
    assert appeal.level_order == 1


def test_the_filing_deadline_follows_the_appeal_level_record(world):
    AppealLevel.objects.filter(policy__payer__code="medicare", order=1).update(
        filing_deadline_days=10, decision_deadline_days=5
    )
    request = advance(draft_for(world, payer="medicare"), Status.DENIED, world.alice)
    denial = request.decisions.get()
    assert request.appeal_file_by == timezone.localdate(denial.received_at) + dt.timedelta(days=10)
    appeal = services.appeal_start(request=request, by=world.alice)
    assert appeal.decision_due_at == appeal.filed_at + dt.timedelta(days=5)


def test_overdue_and_soon_due_requests_are_listed(world, api):
    now = timezone.now()
    overdue = advance(draft_for(world), Status.SENT, world.alice, at=now - dt.timedelta(days=8))
    soon = advance(draft_for(world), Status.SENT, world.alice, at=now - dt.timedelta(days=6))
    later = advance(draft_for(world), Status.SENT, world.alice, at=now - dt.timedelta(hours=1))
    to_appeal = advance(draft_for(world, payer="medicare"), Status.SENT, world.alice, at=now - dt.timedelta(days=119))
    deny(to_appeal, world.alice, now - dt.timedelta(days=118))  # 120 days to file: 2 days left
    in_appeal = advance(
        draft_for(world, payer="medicare"), Status.APPEAL_IN_PROGRESS, world.alice, at=now - dt.timedelta(days=61)
    )

    items = selectors.requests_due(user=world.alice, within=dt.timedelta(days=3))
    listed = {(i.request.pk, i.kind, i.overdue) for i in items}
    assert (overdue.pk, "payer_decision", True) in listed
    assert (soon.pk, "payer_decision", False) in listed
    assert (to_appeal.pk, "appeal_filing", False) in listed
    assert (in_appeal.pk, "appeal_decision", True) in listed
    assert later.pk not in {i.request.pk for i in items}
    assert [i.due_at for i in items] == sorted(i.due_at for i in items)

    response = api(world.alice).get("/api/v1/deadlines?within_days=3")
    assert response.status_code == 200
    rows = response.json()
    assert {(r["request"]["id"], r["kind"], r["overdue"]) for r in rows} == listed
    assert api(world.alice).get("/api/v1/deadlines?within_days=-1").json() == {
        "within_days": ["Ensure this value is greater than or equal to 0."]
    }
    # Another practice's clerk sees none of them.
    assert selectors.requests_due(user=world.erin, within=dt.timedelta(days=365)) == []


def test_the_deadlines_are_bounded_soonest_first_with_how_many_were_left_off(world, api):
    now = timezone.now()
    sent = [
        advance(draft_for(world), Status.SENT, world.alice, at=now - dt.timedelta(days=8, hours=i)) for i in range(4)
    ]
    to_appeal = advance(draft_for(world, payer="medicare"), Status.SENT, world.alice, at=now - dt.timedelta(days=119))
    deny(to_appeal, world.alice, now - dt.timedelta(days=118))
    everything = selectors.requests_due(user=world.alice, within=dt.timedelta(days=3))
    assert len(everything) == everything.total == 5 and everything.more == 0

    first = selectors.requests_due(user=world.alice, within=dt.timedelta(days=3), limit=2)
    assert [i.request.pk for i in first] == [sent[3].pk, sent[2].pk]  # the longest overdue
    assert (first.total, first.more) == (5, 3)
    assert list(first) == list(everything)[:2]

    response = api(world.alice).get("/api/v1/deadlines?within_days=3&limit=2")
    assert response.status_code == 200
    assert [r["request"]["id"] for r in response.json()] == [sent[3].pk, sent[2].pk]
    assert (response["X-Total-Count"], response["X-More-Count"]) == ("5", "3")
    assert api(world.alice).get("/api/v1/deadlines?limit=0").json() == {
        "limit": ["Ensure this value is greater than or equal to 1."]
    }
    assert "limit" in api(world.alice).get("/api/v1/deadlines?limit=100000").json()


# ---------------------------------------------------------------------------------------------
# The practice's calendar day (Practice.time_zone), not the server's (TIME_ZONE, America/New_York)

# Ten hours behind UTC and fourteen ahead: at any moment their calendar days differ.
HONOLULU, KIRITIMATI, PAGO_PAGO = "Pacific/Honolulu", "Pacific/Kiritimati", "Pacific/Pago_Pago"


def in_zone(world, name: str) -> None:
    world.practice_a.time_zone = name
    world.practice_a.full_clean()
    world.practice_a.save()


@pytest.mark.parametrize(
    ("zone", "denied_at", "last_day"),
    [
        # 07:30 UTC on March 10 is still March 9 in Honolulu (and March 10 in New York).
        (HONOLULU, dt.datetime(2026, 3, 10, 7, 30, tzinfo=dt.UTC), dt.date(2026, 3, 9) + dt.timedelta(days=120)),
        # 11:00 UTC on March 10 is already March 11 at Kiritimati.
        (KIRITIMATI, dt.datetime(2026, 3, 10, 11, 0, tzinfo=dt.UTC), dt.date(2026, 3, 11) + dt.timedelta(days=120)),
        (
            "America/New_York",
            dt.datetime(2026, 3, 10, 7, 30, tzinfo=dt.UTC),
            dt.date(2026, 3, 10) + dt.timedelta(days=120),
        ),
    ],
)
def test_the_filing_deadline_counts_from_the_denial_day_on_the_practice_calendar(world, zone, denied_at, last_day):
    in_zone(world, zone)
    request = advance(draft_for(world, payer="medicare"), Status.SENT, world.alice, at=denied_at - dt.timedelta(days=2))
    deny(request, world.alice, denied_at)
    assert request.appeal_file_by == last_day  # Medicare: 120 days to file a redetermination


def test_today_for_a_follow_up_is_the_practice_day(world):
    request = advance(draft_for(world, payer="medicare"), Status.SENT, world.alice)
    pago_pago_today = timezone.localdate(timezone.now(), ZoneInfo(PAGO_PAGO))
    in_zone(world, KIRITIMATI)  # where that day is already over
    with pytest.raises(ValidationError) as refused:
        services.request_follow_up_set(request=request, on=pago_pago_today, by=world.alice)
    assert refused.value.message_dict == {"follow_up_on": ["Must be today or later."]}
    in_zone(world, PAGO_PAGO)
    request = services.request_follow_up_set(request=request, on=pago_pago_today, by=world.alice)
    assert request.follow_up_on == pago_pago_today


def test_a_member_request_runs_on_the_practice_calendar(world, api):
    # The worklist's "overdue" counts a filing day before the practice's today, whichever the
    # server's: the API activates the member's practice's zone.
    request = advance(draft_for(world, payer="medicare"), Status.SENT, world.alice)
    deny(request, world.alice, timezone.now())
    pago_pago_today = timezone.localdate(timezone.now(), ZoneInfo(PAGO_PAGO))
    AuthorizationRequest.objects.filter(pk=request.pk).update(appeal_file_by=pago_pago_today)
    for zone, overdue in ((KIRITIMATI, [request.pk]), (PAGO_PAGO, [])):
        in_zone(world, zone)
        alice = type(world.alice).objects.get(pk=world.alice.pk)  # as each request loads its user afresh
        response = api(alice).get("/api/v1/requests?due=overdue")
        assert response.status_code == 200
        assert [r["id"] for r in response.json()["results"]] == overdue, zone


def test_a_practice_time_zone_must_be_an_iana_name(world):
    world.practice_a.time_zone = "Mars/Olympus_Mons"
    with pytest.raises(ValidationError) as refused:
        world.practice_a.full_clean()
    assert refused.value.message_dict["time_zone"] == ["Must be an IANA time zone name, such as America/Chicago."]
    assert PracticeFactory().time_zone == "America/New_York"  # settings.TIME_ZONE


def test_an_appeal_keeps_its_level_terms_and_the_migration_copies_them_for_appeals_filed_before(world):
    import importlib

    from django.apps import apps

    from priorauth.models import Appeal

    request = advance(draft_for(world, payer="medicare"), Status.APPEAL_IN_PROGRESS, world.alice)
    appeal = request.appeals.get()
    level = AppealLevel.objects.get(policy__payer__code="medicare", order=1)
    terms = {
        "filing_deadline_days": 120,
        "decision_deadline_days": 60,
        "expedited_decision_hours": level.expedited_decision_hours,
        "citations": [e.key for e in level.citations.all()],
        "review_status": level.review_status,
        "review_reason": level.review_reason,
    }
    assert appeal.level_terms == terms

    Appeal.objects.filter(pk=appeal.pk).update(level_terms={})  # as filed before the migration
    importlib.import_module("priorauth.migrations.0009_bugs_item6").copy_level_terms(apps, None)
    appeal.refresh_from_db()
    assert appeal.level_terms == terms


def test_a_birth_date_is_checked_against_the_practice_day_not_the_servers(world):
    # Pago Pago's today is always a day Kiritimati has already reached: a birth on it is in the
    # past for a practice at Kiritimati and not yet before today for one at Pago Pago.
    pago_pago_today = timezone.localdate(timezone.now(), ZoneInfo(PAGO_PAGO))
    newborn = PatientFactory(practice=world.practice_a, birth_date=pago_pago_today)

    in_zone(world, PAGO_PAGO)
    with pytest.raises(ValidationError) as error:
        draft_for(world, payer="medicare", patient=newborn)
    assert error.value.message_dict == {"patient": ["patient.birth_date: must be a date in the past"]}

    in_zone(world, KIRITIMATI)
    accepted = services.request_submit(request=draft_for(world, payer="medicare", patient=newborn), by=world.alice)
    assert accepted.status == Status.SUBMITTED
