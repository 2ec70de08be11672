"""Forms of the training dashboard. The run config form is built from the engine's own config
models (`config_fields`: each field's type, default, description and choices) and validated by
the engine's `validate_config`, so the dashboard, the `train` command and a stored run accept
exactly the same values."""

from typing import Any

from django import forms

from labeling.formats.exports import AGGREGATE_LABELS
from labeling.models import Project
from labeling.services.simulation import MAX_ANNOTATORS, MAX_BUDGET, simulation_oracles
from training.ml.config import (
    KINDS_NEEDING_REWARD,
    ConfigError,
    config_fields,
    config_to_dict,
    validate_config,
)
from training.models import (
    ModelArtifact,
    PolicyMethod,
    TrainingKind,
    TrainingRun,
    TrainingSchedule,
)
from training.selectors import artifacts_for_project, snapshots_for_project
from training.services.runs import TrainingRefused, base_resolve
from training.services.snapshots import AGGREGATES

NEW_SNAPSHOT = "new"


def split_field_error(message: str, fields: Any) -> tuple[str | None, str]:
    """ "learning_rate: expected a number" -> ("learning_rate", "expected a number") when the
    form has that field; otherwise (None, the whole message) for the form's top."""
    name, sep, rest = message.partition(": ")
    if sep and name in fields:
        return name, rest
    return None, message


class RunConfigForm(forms.Form):
    """One input per config field, in the model's order, with its default and description.

    Numbers are text inputs on purpose: `validate_config` does the parsing ("1e-5", "3") and
    words the errors, the same way for every entry point.
    """

    def __init__(self, *args: Any, kind: str, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "config")
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.specs = config_fields(kind)
        for spec in self.specs:
            if spec.choices:
                field: forms.Field = forms.ChoiceField(choices=[(c, c) for c in spec.choices])
            elif spec.type is bool:
                field = forms.BooleanField(required=False)
            else:
                attrs = {"inputmode": "decimal"} if spec.type in (int, float) else {}
                field = forms.CharField(required=False, widget=forms.TextInput(attrs=attrs))
            field.label = spec.name
            default = "empty (off)" if spec.default is None else spec.default
            field.help_text = f"{spec.help} Default: {default}."
            field.initial = "" if spec.default is None else spec.default
            self.fields[spec.name] = field

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        try:
            self.config = config_to_dict(validate_config(self.kind, cleaned))
        except ConfigError as error:
            for name, message in error.problems:
                if name in self.fields:
                    self.add_error(name, message)
                else:
                    self.add_error(None, f"{name}: {message}" if name else message)
        return cleaned


