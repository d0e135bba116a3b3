"""The case form: the contract's case fields grouped as a clinician reads a chart, with server-side
validation by the contract's own validator.

Each input carries ``data-path`` (the field's dotted path in the case contract) and ``data-type``;
checklist.js builds the same case JSON from those attributes in the browser that ``case()`` builds
here, so the live checklist and the submitted request check exactly one case. The payer, patient and treating physician are records
(priorauth.services builds those parts of the case from them); the pickers' options carry their
part of the case in ``data-case`` for the browser. Errors the services raise (the contract's
validator among them) are put back next to the input their field or case path names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.forms import formset_factory
from django.urls import reverse

from coverage.case_format import SPINAL_LEVELS, choices_of
from policies.models import Payer
from policies.selectors import latest_versions
from policies.snapshot import current_snapshot
from priorauth import selectors
from priorauth.models import AuthorizationRequest, Patient, Provider
from priorauth.pages.strict_input import StrictNumberField
from priorauth.services import PATIENT_FIELDS, RECORD_PARTS

# Levels a mild® procedure may be planned at; the stenosis criterion (a policy record) decides
# which of them qualify, so the thoracolumbar junction is offered and checked, not filtered here.
PLANNED_LEVELS = tuple(level for level in SPINAL_LEVELS if level.startswith(("T12", "L")))

_MEYERDING = {
    0: "0 — none",
    1: "1 (up to 25 %)",
    2: "2 (26–50 %)",
    3: "3 (51–75 %)",
    4: "4 (76–100 %)",
    5: "5 (spondyloptosis)",
}
_CODE_SPLIT = re.compile(r"[\s,;]+")


def _choices(path: str, *, blank: str | None = "—") -> list[tuple[str, str]]:
    """The case format's choices of a field, in its order, with the words staff read."""
    choices = [(c.value, c.label) for c in choices_of(path)]
    return ([("", blank)] if blank is not None else []) + choices


YES_NO_UNKNOWN = [("", "Not documented"), ("yes", "Yes"), ("no", "No")]


def _tristate(label: str, **kwargs) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=YES_NO_UNKNOWN,
        coerce=lambda v: v == "yes",
        empty_value=None,
        required=False,
        widget=forms.RadioSelect,
        **kwargs,
    )


def field_name(path: str) -> str:
    """The form field of a contract path: ``clinical.imaging.date`` -> ``clinical__imaging__date``."""
    return path.replace(".", "__")


@dataclass(frozen=True)
class Group:
    key: str
    title: str
    paths: tuple[str, ...]
    rows: str | None = None  # the list path of a formset shown in this group


# The chart order: who, what is planned, why (diagnosis, symptoms, imaging, stability), what was
# tried, how bad it is, then the payer's paperwork.
GROUPS: tuple[Group, ...] = (
    Group(
        "records",
        "Payer, patient and physician",
        ("payer", "patient", "provider") + tuple(f"patient.{name}" for name in PATIENT_FIELDS),
    ),
    Group(
        "procedure",
        "Planned procedure",
        ("procedure.cpt", "procedure.levels", "procedure.planned_date", "procedure.setting"),
    ),
    Group("diagnoses", "Diagnoses", ("diagnoses",)),
    Group(
        "symptoms",
        "Symptoms",
        (
            "clinical.symptoms.types",
            "clinical.symptoms.locations",
            "clinical.symptoms.with_standing_or_walking",
            "clinical.symptoms.duration_months",
        ),
    ),
    Group(
        "imaging",
        "Imaging",
        ("clinical.imaging.modality", "clinical.imaging.date", "clinical.imaging.ligamentum_flavum_mm"),
    ),
    Group("stability", "Spinal stability", ("clinical.spondylolisthesis_grade",)),
    Group(
        "conservative_care",
        "Conservative care",
        ("clinical.conservative_care.none",),
        rows="clinical.conservative_care",
    ),
    Group(
        "surgeries",
        "Prior lumbar surgery",
        ("clinical.prior_lumbar_surgeries.none",),
        rows="clinical.prior_lumbar_surgeries",
    ),
    Group("pain", "Pain and function", ("clinical.pain.vas_leg", "clinical.pain.nprs", "clinical.pain.odi")),
    Group(
        "administrative",
        "Administrative and payer-specific",
        (
            "administrative.clinical_study_nct",
            "administrative.referral_number",
            "administrative.expedited",
            "administrative.ihs_prc.eligible",
            "administrative.ihs_prc.alternate_resources_exhausted",
            "administrative.ihs_prc.notified",
        ),
    ),
)

