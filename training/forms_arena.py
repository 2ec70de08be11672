"""Forms of the arena page: its settings and a new contender."""

from typing import Any

from django import forms

from labeling.models import Project
from training.models import Arena, ModelArtifact
from training.services.arena import managed_project_ids


class ArenaForm(forms.ModelForm):
    reveal_sources = forms.BooleanField(
        required=False, label="Reveal the models' names after each vote"
    )

    class Meta:
        model = Arena
        fields = [
            "prompt_set",
            "battle_budget",
            "sampling",
            "both_bad",
            "length_control",
            "extra_projects",
            "max_new_tokens",
            "temperature",
            "seed",
        ]
        labels = {"extra_projects": "Also count judged battles of these projects"}

    def __init__(self, *args: Any, project: Project, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["extra_projects"].queryset = Project.objects.filter(  # type: ignore[attr-defined]
            pk__in=managed_project_ids(user=user)
        ).exclude(pk=project.pk)
        self.fields["extra_projects"].required = False
        self.fields["reveal_sources"].initial = project.reveal_sources


def _artifact_label(artifact: ModelArtifact) -> str:
    return f"{artifact.project.name}: artifact {artifact.pk}"


class ContenderForm(forms.Form):
    name = forms.CharField(max_length=200)
    artifact = forms.ModelChoiceField(
        queryset=ModelArtifact.objects.none(),
        required=False,
        label="Policy artifact",
        help_text="Of any project you manage.",
    )
    model_path = forms.CharField(
        max_length=1000,
        required=False,
        label="Or a local model directory",
        help_text="Under the configured model roots.",
    )
    answers = forms.FileField(
        required=False,
        label="Or answers from a file",
        help_text='JSON lines: {"prompt": external id (or "prompt_id": id), "answer": text}.',
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["artifact"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = (
            ModelArtifact.objects.filter(
                project__in=managed_project_ids(user=user), kind=ModelArtifact.Kind.POLICY
            )
            .select_related("project")
            .order_by("project__name", "-pk")
        )
        field.label_from_instance = _artifact_label  # type: ignore[method-assign,assignment]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        given = [n for n in ("artifact", "model_path", "answers") if cleaned.get(n)]
        if len(given) != 1:
            raise forms.ValidationError(
                "Give exactly one of a policy artifact, a local model directory or a file."
            )
        return cleaned
