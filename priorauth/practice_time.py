"""The practice's calendar: while a member's request is answered, Django's current time zone is
their practice's (Practice.time_zone), so "today", a due day, a deadline day and every date a page
or API answer shows are the practice's calendar days, not the server's. Code that runs outside a
request (tasks, commands, services called from them) reads the practice's zone itself
(Practice.localdate, Practice.localtime)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from priorauth.selectors import membership_of


def activate_for(user: AbstractBaseUser | AnonymousUser | None) -> None:
    """Make the user's practice's time zone the current one (the deployment's when they have none)."""
    membership = membership_of(user) if user is not None else None
    if membership is None:
        timezone.deactivate()
    else:
        timezone.activate(membership.practice.zone)


class PracticeTimeZoneMiddleware:
    """Pages: the signed-in member's practice's zone for the whole request. API views authenticate
    a token later, in the view, and activate it then (priorauth.api.BaseApi.initial)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        activate_for(getattr(request, "user", None))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