# Marker paths of the "none at all" boxes: ticked, the list is sent empty (a documented "none"),
# which the checker treats differently from an absent list (not documented).
NONE_PATHS = {
    "clinical.conservative_care.none": "clinical.conservative_care",
    "clinical.prior_lumbar_surgeries.none": "clinical.prior_lumbar_surgeries",
}
_ADMIN_KNOWN = {p for g in GROUPS if g.key == "administrative" for p in g.paths}


def payer_specific_fields() -> dict[str, dict[str, Any]]:
    """``administrative.*`` paths the published policies' criteria read, with the payers reading
    each: the known ones get their own inputs, any other one (an admin may add a criterion on a
    new path) is offered as an extra input, a yes/no question for is_true/is_false criteria."""
    found: dict[str, dict[str, Any]] = {}
    for version in latest_versions():
        payer = version.snapshot["payer"]
        for criterion in payer["policy"].get("criteria", []):
            path = criterion.get("path", "")
            if not path.startswith("administrative."):
                continue
            entry = found.setdefault(
                path, {"payers": set(), "label": criterion.get("label", path), "operator": criterion.get("operator")}
            )
            entry["payers"].add(payer["code"])
    return found


class CasePartSelect(forms.Select):
    """A picker of records whose options carry the record's part of the case (``data-case``), so
    the browser's checklist checks the same case the services will build from the record."""

    def __init__(self, *args, case_parts: dict[str, dict[str, Any]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.case_parts = case_parts or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        part = self.case_parts.get(str(value))
        if part is not None:
            option["attrs"]["data-case"] = json.dumps(part, separators=(",", ":"))
        return option


class PatientCombobox(forms.HiddenInput):
    """The patient picker as a search-as-you-type combobox (WAI-ARIA 1.2 combobox with a listbox
    popup; combobox.js): a text input that asks the patient search endpoint for a few matches, and
    the hidden ``patient`` input that carries the chosen id and, in ``data-case``, that patient's
    part of the case for the checklist. The practice's patients are never all sent to the page."""

    template_name = "pages/widgets/patient_combobox.html"

    def __init__(self, *args, search_url: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.search_url = search_url
        self.lookup = lambda pk: None  # set by the form: the chosen patient, scoped to the user

    def render(self, name, value, attrs=None, renderer=None):
        # The project's template (not the form renderer's widget directories, which do not look in
        # templates/); render_to_string escapes it like any page.
        from django.template.loader import render_to_string
        from django.utils.safestring import mark_safe

        return mark_safe(render_to_string(self.template_name, self.get_context(name, value, attrs)))

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        widget = context["widget"]
        attrs = widget["attrs"]
        widget["input_id"] = attrs.get("id", "")
        # The label and the descriptions belong to the visible input; the hidden one keeps the value.
        widget["describedby"] = attrs.pop("aria-describedby", "")
        attrs["id"] = f"{widget['input_id']}_value"
        patient = self.lookup(value) if value not in (None, "") else None
        widget["chosen_label"] = patient_label(patient) if patient else ""
        if patient is not None:
            attrs["data-case"] = json.dumps(patient.case_part(), separators=(",", ":"))
        widget["search_url"] = self.search_url
        return context


def patient_label(p: Patient) -> str:
    return f"{p.last_name}, {p.first_name} (born {p.birth_date:%m/%d/%Y}, member {p.member_id})"


class ConservativeCareRow(forms.Form):
    type = forms.ChoiceField(label="Treatment", choices=_choices("clinical.conservative_care[].type"), required=False)
    weeks = StrictNumberField(label="Weeks", unit="weeks")
    outcome = forms.ChoiceField(
        label="Outcome", choices=_choices("clinical.conservative_care[].outcome"), required=False
    )

    item_types: ClassVar[dict[str, str]] = {"type": "string", "weeks": "number", "outcome": "string"}


class PriorSurgeryRow(forms.Form):
    type = forms.ChoiceField(
        label="Surgery", choices=_choices("clinical.prior_lumbar_surgeries[].type"), required=False
    )
    months_ago = StrictNumberField(label="Months ago", unit="months")

    item_types: ClassVar[dict[str, str]] = {"type": "string", "months_ago": "number"}


ConservativeCareFormSet = formset_factory(ConservativeCareRow, extra=3, max_num=20, absolute_max=20)
PriorSurgeryFormSet = formset_factory(PriorSurgeryRow, extra=2, max_num=10, absolute_max=10)
ROW_FORMSETS = {
    "clinical.conservative_care": ("care", ConservativeCareFormSet, "Add another treatment"),
    "clinical.prior_lumbar_surgeries": ("surgery", PriorSurgeryFormSet, "Add another surgery"),
}


class CaseForm(forms.Form):
    """The request's records (payer, patient, treating physician) and every case field of the
    contract. Case fields are all optional: an absent fact makes its criterion ``missing``, which
    the checklist shows, rather than an input error."""

    payer = forms.ChoiceField(label="Payer", choices=())
    patient = forms.ModelChoiceField(
        label="Patient",
        queryset=Patient.objects.none(),
        required=False,
        help_text="Type two letters of the name, the date of birth (MM/DD/YYYY) or the member ID; leave empty for a new patient.",
        widget=PatientCombobox,
        error_messages={
            "invalid_choice": "Choose the patient from the list of matches, or leave empty for a new patient."
        },
    )
    patient__first_name = forms.CharField(label="First name", max_length=100, required=False)
    patient__last_name = forms.CharField(label="Last name", max_length=100, required=False)
    patient__birth_date = forms.DateField(
        label="Date of birth", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    patient__sex = forms.ChoiceField(label="Sex", choices=_choices("patient.sex"), required=False)
    patient__member_id = forms.CharField(
        label="Member ID", max_length=64, required=False, help_text="As printed on the insurance card."
    )
    provider = forms.ModelChoiceField(
        label="Treating physician",
        queryset=Provider.objects.none(),
        empty_label="Choose the physician",
        widget=CasePartSelect,
    )
    procedure__cpt = forms.CharField(label="CPT/HCPCS code", max_length=5, required=False, initial="0275T")
    procedure__levels = forms.MultipleChoiceField(
        label="Levels to treat",
        choices=[(v, v) for v in PLANNED_LEVELS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    procedure__planned_date = forms.DateField(
        label="Planned date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    procedure__setting = forms.ChoiceField(label="Setting", choices=_choices("procedure.setting"), required=False)
    diagnoses = forms.CharField(
        label="ICD-10-CM codes",
        required=False,
        help_text="Separate codes with commas, e.g. M48.062, M51.16.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    clinical__symptoms__types = forms.MultipleChoiceField(
        label="Symptoms",
        choices=_choices("clinical.symptoms.types", blank=None),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    clinical__symptoms__locations = forms.MultipleChoiceField(
        label="Where",
        choices=_choices("clinical.symptoms.locations", blank=None),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    clinical__symptoms__with_standing_or_walking = _tristate("Worse when standing or walking?")
    clinical__symptoms__duration_months = StrictNumberField(label="Duration (months)", unit="months")
    clinical__imaging__modality = forms.ChoiceField(
        label="Modality", choices=_choices("clinical.imaging.modality"), required=False
    )
    clinical__imaging__date = forms.DateField(
        label="Imaging date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    clinical__imaging__ligamentum_flavum_mm = StrictNumberField(
        label="Ligamentum flavum thickness (mm)",
        unit="mm",
        help_text="Thickest measurement at the planned level.",
    )
    clinical__spondylolisthesis_grade = forms.TypedChoiceField(
        label="Spondylolisthesis grade (Meyerding)",
        choices=[("", "—")] + [(str(k), v) for k, v in _MEYERDING.items()],
        coerce=int,
        empty_value=None,
        required=False,
    )
    clinical__conservative_care__none = forms.BooleanField(label="No conservative care was tried", required=False)
    clinical__prior_lumbar_surgeries__none = forms.BooleanField(label="No prior lumbar surgery", required=False)
    clinical__pain__vas_leg = StrictNumberField(label="Leg pain VAS (0–100)")
    clinical__pain__nprs = StrictNumberField(label="Pain rating NPRS (0–10)")
    clinical__pain__odi = StrictNumberField(label="Oswestry Disability Index (0–100)")
    administrative__clinical_study_nct = forms.CharField(
        label="Clinical study (NCT number)", max_length=11, required=False, help_text="e.g. NCT03072927 (Medicare CED)."
    )
    administrative__referral_number = forms.CharField(
        label="Referral/authorization number", max_length=64, required=False
    )
    administrative__expedited = forms.BooleanField(label="Ask for an expedited decision", required=False)
    administrative__ihs_prc__eligible = _tristate("PRC eligible (and lives in the delivery area)?")
    administrative__ihs_prc__alternate_resources_exhausted = _tristate("Alternate resources used first?")
    administrative__ihs_prc__notified = _tristate("PRC program notified?")

    # data-type of each input, read by checklist.js; list-csv is a free-text list of codes.
    TYPES: ClassVar[dict[str, str]] = {
        "patient": "case-part",
        "provider": "case-part",
        "procedure.levels": "list",
        "clinical.symptoms.types": "list",
        "clinical.symptoms.locations": "list",
        "diagnoses": "list-csv",
        "clinical.spondylolisthesis_grade": "integer",
        "administrative.expedited": "checkbox",
    }

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        payers = current_snapshot().policies
        self.fields["payer"].choices = [("", "Choose the payer")] + sorted(
            ((code, p.payer_name) for code, p in payers.items()), key=lambda c: c[1]
        )
        patients = selectors.patients_visible_to(user)
        providers = selectors.providers_visible_to(user)
        self.fields["patient"].queryset = patients
        widget = self.fields["patient"].widget
        widget.search_url = reverse("pages:patient-search")
        widget.lookup = lambda pk: (
            patients.filter(pk=int(pk)).first() if str(pk).isdigit() and int(pk) < 2**63 else None
        )
        self.fields["provider"].queryset = providers
        self.fields["provider"].widget.case_parts = {str(p.pk): p.case_part() for p in providers}
        self.extra_admin_paths: list[str] = []
        self.payers_by_path: dict[str, list[str]] = {}
        for path, spec in payer_specific_fields().items():
            self.payers_by_path[path] = sorted(spec["payers"])
            if path in _ADMIN_KNOWN or field_name(path) in self.fields:
                continue
            # A path an admin's criterion reads that the form has no input for yet.
            if spec["operator"] in ("is_true", "is_false"):
                self.fields[field_name(path)] = _tristate(spec["label"] + "?")
            else:
                self.fields[field_name(path)] = forms.CharField(label=spec["label"], max_length=200, required=False)
            self.extra_admin_paths.append(path)
        for name, field in self.fields.items():
            if isinstance(field, forms.DateField):
                field.error_messages["invalid"] = "This is not a real date: check the month and the day."
            path = self.path_of(name)
            attrs = field.widget.attrs
            attrs["data-path"] = path
            attrs["data-type"] = self._data_type(path, field)
            if path in self.payers_by_path:
                attrs["data-payers"] = " ".join(self.payers_by_path[path])
            # Django's own ids for help and errors; always named, since checklist.js may fill the
            # error element of any input while the user types.
            describedby = [f"{self.auto_id % name}_error"]
            if field.help_text:
                describedby.insert(0, f"{self.auto_id % name}_helptext")
            attrs["aria-describedby"] = " ".join(describedby)

    @staticmethod
    def path_of(name: str) -> str:
        return name.replace("__", ".")

    def _data_type(self, path: str, field: forms.Field) -> str:
        if path in NONE_PATHS:
            return "none-list"
        if path in self.TYPES:
            return self.TYPES[path]
        if isinstance(field, forms.TypedChoiceField) and field.choices == YES_NO_UNKNOWN:
            return "tristate"
        if isinstance(field, forms.DateField):
            return "date"
        if isinstance(field, (forms.FloatField, StrictNumberField)):
            return "number"
        return "string"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("patient"):
            for name in PATIENT_FIELDS:
                key = f"patient__{name}"
                if data.get(key) in (None, "") and key not in self.errors:
                    label = self.fields[key].label.lower()
                    self.add_error(key, f"Enter the patient's {label}, or choose a patient above.")
        return data

    def groups(self) -> list[dict[str, Any]]:
        """The bound fields of each group, in chart order, for the template."""
        out = []
        for group in GROUPS:
            paths = list(group.paths)
            if group.key == "administrative":
                paths += self.extra_admin_paths
            entry = {
                "key": group.key,
                "title": group.title,
                "fields": [self[field_name(p)] for p in paths if not p.startswith("patient.")],
                # A new patient's details, which step aside when an existing patient is chosen.
                "new_patient_fields": [self[field_name(p)] for p in paths if p.startswith("patient.")],
                "rows": group.rows,
            }
            out.append(entry)
        return out


class CaseFormSet:
    """The case form and its two row formsets, validated together; ``save()`` creates or updates
    the draft through the services and puts any error they raise next to its input."""

    def __init__(self, data=None, *, user, request: AuthorizationRequest | None = None) -> None:
        initial, rows = _initial_from_case(request.case if request else {})
        if request is not None:
            initial.update(payer=request.payer.code, patient=request.patient_id, provider=request.treating_physician_id)
        self.user = user
        self.request = request
        self.form = CaseForm(data, user=user, initial=initial)
        self.rows = {
            list_path: formset_class(data, prefix=prefix, initial=rows.get(list_path) or None)
            for list_path, (prefix, formset_class, _) in ROW_FORMSETS.items()
        }
        for list_path, formset in self.rows.items():
            formset.list_path = list_path
            formset.prefix_name = ROW_FORMSETS[list_path][0]
            formset.add_label = ROW_FORMSETS[list_path][2]
            for row_form in [*formset.forms, formset.empty_form]:
                for key, field in row_form.fields.items():
                    field.widget.attrs.update(
                        {
                            "data-item": key,
                            "data-type": row_form.item_types[key],
                            "aria-describedby": f"{row_form.auto_id % row_form.add_prefix(key)}_error",
                        }
                    )
        self._row_index: dict[str, list[int]] = {}

    def groups(self) -> list[dict[str, Any]]:
        groups = self.form.groups()
        for group in groups:
            group["formset"] = self.rows.get(group["rows"]) if group["rows"] else None
        return groups

    def is_valid(self) -> bool:
        rows_valid = [formset.is_valid() for formset in self.rows.values()]  # all of them, for their errors
        return self.form.is_valid() and all(rows_valid)

    def read_as_notes(self) -> list[str]:
        """How numbers not written plainly were read ("1,5" → "Read as 1.5 mm."), to say so."""
        notes = []
        forms_ = [self.form] + [f for fs in self.rows.values() for f in fs.forms]
        for form in forms_:
            for name, field in form.fields.items():
                if isinstance(field, StrictNumberField) and field.note and name not in form.errors:
                    notes.append(f"{field.label}: {field.note}")
        return notes

    @property
    def has_errors(self) -> bool:
        return bool(self.form.errors) or any(
            any(f.errors for f in fs.forms) or fs.non_form_errors() for fs in self.rows.values()
        )

    # ----------------------------------------------------------------- the records and the case

    def payer(self) -> Payer:
        return Payer.objects.get(code=self.form.cleaned_data["payer"])

    def entered_case(self) -> dict[str, Any]:
        """The case as entered, without the parts the services build from the records."""
        data = self.form.cleaned_data
        case: dict[str, Any] = {}
        for name, value in data.items():
            path = self.form.path_of(name)
            if path.split(".", 1)[0] in RECORD_PARTS or path in NONE_PATHS:
                continue
            if path == "diagnoses":
                value = [code.upper() for code in _CODE_SPLIT.split(value or "") if code]
            value = _json_value(value, path)
            if value is None or value == []:
                continue
            _set_path(case, path, value)
        for list_path, formset in self.rows.items():
            items, index = [], []
            for i, row in enumerate(formset.forms):
                item = {k: _json_value(v, k) for k, v in row.cleaned_data.items() if v not in (None, "")}
                if item:
                    items.append(item)
                    index.append(i)
            self._row_index[list_path] = index
            if items or data.get(field_name(list_path) + "__none"):
                _set_path(case, list_path, items)
        return case

    def new_patient_fields(self) -> dict[str, Any]:
        return {name: self.form.cleaned_data[f"patient__{name}"] for name in PATIENT_FIELDS}

    # ----------------------------------------------------------------- errors from the services

    def add_service_errors(self, error: ValidationError, *, patient_fields: bool = False) -> None:
        """Put each message of a service's ValidationError next to its input: model fields of a new
        patient, the records (payer, patient, treating_physician) and ``case.<path>`` of the case."""
        if not hasattr(error, "error_dict"):
            for message in error.messages:
                self.form.add_error(None, message)
            return
        for key, errors in error.message_dict.items():
            for message in errors:
                if patient_fields and key in PATIENT_FIELDS:
                    self.form.add_error(f"patient__{key}", message)
                elif key in ("payer", "patient"):
                    self.form.add_error(key, message)
                elif key in ("treating_physician", "provider"):
                    self.form.add_error("provider", message)
                elif key.startswith("case."):
                    self._add_case_error(key[len("case.") :], message)
                else:
                    self.form.add_error(None, f"{key}: {message}" if key != "__all__" else message)

    def _add_case_error(self, path: str, message: str) -> None:
        parts = path.split(".")
        for list_path, formset in self.rows.items():
            list_parts = list_path.split(".")
            n = len(list_parts)
            if parts[:n] == list_parts and len(parts) > n + 1 and parts[n].isdigit():
                index = self._row_index.get(list_path, [])
                item = int(parts[n])
                if item < len(index) and parts[n + 1] in formset.forms[index[item]].fields:
                    formset.forms[index[item]].add_error(parts[n + 1], message)
                    return
        # "diagnoses.1" and "procedure.levels.0" belong to the one input of their list.
        owner, prefix = parts, ""
        if len(parts) > 1 and parts[-1].isdigit() and field_name(".".join(parts)) not in self.form.fields:
            owner, prefix = parts[:-1], f"item {int(parts[-1]) + 1}: "
        name = field_name(".".join(owner))
        if name in self.form.fields:
            self.form.add_error(name, prefix + message)
        else:
            self.form.add_error(None, f"{path}: {message}")


def _json_value(value: Any, path: str) -> Any:
    """A cleaned form value as the contract wants it: None (absent) for an empty input, ISO dates,
    whole numbers as ints. A tri-state "No" stays False; an unticked checkbox is absent."""
    if value is None or value == "" or value == []:
        return None
    if value is False and CaseForm.TYPES.get(path) == "checkbox":
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _set_path(case: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = case
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def _initial_from_case(case: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Form initial data from a stored case (editing a draft). The record parts come from the records."""
    initial: dict[str, Any] = {}
    rows: dict[str, list[dict[str, Any]]] = {}

    def walk(node: Any, prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if not prefix and key in RECORD_PARTS:
                continue
            if path in ROW_FORMSETS:
                rows[path] = list(value)
                if not value:
                    initial[field_name(path) + "__none"] = True
            elif isinstance(value, dict):
                walk(value, path + ".")
            elif path == "diagnoses":
                initial["diagnoses"] = ", ".join(value)
            elif isinstance(value, bool) and path != "administrative.expedited":
                initial[field_name(path)] = "yes" if value else "no"
            else:
                initial[field_name(path)] = value

    walk(case, "")
    return initial, rows
