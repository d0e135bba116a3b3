"""The case format (shared/contract/README.md, "The case"), written once.

Every field of a case: its kind, its bounds, its choices in the order people read them and the
words staff see for each. The rest is derived from this one table: the validator and the path
tables of ``coverage.validation``, the OpenAPI description (``coverage.serializers``), the case
form's choices (``priorauth.pages.case_form``) and the words of the letters (``priorauth.letters``).
Pure data: it imports nothing of the project.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

# ------------------------------------------------------------------ bounds (README "Input limits")
# Every string, list and number of a case is bounded, so that a case can be neither huge nor absurd:
# these bounds are far beyond any real case and are part of the contract's "invalid input".
MAX_STRING = 200  # characters of a free text (names, member id, referral number, ...)
MAX_LIST = 50  # items of a list, unless its own bound below is lower
MAX_DIAGNOSES = 25
MAX_MONTHS = 1200  # 100 years: symptom duration, months since a surgery
MAX_WEEKS = 5200  # 100 years of conservative care
EARLIEST_DATE = date(1900, 1, 1)  # a birth date (and any other date of the case) on or after this
LATEST_DATE = date(2199, 12, 31)
MAX_OPEN_KEYS = 50  # keys of the open `administrative` object (and of each object inside it)
MAX_OPEN_DEPTH = 4  # objects and lists nested inside `administrative`
MAX_KEY = 100  # characters of a key inside `administrative`

# Vertebrae top to bottom; a level is two adjacent ones, crossing regions (C7-T1, T12-L1, L5-S1).
_VERTEBRAE = [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 6)] + ["S1"]
SPINAL_LEVELS: tuple[str, ...] = tuple(f"{upper}-{lower}" for upper, lower in zip(_VERTEBRAE, _VERTEBRAE[1:]))


@dataclass(frozen=True)
class Choice:
    value: str  # as the case holds it
    label: str  # as staff read it (the case form)
    phrase: str = ""  # inside a letter's sentence, where that differs from the label


@dataclass(frozen=True)
class Field:
    """One field of the case.

    ``kind`` is what the value is and which rule it follows:
      text       a non-empty free text of at most MAX_STRING characters
      choice     one of ``choices``
      date       an ISO date from EARLIEST_DATE to LATEST_DATE; ``past``: before today instead
      boolean    true or false
      number     a number from ``low`` to ``high``; ``integer`` a whole one
      payer      a payer code of the registry
      npi        10 digits with a valid NPI check digit
      cpt        a CPT/HCPCS code
      icd10      a billable ICD-10-CM code
      level      a spinal level (SPINAL_LEVELS)
      nct        a ClinicalTrials.gov number
      object     ``fields``; ``open``: other keys allowed too (any JSON, bounded)
      list       items of ``item``, at most ``max_items``
    """

    kind: str
    choices: tuple[Choice, ...] = ()
    past: bool = False
    low: float | None = None
    high: float | None = None
    integer: bool = False
    fields: dict[str, Field] = field(default_factory=dict)
    open: bool = False
    item: Field | None = None
    max_items: int = MAX_LIST
    name: str = ""  # an object's name in the API description ("Patient": PatientSerializer)
    help_text: str = ""  # for the API description
    doc: str = ""  # an object's description in the API
    required: bool = False  # the API description's "required": as in the validator, only the payer

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.choices)


def text(**kwargs) -> Field:
    return Field("text", **kwargs)


def choice(*choices: Choice | str, **kwargs) -> Field:
    made = tuple(c if isinstance(c, Choice) else Choice(c, c.replace("_", " ").capitalize()) for c in choices)
    return Field("choice", choices=made, **kwargs)


def number(low: float, high: float, *, integer: bool = False, **kwargs) -> Field:
    return Field("number", low=low, high=high, integer=integer, **kwargs)


def obj(name: str, fields: dict[str, Field], **kwargs) -> Field:
    return Field("object", fields=fields, name=name, **kwargs)


def list_of(item: Field, max_items: int = MAX_LIST, **kwargs) -> Field:
    return Field("list", item=item, max_items=max_items, **kwargs)


PAYER_CODES = ("medicare", "medicare-advantage", "va-community-care", "tricare", "ihs-prc", "commercial")

CASE = obj(
    "Case",
    doc="A mild® case (the case contract). Any field may be absent: its criterion is then `missing`.",
    fields={
        "payer": Field("payer", help_text=", ".join(PAYER_CODES), required=True),
        "patient": obj(
            "Patient",
            {
                "first_name": text(),
                "last_name": text(),
                "birth_date": Field("date", past=True, help_text="ISO date in the past, on or after 1900-01-01"),
                "sex": choice(
                    Choice("F", "Female"),
                    Choice("M", "Male"),
                    Choice("X", "X (non-binary)"),
                    Choice("U", "Unknown"),
                ),
                "member_id": text(),
            },
        ),
        "provider": obj(
            "Provider",
            {
                "npi": Field("npi", help_text="10 digits with a valid NPI check digit"),
                "name": text(),
            },
        ),
        "procedure": obj(
            "Procedure",
            {
                "cpt": Field("cpt", help_text="CPT/HCPCS code, e.g. 0275T or G0276"),
                "levels": list_of(Field("level"), len(SPINAL_LEVELS), help_text="e.g. L4-L5, L5-S1"),
                "planned_date": Field("date"),
                "setting": choice(
                    Choice("hospital_outpatient", "Hospital outpatient", "hospital outpatient department"),
                    Choice("asc", "Ambulatory surgery center (ASC)", "ambulatory surgery center"),
                    Choice("office", "Office", "office"),
                ),
            },
        ),
        "diagnoses": list_of(Field("icd10"), MAX_DIAGNOSES, help_text="billable ICD-10-CM codes"),
        "clinical": obj(
            "Clinical",
            {
                "symptoms": obj(
                    "Symptoms",
                    {
                        "types": list_of(choice("pain", "numbness", "tingling", "heaviness")),
                        "locations": list_of(choice("back", "legs", "buttocks")),
                        "with_standing_or_walking": Field("boolean"),
                        "duration_months": number(0, MAX_MONTHS),
                    },
                ),
                "imaging": obj(
                    "Imaging",
                    {
                        "modality": choice(Choice("MRI", "MRI"), Choice("CT", "CT")),
                        "date": Field("date"),
                        "ligamentum_flavum_mm": number(0, 30),
                    },
                ),
                "spondylolisthesis_grade": number(0, 5, integer=True),
                "conservative_care": list_of(
                    obj(
                        "ConservativeCare",
                        {
                            "type": choice(
                                Choice("physical_therapy", "Physical therapy", "physical therapy"),
                                Choice("home_exercise", "Home exercise", "a home exercise program"),
                                Choice("oral_analgesics", "Oral analgesics", "oral analgesics"),
                                Choice(
                                    "epidural_steroid_injection",
                                    "Epidural steroid injection",
                                    "epidural steroid injections",
                                ),
                                Choice("chiropractic", "Chiropractic", "chiropractic care"),
                                Choice("other", "Other", "other conservative care"),
                            ),
                            "weeks": number(0, MAX_WEEKS),
                            "outcome": choice("failed", "partial", "improved"),
                        },
                    )
                ),
                "prior_lumbar_surgeries": list_of(
                    obj(
                        "PriorSurgery",
                        {
                            "type": choice(
                                Choice("laminectomy", "Laminectomy", "a laminectomy"),
                                Choice("laminotomy", "Laminotomy", "a laminotomy"),
                                Choice("fusion", "Fusion", "a lumbar fusion"),
                                Choice("interspinous_device", "Interspinous spacer", "an interspinous device"),
                                Choice("mild", "mild® procedure", "a mild® procedure"),
                                Choice("other", "Other", "lumbar surgery"),
                            ),
                            "months_ago": number(0, MAX_MONTHS),
                        },
                    )
                ),
                "pain": obj(
                    "Pain",
                    {
                        "vas_leg": number(0, 100),
                        "nprs": number(0, 10),
                        "odi": number(0, 100),
                    },
                ),
            },
        ),
        # Open object: unknown keys are allowed (payer criteria may name any path in it).
        "administrative": obj(
            "Administrative",
            {
                "clinical_study_nct": Field("nct"),
                "referral_number": text(),
                "expedited": Field("boolean"),
                "ihs_prc": obj(
                    "IhsPrc",
                    {
                        "eligible": Field("boolean"),
                        "alternate_resources_exhausted": Field("boolean"),
                        "notified": Field("boolean"),
                    },
                    open=True,
                ),
            },
            open=True,
            help_text="open object; payer criteria may read any key",
        ),
    },
)


def field_at(path: str) -> Field:
    """The field of a dotted path; list items' fields are written with ``[]``
    (``clinical.conservative_care[].type``)."""
    node = CASE
    for part in path.split("."):
        node = node.fields[part.removesuffix("[]")]
        if part.endswith("[]"):
            node = node.item
    return node


def choices_of(path: str) -> tuple[Choice, ...]:
    """The choices of a choice field, or of a list of them, in order."""
    node = field_at(path)
    if node.kind == "list" and node.item is not None:
        node = node.item
    return node.choices
