"""Role × endpoint × own/foreign object. A foreign object (another practice's, or for a physician
another physician's request) answers 404 on every endpoint and download, and gives nothing away; a
visible object the role may not change answers 403 and stays unchanged.

The matrix is driven by the permission module (priorauth.permissions.ACTIONS): each endpoint names
its action, the status the module's rule gives is checked against the status written out here and
against the HTTP answer, and can() against both, so the module and the API are tested together."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from factories import advance, draft_for, entered_case
from policies.models import PolicyVersion
from priorauth import permissions, services
from priorauth.models import AuditEntry, RecheckResult, RecheckRun, Status

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

# endpoint: (method, path, state the request must be in, body)
ENDPOINTS = {
    "retrieve": ("get", "/api/v1/requests/{id}", Status.DRAFT, None),
    "update": ("patch", "/api/v1/requests/{id}", Status.DRAFT, {"case": entered_case()}),
    "submit": ("post", "/api/v1/requests/{id}/submit", Status.DRAFT, {}),
    "send": ("post", "/api/v1/requests/{id}/send", Status.SUBMITTED, {}),
    "decision": ("post", "/api/v1/requests/{id}/decision", Status.SENT, "decision"),
    "appeal": ("post", "/api/v1/requests/{id}/appeals", Status.DENIED, {}),
    "withdraw": ("post", "/api/v1/requests/{id}/withdraw", Status.DRAFT, {"note": "duplicate"}),
    "attachments": ("get", "/api/v1/requests/{id}/attachments", Status.DRAFT, None),
    "upload": ("post", "/api/v1/requests/{id}/attachments", Status.DRAFT, "upload"),
    "download": ("get", "/api/v1/requests/{id}/attachments/{attachment}", Status.DRAFT, None),
    "patient": ("get", "/api/v1/patients/{patient}", Status.DRAFT, None),
    "patient_update": ("patch", "/api/v1/patients/{patient}", Status.DRAFT, {"member_id": "NEW-1"}),
    "recheck_seen": ("post", "/api/v1/rechecks/{recheck}/seen", Status.DRAFT, {}),
}
# The action of each endpoint in priorauth.permissions.ACTIONS.
ACTION_OF = {
    "retrieve": "request.read",
    "update": "request.update",
    "submit": "request.submit",
    "send": "request.send",
    "decision": "request.decision",
    "appeal": "request.appeal",
    "withdraw": "request.withdraw",
    "attachments": "attachment.list",
    "upload": "attachment.upload",
    "download": "attachment.download",
    "patient": "patient.read",
    "patient_update": "patient.update",
    "recheck_seen": "recheck.seen",
}
OK = {"upload": 201}
READS = {"retrieve", "attachments", "download", "patient"}

# Who acts on their own practice's object: billing staff do everything; the treating physician reads
# and uploads; an admin reads; a physician who is not treating does not see the request at all.
ROLES = {
    "alice": "billing",
    "erin": "billing",
    "bob": "treating",
    "charlie": "treating",
    "adam": "admin",
    "dave": "other_physician",
}


def expected_status(persona: str, endpoint: str, own: bool) -> int:
    if not own:
        return 404
    role = ROLES[persona]
    if role == "other_physician":
        return 404
    if role == "billing":
        return OK.get(endpoint, 200)
    if endpoint in READS or (role == "treating" and endpoint == "upload"):
        return OK.get(endpoint, 200)
    return 403


def status_by_the_module(persona: str, endpoint: str, own: bool) -> int:
    """The status the permission module's table gives: the object must be visible (else 404), the
    role must be one of the action's (else 403, or 404 for a role the action hides objects from)."""
    rule = permissions.ACTIONS[ACTION_OF[endpoint]]
    role = ROLES[persona]
    if not own or role == "other_physician":
        return 404
    role = {"treating": permissions.PHYSICIAN, "billing": permissions.BILLING, "admin": permissions.ADMIN}[role]
    if role in rule.roles:
        return OK.get(endpoint, 200)
    return 404 if role in rule.hidden_from else 403


