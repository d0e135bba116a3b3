"""When a policy changes: publishing a new version re-checks, in a Celery job, every open request of
that payer the payer has not yet decided; the requests whose decision changed are listed for
billing staff with the criteria that changed."""

from __future__ import annotations

import copy
import time

import pytest
from django.db import connection

from config.celery import app
from factories import (
    AuthorizationRequestFactory,
    PatientFactory,
    PracticeFactory,
    ProviderFactory,
    advance,
    entered_case,
    install_shipped_policies,
    member,
)
from policies.models import PolicyVersion
from policies.selectors import export_document
from policies.services import registry_import
from priorauth import services
from priorauth.models import RecheckResult, RecheckRun, Role, Status


def people(seeded_world=None):
    a = PracticeFactory(name="Lakeside Pain Center")
    b = PracticeFactory(name="Hillcrest Spine")
    alice = member("alice", a, Role.BILLING)
    erin = member("erin", b, Role.BILLING)
    bob = member("bob", a, Role.PHYSICIAN)
    return {
        "a": {
            "practice": a,
            "patient": PatientFactory(practice=a),
            "treating_physician": ProviderFactory(practice=a, user=bob),
            "by": alice,
        },
        "b": {
            "practice": b,
            "patient": PatientFactory(practice=b),
            "treating_physician": ProviderFactory(practice=b),
            "by": erin,
        },
        "alice": alice,
        "erin": erin,
        "bob": bob,
    }


def thicker_ligament_required(payer: str = "medicare-advantage", mm: float = 5.0) -> dict:
    """The payer's exported policy with the ligamentum flavum threshold raised."""
    document = copy.deepcopy(export_document(payer_code=payer))
    for criterion in document["payers"][0]["policy"]["criteria"]:
        if criterion["key"] == "ligamentum_flavum":
            criterion["value"] = mm
    return document


def publish(document, capture) -> PolicyVersion:
    with capture(execute=True):
        result = registry_import(document=document, summary="threshold raised")
    (version,) = result.versions
    return version


def test_publishing_a_changed_policy_lists_the_undecided_requests_whose_decision_changed(
    seeded, eager_tasks, django_capture_on_commit_callbacks, api
):
    p = people()
    a = p["a"]
    draft = AuthorizationRequestFactory(**a)
    submitted = advance(AuthorizationRequestFactory(**a), Status.SUBMITTED, p["alice"])
    sent = advance(AuthorizationRequestFactory(**a), Status.SENT, p["alice"])
    pended = advance(AuthorizationRequestFactory(**a), Status.PENDED, p["alice"])
    approved = advance(AuthorizationRequestFactory(**a), Status.APPROVED, p["alice"])  # decided: left alone
    thick = AuthorizationRequestFactory(
        **a,
        case=entered_case(
            clinical={
                **entered_case()["clinical"],
                "imaging": {"modality": "MRI", "date": "2026-09-01", "ligamentum_flavum_mm": 6.0},
            }
        ),
    )  # still meets the raised threshold: unchanged
    other_payer = AuthorizationRequestFactory(**a, payer="medicare")
    other_practice = AuthorizationRequestFactory(**p["b"])
    assert {r.decision for r in (draft, submitted, sent, pended)} == {"meets_criteria"}

    version = publish(thicker_ligament_required(), django_capture_on_commit_callbacks)

    run = RecheckRun.objects.get(version=version)
    assert run.finished_at is not None
    assert run.checked == 6  # draft, submitted, sent, pended, thick (practice A) and practice B's draft
    assert run.changed == 5
    changed = {r.request_id: r for r in RecheckResult.objects.filter(run=run)}
    assert set(changed) == {draft.pk, submitted.pk, sent.pk, pended.pk, other_practice.pk}
    assert approved.pk not in changed and thick.pk not in changed and other_payer.pk not in changed
    result = changed[sent.pk]
    assert (result.old_decision, result.new_decision) == ("meets_criteria", "not_met")
    (criterion,) = result.changed_criteria
    assert (criterion["key"], criterion["old_status"], criterion["new_status"]) == (
        "ligamentum_flavum",
        "met",
        "not_met",
    )
    assert criterion["reason"].startswith("4.1 mm is below the 5 mm")
    # The stored determination is what was submitted; the re-check does not rewrite it.
    sent.refresh_from_db()
    assert sent.decision == "meets_criteria" and sent.policy_version.revision == 1

    listing = api(p["alice"]).get("/api/v1/rechecks").json()
    assert {row["request_id"] for row in listing["results"]} == {draft.pk, submitted.pk, sent.pk, pended.pk}
    row = next(r for r in listing["results"] if r["request_id"] == sent.pk)
    assert row["changed_criteria"][0]["key"] == "ligamentum_flavum"
    assert row["policy_revision"] == version.revision
    assert "criterion ligamentum_flavum value: 2.5 → 5.0" in row["policy_changes"]
    assert {row["request_id"] for row in api(p["erin"]).get("/api/v1/rechecks").json()["results"]} == {
        other_practice.pk
    }

    seen = api(p["alice"]).post(f"/api/v1/rechecks/{row['id']}/seen")
    assert seen.status_code == 200 and seen.json()["seen_by"] == "alice"
    assert sent.pk not in {r["request_id"] for r in api(p["alice"]).get("/api/v1/rechecks").json()["results"]}
    assert sent.pk in {
        r["request_id"] for r in api(p["alice"]).get("/api/v1/rechecks?include_seen=true").json()["results"]
    }
    # The treating physician sees the list but cannot mark it seen for billing.
    assert api(p["bob"]).post(f"/api/v1/rechecks/{changed[draft.pk].pk}/seen").status_code == 403


