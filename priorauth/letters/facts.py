"""The patient's documented facts, as sentences a payer's reviewer reads (issue 11).

Every sentence here is composed from what the case records, never from a rule's wording or a
checker's status: "She has had neurogenic claudication for 14 months; 10 weeks of physical therapy
did not relieve it", not "Symptoms: met". A fact the case does not record produces no sentence, so
a letter never asserts what the record does not show (and never volunteers "not documented" to the
payer either: what is missing is a finding for staff, shown on the request and draft pages).

`criterion_facts` gives the sentences that bear on one criterion (by its key), which the appeal uses
to answer a denial point by point; `criterion_enclosure` names the document that proves it.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from typing import Any

from coverage.case_format import choices_of

# How a letter's sentence names each treatment and surgery: the case format's words.
CARE_NAMES = {c.value: c.phrase for c in choices_of("clinical.conservative_care[].type")}
CARE_OUTCOMES = {
    "failed": "did not relieve {obj} symptoms",
    "partial": "gave only partial relief",
    "improved": "improved {obj} symptoms",
}
SURGERY_NAMES = {c.value: c.phrase for c in choices_of("clinical.prior_lumbar_surgeries[].type")}
NEUROGENIC_CLAUDICATION = "M48.062"
# A spinal level or a code is one token for the reader: "L4-L5" must never break as "L4-/L5".
# Letters print them with non-breaking hyphens (U+2011), which also keeps PDF text searchable.
NB_HYPHEN = "\u2011"
_LEVEL = re.compile(r"\b([LS]\d)-([LS]\d)\b")


def get(data: Any, path: str, default: Any = None) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return default
        data = data[part]
    return default if data is None else data


def long_date(value: Any) -> str:
    """A date as the payer reads it (December 15, 2026); "" when there is none."""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return ""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return f"{value:%B} {value.day}, {value.year}"
    return ""


def join(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def level_text(levels: list[str]) -> str:
    return join([_LEVEL.sub(lambda m: f"{m[1]}{NB_HYPHEN}{m[2]}", str(x)) for x in levels])


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


@cache
def icd10_description(code: str) -> str:
    import simple_icd_10_cm  # slow to import (it parses its code tables): only when a letter needs it

    try:
        return simple_icd_10_cm.get_description(code)
    except ValueError:
        return ""


def patient_name(case: dict[str, Any]) -> str:
    return f"{get(case, 'patient.first_name', '')} {get(case, 'patient.last_name', '')}".strip()


class Person:
    """How sentences refer to the patient: by name first, then by pronoun where the sex is known."""

    def __init__(self, case: dict[str, Any]):
        self.name = patient_name(case) or "The patient"
        sex = get(case, "patient.sex", "")
        self.subject, self.obj, self.possessive = {"F": ("She", "her", "her"), "M": ("He", "him", "his")}.get(
            sex, (self.name, "the patient", "the patient's")
        )


def _s(text: str, citations: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    return {"text": text, "citations": list(citations), "note": ""}


# ---------------------------------------------------------------------------------------------
# One composer per fact group; each returns [] when the case records nothing about it.


def symptoms(case: dict[str, Any], who: Person) -> list[dict[str, Any]]:
    types = [str(t).replace("_", " ") for t in get(case, "clinical.symptoms.types", [])]
    locations = [str(x).replace("_", " ") for x in get(case, "clinical.symptoms.locations", [])]
    walking = get(case, "clinical.symptoms.with_standing_or_walking") is True
    months = get(case, "clinical.symptoms.duration_months")
    since = f" for {_num(months)} month{'s' if months != 1 else ''}" if isinstance(months, (int, float)) else ""
    if not (types or locations or since):
        return []
    what = join(types) or "symptoms"
    where = f" in the {join(locations)}" if locations else ""
    if walking and NEUROGENIC_CLAUDICATION in get(case, "diagnoses", []):
        return [_s(f"{who.name} has had neurogenic claudication{since}: {what}{where} when standing or walking.")]
    when = " when standing or walking" if walking else ""
    return [_s(f"{who.name} has had {what}{where}{when}{since}.")]


def pain_scores(case: dict[str, Any], who: Person) -> list[dict[str, Any]]:
    vas, nprs, odi = (get(case, f"clinical.pain.{k}") for k in ("vas_leg", "nprs", "odi"))
    parts = []
    if vas is not None:
        parts.append(f"leg pain of {_num(vas)}/100 on the visual analogue scale")
    if nprs is not None:
        parts.append(f"pain of {_num(nprs)}/10 on the numeric rating scale")
    out = [_s(f"{who.subject} reports {join(parts)}.")] if parts else []
    if odi is not None:
        out.append(_s(f"{who.possessive.capitalize()} Oswestry Disability Index is {_num(odi)}%."))
    return out


def imaging(case: dict[str, Any], who: Person) -> list[dict[str, Any]]:
    img = get(case, "clinical.imaging", {})
    levels = get(case, "procedure.levels", [])
    if not img and not levels:
        return []
    modality = get(img, "modality", "")
    date = long_date(get(img, "date"))
    flavum = get(img, "ligamentum_flavum_mm")
    findings = "lumbar spinal stenosis" + (f" at {level_text(levels)}" if levels else "")
    if flavum is not None:
        findings += f" with hypertrophic ligamentum flavum of {_num(flavum)} mm"
    if modality or date:
        noun = modality or "imaging study"
        # "An MRI", "A CT", "An imaging study": the article follows the sound of the first letter.
        an = noun[:1].upper() in "AEIOU" or (noun.isupper() and noun[:1] in "AEFHILMNORSX")
        return [_s(f"{'An' if an else 'A'} {noun}{' of ' + date if date else ''} shows {findings}.")]
    return [_s(f"{who.subject} has {findings}.")]


def spondylolisthesis(case: dict[str, Any], who: Person) -> list[dict[str, Any]]:
    grade = get(case, "clinical.spondylolisthesis_grade")
    if grade is None:
        return []
    if grade == 0:
        return [_s("There is no spondylolisthesis.")]
    return [_s(f"There is grade {_num(grade)} (Meyerding) spondylolisthesis.")]


def prior_surgery(case: dict[str, Any], who: Person) -> list[dict[str, Any]]:
    surgeries = get(case, "clinical.prior_lumbar_surgeries")
    if surgeries is None:
        return []
    if surgeries == []:
        return [_s(f"{who.subject} has had no lumbar surgery.")]
    done = []
    for x in surgeries:
        name = SURGERY_NAMES.get(get(x, "type", ""), "lumbar surgery")
        months = get(x, "months_ago")
        done.append(f"{name} {_num(months)} months ago" if months is not None else name)
    return [_s(f"{who.subject} had {join(done)}.")]


def conservative_care(case: dict[str, Any], who: Person) -> list[dict[str, Any]]:
    care = get(case, "clinical.conservative_care", [])
    out = []
    for item in care:
        name = CARE_NAMES.get(item.get("type"), "conservative care")
        weeks = item.get("weeks")
        outcome = CARE_OUTCOMES.get(item.get("outcome"))
        if outcome is None:
            continue
        subject = (
            f"{_num(weeks)} week{'s' if weeks != 1 else ''} of {name}"
            if isinstance(weeks, (int, float))
            else name[0].upper() + name[1:]
        )
        subject = subject[0].upper() + subject[1:]
        out.append(_s(f"{subject} {outcome.format(obj=who.possessive)}."))
    return out


def care_failed(case: dict[str, Any]) -> bool:
    return any(i.get("outcome") in ("failed", "partial") for i in get(case, "clinical.conservative_care", []))


def diagnosis(case: dict[str, Any], who: Person) -> list[dict[str, Any]]:
    codes = get(case, "diagnoses", [])
    if not codes:
        return []
    named = [f"{c} ({icd10_description(c)})" if icd10_description(c) else c for c in codes]
    return [_s(f"The diagnosis is {join(named)}.")]


def study_enrollment(case: dict[str, Any], who: Person, *, study: str) -> list[dict[str, Any]]:
    """The CED sentence, only when the case names the study a mild® case can be enrolled in."""
    nct = get(case, "administrative.clinical_study_nct", "")
    if nct != study:
        return []
    return [
        _s(
            f"{who.subject} is enrolled in the CMS-approved study {nct}, and the claim will carry modifier Q0, diagnosis Z00.6 and that number."
        )
    ]


def referral(case: dict[str, Any], who: Person, *, label: str) -> list[dict[str, Any]]:
    number = get(case, "administrative.referral_number", "")
    return [_s(f"The {label} for this care is {number}.")] if number else []


def ihs_status(case: dict[str, Any], who: Person) -> list[dict[str, Any]]:
    prc = get(case, "administrative.ihs_prc", {})
    out = []
    if get(prc, "eligible") is True:
        out.append(f"{who.subject} is eligible for Purchased/Referred Care")
    if get(prc, "alternate_resources_exhausted") is True:
        out.append("alternate resources have been used first")
    if get(prc, "notified") is True:
        out.append("the PRC program was notified before this request")
    return [_s(("; ".join(out)) + ".")] if out else []


def clinical_facts(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The clinical summary: symptoms and their duration, pain and function, imaging, stability,
    prior surgery and the diagnosis, in that order."""
    who = Person(case)
    return [
        *symptoms(case, who),
        *pain_scores(case, who),
        *imaging(case, who),
        *spondylolisthesis(case, who),
        *prior_surgery(case, who),
        *diagnosis(case, who),
    ]


