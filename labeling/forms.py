from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from labeling.formats.exports import (
    AGGREGATE_LABELS,
    FILE_FORMAT_LABELS,
    KIND_LABELS,
    ExportFilters,
    ExportOptions,
    ExportOptionsInvalid,
)
from labeling.formats.parsers import PARSERS
from labeling.models import Membership, Project, ScoreAfterReward, SelectionStrategy
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
        coerce=int,
        empty_value=None,
        required=False,
    )
    rationale = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)
    time_spent_ms = forms.IntegerField(
        required=False, min_value=0, max_value=24 * 3600 * 1000, widget=forms.HiddenInput
    )

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.project = project


class SkipForm(ErrorTextMixin, forms.Form):
    """Skip a lease, or extend it (the same field)."""

    assignment_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class UndoForm(ErrorTextMixin, forms.Form):
    judgment_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class ImportForm(ErrorTextMixin, forms.Form):
    format = forms.ChoiceField(choices=[(name, name) for name in PARSERS], initial="candidates")
    file = forms.FileField(help_text="JSONL, or CSV when the name ends in .csv")
    as_gold = forms.BooleanField(
        required=False,
        label="As gold pairs",
        help_text="trl, hh-rlhf, arena: the preferences become known answers that annotators "
        "are tested on, not judgments.",
    )
    skip_invalid = forms.BooleanField(
        required=False,
        label="Leave out invalid rows",
        help_text="Import the valid rows and list the others (otherwise nothing is imported).",
    )


class ExportForm(ErrorTextMixin, forms.Form):
    """The manager's export: what, as which file, from which judgments."""

    kind = forms.ChoiceField(choices=list(KIND_LABELS.items()), initial="trl", required=False)
    file_format = forms.ChoiceField(
        choices=list(FILE_FORMAT_LABELS.items()), initial="jsonl", required=False
    )
    aggregate = forms.ChoiceField(
        choices=list(AGGREGATE_LABELS.items()), initial="all", required=False
    )
    conversational = forms.BooleanField(required=False)
    implicit_prompt = forms.BooleanField(
        required=False, help_text="No prompt column: the prompt starts chosen and rejected."
    )
    margin = forms.BooleanField(required=False, help_text="Add a margin column from strength.")
    confidence = forms.BooleanField(
        required=False, help_text="Add a per-pair confidence column (always with the crowd model)."
    )
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Up to the end of this day.",
    )
    annotators = forms.MultipleChoiceField(
        required=False,
        # Checkboxes with a search box above them (static/prefapp/manage.js): a list
        # of hundreds of names cannot be picked from with Ctrl-click.
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: everyone.",
    )
    min_agreement = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        help_text="Share of a pair's judgments on its top answer.",
    )
    min_quality = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        help_text="Leave out annotators scoring below this.",
    )
    exclude_gold = forms.BooleanField(required=False, label="Leave out gold pairs")
    exclude_imported = forms.BooleanField(required=False, label="Leave out imported judgments")
    include_excluded = forms.BooleanField(
        required=False,
        label="Keep excluded annotators",
        help_text="Include annotators excluded on the quality page.",
    )

    def __init__(self, *args, annotators: list[str] = (), **kwargs) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        annotators_field = self.fields["annotators"]
        assert isinstance(annotators_field, forms.MultipleChoiceField)
        annotators_field.choices = [(name, name) for name in annotators]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors:
            try:
                self._options = self._build_options(cleaned)
            except ExportOptionsInvalid as invalid:
                raise forms.ValidationError(str(invalid)) from None
        return cleaned

    def options(self) -> ExportOptions:
        """The validated options (after is_valid())."""
        return self._options

    @staticmethod
    def _build_options(data: dict[str, Any]) -> ExportOptions:
        day = timedelta(days=1)
        filters = ExportFilters(
            since=_midnight(data["since"]),
            until=_midnight(data["until"] + day) if data["until"] else None,
            annotators=tuple(data["annotators"]),
            include_imported=not data["exclude_imported"],
            include_gold=not data["exclude_gold"],
            min_agreement=data["min_agreement"],
            min_quality=data["min_quality"],
            include_excluded=data["include_excluded"],
        )
        return ExportOptions(
            kind=data["kind"] or "trl",
            file_format=data["file_format"] or "jsonl",
            aggregate=data["aggregate"] or "all",
            conversational=data["conversational"],
            implicit_prompt=data["implicit_prompt"],
            with_margin=data["margin"],
            with_confidence=data["confidence"] or None,
            filters=filters,
        )


