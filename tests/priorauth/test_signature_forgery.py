"""Issue 10, item 2: a forged e-signature. Signing needs the treating physician's own user, still a
physician of the request's practice; the final letter prints the signer's own provider record."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from factories import addressed, advance, draft_for
from letter_helpers import install_letter_texts
from priorauth import services
from priorauth.letters import services as letter_services
from priorauth.letters.compose import letter_context
from priorauth.letters.models import LetterStatus
from priorauth.models import Provider, Role, Status


@pytest.fixture
def drafted(world, django_capture_on_commit_callbacks, eager_tasks):
    # The draft is rendered here, also where REDIS_URL sends tasks to a broker with no worker (CI).
    install_letter_texts()
    submitted = addressed(advance(draft_for(world, payer="medicare-advantage"), Status.SUBMITTED, world.alice))
    with django_capture_on_commit_callbacks(execute=True):
        letter, _ = letter_services.letter_request_draft(request=submitted, kind="prior_authorization", by=world.alice)
    letter.refresh_from_db()
    return letter


def test_a_provider_linked_to_billing_staff_behind_the_models_back_does_not_let_them_sign(world, drafted):
    # The forged link (as the admin allowed it before): the treating physician's record points at alice.
    Provider.objects.filter(pk=world.bob_provider.pk).update(user=world.alice)
    with pytest.raises(PermissionDenied):
        letter_services.letter_sign(letter=drafted, by=world.alice)
    drafted.refresh_from_db()
    assert drafted.current_revision.signed_at is None


def test_a_physician_who_is_no_longer_one_cannot_sign(world, drafted):
    services.membership_set(user=world.bob, practice=world.practice_a, role=Role.BILLING)
    with pytest.raises(PermissionDenied):
        letter_services.letter_sign(letter=drafted, by=world.bob)
    drafted.refresh_from_db()
    assert drafted.status == LetterStatus.DRAFT_READY


def test_the_printed_signer_is_the_signing_users_own_provider_record(world, drafted):
    revision = drafted.current_revision
    revision.signed_by, revision.signed_at = world.dave, revision.created_at  # in memory only
    context = letter_context(drafted, revision, final=True)
    assert context["physician"] == {"name": world.dave_provider.name, "npi": world.dave_provider.npi}
    # The draft names the treating physician, for review.
    assert letter_context(drafted, revision, final=False)["physician"]["name"] == world.bob_provider.name
