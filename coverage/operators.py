"""The criterion language: which operators exist, what value each takes, and how each evaluates.

Criteria are data (see docs/policy-format.md). This module is the one place that knows what the data
means: it validates a criterion spec (so that the admin and the importer refuse an unknown path,
an unknown operator or a value of the wrong type, naming the field), and compiles a spec into a
closure the engine calls with no further lookups.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from datetime import date
from typing import Any

from coverage.validation import ENUMS, field_type, is_known_path

MET, NOT_MET, MISSING = "met", "not_met", "missing"


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


ABSENT = _Missing()

SCALAR_OPERATORS = {"present", "is_true", "is_false", "eq", "ne", "gte", "gt", "lte", "lt", "between", "in", "not_in"}
LIST_OPERATORS = {"all_in", "any_in", "none_in"}
ITEM_OPERATORS = {"any_item", "no_item"}
DATE_OPERATORS = {"age_gte", "within_months"}
OPERATORS = frozenset(SCALAR_OPERATORS | LIST_OPERATORS | ITEM_OPERATORS | DATE_OPERATORS | {"all_of"})
CONDITION_OPERATORS = frozenset(SCALAR_OPERATORS | LIST_OPERATORS | DATE_OPERATORS)

REASON_PLACEHOLDERS = frozenset({"actual", "value", "path", "missing"})
# A label names the threshold through {value}, so that an admin's new threshold shows in it too.
LABEL_PLACEHOLDERS = frozenset({"value"})
_TEMPLATE_PATH = re.compile(r"\{([A-Za-z0-9_.]+)\}")
_NUMERIC_TYPES = {"number", "integer"}
_SCALAR_TYPES = {"string", "number", "integer", "boolean", "date"}


_PLAIN_NUMBERS = frozenset({int, float})


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_scalar(v: object) -> bool:
    return isinstance(v, (str, int, float, bool))


def _kind(v: object) -> str:
    """A value's JSON kind, as an admin typed it (the admin's JSON field hands over str subclasses)."""
    if isinstance(v, bool):
        return "true/false"
    if isinstance(v, str):
        return f"the text {str(v)!r}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return "null" if v is None else type(v).__name__


# ---------------------------------------------------------------------------------------------
# Validation of specs


def criterion_spec_errors(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for every problem in one criterion spec; [] when it is sound."""
    errors: list[tuple[str, str]] = []
    if spec.get("section") not in ("clinical", "payer"):
        errors.append(("section", f"unknown section {spec.get('section')!r}; expected clinical or payer"))
    if not isinstance(spec.get("key"), str) or not re.fullmatch(r"[a-z0-9_-]+", spec.get("key") or ""):
        errors.append(("key", "must be a slug of lower-case letters, digits, _ or -"))
    errors.extend(_condition_errors(spec.get("path"), spec.get("operator"), spec.get("value"), base="", top=True))
    for field in ("reason_met", "reason_not_met", "reason_missing"):
        errors.extend((field, message) for message in reason_template_errors(spec.get(field)))
    if "label" in spec:
        errors.extend(("label", message) for message in reason_template_errors(spec.get("label"), LABEL_PLACEHOLDERS))
    return errors


def reason_template_errors(text: object, placeholders: frozenset[str] = REASON_PLACEHOLDERS) -> list[str]:
    """A reason text may hold the bare placeholders {actual}, {value}, {path} and {missing}; a label
    only {value}. A conversion or format spec ({actual!x}, {value:.1f}) would raise when the text is
    rendered, mid-evaluation, since the filled values are display texts; so only bare names pass."""
    if not isinstance(text, str) or not text.strip():
        return ["must be a non-empty text"]
    try:
        fields = [
            (name, conversion, spec) for _, name, spec, conversion in string.Formatter().parse(text) if name is not None
        ]
    except ValueError as exc:
        return [f"malformed placeholder: {exc}; write a literal brace as {{{{ or }}}}"]
    allowed = ", ".join("{" + p + "}" for p in sorted(placeholders))
    errors = []
    for name, conversion, spec in fields:
        if name not in placeholders:
            errors.append(f"unknown placeholder {{{name}}}; allowed: {allowed}")
        elif conversion or spec:
            errors.append(f"placeholder {{{name}}} takes no conversion or format; allowed: {allowed}")
    return errors


def template_path_errors(text: str) -> list[str]:
    """Claim-requirement texts may name case fields in braces; each must be a known path."""
    return [f"unknown case field {{{p}}}" for p in _TEMPLATE_PATH.findall(text or "") if not is_known_path(p)]


