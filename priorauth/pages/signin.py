"""Sign-in protections for every session-authenticated page (the app, the admin, the API's session
auth): automatic log-off after inactivity and SESSION_COOKIE_AGE after signing in, and django-axes
throttling failed sign-ins."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, logout
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models.expressions import RawSQL
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_POST

LAST_ACTIVITY_KEY = "last_activity"
# When the session signed in. The database row's expiry moves on every save of the session, so the
# absolute limit (SESSION_COOKIE_AGE, 10 hours) is kept by this key, not by the row.
SIGNED_IN_KEY = "signed_in_at"


@receiver(user_logged_in, dispatch_uid="priorauth.pages.signin.signed_in_at")
def _record_sign_in_time(sender: type, request: HttpRequest | None, user: object, **kwargs: object) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[SIGNED_IN_KEY] = int(time.time())


def activity_resolution() -> int:
    """Seconds a recorded activity may age before a request records it again: 1/60 of the idle
    timeout (30 s for 30 minutes). Recording it on every request would write the session on every
    page; this way a clerk clicking through pages writes it at most twice a minute, and is signed out
    at most that much before the full timeout (never after it)."""
    return max(1, settings.SESSION_IDLE_TIMEOUT // 60)


UNREAD_AT_LOAD = "unread_notifications_at_load"


@functools.cache
def _user_query():
    # Made on first use, not at import: the models and the database's quoting are needed.
    from priorauth.models import Membership, Notification, Practice
    from priorauth.prepared import PreparedQuery, Slot

    user_model = get_user_model()
    q = connection.ops.quote_name
    # A correlated COUNT(*) (the ORM says the same with a grouped Subquery and a Coalesce).
    unread = RawSQL(
        f"SELECT COUNT(*) FROM {q(Notification._meta.db_table)} n "
        f"WHERE n.user_id = {q(user_model._meta.db_table)}.{q(user_model._meta.pk.column)} "
        "AND n.read_at IS NULL",
        [],
    )
    parts = (
        (user_model, ""),
        (Membership, "membership__"),
        (Practice, "membership__practice__"),
    )
    names = [prefix + f.attname for model, prefix in parts for f in model._meta.concrete_fields]

    def build(user_id: int):
        return (
            user_model._default_manager.filter(pk=user_id)
            .annotate(**{UNREAD_AT_LOAD: unread})
            .values_list(*names, UNREAD_AT_LOAD)
        )

    return PreparedQuery("signed-in user", build, Slot("user_id", int)), parts


class MemberLoadMixin:
    """Loads the signed-in user of a session with their membership and its practice, and how many
    of their notifications are unread, in one query: every page asks for all three (its navigation,
    its permission checks), and they were three queries.

    The query is compiled once per process (priorauth.prepared): building and compiling it through
    the ORM on every page cost some 2 ms of CPU, more than the database took to answer it. The
    instances are made with Model.from_db, as Django's own select_related makes them."""

    def get_user(self, user_id):
        query, parts = _user_query()
        user_model = parts[0][0]
        try:
            user_id = user_model._meta.pk.to_python(user_id)
        except (TypeError, ValueError, ValidationError):  # a session naming no user this deployment has
            return None
        rows = query.rows("one", user_id=user_id)
        if not rows:
            return None
        values, at = rows[0], 0
        made = []
        for model, _prefix in parts:
            fields = model._meta.concrete_fields
            chunk = values[at : at + len(fields)]
            at += len(fields)
            made.append(None if chunk[0] is None else model.from_db("default", [f.attname for f in fields], chunk))
        user, membership, practice = made
        setattr(user, UNREAD_AT_LOAD, values[at])
        user_model.membership.related.set_cached_value(user, membership)
        if membership is not None:
            type(membership).user.field.set_cached_value(membership, user)
            type(membership).practice.field.set_cached_value(membership, practice)
        return user if self.user_can_authenticate(user) else None


class PasswordBackend(MemberLoadMixin, ModelBackend):
    """Django's username and password check; its sessions' users loaded with their membership."""


class ThrottledLoginBackend(AxesStandaloneBackend):
    """django-axes' lockout check for sign-ins over HTTP.

    Axes refuses to run without the request it counts failures against; authentication without one
    (Django's test client ``login()``, a management command) is not a sign-in from a browser, so it
    is left to the next backend rather than failing.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs
    ):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class IdleLogoutMiddleware:
    """Signs a user out when more than SESSION_IDLE_TIMEOUT seconds passed since their last request.

    Every request of a signed-in user counts as activity, including the pages' own background calls
    (the live checklist, the keep-alive a page sends while its user types). The next request after
    the timeout finds an anonymous user: pages redirect to the sign-in form, which says why.

    The activity is recorded again only once the recorded one is older than activity_resolution(),
    so most requests leave the session unchanged and it is not saved.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = int(time.time())
            last = request.session.get(LAST_ACTIVITY_KEY)
            signed_in = request.session.get(SIGNED_IN_KEY)
            if signed_in is not None and now - int(signed_in) > settings.SESSION_COOKIE_AGE:
                hours = max(1, round(settings.SESSION_COOKIE_AGE / 3600))
                _sign_out(request, f"You were signed out {hours} hour{'s' if hours != 1 else ''} after signing in.")
            elif last is not None and now - int(last) > settings.SESSION_IDLE_TIMEOUT:
                minutes = max(1, round(settings.SESSION_IDLE_TIMEOUT / 60))
                _sign_out(
                    request,
                    f"You were signed out after {minutes} minute{'s' if minutes != 1 else ''} without activity.",
                )
            elif last is None or now - int(last) >= activity_resolution():
                request.session[LAST_ACTIVITY_KEY] = now
        return self.get_response(request)


def _sign_out(request: HttpRequest, why: str) -> None:
    logout(request)
    messages.info(request, f"{why} Please sign in again.")


@require_POST
def keep_alive(request: HttpRequest) -> JsonResponse:
    """Called by idle.js while the user types on a page without sending requests (a long narrative);
    the middleware has already recorded the activity. Says how long the session has left."""
    if not request.user.is_authenticated:
        return JsonResponse({"signed_in": False}, status=401)
    return JsonResponse({"signed_in": True, "idle_timeout": settings.SESSION_IDLE_TIMEOUT})
