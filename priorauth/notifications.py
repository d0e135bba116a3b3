"""Reminders (issue 13): each user's daily digest of what is theirs and due, by e-mail and in the
app, and the physician's notice, at once, that a letter waits for their signature.

- E-mail goes through Django's e-mail backend: the console in development, SMTP from EMAIL_URL in
  production (config/settings.py). The body holds no PHI: by default a count and a link;
  DIGEST_EMAIL_DETAIL=references adds the requests' reference numbers, nothing more.
- Idempotent: a notice is a Notification row unique per (user, key); running the job twice finds
  the rows and sends nothing twice. A row whose e-mail failed (emailed_at empty) is retried.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from priorauth import queues, selectors
from priorauth.models import Letter, LetterStatus, Membership, Notification, Role

logger = logging.getLogger(__name__)


def _absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def digest_items(*, user, now: dt.datetime | None = None) -> tuple[int, str, list[str]]:
    """(count, where to look, references) of what is the user's and due today."""
    now = now or timezone.now()
    role = selectors.role_of(user)
    if role == Role.PHYSICIAN:
        letters = Letter.objects.filter(
            request__in=selectors.requests_visible_to(user).values("pk"),
            status=LetterStatus.AWAITING_SIGNATURE,
        )
        refs = list(letters.values_list("request__reference", flat=True)[:50])
        return letters.count(), reverse("pages:letter-list"), refs
    if role == Role.BILLING:
        due = queues.deadlines(user=user, within=dt.timedelta(days=1), limit=50, now=now)
        counts = queues.request_counts(user=user)
        n = (
            due["decisions_overdue_count"]
            + due["decisions_soon_count"]
            + due["appeals_soon_count"]
            + counts["pended"]
            + counts["submitted"]
        )
        refs = [
            d.request.reference for key in ("decisions_overdue", "decisions_soon", "appeals_soon") for d in due[key]
        ]
        return n, reverse("pages:dashboard"), refs
    return 0, "", []


def _email(notification: Notification, *, body: str) -> None:
    """Send and mark; a failure leaves emailed_at empty so the next run retries it."""
    address = notification.user.email
    if not address:
        return
    try:
        send_mail(
            notification.title,
            body,
            settings.DEFAULT_FROM_EMAIL,
            [address],
            fail_silently=False,
        )
    except Exception as exc:  # noqa: BLE001 - any transport error: keep the row for the retry
        logger.warning("notification %s: e-mail not sent (%s)", notification.pk, type(exc).__name__)
        return
    Notification.objects.filter(pk=notification.pk).update(emailed_at=timezone.now())


def _digest_body(count: int, url: str, refs: list[str]) -> str:
    lines = [
        f"You have {count} item{'s' if count != 1 else ''} due in the prior-authorization worklist.",
        "",
        _absolute(url),
    ]
    if settings.DIGEST_EMAIL_DETAIL == "references" and refs:
        lines += ["", "Requests: " + ", ".join(refs)]
    return "\n".join(lines) + "\n"


def digest_send(*, user, day: dt.date | None = None) -> bool:
    """The user's digest for `day` (today): created once, e-mailed once. True if an e-mail went out now."""
    # The practice's day and due days (this runs in beat's task, outside any member's request).
    membership = selectors.membership_of(user)
    with timezone.override(membership.practice.zone if membership is not None else None):
        day = day or timezone.localdate()
        count, url, refs = digest_items(user=user)
    if not count:
        return False
    key = f"digest:{day.isoformat()}"
    existing = Notification.objects.filter(user=user, key=key).first()
    if existing is None:
        try:
            with transaction.atomic():
                existing = Notification.objects.create(
                    user=user,
                    kind=Notification.Kind.DIGEST,
                    key=key,
                    count=count,
                    url=url,
                    title=f"{count} prior-authorization item{'s' if count != 1 else ''} due today",
                )
        except IntegrityError:  # another run made it first
            return False
    if existing.emailed_at is not None:
        return False
    _email(existing, body=_digest_body(count, url, refs))
    existing.refresh_from_db(fields=["emailed_at"])
    return existing.emailed_at is not None


def digests_send(*, day: dt.date | None = None) -> int:
    """Every active practice member's digest (the Celery beat job). Returns e-mails sent."""
    sent = 0
    members = Membership.objects.filter(user__is_active=True).select_related("user", "practice")
    for membership in members:
        if digest_send(user=membership.user, day=day):
            sent += 1
    return sent


def letter_signature_notify(*, letter: Letter) -> Notification | None:
    """The treating physician learns at once that a letter waits for their signature (once per revision)."""
    physician = letter.request.treating_physician.user
    if physician is None or not physician.is_active:
        return None
    key = f"letter-signature:{letter.pk}:{letter.current_revision_id or 0}"
    url = reverse("pages:letter-detail", args=[letter.pk])
    notification, created = Notification.objects.get_or_create(
        user=physician,
        key=key,
        defaults={
            "kind": Notification.Kind.LETTER_SIGNATURE,
            "url": url,
            "count": 1,
            "title": f"A letter for request {letter.request.reference} waits for your signature",
        },
    )
    if created or notification.emailed_at is None:
        body = f"A letter waits for your signature.\n\n{_absolute(url)}\n"
        transaction.on_commit(lambda: _email(notification, body=body))
    return notification


def notifications_for(user):
    return Notification.objects.filter(user=user)


def notification_open(*, notification: Notification, by) -> str:
    """Mark the user's own notice read; where it leads."""
    if notification.user_id != by.pk:
        raise PermissionError("Not your notification.")
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk).update(read_at=timezone.now())
    return notification.url