# The type a scalar criterion value must have to ever equal a field of each type.
_VALUE_TYPES: dict[str, tuple[Callable[[object], bool], str]] = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "date": (lambda v: isinstance(v, str) and _as_date(v) is not None, "an ISO date string (YYYY-MM-DD)"),
    "number": (_is_number, "a number"),
    "integer": (lambda v: _is_number(v) and float(v).is_integer(), "a whole number"),
    "boolean": (lambda v: isinstance(v, bool), "true or false"),
}


def _value_type_errors(path: str, ftype: str | None, values: list[object]) -> list[tuple[str, str]]:
    """A value of the wrong type for its field (grade "2", or 1 for a boolean) could never match."""
    check = _VALUE_TYPES.get(ftype or "")
    if check is None:
        return []
    is_ok, expected = check
    bad = [v for v in values if not is_ok(v)]
    if bad:
        return [("value", f"{bad[0]!r} is the wrong type for {path}: it holds {expected}")]
    return []


def _condition_errors(path: object, operator: object, value: object, *, base: str, top: bool) -> list[tuple[str, str]]:
    """Errors for a (path, operator, value) triple; `base` is the list path for item conditions.

    An unknown operator and an unknown path are both reported; the value is then only checked for
    its shape, as the field's type is not known."""
    errors: list[tuple[str, str]] = []
    allowed = OPERATORS if top else CONDITION_OPERATORS
    # isinstance first: an operator read from JSON may be a list, which a set cannot hold.
    operator_ok = isinstance(operator, str) and operator in allowed
    if not operator_ok:
        errors.append(("operator", f"unknown operator {operator!r}; expected one of: {', '.join(sorted(allowed))}"))
    full = ""
    if not isinstance(path, str) or not path:
        errors.append(("path", "must be a dotted case field path"))
    else:
        full = f"{base}[].{path}" if base else path
        # "[]" names list items in CASE_FIELDS only; a path written with it is never found in a case.
        if "[]" in path or not is_known_path(full):
            errors.append(("path", f"unknown case field path {full!r}"))
            full = ""
    if not operator_ok:
        return errors
    ftype = field_type(full) if full else None  # None: a free administrative.* path, any type allowed

    def type_is(*types: str) -> bool:
        return ftype is None or ftype in types

    def value_error(message: str) -> None:
        errors.append(("value", message))

    if operator in ("present", "is_true", "is_false"):
        if value is not None:
            value_error(f"operator {operator} takes no value (null)")
        if operator != "present" and not type_is("boolean"):
            errors.append(("operator", f"{operator} needs a boolean field; {full} is {ftype}"))
    elif operator in ("eq", "ne"):
        if not _is_scalar(value):
            value_error(f"operator {operator} needs a single string, number or boolean")
        elif not type_is(*_SCALAR_TYPES):
            errors.append(("operator", f"{operator} needs a single-valued field; {full} is {ftype}"))
        else:
            errors.extend(_value_type_errors(full, ftype, [value]) or _enum_errors(full, [value]))
    elif operator in ("gte", "gt", "lte", "lt"):
        if not _is_number(value):
            value_error(f"operator {operator} needs a number, not {_kind(value)}")
        elif not type_is(*_NUMERIC_TYPES):
            errors.append(("operator", f"{operator} needs a numeric field; {full} is {ftype}"))
    elif operator == "between":
        if not (isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)):
            value_error("operator between needs [low, high] numbers")
        elif value[0] > value[1]:
            value_error("operator between needs low ≤ high")
        elif not type_is(*_NUMERIC_TYPES):
            errors.append(("operator", f"between needs a numeric field; {full} is {ftype}"))
    elif operator in ("in", "not_in", "all_in", "any_in", "none_in"):
        if not (isinstance(value, list) and value and all(_is_scalar(v) for v in value)):
            value_error(f"operator {operator} needs a non-empty list of strings or numbers")
        elif operator in ("in", "not_in") and not type_is(*_SCALAR_TYPES):
            errors.append(
                ("operator", f"{operator} needs a single-valued field; {full} is {ftype} (use any_in/all_in)")
            )
        elif operator in LIST_OPERATORS and not type_is("list[string]"):
            errors.append(("operator", f"{operator} needs a list field; {full} is {ftype}"))
        else:
            # ENUMS names a list[string] field by its own path (its items' allowed values).
            item_type = "string" if operator in LIST_OPERATORS and ftype else ftype
            errors.extend(_value_type_errors(full, item_type, value) or _enum_errors(full, value))
    elif operator in ITEM_OPERATORS:
        if not type_is("list[object]"):
            errors.append(("operator", f"{operator} needs a list of objects; {full} is {ftype}"))
        conditions = value if isinstance(value, list) else [value]
        if not conditions or not all(isinstance(c, dict) for c in conditions):
            value_error(f"operator {operator} needs one or more conditions {{path, operator, value}}")
        elif full and type_is("list[object]"):  # item fields only mean something on a list of objects
            for i, c in enumerate(conditions):
                for field, message in _condition_errors(
                    c.get("path"), c.get("operator"), c.get("value"), base=full, top=False
                ):
                    errors.append(("value", f"condition {i + 1}: {field}: {message}"))
    elif operator == "all_of":
        if not (isinstance(value, list) and value and all(isinstance(c, dict) for c in value)):
            value_error("operator all_of needs a non-empty list of conditions {path, operator, value}")
        else:
            for i, c in enumerate(value):
                for field, message in _condition_errors(
                    c.get("path"), c.get("operator"), c.get("value"), base="", top=False
                ):
                    errors.append(("value", f"condition {i + 1}: {field}: {message}"))
    elif operator in DATE_OPERATORS:
        unit = "years" if operator == "age_gte" else "months"
        if not (isinstance(value, dict) and set(value) == {unit, "as_of"}):
            value_error(f'operator {operator} needs {{"{unit}": N, "as_of": "<date path>"}}')
        elif not _is_number(value[unit]) or value[unit] < 0:
            value_error(f"{unit} must be a number ≥ 0")
        elif not (isinstance(value["as_of"], str) and field_type(value["as_of"]) == "date"):
            value_error(f"as_of must be a date field of the case, not {value['as_of']!r}")
        elif not type_is("date"):
            errors.append(("operator", f"{operator} needs a date field; {full} is {ftype}"))
    return errors