def test_every_endpoint_of_the_matrix_names_an_action_of_the_module():
    assert set(ACTION_OF) == set(ENDPOINTS)
    assert set(ACTION_OF.values()) <= set(permissions.ACTIONS)


def prepare(w, practice: str, endpoint: str):
    method, path, state, body = ENDPOINTS[endpoint]
    clerk = w.alice if practice == "a" else w.erin
    request = advance(draft_for(w, practice), state, clerk)
    attachment = services.attachment_add(
        request=request,
        kind="imaging_report",
        upload=SimpleUploadedFile("mri.pdf", PDF, content_type="application/pdf"),
        by=clerk,
    )
    run, _ = RecheckRun.objects.get_or_create(
        version=PolicyVersion.objects.get(policy__payer__code="medicare-advantage")
    )
    recheck = RecheckResult.objects.create(
        run=run, request=request, old_decision="meets_criteria", new_decision="not_met"
    )
    url = path.format(id=request.pk, attachment=attachment.pk, patient=request.patient_id, recheck=recheck.pk)
    if body == "decision":
        body = {"decision": "approved", "received_at": timezone.now().isoformat(), "authorization_number": "AUTH-9"}
    elif body == "upload":
        body = {"kind": "therapy_note", "file": SimpleUploadedFile("pt.pdf", PDF, content_type="application/pdf")}
    return method, url, body, request


CASES = [(p, e, own) for p in ROLES for e in ENDPOINTS for own in (True, False)]


@pytest.mark.parametrize(
    ("persona", "endpoint", "own"), CASES, ids=[f"{p}-{e}-{'own' if o else 'foreign'}" for p, e, o in CASES]
)
def test_the_permission_matrix(world, api, persona, endpoint, own):
    user = getattr(world, persona)
    user_practice = "b" if persona in ("charlie", "erin") else "a"
    object_practice = user_practice if own else ("a" if user_practice == "b" else "b")
    method, url, body, request = prepare(world, object_practice, endpoint)
    before = (request.status, request.updated_at, request.patient.member_id, request.attachments.count())
    target = {
        "download": request.attachments.first(),
        "patient": request.patient,
        "patient_update": request.patient,
        "recheck_seen": RecheckResult.objects.filter(request=request).first(),
    }.get(endpoint, request)
    allowed_by_the_module = permissions.can(user, ACTION_OF[endpoint], target)

    client = api(user)
    if endpoint == "upload":
        response = client.post(url, body, format="multipart")
    else:
        response = (
            getattr(client, method)(url, body, format="json") if body is not None else getattr(client, method)(url)
        )

    expected = expected_status(persona, endpoint, own)
    assert status_by_the_module(persona, endpoint, own) == expected
    assert allowed_by_the_module == (expected < 400)
    assert response.status_code == expected, (response.status_code, getattr(response, "data", None))
    if expected in (403, 404):
        request.refresh_from_db()
        assert (request.status, request.updated_at, request.patient.member_id, request.attachments.count()) == before
        body_text = response.content.decode()
        assert request.patient.last_name not in body_text and request.reference not in body_text
    if expected == 404:
        assert response.json() == {"detail": "Not found."}


LISTS = [
    "/api/v1/requests",
    "/api/v1/patients",
    "/api/v1/deadlines?within_days=365",
    "/api/v1/rechecks",
    "/api/v1/providers",
]


