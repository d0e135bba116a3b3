"""Labels the pages show for the checker's codes (statuses, decisions, deadline kinds)."""

from django import template

register = template.Library()

STATUS_LABELS = {"met": "Met", "not_met": "Not met", "missing": "Missing"}
DECISION_LABELS = {"meets_criteria": "Meets criteria", "not_met": "Not met", "incomplete": "Incomplete"}
DUE_LABELS = {
    "payer_decision": "Payer's decision",
    "appeal_decision": "Appeal decision",
    "appeal_filing": "Last day to file the appeal",
}


@register.filter
def status_label(value: str) -> str:
    return STATUS_LABELS.get(value, value or "—")


@register.filter
def decision_label(value: str) -> str:
    return DECISION_LABELS.get(value, value or "—")


@register.filter
def due_label(value: str) -> str:
    return DUE_LABELS.get(value, value)


@register.filter
def get_item(mapping: dict, key: str):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def criterion_label(key: str, determination) -> str:
    """A criterion's label in the stored determination (the denial's deficiencies name keys)."""
    for section in ("clinical", "payer_rules"):
        for c in ((determination or {}).get(section) or {}).get("criteria", []):
            if c.get("key") == key:
                return c.get("label", key)
    return key
