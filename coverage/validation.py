"""Validation of a submitted case against the case contract (shared/contract/README.md).

Pure Python: no Django, no ORM. ``validate_case`` returns every problem in the case, in
document order (the order of the keys in the submitted JSON), as ``FieldError``s naming the
field by its dotted path; list items are named by index (``diagnoses.1``).

The checks are made from the case format (coverage/case_format.py), which also yields
``CASE_FIELDS`` (every known dotted path -> type tag) and ``ENUMS`` (dotted path -> allowed
values), which the policy registry uses to check criteria paths. Items of lists of objects are
written with ``[]``: ``clinical.conservative_care[].outcome``.

Speed matters (the checker runs at tens of thousands of cases per second): a valid case is
answered by one generated function (the fast pass, _FastCompiler) and the checks that name each
problem, small closures compiled once at import time, run only for a case it refuses; error paths
are only built when there is an error, the ICD-10-CM code set is read once and NPI check digits
are cached.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from stdnum import luhn

from coverage.case_format import (
    CASE,
    EARLIEST_DATE,
    LATEST_DATE,
    MAX_DIAGNOSES,
    MAX_KEY,
    MAX_LIST,
    MAX_MONTHS,
    MAX_OPEN_DEPTH,
    MAX_OPEN_KEYS,
    MAX_STRING,
    MAX_WEEKS,
    SPINAL_LEVELS,
    Field,
)

__all__ = [
    # the bounds, for whoever names them here (they are the case format's)
    "EARLIEST_DATE",
    "LATEST_DATE",
    "MAX_DIAGNOSES",
    "MAX_KEY",
    "MAX_LIST",
    "MAX_MONTHS",
    "MAX_OPEN_DEPTH",
    "MAX_OPEN_KEYS",
    "MAX_STRING",
    "MAX_WEEKS",
    "CASE_FIELDS",
    "ENUMS",
    "SPINAL_LEVELS",
    "FieldError",
    "field_type",
    "icd10_is_billable",
    "is_known_path",
    "npi_is_valid",
    "validate_case",
]


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str  # dotted path, list items as index: "clinical.conservative_care.0.outcome"
    message: str  # short and human: "must be between 0 and 30"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


# --------------------------------------------------------------------------- code checks

_NPI_RE = re.compile(r"[0-9]{10}")
# ICD-10-CM shape: letter, digit, digit-or-letter, then optionally (dotted or not) 1-4 more.
# This keeps chapters ("19") and blocks ("M40-M54") out before the code set is asked.
_ICD10_RE = re.compile(r"[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?")
# CPT (Category I: 5 digits; II: 4 digits + F; III: 4 digits + T; PLA: 4 digits + U) or
# HCPCS Level II (letter A-V + 4 digits).
_CPT_RE = re.compile(r"[0-9]{4}[0-9FTU]|[A-V][0-9]{4}")
_NCT_RE = re.compile(r"NCT[0-9]{8}")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# The bounds (README "Input limits") are the case format's (coverage/case_format.py).
# NUL and UTF-16 surrogates: PostgreSQL stores neither in text (a stored case is jsonb).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_UNSTORABLE_MESSAGE = "must not contain NUL characters or lone surrogates"


def _unstorable(text: str) -> bool:
    # isascii() is a fast exit for surrogates only: NUL is ASCII.
    return "\x00" in text or (not text.isascii() and _UNSTORABLE.search(text) is not None)


def npi_is_valid(npi: str) -> bool:
    """10 ASCII digits whose last is the Luhn check digit over "80840" + the first 9."""
    return isinstance(npi, str) and _NPI_RE.fullmatch(npi) is not None and _npi_luhn(npi)


@lru_cache(maxsize=4096)
def _npi_luhn(npi: str) -> bool:
    return luhn.is_valid("80840" + npi)


def icd10_is_billable(code: str) -> bool:
    """A billable (leaf) code of the ICD-10-CM code set, dotted ("M48.062") or not ("M48062").

    Codes are case-sensitive (upper case, as published) and must carry no surrounding spaces.
    """
    # The pattern allows a dot only after the category (3rd character); the set is undotted.
    return (
        isinstance(code, str)
        and _ICD10_RE.fullmatch(code) is not None
        and code.replace(".", "") in _billable_icd10_codes()
    )


@cache
def _billable_icd10_codes() -> frozenset[str]:
    """The billable codes of simple_icd_10_cm's release, undotted, read from its plain code list.

    Importing simple_icd_10_cm parses its 10 MB XML tabular (1.5-2 s), which tripled the start-up
    of `manage.py check_case` for a single lookup; its code list of the same release (every
    chapter, block and code, one a line) gives the same answer in about 50 ms. A billable code is
    a leaf: no other code extends it. A name listed twice is a block holding one category of the
    same name (B20, F99, Z66, ...); the package then answers for the block and calls the code not
    billable, but CMS bills these categories as they stand (B20 is HIV disease, Z66 do-not-
    resuscitate), so a leaf counts whatever else shares its name. tests/coverage/
    test_icd10_code_set.py checks this agrees with the package on every other code.
    """
    spec = importlib.util.find_spec("simple_icd_10_cm")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("simple_icd_10_cm is not installed")
    lists = sorted(Path(spec.submodule_search_locations[0], "data").glob("code-list-*.txt"))
    if len(lists) != 1:
        raise ImportError(f"expected one simple_icd_10_cm code list, found {len(lists)}")
    counts = Counter(lists[0].read_text(encoding="utf-8").split())
    # Chapters are numbers and blocks ranges ("M40-M54"); sorted, a code's extensions follow it.
    codes = sorted(name for name in counts if name[0].isalpha() and "-" not in name)
    return frozenset(code for code, following in zip(codes, codes[1:] + [""]) if not following.startswith(code))


# --------------------------------------------------------------------------- primitive checks
# A check is called as check(value, parent_path, key, errors, ctx) for a present (non-null) value;
# the field's path is only built (by _path) when there is something to report.

Check = Callable[[Any, str, Any, list, "_Ctx"], None]


class _Ctx:
    __slots__ = ("payer_codes", "today")

    def __init__(self, payer_codes: Collection[str], today: date) -> None:
        self.payer_codes = payer_codes
        self.today = today


def _path(parent: str, key: Any) -> str:
    if parent:
        return f"{parent}.{key}"
    return str(key) if key != "" else '""'  # an empty top-level key still gets a visible path


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_date(value: Any) -> date | None:
    if isinstance(value, str) and _DATE_RE.fullmatch(value) is not None:
        try:
            return date.fromisoformat(value)
        except ValueError:  # e.g. 2026-02-30
            return None
    return None


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _check_string(value, parent, key, errors, ctx):
    if not isinstance(value, str):
        errors.append(FieldError(_path(parent, key), "must be a string"))
    elif not value or value.isspace():
        errors.append(FieldError(_path(parent, key), "must not be empty"))
    elif len(value) > MAX_STRING:
        errors.append(FieldError(_path(parent, key), f"must be at most {MAX_STRING} characters"))
    elif _unstorable(value):
        errors.append(FieldError(_path(parent, key), _UNSTORABLE_MESSAGE))


def _check_boolean(value, parent, key, errors, ctx):
    if value is not True and value is not False:
        errors.append(FieldError(_path(parent, key), "must be true or false"))


_DATE_MESSAGE = "must be an ISO date (YYYY-MM-DD)"


_DATE_RANGE_MESSAGE = f"must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}"


def _check_date(value, parent, key, errors, ctx):
    parsed = _parse_date(value)
    if parsed is None:
        errors.append(FieldError(_path(parent, key), _DATE_MESSAGE))
    elif not EARLIEST_DATE <= parsed <= LATEST_DATE:
        errors.append(FieldError(_path(parent, key), _DATE_RANGE_MESSAGE))


def _check_past_date(value, parent, key, errors, ctx):
    parsed = _parse_date(value)
    if parsed is None:
        errors.append(FieldError(_path(parent, key), _DATE_MESSAGE))
    elif parsed >= ctx.today:
        errors.append(FieldError(_path(parent, key), "must be a date in the past"))
    elif parsed < EARLIEST_DATE:
        errors.append(FieldError(_path(parent, key), f"must be on or after {EARLIEST_DATE.isoformat()}"))


def _number_check(lo: float | None, hi: float | None, *, integer: bool = False) -> Check:
    kind = "an integer" if integer else "a number"
    if lo is not None and hi is not None:
        range_message = f"must be between {_fmt(lo)} and {_fmt(hi)}"
    elif lo is not None:
        range_message = f"must be at least {_fmt(lo)}"
    else:
        range_message = f"must be at most {_fmt(hi)}"

    def check(value, parent, key, errors, ctx):
        kind_of = type(value)  # exact types: a bool is never a number
        if kind_of is float:
            if not math.isfinite(value) or (integer and not value.is_integer()):
                errors.append(FieldError(_path(parent, key), f"must be {kind}"))
                return
        elif kind_of is not int:
            errors.append(FieldError(_path(parent, key), f"must be {kind}"))
            return
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            errors.append(FieldError(_path(parent, key), range_message))

    return check


def _enum_check(allowed: frozenset[str], order: tuple[str, ...]) -> Check:
    message = "must be one of: " + ", ".join(order)

    def check(value, parent, key, errors, ctx):
        if not (isinstance(value, str) and value in allowed):
            errors.append(FieldError(_path(parent, key), message))

    return check


def _pattern_check(pattern: re.Pattern[str], message: str) -> Check:
    fullmatch = pattern.fullmatch

    def check(value, parent, key, errors, ctx):
        if not isinstance(value, str):
            errors.append(FieldError(_path(parent, key), "must be a string"))
        elif fullmatch(value) is None:
            errors.append(FieldError(_path(parent, key), message))

    return check


def _check_npi(value, parent, key, errors, ctx):
    if not isinstance(value, str):
        errors.append(FieldError(_path(parent, key), "must be a string"))
    elif _NPI_RE.fullmatch(value) is None:
        errors.append(FieldError(_path(parent, key), "must be 10 digits"))
    elif not _npi_luhn(value):
        errors.append(FieldError(_path(parent, key), "invalid NPI check digit"))


def _check_icd10(value, parent, key, errors, ctx):
    if not isinstance(value, str):
        errors.append(FieldError(_path(parent, key), "must be a string"))
    elif not icd10_is_billable(value):
        errors.append(FieldError(_path(parent, key), f"{_short(value)} is not a billable ICD-10-CM code"))


def _check_payer(value, parent, key, errors, ctx):
    if not isinstance(value, str):
        errors.append(FieldError(_path(parent, key), "must be a string"))
    elif value not in ctx.payer_codes:
        expected = ", ".join(sorted(map(str, ctx.payer_codes)))
        errors.append(FieldError(_path(parent, key), f"unknown payer {_short(value)}; expected one of: {expected}"))


# --------------------------------------------------------------------------- schema nodes


class _Node:
    """One field of the case: its type tag, its check, and (for enums) its allowed values.

    ``check`` reports a present value's problems; ``test`` is the same rule as a Python expression
    for the fast pass (see _compile_fast), written by a function of (constant namer, variable name).
    """

    __slots__ = ("tag", "check", "test", "enum", "fields", "item", "closed", "max_items")

    def __init__(
        self,
        tag: str,
        check: Check,
        test: Test | None = None,
        *,
        enum=None,
        fields=None,
        item=None,
        closed=True,
        max_items=MAX_LIST,
    ):
        self.tag = tag
        self.check = check
        self.test = test
        self.enum: tuple[str, ...] | None = enum
        self.fields: dict[str, _Node] | None = fields
        self.item: _Node | None = item
        self.closed = closed
        self.max_items = max_items


# A leaf's rule as an inline expression: test(const, v) -> source text that is true exactly when the
# present value held by variable `v` passes the leaf's check; const(obj) names an object for it.
Test = Callable[[Callable[[Any], str], str], str]


def _leaf(tag: str, check: Check, test: Test) -> _Node:
    return _Node(tag, check, test)


def _enum(*values: str) -> _Node:
    allowed = frozenset(values)
    return _Node(
        "string",
        _enum_check(allowed, values),
        lambda const, v: f"isinstance({v}, str) and {v} in {const(allowed)}",
        enum=values,
    )


def _object(fields: dict[str, _Node], *, closed: bool = True) -> _Node:
    checks = {name: node.check for name, node in fields.items()}
    get = checks.get

    def check(value, parent, key, errors, ctx):
        if not isinstance(value, dict):
            errors.append(FieldError(_path(parent, key), "must be an object"))
            return
        path = _path(parent, key)
        if not closed and len(value) > MAX_OPEN_KEYS:
            errors.append(FieldError(path, f"must have at most {MAX_OPEN_KEYS} fields"))
            return
        for name, field_value in value.items():
            field_check = get(name)
            if field_check is None:
                if closed:
                    errors.append(FieldError(_path(path, _key_name(name)), "unknown field"))
                else:  # an open object's own keys: any JSON, bounded and storable
                    _check_open(field_value, path, name, errors, 1)
            elif field_value is not None:  # null counts as absent
                field_check(field_value, path, name, errors, ctx)

    return _Node("object", check, fields=fields, closed=closed)


def _key_name(name: Any) -> str:
    """A key as an error can name it: unstorable characters (which the JSON answer could not
    carry) as their escapes, and a very long key cut short."""
    text = str(name)
    if _unstorable(text):
        # Only NUL and lone surrogates are escaped: other characters, ASCII or not, stay as typed.
        text = "".join(
            f"\\x{ord(ch):02x}" if ch == "\x00" else f"\\u{ord(ch):04x}" if 0xD800 <= ord(ch) <= 0xDFFF else ch
            for ch in text
        )
    return text if len(text) <= MAX_KEY else text[: MAX_KEY - 3] + "..."


def _check_open(value, parent, key, errors, depth) -> None:
    """A value under the open `administrative` object: any JSON, within the bounds."""
    if isinstance(key, str) and (len(key) > MAX_KEY or _unstorable(key)):  # list indexes are ints
        problem = f"must be at most {MAX_KEY} characters" if len(key) > MAX_KEY else _UNSTORABLE_MESSAGE
        errors.append(FieldError(_path(parent, _key_name(key)), "field name " + problem))
        return
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            errors.append(FieldError(_path(parent, key), f"must be at most {MAX_STRING} characters"))
        elif _unstorable(value):
            errors.append(FieldError(_path(parent, key), _UNSTORABLE_MESSAGE))
    elif isinstance(value, float) and not math.isfinite(value):
        errors.append(FieldError(_path(parent, key), "must be a finite number"))
    elif isinstance(value, (dict, list)):
        path = _path(parent, key)
        if depth >= MAX_OPEN_DEPTH:
            errors.append(FieldError(path, f"must not nest more than {MAX_OPEN_DEPTH} levels"))
        elif isinstance(value, dict):
            if len(value) > MAX_OPEN_KEYS:
                errors.append(FieldError(path, f"must have at most {MAX_OPEN_KEYS} fields"))
                return
            for child_key, child in value.items():
                _check_open(child, path, child_key, errors, depth + 1)
        elif len(value) > MAX_LIST:
            errors.append(FieldError(path, f"must have at most {MAX_LIST} items"))
        else:
            for index, child in enumerate(value):
                _check_open(child, path, index, errors, depth + 1)


def _list(item: _Node, max_items: int = MAX_LIST) -> _Node:
    item_check = item.check
    too_many = f"must have at most {max_items} items"

    def check(value, parent, key, errors, ctx):
        if not isinstance(value, list):
            errors.append(FieldError(_path(parent, key), "must be a list"))
            return
        if len(value) > max_items:
            errors.append(FieldError(_path(parent, key), too_many))
            return
        if value:
            path = _path(parent, key)
            for index, item_value in enumerate(value):
                # inside a list a null is an item of the wrong type, not an absent field
                item_check(item_value, path, index, errors, ctx)

    tag = "list[object]" if item.tag == "object" else f"list[{item.tag}]"
    return _Node(tag, check, enum=item.enum, item=item, max_items=max_items)


def _check_level(value, parent, key, errors, ctx):
    if not isinstance(value, str):
        errors.append(FieldError(_path(parent, key), "must be a string"))
    elif value not in _LEVEL_SET:
        errors.append(FieldError(_path(parent, key), "must be two adjacent vertebrae, e.g. L4-L5 or L5-S1"))


_LEVEL_SET = frozenset(SPINAL_LEVELS)


def _number(lo: float, hi: float, *, integer: bool = False) -> _Node:
    def test(const, v):
        # exact types, as in the check: a bool is never a number, NaN and infinities never pass
        inner = f"{const(math.isfinite)}({v})" + (f" and {v}.is_integer()" if integer else "")
        return f"(type({v}) is int or (type({v}) is float and {inner})) and {lo!r} <= {v} <= {hi!r}"

    return _leaf("integer" if integer else "number", _number_check(lo, hi, integer=integer), test)


def _pattern(pattern: re.Pattern[str], message: str) -> _Node:
    def test(const, v):
        return f"isinstance({v}, str) and {const(pattern.fullmatch)}({v}) is not None"

    return _leaf("string", _pattern_check(pattern, message), test)


# The leaves' rules for the fast pass, each the exact negation of its _check_* reporting a problem.


_UNSTORABLE_SEARCH = _UNSTORABLE.search


def _test_string(const, v):
    unstorable = f"({const(chr(0))} in {v} or (not {v}.isascii() and {const(_UNSTORABLE_SEARCH)}({v}) is not None))"
    return f"isinstance({v}, str) and {v} and not {v}.isspace() and len({v}) <= {MAX_STRING} and not {unstorable}"


def _test_boolean(const, v):
    return f"{v} is True or {v} is False"


def _test_date(const, v):
    d = f"{v}_date"
    return f"({d} := {const(_parse_date)}({v})) is not None and {const(EARLIEST_DATE)} <= {d} <= {const(LATEST_DATE)}"


def _test_past_date(const, v):
    d = f"{v}_date"
    return f"({d} := {const(_parse_date)}({v})) is not None and {const(EARLIEST_DATE)} <= {d} < today"


def _test_npi(const, v):
    return f"isinstance({v}, str) and {const(_NPI_RE.fullmatch)}({v}) is not None and {const(_npi_luhn)}({v})"


def _test_icd10(const, v):
    return f"isinstance({v}, str) and {const(icd10_is_billable)}({v})"


def _test_payer(const, v):
    return f"isinstance({v}, str) and {v} in payer_codes"


def _test_level(const, v):
    return f"isinstance({v}, str) and {v} in {const(_LEVEL_SET)}"


_STRING = _leaf("string", _check_string, _test_string)
_DATE = _leaf("date", _check_date, _test_date)
_PAST_DATE = _leaf("date", _check_past_date, _test_past_date)
_BOOLEAN = _leaf("boolean", _check_boolean, _test_boolean)
_LEAVES: dict[str, _Node] = {
    "text": _STRING,
    "boolean": _BOOLEAN,
    "payer": _leaf("string", _check_payer, _test_payer),
    "npi": _leaf("string", _check_npi, _test_npi),
    "cpt": _pattern(_CPT_RE, "must be a CPT/HCPCS code, e.g. 0275T or G0276"),
    "icd10": _leaf("string", _check_icd10, _test_icd10),
    "level": _Node("string", _check_level, _test_level, enum=SPINAL_LEVELS),
    "nct": _pattern(_NCT_RE, "must be NCT followed by 8 digits"),
}


def _node(spec: Field) -> _Node:
    """The checks of one field of the case format."""
    if spec.kind == "object":
        return _object({name: _node(child) for name, child in spec.fields.items()}, closed=not spec.open)
    if spec.kind == "list":
        return _list(_node(spec.item), spec.max_items)
    if spec.kind == "choice":
        return _enum(*spec.values)
    if spec.kind == "number":
        return _number(spec.low, spec.high, integer=spec.integer)
    if spec.kind == "date":
        return _PAST_DATE if spec.past else _DATE
    return _LEAVES[spec.kind]


_SCHEMA = _node(CASE)


def _walk(node: _Node, prefix: str, fields: dict[str, str], enums: dict[str, frozenset[str]]):
    for name, child in (node.fields or {}).items():
        path = f"{prefix}{name}"
        fields[path] = child.tag
        if child.enum is not None:
            enums[path] = frozenset(child.enum)
        if child.fields is not None:
            _walk(child, path + ".", fields, enums)
        elif child.item is not None and child.item.fields is not None:
            _walk(child.item, path + "[].", fields, enums)


def _build_tables() -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    fields: dict[str, str] = {}
    enums: dict[str, frozenset[str]] = {}
    _walk(_SCHEMA, "", fields, enums)
    return fields, enums


#: Every known dotted path of the case -> type tag ("object", "string", "date", "number",
#: "integer", "boolean", "list[string]", "list[object]"); list-of-object item fields use "[]".
CASE_FIELDS: dict[str, str]
#: Dotted path -> allowed values (for list[string] fields: the allowed items).
ENUMS: dict[str, frozenset[str]]
CASE_FIELDS, ENUMS = _build_tables()

_ADMIN_PREFIX = "administrative."


def is_known_path(path: str) -> bool:
    """A path of the case (CASE_FIELDS), or any key path under the open ``administrative``."""
    if not isinstance(path, str):
        return False
    if path in CASE_FIELDS:
        return True
    if path.startswith(_ADMIN_PREFIX):
        return all(path[len(_ADMIN_PREFIX) :].split("."))  # no empty segment
    return False


def field_type(path: str) -> str | None:
    """The type tag of a known path; None for unknown ``administrative.*`` paths (and others)."""
    return CASE_FIELDS.get(path) if isinstance(path, str) else None


# --------------------------------------------------------------------------- the fast pass


def _open_value_is_valid(value: Any, key: Any) -> bool:
    """An unknown key of an open object and its value pass _check_open (used only there)."""
    errors: list[FieldError] = []
    _check_open(value, "", key, errors, 1)
    return not errors


class _FastCompiler:
    """The schema compiled into one Python function answering "is this case valid?".

    Most cases are valid, and for them validation is all overhead: the checks above cost a call,
    a path and an error list per field. The fast pass tests the same rules as inline expressions in
    one generated function (the schema unrolled, no calls but for dates, codes and open objects),
    stops at the first problem and says only whether there is one; validate_case runs the checks
    above, which name every problem in document order, only when it says there is. Each leaf's
    `test` is the negation of its check's conditions, so the two agree on every input
    (tests/coverage/test_validation.py compares them over random and mutated cases).
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {}
        self.names: dict[int, str] = {}
        self.counter = 0

    def const(self, obj: Any) -> str:
        """A name the generated code reads `obj` by."""
        name = self.names.get(id(obj))
        if name is None:
            name = self.names[id(obj)] = f"_k{len(self.names)}"
            self.namespace[name] = obj
        return name

    def variable(self) -> str:
        self.counter += 1
        return f"v{self.counter}"

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def value(self, node: _Node, v: str, depth: int) -> None:
        """Code that returns False unless the present value in `v` passes `node`."""
        if node.fields is not None:
            self.object(node, v, depth)
        elif node.item is not None:
            self.emit(depth, f"if not isinstance({v}, list) or len({v}) > {node.max_items}:")
            self.emit(depth + 1, "return False")
            item = self.variable()
            self.emit(depth, f"for {item} in {v}:")  # a null item is a wrong item, not an absent one
            self.value(node.item, item, depth + 1)
        else:
            self.emit(depth, f"if not ({node.test(self.const, v)}):")
            self.emit(depth + 1, "return False")

    def object(self, node: _Node, v: str, depth: int, *, is_dict: bool = False) -> None:
        known = frozenset(node.fields)
        if not is_dict:
            self.emit(depth, f"if not isinstance({v}, dict):")
            self.emit(depth + 1, "return False")
        if node.closed:
            self.emit(depth, f"if not {self.const(known)}.issuperset({v}):")
            self.emit(depth + 1, "return False")
        else:
            self.emit(depth, f"if len({v}) > {MAX_OPEN_KEYS}:")
            self.emit(depth + 1, "return False")
            key, child = self.variable(), self.variable()
            self.emit(depth, f"for {key}, {child} in {v}.items():")
            self.emit(
                depth + 1,
                f"if {key} not in {self.const(known)} and not {self.const(_open_value_is_valid)}({child}, {key}):",
            )
            self.emit(depth + 2, "return False")
        for name, field in node.fields.items():
            child = self.variable()
            self.emit(depth, f"{child} = {v}.get({name!r})")
            self.emit(depth, f"if {child} is not None:")  # null counts as absent
            self.value(field, child, depth + 1)

    def compile(self, schema: _Node) -> Callable[[Any, Collection[str], date], bool]:
        self.emit(0, "def case_is_valid(data, payer_codes, today):")
        self.emit(1, "if not isinstance(data, dict) or data.get('payer') is None:")
        self.emit(2, "return False")
        self.object(schema, "data", 1, is_dict=True)
        self.emit(1, "return True")
        source = "\n".join(self.lines) + "\n"
        exec(compile(source, "<coverage.validation fast pass>", "exec"), self.namespace)
        function = self.namespace["case_is_valid"]
        function.source = source  # for a reader in a debugger
        return function


