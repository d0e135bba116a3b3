"""Who may do what: the one permission rule of the API, the pages, the services and the admin.

An action is allowed to a user by their role in their practice and their relation to the object:

- the object must be *visible* to the user, the same scope as priorauth.selectors: their own
  practice's records, and for a physician only the requests (and those requests' patients, letters,
  attachments, packets) where they are the treating physician; letters and packets are not an
  admin's to see. An object outside that scope is **404** (`Hidden`): another practice's object is
  never revealed, not even by a different refusal;
- a visible object that the user's role may not act on is **403** (`PermissionDenied`, naming who
  may);
- a user who is not a member of a practice (a superuser included) is refused every action on a
  practice's records; the platform's own actions (the payer policies, managing users and providers
  in the Django admin) go by superuser status and the policy editors' group instead.

`require(user, action, obj)` raises; `can(user, action, obj)` answers for templates and the pages'
`can_*` flags. The services call `require` with their `by`, so that a call from a view, the admin, a
task or a management command meets the same rule; work the system does on its own (a Celery task, a
management command without a user, a payer's answer imported from a file) acts as `SYSTEM`, which
may do exactly the actions marked `system` in the table and nothing else. An anonymous user or
`None` is refused.

The table below (ACTIONS) is the rule; `docs/prior-authorization.md`'s table of who may do what is
printed from it (`manage.py permission_table`) and a test keeps the two the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from priorauth.models import Role

BILLING, PHYSICIAN, ADMIN = Role.BILLING.value, Role.PHYSICIAN.value, Role.ADMIN.value
# The platform's roles outside a practice (the Django admin's payer registry and user management).
POLICY_EDITOR = "policy_editor"
SUPERUSER = "superuser"


class Hidden(Http404, PermissionDenied):
    """An object the user may not see: a 404 to the API and the pages (Http404 is looked at first
    by both Django and DRF), and a refusal (PermissionDenied) to a caller of a service."""


class SystemActor:
    """The product acting on its own (tasks, commands, imports): allowed only the `system` actions."""

    pk = None
    is_authenticated = False
    is_active = True
    username = ""

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = SystemActor()
# Who acts: a signed-in user, an anonymous one (refused), or the system.
User = AbstractBaseUser | AnonymousUser | SystemActor


@dataclass(frozen=True)
class Rule:
    """One action: the roles that may do it (on a visible object), what it is done to (the scope
    that decides 404), whether the system may do it, and the 403's words."""

    label: str
    roles: tuple[str, ...]
    scope: str = ""  # "" (no object), "request", "patient", "letter", "recheck", "provider", "practice"
    system: bool = False
    message: str = ""
    hidden_from: tuple[str, ...] = ()  # roles that do not see the object at all: 404, not 403

    def refusal(self) -> str:
        if self.message:
            return self.message
        names = {BILLING: "billing staff", PHYSICIAN: "physician", ADMIN: "admin"}
        return "Only " + " or ".join(names.get(r, r) for r in self.roles if r in names) + " may do this."


ALL = (BILLING, PHYSICIAN, ADMIN)
STAFF = (BILLING, PHYSICIAN)

