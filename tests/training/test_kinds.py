"""The engine (training/ml) defines the kinds once; the database and the forms use its values."""

from labeling.models import Project
from training.forms import ScheduleForm
from training.ml.artifact import ARTIFACT_KINDS, artifact_kind
from training.ml.config import (
    CONFIG_CLASSES,
    KINDS,
    KINDS_NEEDING_REFERENCE,
    KINDS_NEEDING_REWARD,
    KINDS_WITHOUT_SNAPSHOT,
)
from training.models import ModelArtifact, TrainingKind, TrainingSchedule


def test_it_stores_the_engines_training_kinds():
    assert tuple(TrainingKind.values) == KINDS == tuple(CONFIG_CLASSES)
    assert KINDS_NEEDING_REWARD.issubset(KINDS) and KINDS_WITHOUT_SNAPSHOT.issubset(KINDS)
    assert KINDS_NEEDING_REFERENCE.issubset(KINDS)


def test_it_stores_the_engines_artifact_kinds():
    assert tuple(ModelArtifact.Kind.values) == ARTIFACT_KINDS
    assert {kind: artifact_kind(kind) for kind in KINDS} == {
        "sft": "policy",
        "reward": "reward",
        "dpo": "policy",
        "ppo": "policy",
        "rloo": "policy",
        "grpo": "policy",
        "generate": "samples",  # answers, no model
        "score": "scores",  # a file of scores, no ModelArtifact
        "evaluate": "evaluation",  # measures, no model
    }
    assert not set(ARTIFACT_KINDS) & {artifact_kind(kind) for kind in KINDS_WITHOUT_SNAPSHOT}
    assert artifact_kind("evaluate") not in ARTIFACT_KINDS


def test_it_offers_the_schedules_own_follow_ups():
    form = ScheduleForm(project=Project(slug="any"))  # its models are checked for a project
    assert form.fields["follow_up"].choices == TrainingSchedule.FollowUp.choices
    follow_ups = set(TrainingSchedule.FollowUp.values) - {TrainingSchedule.FollowUp.NONE}
    assert follow_ups <= set(KINDS)
