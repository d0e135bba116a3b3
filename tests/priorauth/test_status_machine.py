"""The status machine: every legal transition through the services, every other one refused with
a clear error naming the status, each recorded with who and when."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from factories import advance, draft_for
from priorauth import services
from priorauth.models import TRANSITIONS, PayerDecision, Status, StatusTransition

NOW = timezone.now


def step_to(request, target, by):
    """Perform the one service call that moves `request` (in any state) to `target`."""
    now = NOW()
    if target == Status.SUBMITTED:
        return services.request_submit(request=request, by=by)
    if target == Status.SENT:
        return services.request_send(request=request, by=by, sent_at=now)
    if target in (Status.APPROVED, Status.APPEAL_APPROVED):
        return services.decision_record(
            request=request,
            by=by,
            decision="approved",
            received_at=now,
            authorization_number="A1",
            valid_from=now.date(),
            valid_to=now.date() + dt.timedelta(days=90),
        )
    if target in (Status.DENIED, Status.APPEAL_DENIED):
        return services.decision_record(
            request=request,
            by=by,
            decision="denied",
            received_at=now,
            stated_reason="Not medically necessary",
            reason_category="criteria_not_met",
        )
    if target == Status.PENDED:
        return services.decision_record(
            request=request, by=by, decision="pended", received_at=now, stated_reason="More info"
        )
    if target == Status.APPEAL_IN_PROGRESS:
        return services.appeal_start(request=request, by=by, filed_at=now)
    if target == Status.WITHDRAWN:
        return services.request_withdraw(request=request, by=by, note="patient chose surgery")
    if target == Status.EXPIRED:
        # Expiry is the system's: an approval whose validity window has ended.
        # The practice's calendar day, as authorizations_expire reads it: in the evening (America/
        # New_York) the UTC date is already tomorrow's.
        PayerDecision.objects.filter(request=request, decision="approved").update(
            valid_to=timezone.localdate() - dt.timedelta(days=1)
        )
        return services.authorizations_expire()
    raise AssertionError(target)


LEGAL = sorted(TRANSITIONS)
ALL_STATUSES = list(Status.values)


@pytest.mark.parametrize(("source", "target"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_it_allows_every_legal_transition_and_records_who_and_when(world, source, target):
    request = advance(draft_for(world), source, world.alice)
    before = NOW()
    step_to(request, target, world.alice)
    request.refresh_from_db()
    assert request.status == target
    last = StatusTransition.objects.filter(request=request).latest("id")
    assert (last.from_status, last.to_status) == (source, target)
    assert last.by == (None if target == Status.EXPIRED else world.alice)
    assert last.at >= before - dt.timedelta(days=1)


OPERATIONS = ["submit", "send", "approve", "deny", "pend", "appeal", "withdraw"]


def operate(request, operation, by):
    now = NOW()
    if operation == "submit":
        services.request_submit(request=request, by=by)
    elif operation == "send":
        services.request_send(request=request, by=by, sent_at=now)
    elif operation == "approve":
        services.decision_record(
            request=request, by=by, decision="approved", received_at=now, authorization_number="A1"
        )
    elif operation == "deny":
        services.decision_record(
            request=request, by=by, decision="denied", received_at=now, stated_reason="No", reason_category="other"
        )
    elif operation == "pend":
        services.decision_record(request=request, by=by, decision="pended", received_at=now)
    elif operation == "appeal":
        services.appeal_start(request=request, by=by, filed_at=now)
    elif operation == "withdraw":
        services.request_withdraw(request=request, by=by)


def outcome(operation, status):
    in_appeal = status == Status.APPEAL_IN_PROGRESS
    return {
        "submit": Status.SUBMITTED,
        "send": Status.SENT,
        "approve": Status.APPEAL_APPROVED if in_appeal else Status.APPROVED,
        "deny": Status.APPEAL_DENIED if in_appeal else Status.DENIED,
        "pend": Status.PENDED,
        "appeal": Status.APPEAL_IN_PROGRESS,
        "withdraw": Status.WITHDRAWN,
    }[operation]


CASES = [(status, op) for status in ALL_STATUSES for op in OPERATIONS]


@pytest.mark.parametrize(("source", "operation"), CASES, ids=[f"{op}-from-{s}" for s, op in CASES])
def test_every_operation_in_every_status_moves_by_the_table_or_is_refused(world, source, operation):
    request = advance(draft_for(world), source, world.alice)
    count = StatusTransition.objects.filter(request=request).count()
    target = outcome(operation, source)
    if operation == "send" and source == Status.APPEAL_IN_PROGRESS:
        # Sending an appeal is recorded (a Sending of that appeal) and moves no status.
        operate(request, operation, world.alice)
        request.refresh_from_db()
        assert request.status == source and request.sendings.filter(appeal__isnull=False).count() == 1
        assert StatusTransition.objects.filter(request=request).count() == count
        return
    legal = (source, target) in TRANSITIONS and not (operation == "pend" and source == Status.APPEAL_IN_PROGRESS)
    if legal:
        operate(request, operation, world.alice)
        request.refresh_from_db()
        assert request.status == target
        assert StatusTransition.objects.filter(request=request).count() == count + 1
        return
    with pytest.raises(ValidationError) as exc:
        operate(request, operation, world.alice)
    errors = exc.value.message_dict
    if operation == "pend" and source == Status.APPEAL_IN_PROGRESS:
        assert errors == {"decision": ["An appeal is decided approved or denied."]}
    else:
        assert list(errors) == ["status"]
        assert "cannot become" in errors["status"][0]
    request.refresh_from_db()
    assert request.status == source
    assert StatusTransition.objects.filter(request=request).count() == count


def test_expiry_leaves_requests_it_does_not_apply_to_alone(world):
    for status in (Status.SENT, Status.DENIED, Status.PENDED):
        advance(draft_for(world), status, world.alice)
    assert services.authorizations_expire(today=timezone.localdate() + dt.timedelta(days=400)) == []


def test_the_error_names_what_the_request_can_become(world):
    request = advance(draft_for(world), Status.APPROVED, world.alice)
    with pytest.raises(ValidationError) as exc:
        services.request_withdraw(request=request, by=world.alice)
    assert exc.value.message_dict["status"] == [
        "A request that is approved cannot become withdrawn. From approved it can become: expired."
    ]


def test_a_withdrawn_request_is_final(world):
    request = advance(draft_for(world), Status.WITHDRAWN, world.alice)
    with pytest.raises(ValidationError) as exc:
        services.request_submit(request=request, by=world.alice)
    assert "Withdrawn is final" in exc.value.message_dict["status"][0]


def test_a_pended_request_goes_back_to_the_payer_with_a_new_due_date(world):
    request = advance(draft_for(world), Status.PENDED, world.alice)
    assert request.decision_due_at is None
    services.request_send(request=request, by=world.alice)
    request.refresh_from_db()
    assert request.status == Status.SENT
    assert request.decision_due_at is not None


def test_creation_is_recorded_as_the_first_transition(world):
    request = draft_for(world)
    first = request.transitions.get()
    assert (first.from_status, first.to_status, first.by) == ("", Status.DRAFT, world.alice)


def test_submitting_stores_the_determination_with_the_policy_version_it_used(world):
    request = advance(draft_for(world), Status.SUBMITTED, world.alice)
    assert request.determination["decision"] == request.decision
    assert request.policy_version.policy.payer.code == "medicare-advantage"
    assert request.determination["policy"]["revision"] == request.policy_version.revision
    assert request.criteria_statuses["ligamentum_flavum"] == "met"
    assert request.case["patient"]["last_name"] == "Moreno"
    assert request.case["provider"]["npi"] == world.bob_provider.npi


def test_an_appeal_denied_request_goes_to_the_next_level_while_the_policy_has_one(world):
    request = advance(draft_for(world), Status.APPEAL_DENIED, world.alice)
    # medicare-advantage has five levels in the seed; walk to the last one.
    for level in range(2, 6):
        appeal = services.appeal_start(request=request, by=world.alice)
        assert appeal.level_order == level
        services.decision_record(
            request=request,
            by=world.alice,
            decision="denied",
            received_at=NOW(),
            stated_reason="upheld",
            reason_category="criteria_not_met",
        )
    request.refresh_from_db()
    assert request.status == Status.APPEAL_DENIED
    assert request.appeal_file_by is None
    with pytest.raises(ValidationError) as exc:
        services.appeal_start(request=request, by=world.alice)
    assert "no further appeal level" in exc.value.message_dict["level"][0]


def test_an_appeal_cannot_be_pended(world):
    request = advance(draft_for(world), Status.APPEAL_IN_PROGRESS, world.alice)
    with pytest.raises(ValidationError) as exc:
        services.decision_record(request=request, by=world.alice, decision="pended", received_at=NOW())
    assert "decision" in exc.value.message_dict
    assert PayerDecision.objects.filter(request=request, appeal__isnull=False).count() == 0


def test_only_a_draft_can_be_edited(world):
    request = advance(draft_for(world), Status.SUBMITTED, world.alice)
    with pytest.raises(ValidationError) as exc:
        services.request_update(request=request, by=world.alice, case={})
    assert exc.value.message_dict["status"] == ["Only a draft can be edited; this request is submitted."]


def test_the_expire_command_expires_approvals_whose_window_has_ended(world):
    from io import StringIO

    from django.core.management import call_command

    ended = advance(draft_for(world), Status.APPROVED, world.alice)
    PayerDecision.objects.filter(request=ended).update(valid_to=timezone.localdate() - dt.timedelta(days=1))
    current = advance(draft_for(world), Status.APPROVED, world.alice)
    PayerDecision.objects.filter(request=current).update(valid_to=timezone.localdate())
    out = StringIO()
    call_command("expire_authorizations", stdout=out)
    assert out.getvalue().strip() == "1 authorization(s) expired."
    ended.refresh_from_db()
    current.refresh_from_db()
    assert (ended.status, current.status) == (Status.EXPIRED, Status.APPROVED)
