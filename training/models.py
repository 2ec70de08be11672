"""The machine side: frozen datasets, training runs, their metrics and the models they made.

Files live under settings.PREFAPP_DATA_DIR:
    snapshots/<id>/train.jsonl, eval.jsonl     a DatasetSnapshot's rows (read-only once written)
    runs/<id>/config.json, output.log          what the training child was given and printed
    runs/<id>/prompts.jsonl, samples/          a generation job's prompts and sampled answers
    artifacts/run-<id>/                        a succeeded run's model + tokenizer
"""

from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from labeling.models import Project
from training.ml import artifact


def data_dir() -> Path:
    return Path(settings.PREFAPP_DATA_DIR)


class DatasetSnapshot(models.Model):
    """Preference rows taken from a project's judgments at one moment, split once, never changed."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="snapshots")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The arguments given to labeling.selectors.preference_rows (aggregate, conversational, ...).
    filters = models.JSONField(default=dict)
    content_hash = models.CharField(
        max_length=64, help_text="sha256 of train.jsonl followed by eval.jsonl."
    )
    train_rows = models.PositiveIntegerField()
    eval_rows = models.PositiveIntegerField()
    seed = models.IntegerField(default=0)
    eval_fraction = models.FloatField(default=0.1)
    # The newest judgment the rows could include: the schedule counts new judgments after it.
    last_judgment_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"snapshot {self.pk} ({self.train_rows}+{self.eval_rows} rows)"

    @property
    def directory(self) -> Path:
        return data_dir() / "snapshots" / str(self.pk)

    @property
    def train_path(self) -> Path:
        return self.directory / "train.jsonl"

    @property
    def eval_path(self) -> Path | None:
        return self.directory / "eval.jsonl" if self.eval_rows else None

    @property
    def rows(self) -> int:
        return self.train_rows + self.eval_rows


class TrainingKind(models.TextChoices):
    """The engine's kinds (training.ml.config.KINDS), with their labels for the dashboard."""

    SFT = "sft", "SFT"
    REWARD = "reward", "Reward model"
    DPO = "dpo", "DPO"
    PPO = "ppo", "PPO"
    RLOO = "rloo", "RLOO"
    GRPO = "grpo", "GRPO"
    GENERATE = "generate", "Generation"
    SCORE = "score", "Scoring of open pairs"
    EVALUATE = "evaluate", "Evaluation"


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    Kind = TrainingKind

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_runs")
    kind = models.CharField(max_length=16, choices=TrainingKind.choices)
    # Exactly one of these names the starting weights: a hub id or local path, or an artifact.
    base_model = models.CharField(max_length=500, blank=True)
    base_artifact = models.ForeignKey(
        "ModelArtifact", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reward_artifact = models.ForeignKey(
        "ModelArtifact",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The reward model that scores samples (ppo, rloo, grpo).",
    )
    reference_model = models.CharField(
        max_length=500,
        blank=True,
        help_text="The policy an evaluation compares against: 'artifact:ID', a hub id or a "
        "directory under the model roots (evaluate).",
    )
    reward_model = models.CharField(
        max_length=500,
        blank=True,
        help_text="Or a reward-model directory under PREFAPP_MODEL_ROOTS (or a hub id).",
    )
    config = models.JSONField(default=dict, help_text="The kind's full config, validated.")
    # None for kinds that read no judgments (config.KINDS_WITHOUT_SNAPSHOT: a generation job,
    # a scoring run).
    snapshot = models.ForeignKey(
        DatasetSnapshot, on_delete=models.PROTECT, null=True, blank=True, related_name="runs"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    log_tail = models.TextField(blank=True, help_text="The last lines the training child printed.")
    final_metrics = models.JSONField(default=dict, blank=True)
    # After this run succeeds, queue a run of this kind (set by the training schedule).
    follow_up_kind = models.CharField(max_length=16, blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    # When the run's task message last went to the broker (empty: it never reached it).
    sent_at = models.DateTimeField(null=True, blank=True)
    queue = models.CharField(
        max_length=64,
        default="training",
        help_text="The worker pool (Celery queue) the run is sent to (services.runs.run_queue).",
    )
    worker_hostname = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    child_pid = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "kind", "created_at"], name="run_project_kind_time"),
            models.Index(
                fields=["status"],
                name="run_unfinished",
                condition=Q(status__in=["queued", "running"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(base_model="") | Q(base_artifact__isnull=False),
                name="run_has_base",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.kind}, {self.status})"

    @property
    def directory(self) -> Path:
        return data_dir() / "runs" / str(self.pk)

    @property
    def output_dir(self) -> Path:
        """Where the child writes the model (a generation job: its samples; a scoring run: its
        scores); it exists only after a successful run."""
        if not artifact.makes_model(self.kind):
            return self.directory / artifact.artifact_kind(self.kind)
        return data_dir() / "artifacts" / f"run-{self.pk}"

    @property
    def base_path(self) -> str:
        """What the training process loads: the base artifact's directory, or the hub id/path."""
        return self.base_artifact.path if self.base_artifact is not None else self.base_model

    @property
    def base_label(self) -> str:
        return f"artifact {self.base_artifact_id}" if self.base_artifact_id else self.base_model

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.total_steps:
            return 0
        return min(100, round(100 * self.step / self.total_steps))

    # State changes are conditional updates, so a worker and a cancelling manager never
    # overwrite each other: each returns whether it applied.

    def _transition(self, allowed: tuple[str, ...], **fields: object) -> bool:
        updated = TrainingRun.objects.filter(pk=self.pk, status__in=allowed).update(**fields)
        if updated:
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(updated)

    def mark_running(self, *, hostname: str, pid: int, task_id: str = "") -> bool:
        now = timezone.now()
        return self._transition(
            (self.Status.QUEUED,),
            status=self.Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            worker_hostname=hostname,
            worker_pid=pid,
            celery_task_id=task_id,
        )

    def mark_succeeded(self, *, metrics: dict) -> bool:
        return self._transition(
            (self.Status.RUNNING,),
            status=self.Status.SUCCEEDED,
            finished_at=timezone.now(),
            final_metrics=metrics,
            error="",
        )

    def mark_failed(self, error: str) -> bool:
        return self._transition(
            (self.Status.QUEUED, self.Status.RUNNING),
            status=self.Status.FAILED,
            finished_at=timezone.now(),
            error=error,
        )

    def mark_cancelled(self, note: str = "") -> bool:
        """`note`: why, when the run was not cancelled by hand (shown on its page)."""
        return self._transition(
            (self.Status.QUEUED, self.Status.RUNNING),
            status=self.Status.CANCELLED,
            finished_at=timezone.now(),
            **({"error": note} if note else {}),
        )


class MetricPoint(models.Model):
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metric_points")
    step = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    value = models.FloatField()

    class Meta:
        # The dashboard polls "points of run R after id X".
        indexes = [models.Index(fields=["run", "id"], name="metric_run_after_id")]

    def __str__(self) -> str:
        return f"{self.name}@{self.step}={self.value:g}"


class ModelArtifact(models.Model):
    class Kind(models.TextChoices):
        POLICY = artifact.POLICY
        REWARD = artifact.REWARD

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="artifacts")
    run = models.OneToOneField(TrainingRun, on_delete=models.PROTECT, related_name="artifact")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    path = models.CharField(max_length=1000, help_text="Directory with the model and tokenizer.")
    metrics = models.JSONField(default=dict, blank=True)
    is_current = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "kind"],
                condition=Q(is_current=True),
                name="artifact_one_current_per_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} artifact {self.pk} (run {self.run_id})"


