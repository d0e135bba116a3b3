"""seed_demo: two practices, users of every role, a few requests in varied states; idempotent; it
prints who can sign in."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management import call_command

from coverage.validation import npi_is_valid
from priorauth.management.commands.seed_demo import DEMO_PASSWORD
from priorauth.models import AuthorizationRequest, Membership, Patient, Practice, Provider, Role, Status


def test_it_creates_practices_users_of_every_role_and_varied_requests_and_prints_them(registry, capsys, settings):
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert Practice.objects.count() == 2
    roles = set(Membership.objects.values_list("role", flat=True))
    assert roles == {Role.BILLING, Role.PHYSICIAN, Role.ADMIN}
    physician = Membership.objects.filter(role=Role.PHYSICIAN).first().user
    assert npi_is_valid(physician.provider.npi)
    statuses = set(AuthorizationRequest.objects.values_list("status", flat=True))
    assert {
        Status.DRAFT,
        Status.SENT,
        Status.APPROVED,
        Status.DENIED,
        Status.PENDED,
        Status.APPEAL_IN_PROGRESS,
    } <= statuses
    for username in ("admin", "billing", "drwhitfield", "hillcrest-billing"):
        assert username in out
        assert get_user_model().objects.get(username=username).check_password(DEMO_PASSWORD)
    assert DEMO_PASSWORD in out
    assert "Billing staff" in out and "Physician" in out and "Admin" in out
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser


def test_running_it_again_changes_nothing(registry, capsys, settings):
    call_command("seed_demo")
    counts = [
        m.objects.count() for m in (Practice, get_user_model(), Membership, Provider, Patient, AuthorizationRequest)
    ]
    call_command("seed_demo")
    assert [
        m.objects.count() for m in (Practice, get_user_model(), Membership, Provider, Patient, AuthorizationRequest)
    ] == counts
    assert "Demo requests created: 0" in capsys.readouterr().out


def test_the_demo_requests_name_a_demo_desk_so_a_letter_can_be_signed(registry, capsys):
    from policies.models import PayerContact

    call_command("seed_demo")
    requests = AuthorizationRequest.objects.filter(practice__name="Lakeside Pain Center")
    assert requests and all(r.payer_contact is not None and r.payer_contact.is_addressable for r in requests)
    desk = PayerContact.objects.get(key="demo-medicare-advantage")
    assert "(demo desk)" in desk.name and desk.review_status == "unverified" and "Fictional" in desk.review_reason
    practice = Practice.objects.get(name="Lakeside Pain Center")
    assert practice.facility_name and practice.npi and practice.tin