class RunSetupForm(forms.Form):
    """What a run trains on and starts from; the run service checks the choices again."""

    snapshot = forms.ChoiceField(
        help_text="Freeze the project's judgments now, or train on an earlier snapshot again."
    )
    aggregate = forms.ChoiceField(
        choices=[(name, AGGREGATE_LABELS[name]) for name in AGGREGATES],
        initial="all",
        help_text="How a new snapshot turns judgments into rows.",
    )
    eval_fraction = forms.FloatField(
        initial=0.1,
        min_value=0.0,
        max_value=0.9,
        help_text="Share of a new snapshot's prompts held out for evaluation.",
    )
    base_artifact = forms.ChoiceField(
        required=False,
        label="Base model",
        help_text="Start from an earlier artifact of this project, or from the model named below.",
    )
    base_model = forms.CharField(
        required=False,
        label="Hub id or local path",
        help_text="Used when no artifact is chosen: a hub id (organisation/name) or a model "
        "directory under the server's model roots.",
    )
    reward_artifact = forms.ChoiceField(
        required=False,
        label="Reward model",
        help_text="The reward model that scores the policy's samples.",
    )

    def __init__(self, *args: Any, project: Project, kind: str, judgments: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.project, self.kind = project, kind
        fields: dict[str, Any] = self.fields  # ChoiceFields: their choices are set here
        fields["snapshot"].choices = [
            (NEW_SNAPSHOT, f"New snapshot from the current judgments ({judgments} judgments)"),
            *(
                (
                    str(s.pk),
                    f"Snapshot {s.pk}: {s.train_rows} train + {s.eval_rows} eval rows, "
                    f"{s.created_at:%Y-%m-%d %H:%M}",
                )
                for s in snapshots_for_project(project=project)
            ),
        ]
        base_kinds = ("policy", "reward") if kind == TrainingKind.REWARD else ("policy",)
        self.artifacts = {str(a.pk): a for a in artifacts_for_project(project=project)}
        fields["base_artifact"].choices = [("", "— the hub id or path below —")] + [
            (pk, _artifact_label(a)) for pk, a in self.artifacts.items() if a.kind in base_kinds
        ]
        if kind in KINDS_NEEDING_REWARD:
            rewards = [
                (pk, _artifact_label(a))
                for pk, a in self.artifacts.items()
                if a.kind == ModelArtifact.Kind.REWARD
            ]
            none_yet = [("", "— none yet: train one first —")]
            fields["reward_artifact"].choices = rewards or none_yet
            fields["reward_artifact"].required = True
        else:
            del self.fields["reward_artifact"]

    def clean_base_model(self) -> str:
        return self.cleaned_data["base_model"].strip()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        if cleaned.get("base_artifact"):
            cleaned["base"] = self.artifacts[cleaned["base_artifact"]]
        elif not cleaned.get("base_model"):
            self.add_error("base_model", "Choose an artifact or name a hub id or local path.")
        else:
            cleaned["base"] = cleaned["base_model"]
        reward = cleaned.get("reward_artifact")
        cleaned["reward"] = self.artifacts[reward] if reward else None
        choice = cleaned.get("snapshot")
        cleaned["snapshot_obj"] = (
            None
            if choice == NEW_SNAPSHOT
            else snapshots_for_project(project=self.project).filter(pk=int(choice or 0)).first()
        )
        return cleaned

    def add_refusal(self, message: str) -> None:
        """Put a TrainingRefused message ("base: ...") next to the field it names."""
        name, text = split_field_error(message, {"base": 1, "snapshot": 1, "reward_artifact": 1})
        target = {"base": "base_model"}.get(name or "", name)
        self.add_error(target if target in self.fields else None, text)


def _artifact_label(artifact: ModelArtifact) -> str:
    current = ", current" if artifact.is_current else ""
    return f"Artifact {artifact.pk} ({artifact.kind} from run {artifact.run_id}{current})"


class GenerationSetupForm(forms.Form):
    """Which policy a generation job samples from; the service checks the choice again."""

    policy_artifact = forms.ChoiceField(
        required=False,
        label="Policy",
        help_text="One of this project's policies, or the model named below.",
    )
    policy_model = forms.CharField(
        required=False,
        label="Hub id or local path",
        help_text="Used when no artifact is chosen: a hub id (organisation/name) or a model "
        "directory under the server's model roots.",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        policies = artifacts_for_project(project=project, kind=ModelArtifact.Kind.POLICY)
        choices: Any = [("", "— the hub id or path below —")]
        choices += [(str(a.pk), _artifact_label(a)) for a in policies]
        self.fields["policy_artifact"].choices = choices  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("policy_artifact"):
            cleaned["policy"] = f"artifact:{cleaned['policy_artifact']}"
        elif cleaned.get("policy_model", "").strip():
            cleaned["policy"] = cleaned["policy_model"].strip()
        elif not self.errors:
            self.add_error("policy_model", "Choose a policy or name a hub id or local path.")
        return cleaned


class ScheduleForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Train on a schedule")
    min_new_judgments = forms.IntegerField(
        min_value=1,
        initial=100,
        label="New judgments needed",
        help_text="Queue a reward-model run once this many judgments are new.",
    )
    reward_base_model = forms.CharField(
        required=False,
        label="Reward model starts from",
        help_text="Hub id or local directory the scheduled reward model starts from.",
    )
    follow_up = forms.ChoiceField(
        choices=TrainingSchedule.FollowUp.choices,
        label="Then",
        help_text="What runs after a scheduled reward model succeeds.",
    )
    policy_base_model = forms.CharField(
        required=False,
        label="Policy starts from",
        help_text="Starting policy for the follow-up when the project has no current policy.",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project

    def _checked_model(self, name: str) -> str:
        """The same rule as a run's base (runs.base_resolve); an artifact is kept by its path."""
        value = self.cleaned_data[name].strip()
        if value:
            try:
                model = base_resolve(project=self.project, text=value)
            except TrainingRefused as refused:
                raise forms.ValidationError(
                    split_field_error(str(refused), {"base": 1})[1]
                ) from None
            return model.path if isinstance(model, ModelArtifact) else model
        return value

    def clean_reward_base_model(self) -> str:
        return self._checked_model("reward_base_model")

    def clean_policy_base_model(self) -> str:
        return self._checked_model("policy_base_model")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if (
            cleaned.get("enabled")
            and not cleaned.get("reward_base_model")
            and "reward_base_model" not in self.errors
        ):
            self.add_error("reward_base_model", "Required while the schedule is on.")
        return cleaned


class RunFilterForm(forms.Form):
    kind = forms.ChoiceField(required=False, choices=[("", "any kind"), *TrainingKind.choices])
    status = forms.ChoiceField(
        required=False, choices=[("", "any status"), *TrainingRun.Status.choices]
    )


class TryForm(forms.Form):
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    response_a = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    response_b = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class LoopSettingsForm(forms.Form):
    """The loop's settings; configs are JSON objects of the kind's fields (config.py), checked
    by the service (loop_settings_set) with the same pydantic classes as every run."""

    enabled = forms.BooleanField(required=False, label="Run rounds by themselves")
    label_budget = forms.IntegerField(
        min_value=1, label="Judgments per round", help_text="Reaching it starts the round's steps."
    )
    prompts_per_round = forms.IntegerField(
        min_value=1, label="Prompts per round", help_text="Prompts the new policy answers."
    )
    k = forms.IntegerField(min_value=1, max_value=16, label="Answers per prompt (k)")
    pairing = forms.ChoiceField(
        label="Pairing",
        help_text="How the new answers are paired (the generate kind's pairing).",
    )
    sampling = forms.JSONField(
        required=False,
        label="Sampling",
        help_text='JSON: other fields of the generate kind, e.g. {"temperature": 0.8}.',
    )
    policy_method = forms.ChoiceField(choices=PolicyMethod.choices, label="Policy update")
    policy_config = forms.JSONField(
        required=False, label="Policy config", help_text="JSON: fields of the method's config."
    )
    reward_base_model = forms.CharField(
        required=False,
        label="Reward model starts from",
        help_text="Hub id or local directory each round's reward model starts from.",
    )
    reward_config = forms.JSONField(required=False, label="Reward config")
    start_policy = forms.CharField(
        required=False,
        label="Round-0 policy",
        help_text="The policy the loop starts from when the project has no current policy.",
    )
    evaluation_config = forms.JSONField(
        required=False, label="Evaluation config", help_text="JSON: fields of the evaluate kind."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        pairing = next(f for f in config_fields(TrainingKind.GENERATE) if f.name == "pairing")
        self.fields["pairing"].choices = [(c, c) for c in pairing.choices or ()]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in ("policy_config", "reward_config", "evaluation_config", "sampling"):
            value = cleaned.get(name)
            if value is None:
                cleaned[name] = {}
            elif not isinstance(value, dict):
                self.add_error(name, 'Expected a JSON object, e.g. {"beta": 0.1}.')
        for name in ("reward_base_model", "start_policy"):
            cleaned[name] = (cleaned.get(name) or "").strip()
        return cleaned


class SimulationForm(forms.Form):
    """Simulated annotators started from the rounds page; the oracle is chosen from
    PREFAPP_SIMULATION_ORACLES (a form never names a module of its own)."""

    oracle = forms.ChoiceField(label="Oracle", help_text="Knows the right answer to each pair.")
    annotators = forms.IntegerField(
        min_value=1, max_value=MAX_ANNOTATORS, initial=5, label="Annotators"
    )
    noise = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        initial=0.1,
        label="Noise",
        help_text="Share of answers flipped.",
    )
    budget = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_BUDGET,
        label="Judgments",
        help_text="Stop after this many (empty: until no pair is left).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["oracle"].choices = [(o, o) for o in simulation_oracles()]  # type: ignore[attr-defined]
