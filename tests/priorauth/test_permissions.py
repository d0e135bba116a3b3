"""The one permission rule (priorauth.permissions): require() and can() agree, another practice's
object is never revealed, the services enforce the rule whoever calls them, the system actor may do
only what the table lets it, and the docs' table is the module's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from factories import UserFactory, advance, draft_for
from priorauth import permissions, services
from priorauth.models import PayerDecision, Status

DOCS = Path(__file__).resolve().parents[2] / "docs" / "prior-authorization.md"
PERSONAS = ("alice", "bob", "dave", "adam", "charlie", "erin")


def outcome(user, action: str, obj) -> str:
    try:
        permissions.require(user, action, obj)
    except Http404:
        return "404"
    except PermissionDenied:
        return "403"
    return "allowed"


def scoped_object(w, rule: permissions.Rule, request):
    return {"patient": request.patient, "practice": request.practice}.get(rule.scope, request)


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_answers_can_and_require_alike_for_every_action(world, persona):
    user = getattr(world, persona)
    request = draft_for(world, "a")
    for action, rule in permissions.ACTIONS.items():
        obj = scoped_object(world, rule, request) if rule.scope else None
        assert permissions.can(user, action, obj) == (outcome(user, action, obj) == "allowed"), action


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_never_reveals_another_practices_object(world, persona):
    user = getattr(world, persona)
    theirs = draft_for(world, "b" if persona not in ("charlie", "erin") else "a")
    for action, rule in permissions.ACTIONS.items():
        if rule.scope and rule.scope != "practice":
            assert outcome(user, action, scoped_object(world, rule, theirs)) == "404", action


def test_a_physician_sees_only_the_requests_they_treat(world):
    request = draft_for(world, "a")
    assert outcome(world.bob, "request.read", request) == "allowed"
    assert outcome(world.dave, "request.read", request) == "404"
    assert outcome(world.bob, "request.submit", request) == "403"


def test_letters_are_not_an_admins_to_see_or_ask_for(world):
    request = draft_for(world, "a")
    assert outcome(world.adam, "request.read", request) == "allowed"
    # The API answered 404 and the page 403 to an admin asking for a letter: both now say 404.
    assert outcome(world.adam, "letter.draft", request) == "404"
    assert outcome(world.alice, "letter.draft", request) == "allowed"
    assert outcome(world.adam, "letter.list", None) == "403"


def test_a_refusal_names_who_may(world):
    request = draft_for(world, "a")
    with pytest.raises(PermissionDenied) as caught:
        permissions.require(world.bob, "request.withdraw", request)
    assert str(caught.value) == "Only billing staff may do this."
    with pytest.raises(PermissionDenied) as caught:
        permissions.require(world.alice, "letter.sign", request)
    assert str(caught.value) == "Only the treating physician may sign this letter."


def test_a_user_without_a_practice_is_refused_even_as_superuser(world):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    request = draft_for(world, "a")
    assert outcome(root, "request.read", request) == "404"
    assert outcome(root, "request.list", None) == "403"
    assert outcome(root, "policy.edit", None) == "allowed"
    assert outcome(AnonymousUser(), "request.list", None) == "403"
    assert outcome(None, "request.read", request) == "403"


def test_policy_editors_edit_policies_and_practice_admins_do_not(world):
    editor = UserFactory(username="editor", is_staff=True)
    editor.groups.add(services.policy_editor_group())
    assert permissions.can(editor, "policy.edit")
    assert not permissions.can(world.adam, "policy.edit")
    assert permissions.can(world.adam, "member.manage", world.practice_a)
    assert not permissions.can(world.adam, "member.manage", world.practice_b)


def test_the_system_actor_may_do_only_the_system_actions(world):
    request = advance(draft_for(world, "a"), Status.SENT, world.alice)
    for action, rule in permissions.ACTIONS.items():
        assert permissions.can(permissions.SYSTEM, action, request) == rule.system, action
    decision = services.decision_record(
        request=request,
        by=permissions.SYSTEM,
        decision=PayerDecision.Kind.PENDED,
        received_at=request.sent_at,
    )
    assert decision.recorded_by is None
    with pytest.raises(PermissionDenied):
        services.request_withdraw(request=request, by=permissions.SYSTEM)


@pytest.mark.parametrize(
    ("persona", "refusal"), [("bob", PermissionDenied), ("adam", PermissionDenied), ("erin", Http404)]
)
def test_the_services_enforce_the_rule_whoever_calls_them(world, persona, refusal):
    request = draft_for(world, "a")
    with pytest.raises(refusal):
        services.request_submit(request=request, by=getattr(world, persona))
    with pytest.raises(refusal):
        services.request_withdraw(request=request, by=getattr(world, persona))
    if persona != "adam":  # a practice admin corrects patients in the Django admin (below)
        with pytest.raises(refusal):
            services.patient_update(patient=request.patient, by=getattr(world, persona), member_id="X-1")
    request.refresh_from_db()
    assert request.status == Status.DRAFT and request.patient.member_id != "X-1"
    with pytest.raises(PermissionDenied):
        services.request_submit(request=request, by=None)


def test_a_practice_admin_corrects_a_patient_in_the_django_admin_but_not_through_the_api(world, api):
    patient = services.patient_update(patient=world.patient_a, by=world.adam, member_id="ADM-1")
    assert patient.member_id == "ADM-1"
    response = api(world.adam).patch(f"/api/v1/patients/{patient.pk}", {"member_id": "ADM-2"}, format="json")
    assert response.status_code == 403


def test_the_docs_table_is_the_modules():
    text = DOCS.read_text()
    found = re.search(r"<!-- permission table: .*? -->\n(.*?)<!-- end of permission table -->", text, flags=re.DOTALL)
    assert found, "docs/prior-authorization.md has lost its generated permission table"
    assert found.group(1) == permissions.markdown_table(), "run: manage.py permission_table"


def test_the_table_command_prints_every_action(capsys):
    from django.core.management import call_command

    call_command("permission_table")
    printed = capsys.readouterr().out
    assert printed == permissions.markdown_table()
    for action in permissions.ACTIONS:
        assert f"`{action}`" in printed