def _midnight(day: date | None) -> datetime | None:
    if day is None:
        return None
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


class SelectionForm(ErrorTextMixin, forms.Form):
    """A project's queue order (labeling/services/selection.py), on the manage page."""

    selection_strategy = forms.ChoiceField(
        label="Strategy", choices=SelectionStrategy.choices, initial=SelectionStrategy.FIFO
    )
    exploration_share = forms.FloatField(
        label="Exploration share",
        min_value=0.0,
        max_value=1.0,
        initial=0.0,
        help_text="Share of the queue, 0-1, drawn at random (uncertainty and large margin).",
    )
    score_after_reward = forms.ChoiceField(
        label="Score the pairs with each new reward model",
        choices=ScoreAfterReward.choices,
        initial=ScoreAfterReward.AUTO,
    )


class ProjectSettingsForm(ErrorTextMixin, forms.ModelForm):
    """A project's settings: the one validator of the settings page, `project_create` and
    `project_update` (labeling/services/projects.py)."""

    class Meta:
        model = Project
        fields = [
            "name",
            "slug",
            "instructions",
            "overlap",
            "lease_minutes",
            "allow_tie",
            "allow_both_bad",
            "ask_strength",
            "ask_rationale",
            "gold_rate",
            "judgments_per_annotator",
            "avoid_repeat_prompt",
        ]
        labels = {
            "judgments_per_annotator": "Judgments per annotator (cap)",
            "avoid_repeat_prompt": "Avoid serving the same prompt twice in a row",
            "allow_tie": "Offer “tie”",
            "allow_both_bad": "Offer “both bad”",
            "ask_strength": "Ask how much better",
            "ask_rationale": "Ask for a reason",
            "gold_rate": "Gold rate",
        }
        help_texts = {"slug": "Letters, digits and hyphens; the project's address (/p/slug/)."}
        widgets = {"instructions": forms.Textarea(attrs={"rows": 8})}

    # The model's columns allow any positive number; a project needs sensible ones.
    overlap = forms.IntegerField(
        min_value=1, max_value=100, help_text=Project._meta.get_field("overlap").help_text
    )
    lease_minutes = forms.IntegerField(
        label="Lease length (minutes)",
        min_value=1,
        max_value=24 * 60,
        help_text=Project._meta.get_field("lease_minutes").help_text,
    )
    gold_rate = forms.FloatField(
        min_value=0.0, max_value=1.0, help_text=Project._meta.get_field("gold_rate").help_text
    )


def settings_form_data(project: Project) -> dict[str, object]:
    """The project's stored settings, as data the settings form validates."""
    return {name: getattr(project, name) for name in ProjectSettingsForm.Meta.fields}


def settings_changes(data: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a posted settings form carries (an unticked box is absent: False)."""
    form = ProjectSettingsForm()
    return {
        name: (name in data) if isinstance(field, forms.BooleanField) else data.get(name, "")
        for name, field in form.fields.items()
    }


class ProjectNewForm(ErrorTextMixin, forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(help_text="Letters, digits and hyphens; the project's address.")


class MemberAddForm(ErrorTextMixin, forms.Form):
    identifier = forms.CharField(label="Username or e-mail", max_length=254)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.ANNOTATOR)


class RoleForm(ErrorTextMixin, forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class InviteForm(ErrorTextMixin, forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.ANNOTATOR)
    days = forms.IntegerField(label="Valid for (days)", min_value=1, max_value=365, initial=7)
    max_uses = forms.IntegerField(
        label="Maximum uses", min_value=1, required=False, help_text="Empty: no limit."
    )

    def expires_at(self) -> datetime:
        return timezone.now() + timedelta(days=self.cleaned_data["days"])


class SignUpForm(ErrorTextMixin, forms.Form):
    """Joining through an invite link: a username and password, or (annotator links) a name."""

    display_name = forms.CharField(max_length=150, required=False, label="Your name")
    username = forms.CharField(max_length=150, required=False)
    password = forms.CharField(
        required=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )


class DeleteForm(ErrorTextMixin, forms.Form):
    confirm_slug = forms.CharField(label="Type the project's slug to delete it", max_length=50)
