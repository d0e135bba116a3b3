"""A request's page and API detail with more of everything it lists (the N+1 tests of
tests/pages/test_request_pages.py and tests/priorauth/test_request_api.py)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from priorauth.models import (
    Appeal,
    Attachment,
    AuthorizationRequest,
    Letter,
    LetterJob,
    LetterRevision,
    PayerDecision,
    Status,
    StatusTransition,
)


def grow(request: AuthorizationRequest, by, *, n: int) -> None:
    """Add n attachments, transitions, denied appeals (each with its decision and an appeal letter
    of two revisions with their render jobs) to the request, as rows."""
    now = timezone.now()
    start = (request.appeals.order_by("-level_order").values_list("level_order", flat=True).first() or 0) + 1
    for i in range(n):
        Attachment.objects.create(
            request=request,
            kind="imaging_report",
            file=f"priorauth/{request.practice_id}/{request.pk}/{i:032x}.pdf",
            original_name=f"report-{i}.pdf",
            content_type="application/pdf",
            size=100,
            sha256="0" * 64,
            uploaded_by=by,
        )
        StatusTransition.objects.create(
            request=request, from_status=Status.SENT, to_status=Status.DENIED, by=by, at=now - dt.timedelta(hours=i)
        )
        appeal = Appeal.objects.create(
            request=request,
            level_order=start + i,
            level_name=f"Level {start + i}",
            filed_at=now - dt.timedelta(hours=i),
            outcome="denied",
            decided_at=now,
            started_by=by,
        )
        PayerDecision.objects.create(request=request, appeal=appeal, received_at=now, decision="denied", recorded_by=by)
        letter = Letter.objects.create(request=request, kind="appeal", appeal=appeal, created_by=by)
        for number in (1, 2):
            revision = LetterRevision.objects.create(letter=letter, number=number, paragraphs=[], created_by=by)
            LetterJob.objects.create(revision=revision, stage=LetterJob.Stage.DRAFT)
        letter.current_revision = revision
        letter.save()
