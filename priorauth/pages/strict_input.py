"""Numbers read strictly (issue 13, "input never changes silently").

A browser's number input, or float(), turns what staff type into something else without a word:
"1,5" became 15, "4,2mm" 42, "e" counted as empty. These fields are text inputs (inputmode
decimal) read by one rule, the same one checklist.js applies while staff type:

- digits with at most one decimal separator, a point or a comma ("1,5" is read as 1.5, and the
  page says so: "Read as 1.5 mm");
- the field's own unit may follow ("4,2mm", "4.2 mm");
- anything else (a letter, "1e3", "1,234.5", two separators) is refused with words staff use.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms

NUMBER = re.compile(r"^(?P<sign>[+-]?)(?P<whole>\d+)(?:(?P<sep>[.,])(?P<frac>\d+))?$")


def read_number(text: str, *, unit: str = "") -> tuple[float | None, str]:
    """(value, note): the number in `text` and, when it was not written plainly, how it was read;
    raises ValueError with the words to show when it is not a number."""
    raw = (text or "").strip()
    if raw == "":
        return None, ""
    body = raw
    if unit and body.lower().endswith(unit.lower()):
        body = body[: -len(unit)].rstrip()
    match = NUMBER.match(body)
    if not match:
        example = f"e.g. 4.2{' ' + unit if unit else ''}"
        raise ValueError(f"“{raw}” is not a number: use digits and at most one decimal point ({example}).")
    value = float(f"{match['sign']}{match['whole']}.{match['frac'] or '0'}")
    plain = f"{value:g}"
    note = "" if body == plain and body == raw else f"Read as {plain}{' ' + unit if unit else ''}."
    return value, note


class StrictNumberInput(forms.TextInput):
    input_type = "text"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            {
                "inputmode": "decimal",
                "autocomplete": "off",
                "spellcheck": "false",
                **(attrs or {}),
            }
        )


class StrictNumberField(forms.Field):
    """A float read by read_number; `note` holds how the last value was read (shown by the field)."""

    widget = StrictNumberInput

    def __init__(self, *, unit: str = "", integer: bool = False, **kwargs: Any) -> None:
        self.unit = unit
        self.integer = integer
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.widget.attrs["data-unit"] = unit
        self.note = ""

    def to_python(self, value: Any) -> float | None:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            number, self.note = read_number(str(value or ""), unit=self.unit)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None
        if number is not None and self.integer and number != int(number):
            raise forms.ValidationError(f"Enter a whole number (not {number:g}).", code="invalid")
        return number

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, float):
            return f"{value:g}"
        return value
