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


# Internal notation staff should not meet (issue 13): the case contract's dotted paths and the
# reference file names of the rule sources. The paths become the words of the field; the same rule
# runs in checklist.js (staffText) for the live checklist.
_PATH = __import__("re").compile(
    r"\b(?:clinical|administrative|procedure|patient|provider)\.[a-z_]+(?:\.[a-z_]+|\[\])*"
)
_SOURCE_NOTE = __import__("re").compile(r"\s*\([^()]*\bdomain\.md\b[^()]*\)|[^.()]*\bdomain\.md\b[^.()]*\.?")


def path_words(path: str) -> str:
    parts = [p for p in path.replace("[]", "").split(".") if p not in ("clinical", "administrative")]
    return " ".join(p.replace("_", " ") for p in parts)


@register.filter
def staff_text(value: str) -> str:
    """A checker or policy text as staff read it: contract paths in words, source file names out."""
    if not value:
        return value
    text = _PATH.sub(lambda m: path_words(m.group(0)), str(value))
    return _SOURCE_NOTE.sub("", text).strip()


@register.filter
def version_label(version) -> str:
    """A policy version as staff name it: "Original Medicare's policy, revision 3" (not "tricare: … r1")."""
    if not version:
        return "—"
    policy = version.policy
    payer = getattr(policy, "payer", None)
    name = getattr(payer, "name", "") or str(policy)
    return f"{name}'s policy, revision {version.revision}"


@register.simple_tag
def queue_list(queues):
    """The queues as HTML (made in Python: see priorauth.pages.worklist_page.queues_html)."""
    from priorauth.pages.worklist_page import queues_html

    return queues_html(queues)


@register.simple_tag
def due_table(items, caption: str, empty: str):
    """A deadlines table as HTML (made in Python: see priorauth.pages.worklist_page.due_table_html)."""
    from priorauth.pages.worklist_page import due_table_html

    return due_table_html(items, caption=caption, empty=empty)


@register.simple_tag
def options(choices, selected):
    """A select's options as HTML (priorauth.pages.worklist_page.options_html)."""
    from priorauth.pages.worklist_page import options_html

    return options_html(choices, selected)
