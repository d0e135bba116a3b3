"""The request page's small forms: input parsing only. What is allowed, and every rule about dates
and decisions, is the services' (their ValidationError is shown next to the field it names)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from policies.models import DenialCategory
from priorauth.letters.models import LetterKind
from priorauth.models import Attachment, PayerDecision, SendMethod


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


class ServiceErrorsMixin:
    def add_service_errors(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            for message in error.messages:
                self.add_error(None, message)
            return
        for key, messages in error.message_dict.items():
            for message in messages:
                self.add_error(key if key in self.fields else None, message)


class NoteForm(ServiceErrorsMixin, forms.Form):
    note = forms.CharField(label="Note (optional)", required=False, max_length=2000, widget=forms.TextInput)


class SendForm(ServiceErrorsMixin, forms.Form):
    sent_at = forms.DateTimeField(
        label="Sent to the payer on", required=False, widget=DateTimeInput, help_text="Leave empty for now."
    )
    note = forms.CharField(label="Note (optional)", required=False, max_length=2000)
    method = forms.ChoiceField(label="Sent by", required=False, choices=[("", "Not said")] + list(SendMethod.choices))
    packet = forms.TypedChoiceField(label="Fax packet sent", required=False, coerce=int, empty_value=None)

    def __init__(self, *args, packets=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The request's packets, newest first; the one chosen has its SHA-256 recorded with the sending.
        self.fields["packet"].choices = [("", "None")] + [
            (
                p.pk,
                f"Packet #{p.pk}: {p.letter.get_kind_display()}, revision {p.revision.number}, {p.page_count} pages, SHA-256 {p.sha256[:12]}…",
            )
            for p in packets
        ]


class DecisionForm(ServiceErrorsMixin, forms.Form):
    decision = forms.ChoiceField(
        label="The payer's answer", choices=[("", "Choose")] + list(PayerDecision.Kind.choices)
    )
    received_at = forms.DateTimeField(label="Date of the decision notice", widget=DateTimeInput)
    authorization_number = forms.CharField(label="Authorization number (approval)", required=False, max_length=64)
    valid_from = forms.DateField(
        label="Valid from (approval)", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    valid_to = forms.DateField(
        label="Valid to (approval)", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    reason_category = forms.ChoiceField(
        label="Reason category (denial)", required=False, choices=[("", "—")] + list(DenialCategory.choices)
    )
    stated_reason = forms.CharField(
        label="The payer's stated reason (denial) or what it asks for (pend)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Copy the notice's words exactly: the appeal quotes them.",
    )
    denial_code = forms.CharField(label="Reason code or CARC on the notice (denial)", required=False, max_length=32)
    deficient_criteria = forms.MultipleChoiceField(
        label="Criteria the denial says are not met or not documented",
        required=False,
        choices=[],
        help_text="The appeal answers each one with this patient's facts and the document that proves it.",
    )
    deficiency_texts = forms.CharField(
        label="Other deficiencies the notice names (one per line, in its words)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, criteria: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["deficient_criteria"].choices = criteria or []

    def service_kwargs(self) -> dict[str, Any]:
        """The cleaned form as decision_record takes it: the chosen criteria and the free-text lines
        become the denial's deficiencies."""
        data = dict(self.cleaned_data)
        chosen = data.pop("deficient_criteria", []) or []
        lines = [line.strip() for line in (data.pop("deficiency_texts", "") or "").splitlines() if line.strip()]
        data["deficiencies"] = [{"criterion": key, "text": ""} for key in chosen] + [
            {"criterion": "", "text": line} for line in lines
        ]
        return data


class AppealForm(ServiceErrorsMixin, forms.Form):
    filed_at = forms.DateTimeField(
        label="Filed on", required=False, widget=DateTimeInput, help_text="Leave empty for now."
    )
    expedited = forms.BooleanField(label="Ask for an expedited appeal", required=False)
    note = forms.CharField(label="Note (optional)", required=False, max_length=2000)


class AttachmentForm(ServiceErrorsMixin, forms.Form):
    kind = forms.ChoiceField(label="What it is", choices=[("", "Choose")] + list(Attachment.Kind.choices))
    file = forms.FileField(
        label="File",
        help_text="PDF, JPEG, PNG or TIFF.",
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png,.tif,.tiff"}),
    )