@pytest.mark.parametrize("persona", list(ROLES))
@pytest.mark.parametrize("url", LISTS)
def test_lists_hold_only_what_the_user_may_see(world, api, persona, url):
    own_a = advance(draft_for(world, "a"), Status.SENT, world.alice)
    own_b = advance(draft_for(world, "b"), Status.SENT, world.erin)
    version = PolicyVersion.objects.get(policy__payer__code="medicare-advantage")
    run = RecheckRun.objects.create(version=version)
    for r in (own_a, own_b):
        RecheckResult.objects.create(run=run, request=r, old_decision="meets_criteria", new_decision="not_met")
    response = api(getattr(world, persona)).get(url)
    assert response.status_code == 200
    text = response.content.decode()
    mine, theirs = (own_b, own_a) if persona in ("charlie", "erin") else (own_a, own_b)
    assert theirs.reference not in text and theirs.patient.last_name not in text
    assert theirs.treating_physician.npi not in text
    sees_requests = ROLES[persona] != "other_physician"
    if "providers" not in url:
        assert (mine.reference in text or mine.patient.last_name in text) == sees_requests


@pytest.mark.parametrize("persona", list(ROLES))
def test_only_billing_staff_create_requests_and_only_from_their_own_records(world, api, persona):
    user = getattr(world, persona)
    a_side = persona not in ("charlie", "erin")
    patient, physician = (world.patient_a, world.bob_provider) if a_side else (world.patient_b, world.charlie_provider)
    body = {
        "patient": patient.pk,
        "treating_physician": physician.pk,
        "payer": "medicare-advantage",
        "case": entered_case(),
    }
    response = api(user).post("/api/v1/requests", body, format="json")
    assert response.status_code == (201 if ROLES[persona] == "billing" else 403)
    # The other practice's patient and physician are "no such" records: 400 naming the field.
    foreign_patient, foreign_physician = (
        (world.patient_b, world.charlie_provider) if a_side else (world.patient_a, world.bob_provider)
    )
    if ROLES[persona] == "billing":
        response = api(user).post("/api/v1/requests", {**body, "patient": foreign_patient.pk}, format="json")
        assert response.status_code == 400
        assert response.json() == {"patient": ["No such patient in your practice."]}
        response = api(user).post(
            "/api/v1/requests", {**body, "treating_physician": foreign_physician.pk}, format="json"
        )
        assert response.json() == {"treating_physician": ["No such provider in your practice."]}


@pytest.mark.parametrize("persona", list(ROLES))
def test_only_admins_read_the_audit_trail_and_only_their_practices(world, api, persona):
    services.audit_record(user=world.erin, action="read", obj=world.patient_b)
    services.audit_record(user=world.alice, action="read", obj=world.patient_a)
    response = api(getattr(world, persona)).get("/api/v1/audit")
    if ROLES[persona] != "admin":
        assert response.status_code == 403
        return
    assert response.status_code == 200
    usernames = {row["username"] for row in response.json()["results"]}
    assert "alice" in usernames and "erin" not in usernames


def test_anonymous_callers_are_refused_everywhere(world, api):
    request = draft_for(world)
    urls = [
        path.format(id=request.pk, attachment=1, patient=request.patient_id, recheck=1)
        for _, path, _, _ in ENDPOINTS.values()
    ]
    urls += [
        "/api/v1/requests",
        "/api/v1/patients",
        "/api/v1/deadlines",
        "/api/v1/rechecks",
        "/api/v1/metrics/payers",
        "/api/v1/audit",
    ]
    for url in urls:
        assert api().get(url).status_code in (401, 403), url
    assert AuditEntry.objects.filter(action="read").count() == 0


def test_a_user_without_a_practice_sees_nothing_not_even_as_superuser(world, api):
    from factories import UserFactory

    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    request = draft_for(world)
    response = api(root).get(f"/api/v1/requests/{request.pk}")
    assert response.status_code == 403
    assert response.json() == {"detail": "You do not belong to a practice."}


def test_a_huge_or_odd_id_is_not_found_rather_than_an_error(world, api):
    client = api(world.alice)
    assert client.get("/api/v1/requests/99999999999999999999999").status_code == 404
    assert client.get("/api/v1/requests/9223372036854775807").status_code == 404
    assert client.get("/api/v1/patients/0").status_code == 404
