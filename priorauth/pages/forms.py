"""The request page's small forms: input parsing only. What is allowed, and every rule about dates
and decisions, is the services' (their ValidationError is shown next to the field it names)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from policies.models import DenialCategory
from priorauth.models import Attachment, PayerDecision


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


class DecisionForm(ServiceErrorsMixin, forms.Form):
    decision = forms.ChoiceField(label="The payer's answer", choices=[("", "Choose")] + list(PayerDecision.Kind.choices))
    received_at = forms.DateTimeField(label="Date of the decision notice", widget=DateTimeInput)
    authorization_number = forms.CharField(label="Authorization number (approval)", required=False, max_length=64)
    valid_from = forms.DateField(label="Valid from (approval)", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    valid_to = forms.DateField(label="Valid to (approval)", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    reason_category = forms.ChoiceField(
        label="Reason category (denial)", required=False, choices=[("", "—")] + list(DenialCategory.choices)
    )
    stated_reason = forms.CharField(
        label="The payer's stated reason (denial) or what it asks for (pend)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class AppealForm(ServiceErrorsMixin, forms.Form):
    filed_at = forms.DateTimeField(label="Filed on", required=False, widget=DateTimeInput, help_text="Leave empty for now.")
    expedited = forms.BooleanField(label="Ask for an expedited appeal", required=False)
    note = forms.CharField(label="Note (optional)", required=False, max_length=2000)


class AttachmentForm(ServiceErrorsMixin, forms.Form):
    kind = forms.ChoiceField(label="What it is", choices=[("", "Choose")] + list(Attachment.Kind.choices))
    file = forms.FileField(label="File", help_text="PDF, JPEG, PNG or TIFF.", widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png,.tif,.tiff"}))
