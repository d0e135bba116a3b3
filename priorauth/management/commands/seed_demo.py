"""Create a demo practice and a second practice, users of every role and a few requests in varied
states, then print who can sign in. Safe to run again: what exists is kept, and only a missing
password or role is put back.

The second practice exists so that a demo can show that nobody sees another practice's data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from policies.models import Payer, PayerContact
from policies.services import registry_seed
from priorauth import services
from priorauth.models import AuthorizationRequest, Patient, Practice, Provider, Role, Status

DEMO_PASSWORD = "demo-password-2026"

PRACTICES = {
    "demo": {
        "name": "Lakeside Pain Center",
        "address": "100 Lakeside Drive, Suite 200\nMadison, WI 53703",
        "phone": "608-555-0100",
        "fax": "608-555-0101",
        "facility_name": "Lakeside Pain Center Procedure Suite",
        "npi": "1045678905",
        "tin": "39-1234567",
    },
    "other": {
        "name": "Hillcrest Spine & Pain",
        "address": "9 Hillcrest Road\nAustin, TX 78701",
        "phone": "512-555-0190",
        "fax": "512-555-0191",
    },
}
# The demo's payer desks. The payer directory ships with the desks of each program but without names
# or addresses (they are plan-specific: admins fill them in from the payer's own notice), and no letter
# is final without a named addressee; so that a demo can carry a letter to its signature, the demo
# adds one fictional desk per payer, named as such and left unverified. (kind, department)
DEMO_DESKS = {
    "medicare": ("redetermination", "Redeterminations"),
    "medicare-advantage": ("appeals", "Appeals and Grievances"),
    "commercial": ("appeals", "Appeals Department"),
    "tricare": ("appeals", "Reconsiderations"),
    "va-community-care": ("community_care", "Community Care Office"),
    "ihs-prc": ("prc", "Purchased/Referred Care Program"),
}
DEMO_DESK_REASON = "Fictional desk made by seed_demo for the demo only: not a real address."

# (username, practice, role, provider name and NPI for a physician)
USERS = [
    ("admin", "demo", Role.ADMIN, None),
    ("billing", "demo", Role.BILLING, None),
    ("drwhitfield", "demo", Role.PHYSICIAN, ("Dana Whitfield, MD", "1234567893")),
    ("drpatel", "demo", Role.PHYSICIAN, ("Ravi Patel, MD", "1245319599")),
    ("hillcrest-billing", "other", Role.BILLING, None),
    ("drokafor", "other", Role.PHYSICIAN, ("Ngozi Okafor, DO", "1003000126")),
]


def _case(**administrative: Any) -> dict[str, Any]:
    return {
        "procedure": {
            "cpt": "0275T",
            "levels": ["L4-L5"],
            "planned_date": "2026-12-15",
            "setting": "hospital_outpatient",
        },
        "diagnoses": ["M48.062"],
        "clinical": {
            "symptoms": {
                "types": ["pain", "heaviness"],
                "locations": ["legs", "buttocks"],
                "with_standing_or_walking": True,
                "duration_months": 9,
            },
            "imaging": {"modality": "MRI", "date": "2026-09-01", "ligamentum_flavum_mm": 4.1},
            "spondylolisthesis_grade": 1,
            "conservative_care": [
                {"type": "physical_therapy", "weeks": 8, "outcome": "failed"},
                {"type": "oral_analgesics", "weeks": 24, "outcome": "partial"},
            ],
            "prior_lumbar_surgeries": [],
            "pain": {"vas_leg": 70, "nprs": 7, "odi": 42},
        },
        "administrative": {"clinical_study_nct": "NCT03072927", **administrative},
    }


# (first, last, birth date, sex, member id, payer, status the demo leaves the request in, expedited)
DEMO_REQUESTS = [
    ("Ada", "Moreno", dt.date(1949, 3, 2), "F", "1EG4TE5MK72", "medicare-advantage", Status.DRAFT, False),
    ("Walter", "Brandt", dt.date(1952, 7, 19), "M", "2HF7UJ3PL21", "medicare-advantage", Status.SENT, True),
    ("Lucia", "Ferreira", dt.date(1957, 11, 4), "F", "XJC554210387", "commercial", Status.DENIED, False),
    ("Harold", "Nakamura", dt.date(1946, 1, 28), "M", "3KT2WQ8ZR90", "medicare-advantage", Status.APPROVED, False),
    ("Ruth", "Adeyemi", dt.date(1950, 5, 12), "F", "5PM9DX4CV63", "medicare-advantage", Status.PENDED, False),
    ("Samuel", "Ortiz", dt.date(1955, 9, 30), "M", "XJC998120044", "commercial", Status.APPEAL_IN_PROGRESS, False),
]


class Command(BaseCommand):
    help = "Create demo practices, users of every role and demo requests (idempotent); print the sign-ins."

    def handle(self, *args, **options) -> None:
        if not Payer.objects.exists():
            registry_seed()
        with transaction.atomic():
            practices = {key: self._practice(**fields) for key, fields in PRACTICES.items()}
            desks = self._demo_desks()
            users = {}
            for username, practice_key, role, provider in USERS:
                users[username] = self._user(username, practices[practice_key], role, provider)
            users["admin"].is_superuser = True
            users["admin"].save(update_fields=["is_superuser"])
            created = self._requests(
                practices["demo"], users["billing"], Provider.objects.get(npi="1234567893", practice=practices["demo"])
            )
            for request in AuthorizationRequest.objects.filter(practice=practices["demo"], payer_contact__isnull=True):
                if desks.get(request.payer.code) is not None:
                    request.payer_contact = desks[request.payer.code]
                    request.save(update_fields=["payer_contact"])
        self._print(users, created)

    def _demo_desks(self) -> dict[str, PayerContact | None]:
        desks: dict[str, PayerContact | None] = {}
        for payer in Payer.objects.all():
            kind, department = DEMO_DESKS.get(payer.code, ("appeals", "Appeals"))
            desks[payer.code], _ = PayerContact.objects.get_or_create(
                key=f"demo-{payer.code}",
                defaults={
                    "payer": payer,
                    "kind": kind,
                    "name": f"{payer.name} (demo desk)",
                    "department": department,
                    "address": "PO Box 0000 (fictional)\nDemo City, WI 53700",
                    "notes": DEMO_DESK_REASON,
                    "review_status": "unverified",
                    "review_reason": DEMO_DESK_REASON,
                },
            )
        return desks

    def _practice(self, *, name: str, **fields: str) -> Practice:
        practice, _ = Practice.objects.get_or_create(name=name, defaults=fields)
        return practice

    def _user(self, username: str, practice: Practice, role: str, provider: tuple[str, str] | None):
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.org"})
        if created or not user.has_usable_password():
            user.set_password(DEMO_PASSWORD)
            user.save()
        services.membership_set(user=user, practice=practice, role=role)
        if provider is not None:
            name, npi = provider
            existing = Provider.objects.filter(practice=practice, npi=npi).first()
            if existing is None:
                services.provider_create(practice=practice, npi=npi, name=name, user=user)
            elif existing.user_id is None:
                existing.user = user
                existing.save(update_fields=["user"])
        return user

    def _requests(self, practice: Practice, clerk, physician: Provider) -> int:
        created = 0
        now = timezone.now()
        for first, last, birth, sex, member_id, payer_code, target, expedited in DEMO_REQUESTS:
            patient = Patient.objects.filter(practice=practice, member_id=member_id).first()
            if patient is not None:
                continue
            patient = services.patient_create(
                practice=practice,
                by=clerk,
                first_name=first,
                last_name=last,
                birth_date=birth,
                sex=sex,
                member_id=member_id,
            )
            request = services.request_create(
                practice=practice,
                patient=patient,
                payer=Payer.objects.get(code=payer_code),
                treating_physician=physician,
                case=_case(expedited=expedited),
                by=clerk,
            )
            created += 1
            if target == Status.DRAFT:
                continue
            sent_at = now - dt.timedelta(days=6 if target == Status.SENT and not expedited else 2 if expedited else 12)
            # Submitted before it was sent (dates run submitted ≤ sent ≤ decided).
            services.request_submit(
                request=request, by=clerk, submitted_at=sent_at if target != Status.SUBMITTED else None
            )
            if target == Status.SUBMITTED:
                continue
            services.request_send(request=request, by=clerk, sent_at=sent_at)
            answered = sent_at + dt.timedelta(days=5)
            if target == Status.APPROVED:
                services.decision_record(
                    request=request,
                    by=clerk,
                    decision="approved",
                    received_at=answered,
                    authorization_number="MA-7734120",
                    valid_from=answered.date(),
                    valid_to=answered.date() + dt.timedelta(days=180),
                )
            elif target == Status.PENDED:
                services.decision_record(
                    request=request,
                    by=clerk,
                    decision="pended",
                    received_at=answered,
                    stated_reason="Send the MRI report and the physical therapy notes.",
                )
            elif target in (Status.DENIED, Status.APPEAL_IN_PROGRESS):
                services.decision_record(
                    request=request,
                    by=clerk,
                    decision="denied",
                    received_at=answered,
                    payer_reference="DN-20260412-88",
                    stated_reason="PILD (CPT 0275T) is considered experimental/investigational.",
                    reason_category="investigational",
                )
                if target == Status.APPEAL_IN_PROGRESS:
                    services.appeal_start(request=request, by=clerk, filed_at=answered + dt.timedelta(days=2))
        return created

    def _print(self, users: dict[str, Any], created: int) -> None:
        rows = [("username", "role", "practice")]
        for username, user in users.items():
            membership = user.membership
            role = membership.get_role_display() + (" (superuser)" if user.is_superuser else "")
            rows.append((username, role, membership.practice.name))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        self.stdout.write(f"Demo requests created: {created}")
        self.stdout.write(f"Demo users (password for all: {DEMO_PASSWORD}):")
        for index, row in enumerate(rows):
            self.stdout.write(
                "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            )
            if index == 0:
                self.stdout.write("  " + "  ".join("-" * width for width in widths))
        self.stdout.write("Sign in at http://127.0.0.1:8000/ (the admin is at /admin/, the API at /api/v1/docs/).")