def _enum_errors(path: str, values: list[object]) -> list[tuple[str, str]]:
    allowed = ENUMS.get(path)
    if allowed is None:
        return []
    bad = [v for v in values if v not in allowed]
    if bad:
        return [("value", f"{bad[0]!r} is not a value {path} can take; expected one of: {', '.join(sorted(allowed))}")]
    return []


# ---------------------------------------------------------------------------------------------
# Compilation: a spec becomes a function case -> (status, actual, missing paths)

Evaluator = Callable[..., tuple[str, Any, tuple[str, ...]]]


def split_path(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def lookup(data: Any, parts: tuple[str, ...]) -> Any:
    """The value at a dotted path, or ABSENT (JSON null counts as absent)."""
    for part in parts:
        if not isinstance(data, dict):
            return ABSENT
        data = data.get(part)
        if data is None:
            return ABSENT
    return data


def _getter(parts: tuple[str, ...]) -> Callable[[Any], Any]:
    """lookup(data, parts) unrolled for the usual one to three parts: every criterion of every
    check reads a path or two, and the loop costs as much as the reading."""
    if len(parts) == 1:
        (a,) = parts

        def get1(data: Any) -> Any:
            if isinstance(data, dict):
                data = data.get(a)
                if data is not None:
                    return data
            return ABSENT

        return get1
    if len(parts) == 2:
        a, b = parts

        def get2(data: Any) -> Any:
            if isinstance(data, dict):
                data = data.get(a)
                if isinstance(data, dict):
                    data = data.get(b)
                    if data is not None:
                        return data
            return ABSENT

        return get2
    if len(parts) == 3:
        a, b, c = parts

        def get3(data: Any) -> Any:
            if isinstance(data, dict):
                data = data.get(a)
                if isinstance(data, dict):
                    data = data.get(b)
                    if isinstance(data, dict):
                        data = data.get(c)
                        if data is not None:
                            return data
            return ABSENT

        return get3
    return lambda data: lookup(data, parts)


def _months_between(earlier: date, later: date) -> float:
    return (later.year - earlier.year) * 12 + (later.month - earlier.month) + (later.day - earlier.day) / 31


def _as_date(v: Any) -> date | None:
    if isinstance(v, date):
        return v
    if isinstance(v, str):
        try:
            return date.fromisoformat(v)
        except ValueError:
            return None
    return None


def _key(v: Any) -> tuple[bool, Any]:
    # Python holds True == 1 and False == 0; a criterion that says 1 never means true.
    return (isinstance(v, bool), v)


def _predicate(operator: str, value: Any) -> Callable[[Any], bool]:
    """A test of a present value; the absent case is handled by the caller."""
    if operator == "present":
        return lambda a: a != "" and a != [] and a != {}
    if operator == "is_true":
        return lambda a: a is True
    if operator == "is_false":
        return lambda a: a is False
    if operator in ("eq", "ne"):
        want = _key(value)
        if operator == "eq":
            return lambda a: _is_scalar(a) and _key(a) == want
        return lambda a: not (_is_scalar(a) and _key(a) == want)
    # _is_number(a) written out, plain int and float first: these run for most criteria of each check.
    if operator == "gte":
        return lambda a: (type(a) in _PLAIN_NUMBERS or _is_number(a)) and a >= value
    if operator == "gt":
        return lambda a: (type(a) in _PLAIN_NUMBERS or _is_number(a)) and a > value
    if operator == "lte":
        return lambda a: (type(a) in _PLAIN_NUMBERS or _is_number(a)) and a <= value
    if operator == "lt":
        return lambda a: (type(a) in _PLAIN_NUMBERS or _is_number(a)) and a < value
    if operator == "between":
        lo, hi = value
        return lambda a: (type(a) in _PLAIN_NUMBERS or _is_number(a)) and lo <= a <= hi
    members = frozenset(_key(v) for v in value) if isinstance(value, list) else frozenset()

    def member(x: Any) -> bool:
        # _is_scalar(x) and _key(x) in members, written out: it runs for each item of each list.
        return isinstance(x, (str, int, float, bool)) and (isinstance(x, bool), x) in members

    if operator == "in":
        return member
    if operator == "not_in":
        return lambda a: _is_scalar(a) and not member(a)
    if operator == "all_in":
        return lambda a: isinstance(a, list) and bool(a) and all(member(x) for x in a)
    if operator == "any_in":
        return lambda a: isinstance(a, list) and any(member(x) for x in a)
    if operator == "none_in":
        return lambda a: isinstance(a, list) and not any(member(x) for x in a)
    raise ValueError(f"unknown operator {operator!r}")


def compile_condition(path: str, operator: str, value: Any) -> Evaluator:
    """An evaluator called as evaluate(data) on the case, or evaluate(item, case) on a list item,
    whose date conditions still read their as_of date from the case."""
    parts = split_path(path)

    if operator in ITEM_OPERATORS:
        conditions = value if isinstance(value, list) else [value]
        item_tests = [compile_condition(c["path"], c["operator"], c.get("value")) for c in conditions]
        want_any = operator == "any_item"
        get_items = _getter(parts)
        # The usual item conditions read one field of the item ("outcome in [failed, partial]"):
        # those are tested here directly, as evaluate_scalar would, without two calls per item.
        simple = [
            (c["path"], _predicate(c["operator"], c.get("value")))
            for c in conditions
            if c["operator"] in SCALAR_OPERATORS and "." not in c["path"]
        ]
        if len(simple) == len(conditions):

            def evaluate_simple_items(case: dict, root: dict | None = None) -> tuple[str, Any, tuple[str, ...]]:
                items = get_items(case)
                if items is ABSENT:
                    return MISSING, ABSENT, (path,)
                if not isinstance(items, list):
                    return NOT_MET, items, ()
                missing: list[str] = []
                for index, item in enumerate(items):
                    item_missing: list[str] = []
                    for field, test in simple:
                        value = item.get(field) if isinstance(item, dict) else None
                        if value is None:  # absent: this item might still match
                            item_missing.append(f"{path}.{index}.{field}")
                        elif not test(value):
                            break  # this item cannot match, whatever its other facts
                    else:
                        if item_missing:
                            missing.extend(item_missing)
                        else:
                            return (MET if want_any else NOT_MET), items, ()
                if missing:
                    return MISSING, items, tuple(missing)
                return (NOT_MET if want_any else MET), items, ()

            return evaluate_simple_items

        def evaluate_items(case: dict, root: dict | None = None) -> tuple[str, Any, tuple[str, ...]]:
            items = get_items(case)
            if items is ABSENT:
                return MISSING, ABSENT, (path,)
            if not isinstance(items, list):
                return NOT_MET, items, ()
            # Three-valued over the items: an item whose facts are partly absent might match, so it
            # leaves the criterion missing (never met, never not met) unless another item decides it.
            whole = root if root is not None else case
            matched = False
            missing: list[str] = []
            for index, item in enumerate(items):
                item_missing: list[str] = []
                unknown = False
                for t in item_tests:
                    status, _, miss = t(item, whole)
                    if status == NOT_MET:
                        break  # this item cannot match, whatever its other facts
                    if status == MISSING:
                        unknown = True
                    if miss:
                        item_missing.extend(f"{path}.{index}.{m}" for m in miss)
                else:
                    if unknown:
                        missing.extend(item_missing)
                    else:
                        matched = True
                        break
            if matched:
                return (MET if want_any else NOT_MET), items, ()
            if missing:
                return MISSING, items, tuple(missing)
            return (NOT_MET if want_any else MET), items, ()

        return evaluate_items

    if operator == "all_of":
        parts_tests = [compile_condition(c["path"], c["operator"], c.get("value")) for c in value]
        get_whole = _getter(parts)

        def evaluate_all(case: dict, root: dict | None = None) -> tuple[str, Any, tuple[str, ...]]:
            statuses = []
            missing: list[str] = []
            for t in parts_tests:
                status, _, miss = t(case, root)
                statuses.append(status)
                missing.extend(miss)
            whole = get_whole(case)
            if NOT_MET in statuses:
                return NOT_MET, whole, ()
            if missing:
                return MISSING, whole, tuple(missing)
            return MET, whole, ()

        return evaluate_all

    if operator in DATE_OPERATORS:
        amount = value["years"] if operator == "age_gte" else value["months"]
        as_of_path = value["as_of"]
        get_actual, get_as_of = _getter(parts), _getter(split_path(as_of_path))

        def evaluate_dates(case: dict, root: dict | None = None) -> tuple[str, Any, tuple[str, ...]]:
            actual = get_actual(case)
            as_of = get_as_of(root if root is not None else case)
            if actual is ABSENT or as_of is ABSENT:
                return MISSING, actual, tuple(p for p, v in ((path, actual), (as_of_path, as_of)) if v is ABSENT)
            d, ref = _as_date(actual), _as_date(as_of)
            if d is None or ref is None:
                return NOT_MET, actual, ()
            if operator == "age_gte":
                years = ref.year - d.year - ((ref.month, ref.day) < (d.month, d.day))
                ok = years >= amount
            else:
                ok = 0 <= _months_between(d, ref) <= amount
            return (MET if ok else NOT_MET), actual, ()

        return evaluate_dates

    test = _predicate(operator, value)
    get = _getter(parts)
    missing_path = (path,)

    if len(parts) == 3:  # most criteria read section.object.field: the getter written in
        a, b, c = parts

        def evaluate_scalar3(case: dict, root: dict | None = None) -> tuple[str, Any, tuple[str, ...]]:
            if isinstance(case, dict):
                actual = case.get(a)
                if isinstance(actual, dict):
                    actual = actual.get(b)
                    if isinstance(actual, dict):
                        actual = actual.get(c)
                        if actual is not None:
                            return (MET if test(actual) else NOT_MET), actual, ()
            return MISSING, ABSENT, missing_path

        return evaluate_scalar3

    def evaluate_scalar(case: dict, root: dict | None = None) -> tuple[str, Any, tuple[str, ...]]:
        actual = get(case)
        if actual is ABSENT:
            return MISSING, ABSENT, missing_path
        return (MET if test(actual) else NOT_MET), actual, ()

    return evaluate_scalar


def render_template_paths(text: str, case: dict, fallback: str) -> str:
    """Fill {case.path} references in a claim-requirement text; the fallback when one is absent."""
    return compile_template_paths(text, fallback)(case)


def compile_template_paths(text: str, fallback: str) -> Callable[[dict], str]:
    """render_template_paths with the text parsed once, for the engine's per-case loop."""
    pieces = _TEMPLATE_PATH.split(text)  # literal, path, literal, ..., literal
    if len(pieces) == 1:
        return lambda case: text
    literals = pieces[0::2]
    paths = pieces[1::2]
    getters = [_getter(split_path(p)) for p in paths]

    def render(case: dict) -> str:
        out = [literals[0]]
        absent = False
        for get, path, literal in zip(getters, paths, literals[1:]):
            v = get(case)
            if v is ABSENT:
                absent = True
                # With no fallback the line still has to read as an instruction, not lose a word.
                out.append(f"[{path} not given]")
            else:
                out.append(display(v))
            out.append(literal)
        filled = "".join(out)
        return (fallback or filled) if absent else filled

    return render


def display(v: Any) -> str:
    # Reasons show a case value for most criteria of every check: the JSON types go first, by
    # exact type (a bool is not an int here), before the general cases.
    kind = type(v)
    if kind is str:
        return v
    if kind is int:
        return str(v)
    if v is ABSENT:
        return "not documented"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        return ", ".join([display(x) for x in v]) if v else "none"
    if isinstance(v, dict):
        return "; ".join(f"{k.replace('_', ' ')} {display(x)}" for k, x in v.items())
    return str(v)