#: is_valid(data, payer_codes, today): True exactly when validate_case would return [].
_case_is_valid = _FastCompiler().compile(_SCHEMA)

# --------------------------------------------------------------------------- entry point

_ROOT_CHECKS: dict[str, Check] = {name: node.check for name, node in _SCHEMA.fields.items()}


def validate_case(data: object, *, payer_codes: Collection[str], today: date | None = None) -> list[FieldError]:
    """Every problem in the case, in document order; [] when valid.

    Never raises on any JSON-like input (dict/list/str/int/float/bool/None nesting).
    ``today`` (default ``date.today()``) is the day ``patient.birth_date`` must precede.
    """
    today = today or date.today()
    if _case_is_valid(data, payer_codes, today):
        return []
    return _case_errors(data, payer_codes, today)


def _case_errors(data: object, payer_codes: Collection[str], today: date) -> list[FieldError]:
    """validate_case without the fast pass: every problem, by the checks of the schema."""
    if not isinstance(data, dict):
        return [FieldError("(root)", "must be a JSON object")]
    errors: list[FieldError] = []
    if data.get("payer") is None:
        errors.append(FieldError("payer", "is required"))
    ctx = _Ctx(payer_codes, today)
    get = _ROOT_CHECKS.get
    for name, value in data.items():
        check = get(name)
        if check is None:
            errors.append(FieldError(_path("", _key_name(name)), "unknown field"))
        elif value is not None:  # null counts as absent
            check(value, "", name, errors, ctx)
    return errors
