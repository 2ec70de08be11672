from django import forms

from labeling.importers import PARSERS
from labeling.models import Project
from labeling.services.judgment import SIDES


class ErrorTextMixin:
    def error_text(self) -> str:
        errors = self.errors  # type: ignore[attr-defined]
        return "; ".join(
            f"{name}: {' '.join(messages)}" if name != "__all__" else " ".join(messages)
            for name, messages in errors.items()
        )


class JudgmentForm(ErrorTextMixin, forms.Form):
    assignment_id = forms.IntegerField(widget=forms.HiddenInput)
    side = forms.ChoiceField(choices=[(s, s) for s in SIDES])
    strength = forms.TypedChoiceField(
        choices=[("", "—"), ("1", "slightly"), ("2", "clearly"), ("3", "much")],
        coerce=int, empty_value=None, required=False,
    )
    rationale = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)
    time_spent_ms = forms.IntegerField(required=False, min_value=0, max_value=24 * 3600 * 1000,
                                       widget=forms.HiddenInput)

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.project = project


class ImportForm(ErrorTextMixin, forms.Form):
    format = forms.ChoiceField(choices=[(name, name) for name in PARSERS], initial="candidates")
    file = forms.FileField(help_text="JSONL, or CSV when the name ends in .csv")


class ExportForm(ErrorTextMixin, forms.Form):
    aggregate = forms.ChoiceField(
        choices=[("all", "every judgment"), ("majority", "majority per pair")], initial="all",
        required=False,
    )
    conversational = forms.BooleanField(required=False)
    margin = forms.BooleanField(required=False, help_text="Add a margin column from strength.")

    def clean_aggregate(self) -> str:
        return self.cleaned_data.get("aggregate") or "all"