# The action table: (action, rule). Order is the order of the docs' table.
ACTIONS: dict[str, Rule] = {
    # Requests
    "request.list": Rule("list requests (a physician: their own patients')", ALL),
    "request.read": Rule("read a request, its history, determination and PAS bundle", ALL, "request"),
    "request.create": Rule("create a draft request", (BILLING,)),
    "request.update": Rule("edit a draft", (BILLING,), "request"),
    "request.submit": Rule("submit a draft", (BILLING,), "request"),
    "request.send": Rule("record the sending to the payer", (BILLING,), "request"),
    "request.follow_up": Rule(
        "set a follow-up date", (BILLING,), "request", message="Only billing staff may set a follow-up date."
    ),
    "request.payer_contact": Rule("choose the payer desk letters go to", (BILLING,), "request"),
    "request.decision": Rule("record the payer's decision", (BILLING,), "request", system=True),
    "request.appeal": Rule("start an appeal", (BILLING,), "request"),
    "request.withdraw": Rule("withdraw a request", (BILLING,), "request"),
    "request.amend": Rule(
        "correct a submitted request", (BILLING,), "request", message="Only billing staff may correct a request."
    ),
    "request.redetermine": Rule(
        "re-run a determination under a new policy",
        (BILLING,),
        "request",
        message="Only billing staff may re-run a determination.",
    ),
    "request.pas_submit": Rule("submit to the payer's PAS endpoint", (BILLING,), "request"),
    "request.pas_response": Rule("record a payer's PAS response", (BILLING,), "request", system=True),
    "pas.notification": Rule("post a PAS subscription notification", (BILLING,)),
    # Attachments
    "attachment.list": Rule("list a request's attachments", ALL, "request"),
    "attachment.upload": Rule("upload an attachment", STAFF, "request"),
    "attachment.download": Rule("download an attachment", ALL, "request"),
    # Patients
    "patient.list": Rule("list patients (a physician: their own)", ALL),
    "patient.read": Rule("read a patient", ALL, "patient"),
    "patient.search": Rule("search patients for a new request", (BILLING,)),
    "patient.create": Rule("add a patient", (BILLING,)),
    "patient.update": Rule("correct a patient's details", (BILLING,), "patient"),
    "patient.admin_correct": Rule("correct a patient's details in the Django admin", (ADMIN, SUPERUSER), "patient"),
    # Policy changes, deadlines, metrics
    "recheck.list": Rule("see requests a policy change affected", ALL),
    "recheck.seen": Rule("mark a re-check result seen", (BILLING,), "recheck"),
    "policy_changes.view": Rule("open the policy-changes page", (ADMIN, BILLING)),
    "deadlines.list": Rule("list deadlines", ALL),
    "metrics.payers": Rule("read payer metrics", ALL),
    "metrics.scorecard": Rule("read the payer scorecard", (BILLING, ADMIN)),
    "dashboard.view": Rule("open the billing dashboard", (BILLING,)),
    "physician_home.view": Rule("open the physician's requests page", (PHYSICIAN,)),
    "notification.list": Rule("read one's notifications", STAFF),
    # Letters (an admin does not see letters: 404)
    "letter.list": Rule("list letters", STAFF),
    "letter.read": Rule("read a letter", STAFF, "letter"),
    "letter.draft": Rule(
        "ask for a letter's draft",
        STAFF,
        "request",
        message="Only billing staff or the treating physician may ask for a letter.",
        hidden_from=(ADMIN,),
    ),
    "letter.edit": Rule(
        "edit a letter's narrative", (PHYSICIAN,), "letter", message="Only the treating physician may edit the letter."
    ),
    "letter.hand_over": Rule(
        "hand a draft to the physician for signature",
        STAFF,
        "letter",
        message="Only billing staff or the treating physician may do this.",
    ),
    "letter.sign": Rule(
        "sign a letter", (PHYSICIAN,), "letter", message="Only the treating physician may sign this letter."
    ),
    "letter.retry": Rule(
        "retry a failed render", STAFF, "letter", message="Only billing staff or the treating physician may do this."
    ),
    "letter.download": Rule("download a letter's PDF or DOCX", STAFF, "letter"),
    # Sending: fax packets
    "packet.list": Rule("list and read a letter's packets", STAFF, "letter"),
    "packet.build": Rule(
        "build a fax packet", (BILLING,), "letter", message="Only the practice's billing staff may build the packet."
    ),
    "packet.download": Rule("download a fax packet", STAFF, "letter"),
    # The practice and the platform (the Django admin)
    "audit.list": Rule("read the practice's audit trail", (ADMIN,)),
    "member.manage": Rule("manage the practice's users and roles", (ADMIN, SUPERUSER), "practice"),
    "provider.manage": Rule("manage the practice's providers", (ADMIN, SUPERUSER), "practice"),
    "policy.edit": Rule("change the payer policies", (POLICY_EDITOR, SUPERUSER)),
}


def _membership(user: Any) -> Any:
    from priorauth.selectors import membership_of

    return membership_of(user)


def _platform_roles(user: Any) -> set[str]:
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return set()
    roles = set()
    if user.is_superuser:
        roles.add(SUPERUSER)
    from priorauth.services import POLICY_EDITOR_GROUP

    if user.groups.filter(name=POLICY_EDITOR_GROUP).exists():
        roles.add(POLICY_EDITOR)
    return roles


