from django import forms

from labeling.forms import ErrorTextMixin
from labeling.models_crowd import CrowdStudy


class CrowdStudyForm(ErrorTextMixin, forms.ModelForm):
    """A project's study settings; URL parameter names left empty take the platform's own
    (services/participants.py: crowd_study_save)."""

    completion_url = forms.URLField(
        label="Completion URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=CrowdStudy._meta.get_field("completion_url").help_text,
    )

    class Meta:
        model = CrowdStudy
        fields = [
            "platform",
            "is_open",
            "batch_size",
            "time_limit_minutes",
            "max_gold_failures",
            "completion_code",
            "screened_out_code",
            "completion_url",
            "participant_param",
            "study_param",
            "session_param",
            "submit_to_param",
        ]
        labels = {
            "is_open": "Open to new participants",
            "time_limit_minutes": "Time limit (minutes)",
            "max_gold_failures": "Failed attention checks allowed",
            "participant_param": "Participant id parameter",
            "study_param": "Study id parameter",
            "session_param": "Session id parameter",
            "submit_to_param": "Submit-to parameter",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["participant_param"].required = False
        for name in ("completion_code", "screened_out_code"):
            self.fields[name].validators.append(_code_text)


def _code_text(value: str) -> None:
    if not value.strip() or any(c.isspace() for c in value):
        raise forms.ValidationError("A code is one word without spaces.")