def test_a_later_version_supersedes_unseen_results_and_a_reverted_change_lists_nothing(
    seeded, eager_tasks, django_capture_on_commit_callbacks
):
    p = people()
    sent = advance(AuthorizationRequestFactory(**p["a"]), Status.SENT, p["alice"])
    first = publish(thicker_ligament_required(mm=5.0), django_capture_on_commit_callbacks)
    assert RecheckResult.objects.filter(run__version=first, request=sent).exists()
    second = publish(thicker_ligament_required(mm=2.5), django_capture_on_commit_callbacks)
    assert RecheckRun.objects.get(version=second).changed == 0
    assert not RecheckResult.objects.filter(superseded=False, seen_at__isnull=True).exists()


def test_the_recheck_is_idempotent_per_version(seeded):
    p = people()
    advance(AuthorizationRequestFactory(**p["a"]), Status.SENT, p["alice"])
    version = registry_import(document=thicker_ligament_required()).versions[0]
    run = services.requests_recheck(version=version)
    again = services.requests_recheck(version=version)
    assert again.pk == run.pk and run.changed == 1
    assert RecheckResult.objects.count() == 1


def test_a_recheck_the_broker_could_not_take_is_sent_again_later(
    seeded, django_capture_on_commit_callbacks, monkeypatch
):
    import datetime as dt

    from django.utils import timezone
    from kombu.exceptions import OperationalError

    from priorauth import tasks

    sent: list[int] = []

    def broker_down(version_id):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.recheck_open_requests, "delay", broker_down)
    version = publish(thicker_ligament_required(), django_capture_on_commit_callbacks)  # the save stands
    assert not RecheckRun.objects.filter(version=version).exists()

    monkeypatch.setattr(tasks.recheck_open_requests, "delay", sent.append)
    assert tasks.rechecks_resend(older_than=dt.timedelta(minutes=5)) == []  # just published: not yet
    PolicyVersion.objects.update(created_at=timezone.now() - dt.timedelta(minutes=10))
    owed = tasks.rechecks_resend(older_than=dt.timedelta(minutes=5))
    assert version.pk in owed and sent == owed
    # Only each policy's newest version is owed one, and once it ran it is owed nothing.
    assert set(PolicyVersion.objects.filter(pk__in=owed).values_list("policy_id", flat=True)) == set(
        PolicyVersion.objects.values_list("policy_id", flat=True)
    )
    assert len(owed) == PolicyVersion.objects.values("policy_id").distinct().count()
    services.requests_recheck(version=version)
    sent.clear()
    PolicyVersion.objects.update(created_at=timezone.now() - dt.timedelta(minutes=10))
    assert version.pk not in tasks.rechecks_resend(older_than=dt.timedelta(minutes=5))


def test_a_draft_edited_after_the_change_is_compared_with_its_new_preview(seeded):
    p = people()
    draft = AuthorizationRequestFactory(**p["a"])
    version = registry_import(document=thicker_ligament_required()).versions[0]
    services.request_update(request=draft, by=p["alice"], case=entered_case())
    draft.refresh_from_db()
    assert draft.decision == "not_met"  # the draft's preview now uses the new version
    assert services.requests_recheck(version=version).changed == 0


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_recheck_after_publishing(request):
    """On PostgreSQL with Redis (CI), a real worker process picks the job up from the broker;
    elsewhere (a newcomer's SQLite run) the task runs in-process as the settings say."""
    real = connection.vendor == "postgresql" and app.conf.broker_url.startswith("redis://")
    if real:
        request.getfixturevalue("celery_worker_process")
    install_shipped_policies()
    p = people()
    sent = advance(AuthorizationRequestFactory(**p["a"]), Status.SENT, p["alice"])
    version = registry_import(document=thicker_ligament_required()).versions[0]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        run = RecheckRun.objects.filter(version=version, finished_at__isnull=False).first()
        if run is not None:
            break
        time.sleep(0.2)
    assert run is not None, "the re-check did not run"
    assert list(run.results.values_list("request_id", flat=True)) == [sent.pk]