def _request_of(obj: Any) -> Any:
    """The authorization request an object belongs to (itself for a request)."""
    from priorauth.models import AuthorizationRequest

    if isinstance(obj, AuthorizationRequest):
        return obj
    for path in ("request", "letter.request", "revision.letter.request"):
        current = obj
        for part in path.split("."):
            current = getattr(current, part, None)
            if current is None:
                break
        if isinstance(current, AuthorizationRequest):
            return current
    return None


def visible(user: Any, obj: Any, *, scope: str = "request") -> bool:
    """Whether the object lies in what the user may see (the selectors' scope, for one object)."""
    membership = _membership(user)
    if membership is None:
        return False
    from priorauth.models import Patient, Practice, Provider

    if scope == "letter" and membership.role not in STAFF:
        return False
    if isinstance(obj, Practice):
        return obj.pk == membership.practice_id
    if isinstance(obj, Provider):
        return obj.practice_id == membership.practice_id
    if isinstance(obj, Patient):
        if obj.practice_id != membership.practice_id:
            return False
        return membership.role != PHYSICIAN or obj.requests.filter(treating_physician__user=user).exists()
    request = _request_of(obj)
    if request is None or request.practice_id != membership.practice_id:
        return False
    return membership.role != PHYSICIAN or request.treating_physician.user_id == user.pk


def _decide(user: Any, action: str, obj: Any) -> tuple[bool, type[Exception] | None, str]:
    rule = ACTIONS[action]
    if user is SYSTEM:
        return (True, None, "") if rule.system else (False, PermissionDenied, "The system may not do this.")
    if not getattr(user, "is_authenticated", False):
        return False, PermissionDenied, "Sign in first."
    platform = _platform_roles(user) if set(rule.roles) & {SUPERUSER, POLICY_EDITOR} else set()
    if platform & set(rule.roles) and (obj is None or SUPERUSER in platform):
        return True, None, ""
    membership = _membership(user)
    if membership is None:
        if obj is not None:
            return False, Hidden, ""
        return False, PermissionDenied, "You do not belong to a practice."
    if obj is not None and not visible(user, obj, scope=rule.scope or "request"):
        return False, Hidden, ""
    if membership.role not in rule.roles:
        if membership.role in rule.hidden_from:
            return False, Hidden, ""
        return False, PermissionDenied, rule.refusal()
    return True, None, ""


def require(user: User | None, action: str, obj: Any = None) -> None:
    """Allow, or raise: `Hidden` (404) for an object the user may not see, `PermissionDenied` (403)
    for a visible object (or no object) the user's role may not act on."""
    allowed, error, message = _decide(user, action, obj)
    if not allowed:
        raise error(message) if message else error()


def can(user: User | None, action: str, obj: Any = None) -> bool:
    """Whether `require` would allow it (for templates and the pages' `can_*` flags)."""
    return _decide(user, action, obj)[0]


# ---------------------------------------------------------------------------------------------
# The docs' table


ROLE_COLUMNS = (
    (BILLING, "billing staff"),
    (PHYSICIAN, "physician (treating)"),
    (ADMIN, "practice admin"),
    (POLICY_EDITOR, "policy editor"),
    (SUPERUSER, "superuser"),
)


def markdown_table() -> str:
    """The table of who may do what, as docs/prior-authorization.md shows it."""
    header = ["action", "what", *(label for _, label in ROLE_COLUMNS), "system"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for action, rule in ACTIONS.items():
        cells = [f"`{action}`", rule.label]
        for role, _ in ROLE_COLUMNS:
            if role in rule.roles:
                cells.append("yes")
            elif role in rule.hidden_from or (rule.scope == "letter" and role == ADMIN):
                cells.append("404")
            elif role in (POLICY_EDITOR, SUPERUSER):
                cells.append("—")
            else:
                cells.append("403")
        cells.append("yes" if rule.system else "—")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *LEGEND]
    return "\n".join(lines) + "\n"


LEGEND = (
    "*yes*: allowed on an object the user sees: their practice's, and for a physician the requests where",
    "they are the treating physician (with those requests' patients, attachments, letters and packets).",
    "Another practice's object answers **404** to everyone, like one that does not exist. *403*: the",
    "object is visible but the role may not do this. *404*: the role does not see such objects at all",
    "(letters and packets are not an admin's). *—*: a superuser or policy editor acts on PHI only as a",
    "member of a practice (without one: 403, and any object 404). *system*: what the product does on its",
    "own (`permissions.SYSTEM`: tasks, `pas_import`).",
)