# Which composer answers a denial's point about a criterion, the topic the point is headed by, and
# which document proves it.
_SYMPTOMS = (symptoms, "Symptoms and their duration", "office notes documenting the symptoms and their duration")
_SCORES = (pain_scores, "Pain and function", "office notes with the pain and function scores")
_IMAGING = (imaging, "Imaging findings", "the imaging report")
_CARE = (conservative_care, "Conservative care", "records of the conservative care")
_BY_CRITERION = {
    "symptoms": _SYMPTOMS,
    "symptom_duration": _SYMPTOMS,
    "neurogenic_claudication": _SYMPTOMS,
    "functional_impairment": _SCORES,
    "pain_severity": _SCORES,
    "stenosis_level": _IMAGING,
    "ligamentum_flavum": _IMAGING,
    "imaging_recent": _IMAGING,
    "spondylolisthesis": (spondylolisthesis, "Spinal stability", "the imaging report"),
    "conservative_care": _CARE,
    "study_therapy_pt": _CARE,
    "study_therapy_home_exercise": _CARE,
    "study_therapy_analgesics": _CARE,
    "no_recent_lumbar_surgery": (prior_surgery, "Prior lumbar surgery", "the surgical history in the office notes"),
    "lss_diagnosis": (diagnosis, "Diagnosis", "office notes with the diagnosis"),
    "ced_study_enrollment": (
        lambda c, w: study_enrollment(c, w, study=get(c, "administrative.clinical_study_nct", "")),
        "Study enrollment",
        "the study enrollment record",
    ),
    "referral_authorization": (lambda c, w: referral(c, w, label="referral"), "Referral", "the referral"),
    "approved_referral": (lambda c, w: referral(c, w, label="VA referral"), "VA referral", "the VA referral"),
    "prc_eligibility": (ihs_status, "Purchased/Referred Care eligibility", "the PRC eligibility record"),
    "alternate_resources_exhausted": (ihs_status, "Alternate resources", "the alternate-resources record"),
    "prc_notified": (ihs_status, "Prior notification", "the PRC notification"),
}


def criterion_topic(key: str) -> str:
    entry = _BY_CRITERION.get(key)
    return entry[1] if entry else ""


def criterion_facts(case: dict[str, Any], key: str) -> list[dict[str, Any]]:
    entry = _BY_CRITERION.get(key)
    return entry[0](case, Person(case)) if entry else []


def criterion_enclosure(key: str, case: dict[str, Any]) -> str:
    entry = _BY_CRITERION.get(key)
    if entry is None:
        return ""
    name = entry[2]
    if name == "the imaging report":
        modality, date = get(case, "clinical.imaging.modality", ""), long_date(get(case, "clinical.imaging.date"))
        if modality:
            return f"the {modality} report" + (f" of {date}" if date else "")
    return name