class NarrativeForm(ServiceErrorsMixin, forms.Form):
    """A letter's narrative as the physician edits it: each paragraph's heading and sentences (a
    sentence keeps its sources; an emptied one is removed, and so is a paragraph left without any),
    one new sentence per paragraph, and the enclosures, one a line. ``paragraphs()`` gives the
    narrative in the shape letter_edit takes."""

    enclosures = forms.CharField(
        label="Enclosures (one a line)", required=False, widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args, revision, sources: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.original = revision.paragraphs or []
        self.layout: list[dict] = []
        for i, paragraph in enumerate(self.original):
            heading = f"p{i}_heading"
            self.fields[heading] = forms.CharField(
                label="Heading", required=False, max_length=200, initial=paragraph.get("heading", "")
            )
            sentences = []
            for j, sentence in enumerate(paragraph.get("sentences", [])):
                name = f"p{i}_s{j}"
                cited = "; ".join(sources.get(k, k) for k in sentence.get("citations", []))
                self.fields[name] = forms.CharField(
                    label=f"Sentence {j + 1}",
                    required=False,
                    max_length=2000,
                    initial=sentence.get("text", ""),
                    help_text=(f"Sources: {cited}. " if cited else "")
                    + (f"Check: {sentence['note']}" if sentence.get("note") else ""),
                    widget=forms.Textarea(attrs={"rows": 2}),
                )
                sentences.append(name)
            added = f"p{i}_new"
            self.fields[added] = forms.CharField(
                label="Add a sentence (optional)",
                required=False,
                max_length=2000,
                widget=forms.Textarea(attrs={"rows": 2}),
            )
            self.layout.append(
                {"index": i, "key": paragraph.get("key"), "heading": heading, "sentences": sentences, "added": added}
            )
        self.fields["enclosures"].initial = "\n".join(revision.enclosures or [])
        self.fields["enclosures"].widget.attrs["rows"] = max(3, len(revision.enclosures or []) + 1)

    def paragraph_fields(self) -> list[dict]:
        return [
            {
                "key": entry["key"],
                "number": entry["index"] + 1,
                "heading": self[entry["heading"]],
                "sentences": [self[name] for name in entry["sentences"]],
                "added": self[entry["added"]],
            }
            for entry in self.layout
        ]

    def paragraphs(self) -> list[dict]:
        data = self.cleaned_data
        result = []
        self.sent_layout: list[dict] = []  # the layout entry of each paragraph sent, for errors
        for entry, original in zip(self.layout, self.original):
            sentences = []
            for j, name in enumerate(entry["sentences"]):
                text = data.get(name, "").strip()
                if text:
                    sentences.append({"text": text, "citations": original["sentences"][j].get("citations", [])})
            added = data.get(entry["added"], "").strip()
            if added:
                sentences.append({"text": added, "citations": []})
            if not sentences and not original.get("items"):
                continue  # every sentence emptied: the paragraph is removed
            paragraph = {
                "key": original["key"],
                "heading": data.get(entry["heading"], "").strip(),
                "sentences": sentences,
            }
            if original.get("items"):
                paragraph["items"] = original["items"]
            result.append(paragraph)
            self.sent_layout.append(entry)
        return result

    def enclosure_list(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data.get("enclosures", "").splitlines() if line.strip()]

    def add_service_errors(self, error: ValidationError) -> None:
        """letter_edit names a problem by its path in the narrative: paragraphs[1].sentences[0].text."""
        if not hasattr(error, "error_dict"):
            return super().add_service_errors(error)
        for key, messages in error.message_dict.items():
            field = _narrative_field(key, self)
            for message in messages:
                self.add_error(field, message)


def _narrative_field(key: str, form: NarrativeForm) -> str | None:
    match = re.match(r"paragraphs\[(\d+)\](?:\.sentences(?:\[(\d+)\])?)?(?:\.(\w+))?", key)
    if key == "enclosures":
        return "enclosures"
    if not match:
        return None
    i, j, part = int(match.group(1)), match.group(2), match.group(3)
    # The i-th paragraph and j-th sentence sent: mapped back past the removed (emptied) ones.
    sent = getattr(form, "sent_layout", form.layout)
    if i >= len(sent):
        return None
    entry = sent[i]
    if part == "heading":
        return entry["heading"]
    if j is not None:
        kept = [name for name in entry["sentences"] if form.cleaned_data.get(name, "").strip()]
        if form.cleaned_data.get(entry["added"], "").strip():
            kept.append(entry["added"])
        if int(j) < len(kept):
            return kept[int(j)]
    return entry["added"] if "sentences" in key else entry["heading"]


class LetterRequestForm(forms.Form):
    kind = forms.ChoiceField(choices=LetterKind.choices, widget=forms.HiddenInput)
    appeal = forms.IntegerField(required=False, widget=forms.HiddenInput)


class FollowUpForm(ServiceErrorsMixin, forms.Form):
    follow_up_on = forms.DateField(
        label="Follow up with the payer on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="For a payer that sets no decision deadline. Leave empty to clear.",
        error_messages={"invalid": "Enter a real date, e.g. 12/15/2026."},
    )


class AmendForm(ServiceErrorsMixin, forms.Form):
    """The correction's own fields; the case itself is the case form's (priorauth/amendments.py)."""

    reason = forms.CharField(
        label="Why it is corrected",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="e.g. The payer asked for the ligamentum flavum measurement; member ID typo.",
        error_messages={"required": "Say why the request is corrected."},
    )
    member_id = forms.CharField(label="Member ID (on the patient's record)", max_length=64)
    send_to_payer = forms.BooleanField(
        label="Send it back to the payer now, with what was added",
        required=False,
    )

    def __init__(self, *args, pended: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not pended:
            del self.fields["send_to_payer"]
