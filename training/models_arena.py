"""Arenas: a project whose pairs are battles between contenders (models), and the
Bradley–Terry leaderboards fitted from their judgments (training/services/arena.py)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from labeling.models import Project


class ArenaSampling(models.TextChoices):
    UNIFORM = "uniform", "Uniform over contender pairs"
    ADAPTIVE = "adaptive", "Adaptive: pairs whose rating difference is least certain first"


class BothBad(models.TextChoices):
    EXCLUDE = "exclude", "Left out"
    TIE = "tie", "Counted as a tie"


class Arena(models.Model):
    """A project is an arena when it has one: its contenders answer its prompts and its pairs
    are battles between two contenders' answers to one prompt."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="arena")
    prompt_set = models.CharField(
        max_length=200,
        default="heldout",
        help_text="The prompts contenders answer: 'heldout', 'all' or 'prompts:ID,ID,...'.",
    )
    battle_budget = models.PositiveIntegerField(
        default=100, help_text="Battles (pairs) to make in all."
    )
    sampling = models.CharField(
        max_length=16, choices=ArenaSampling.choices, default=ArenaSampling.UNIFORM
    )
    both_bad = models.CharField(max_length=8, choices=BothBad.choices, default=BothBad.EXCLUDE)
    length_control = models.BooleanField(
        default=False,
        help_text="Also fit with the length difference as a covariate (shown beside).",
    )
    # Other projects whose judged pairs between two known sources count as battles.
    extra_projects = models.ManyToManyField(Project, blank=True, related_name="+")
    max_new_tokens = models.PositiveIntegerField(default=64)
    temperature = models.FloatField(default=0.7)
    seed = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"arena of {self.project}"


class ArenaContender(models.Model):
    """A model in the arena. Its answers are candidates whose source is its name: sampled by
    a generation job (`run`) from a policy artifact or a local model directory, or imported."""

    class Kind(models.TextChoices):
        ARTIFACT = "artifact", "Policy artifact"
        LOCAL = "local", "Local model directory"
        IMPORTED = "imported", "Answers from a file"

    arena = models.ForeignKey(Arena, on_delete=models.CASCADE, related_name="contenders")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    artifact = models.ForeignKey(
        "training.ModelArtifact",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="arena_contenders",
    )
    model_path = models.CharField(max_length=1000, blank=True)
    run = models.ForeignKey(
        "training.TrainingRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    answers = models.PositiveIntegerField(default=0, help_text="Candidates it has added.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["arena", "name"], name="contender_unique_name"),
            models.CheckConstraint(
                condition=~Q(kind="artifact") | Q(artifact__isnull=False),
                name="contender_artifact_named",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ArenaFit(models.Model):
    """One fit of the leaderboard, a worker job (`leaderboard` holds training.ml.arena's)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    arena = models.ForeignKey(Arena, on_delete=models.CASCADE, related_name="fits")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    resamples = models.PositiveIntegerField(default=200)
    seed = models.PositiveIntegerField(default=0)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    leaderboard = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"fit {self.pk} ({self.status})"

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        return round(100 * self.step / self.total_steps) if self.total_steps else 0