class TrainingSchedule(models.Model):
    """Periodic training for one project (Celery beat calls schedule_check)."""

    class FollowUp(models.TextChoices):
        NONE = "none", "Nothing"
        DPO = "dpo", "DPO of the current policy"
        PPO = "ppo", "PPO of the current policy"

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="training_schedule"
    )
    enabled = models.BooleanField(default=False)
    min_new_judgments = models.PositiveIntegerField(
        default=100, help_text="Queue a reward-model run once this many judgments are new."
    )
    reward_base_model = models.CharField(
        max_length=500, help_text="Hub id or local directory the reward model starts from."
    )
    reward_config = models.JSONField(default=dict, blank=True)
    follow_up = models.CharField(max_length=16, choices=FollowUp.choices, default=FollowUp.NONE)
    policy_base_model = models.CharField(
        max_length=500,
        blank=True,
        help_text="Starting policy for the follow-up run when the project has no current policy.",
    )
    follow_up_config = models.JSONField(default=dict, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_message = models.TextField(blank=True, help_text="What the last check or follow-up did.")

    def __str__(self) -> str:
        return f"training schedule of {self.project}"


class PolicyMethod(models.TextChoices):
    """How a round updates the policy (the run kinds that train one from preferences)."""

    DPO = "dpo", "DPO"
    PPO = "ppo", "PPO"
    RLOO = "rloo", "RLOO"
    GRPO = "grpo", "GRPO"


class LoopSettings(models.Model):
    """A project's rounds: label budget → reward model → policy update → evaluation → ..."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="loop_settings")
    enabled = models.BooleanField(
        default=False, help_text="Start a round's steps by themselves once its budget is reached."
    )
    label_budget = models.PositiveIntegerField(
        default=100, help_text="Judgments per round; reaching it starts the round's steps."
    )
    prompts_per_round = models.PositiveIntegerField(
        default=50, help_text="Prompts the new policy answers for the next round."
    )
    k = models.PositiveSmallIntegerField(default=2, help_text="Answers sampled per prompt.")
    pairing = models.CharField(
        max_length=16, default="all", help_text="How the new answers are paired (generate kind)."
    )
    # The other fields of the generate kind's config (temperature, max_new_tokens, ...).
    sampling = models.JSONField(default=dict, blank=True)
    policy_method = models.CharField(
        max_length=16, choices=PolicyMethod.choices, default=PolicyMethod.DPO
    )
    policy_config = models.JSONField(default=dict, blank=True)
    reward_base_model = models.CharField(
        max_length=500, help_text="Hub id or local directory each round's reward model starts from."
    )
    reward_config = models.JSONField(default=dict, blank=True)
    start_policy = models.CharField(
        max_length=500,
        blank=True,
        help_text="The round-0 policy when the project has no current policy.",
    )
    evaluation_config = models.JSONField(default=dict, blank=True)
    last_message = models.TextField(blank=True, help_text="What the last advance of the loop did.")

    def __str__(self) -> str:
        return f"loop settings of {self.project}"


class Round(models.Model):
    """One round of the loop: labelling up to the budget, then its steps, one run each."""

    class Status(models.TextChoices):
        LABELLING = "labelling"
        RUNNING = "running"
        FAILED = "failed"
        DONE = "done"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LABELLING)
    # Judgments with a larger id count towards this round's budget (None: all of them).
    after_judgment_id = models.BigIntegerField(null=True, blank=True)
    # Fixed when the steps start, so that a resumed round trains from the same policy.
    policy_before = models.CharField(max_length=500, blank=True)
    reference_policy = models.CharField(
        max_length=500, blank=True, help_text="The round-0 policy the evaluation compares against."
    )
    snapshot = models.ForeignKey(
        DatasetSnapshot, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    judgments = models.PositiveIntegerField(
        null=True, blank=True, help_text="Judgments made in this round, counted when it closed."
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    steps_started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="round_unique_number"),
            # One round open (labelling, running or failed) per project at a time.
            models.UniqueConstraint(
                fields=["project"], condition=~Q(status="done"), name="round_one_open"
            ),
        ]

    def __str__(self) -> str:
        return f"round {self.number} of {self.project} ({self.status})"


class RoundStep(models.Model):
    """One attempt at one step of a round (a resumed step gets a new attempt)."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=32)
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    run = models.ForeignKey(
        TrainingRun, on_delete=models.PROTECT, null=True, blank=True, related_name="round_steps"
    )
    note = models.TextField(blank=True, help_text="The step's error, or why it was skipped.")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["round", "id"]
        constraints = [
            # A step is started once per attempt, however many messages ask for it.
            models.UniqueConstraint(
                fields=["round", "name", "attempt"], name="round_step_unique_attempt"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.attempt} of {self.round} ({self.status})"


# The arena's models live in their own module (models.py stays readable); Django finds them here.
from training.models_arena import Arena, ArenaContender, ArenaFit  # noqa: E402, F401
