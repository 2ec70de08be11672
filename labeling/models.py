"""The human side: projects, what is compared, who compares it and what they said."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class SelectionStrategy(models.TextChoices):
    """The order in which a project's open pairs are served (labeling/services/selection.py)."""

    FIFO = "fifo", "First in, first out (priority, then age)"
    RANDOM = "random", "Random"
    UNCERTAINTY = "uncertainty", "Uncertainty: P(a > b) closest to 1/2 first"
    LARGE_MARGIN = "large-margin", "Large margin: largest predicted quality gap first"


class ScoreAfterReward(models.TextChoices):
    AUTO = "auto", "When the strategy is not first in, first out"
    ALWAYS = "always", "Always"
    NEVER = "never", "Never"


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    instructions = models.TextField(blank=True, help_text="Markdown, shown to annotators.")
    overlap = models.PositiveSmallIntegerField(
        default=1, help_text="Judgments wanted per pair (different annotators)."
    )
    lease_minutes = models.PositiveIntegerField(
        default=15, help_text="How long an annotator holds a pair before it returns to the pool."
    )
    allow_tie = models.BooleanField(default=True)
    allow_both_bad = models.BooleanField(default=True)
    ask_strength = models.BooleanField(default=False, help_text="Ask how much better (1-3).")
    ask_rationale = models.BooleanField(default=False, help_text="Offer a free-text reason.")
    gold_rate = models.FloatField(
        default=0.0, help_text="Share of served pairs that are gold pairs (known answer), 0-1."
    )
    selection_strategy = models.CharField(
        max_length=16, choices=SelectionStrategy.choices, default=SelectionStrategy.FIFO
    )
    exploration_share = models.FloatField(
        default=0.0,
        help_text="Share of the queue, 0-1, drawn at random among the open pairs "
        "(uncertainty and large-margin).",
    )
    score_after_reward = models.CharField(
        max_length=8,
        choices=ScoreAfterReward.choices,
        default=ScoreAfterReward.AUTO,
        help_text="Score the open pairs with each new reward model.",
    )
    reveal_sources = models.BooleanField(
        default=False,
        help_text="After each vote, show the annotator which models wrote the two answers "
        "(an arena's reveal; the names stay hidden until the vote is stored).",
    )
    judgments_per_annotator = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Most judgments one annotator may give in this project (empty: no limit).",
    )
    avoid_repeat_prompt = models.BooleanField(
        default=True,
        help_text="Serve a pair of another prompt than the last one when such work exists "
        "(against anchoring on one prompt).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Archived: annotators lose access (labeling.selectors.membership_get), managers keep it,
    # and every row stays stored.
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class Membership(models.Model):
    class Role(models.TextChoices):
        ANNOTATOR = "annotator"
        MANAGER = "manager"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    # Set by a manager from the quality page: the judgments stay stored, but exports and
    # training snapshots leave them out.
    excluded_from_exports = models.BooleanField(default=False)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"

    @property
    def is_manager(self) -> bool:
        return self.role == self.Role.MANAGER


class Prompt(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    external_id = models.CharField(max_length=200, null=True, blank=True)
    # A conversation: [{"role": "system"|"user"|"assistant", "content": "..."}, ...]
    messages = models.JSONField()
    metadata = models.JSONField(default=dict, blank=True)
    heldout = models.BooleanField(
        default=False,
        help_text="A held-out evaluation prompt: policies are evaluated on these prompts.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"], name="prompt_unique_external_id"
            )
        ]

    def __str__(self) -> str:
        return self.external_id or f"prompt {self.pk}"


class Candidate(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="candidates")
    text = models.TextField()
    source = models.CharField(
        max_length=200, default="imported", help_text="Model name, artifact, 'imported' or 'human'."
    )
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"candidate {self.pk} ({self.source})"


class Choice(models.TextChoices):
    """A judgment's answer, about the pair's canonical candidates a and b."""

    A = "a", "A is better"
    B = "b", "B is better"
    TIE = "tie", "Tie"
    BOTH_BAD = "both_bad", "Both bad"


class Pair(models.Model):
    """Two candidates of one prompt, stored with candidate_a.id < candidate_b.id.

    `taken` counts judgments plus live leases and is changed only under the row's lock;
    `is_full` (taken >= overlap) keeps the queue of open pairs in one small partial index.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pairs")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="pairs")
    candidate_a = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="+")
    candidate_b = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="+")
    priority = models.FloatField(default=0.0)
    # The latest reward model's view of the pair (a scoring run): P(a preferred over b) and
    # r(a) - r(b). The selection strategy turns them into `priority`.
    predicted_p_a = models.FloatField(null=True, blank=True)
    predicted_margin = models.FloatField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    gold_choice = models.CharField(max_length=16, choices=Choice.choices, null=True, blank=True)
    is_gold = models.BooleanField(default=False)
    judgment_count = models.PositiveIntegerField(default=0)
    taken = models.PositiveIntegerField(default=0)
    is_full = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["candidate_a", "candidate_b"], name="pair_unique_candidates"
            ),
            models.CheckConstraint(
                condition=Q(candidate_a__lt=models.F("candidate_b")), name="pair_canonical_order"
            ),
        ]
        indexes = [
            models.Index(
                "project",
                models.F("priority").desc(),
                "id",
                name="pair_open_queue",
                condition=Q(is_full=False, is_gold=False),
            ),
            models.Index(fields=["project", "is_gold"], name="pair_project_gold"),
        ]

    def __str__(self) -> str:
        return f"pair {self.pk}"


class Assignment(models.Model):
    """A lease: one annotator may judge one pair until expires_at."""

    class Status(models.TextChoices):
        LEASED = "leased"
        DONE = "done"
        SKIPPED = "skipped"
        EXPIRED = "expired"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LEASED)
    left_is_a = models.BooleanField(help_text="Whether candidate a was shown on the left.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pair", "annotator"], name="assignment_unique_annotator"
            )
        ]
        indexes = [
            models.Index(
                fields=["expires_at"],
                name="assignment_live_expiry",
                condition=Q(status="leased"),
            ),
            models.Index(
                fields=["annotator", "project"],
                name="assignment_live_by_annotator",
                condition=Q(status="leased"),
            ),
            # The annotator's latest lease in a project (its prompt is not served again next).
            models.Index(fields=["annotator", "project", "id"], name="assignment_by_annotator"),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} ({self.status})"

    @property
    def seconds_left(self) -> int:
        """Seconds until the lease runs out (0 once it has), for the page's timer."""
        return max(int((self.expires_at - timezone.now()).total_seconds()), 0)

    @property
    def left(self) -> Candidate:
        return self.pair.candidate_a if self.left_is_a else self.pair.candidate_b

    @property
    def right(self) -> Candidate:
        return self.pair.candidate_b if self.left_is_a else self.pair.candidate_a


class Judgment(models.Model):
    class Source(models.TextChoices):
        ANNOTATOR = "annotator"
        IMPORTED = "imported"
        # A simulated annotator (labeling/services/simulation.py): labels through the same
        # leases as people, but is no person, so quality statistics about people leave it out.
        SIMULATED = "simulated"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judgments")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="judgments")
    # Null for judgments imported from an existing dataset.
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    assignment = models.OneToOneField(
        Assignment, on_delete=models.PROTECT, null=True, blank=True, related_name="judgment"
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.ANNOTATOR)
    choice = models.CharField(max_length=16, choices=Choice.choices)
    strength = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1-3")
    rationale = models.TextField(blank=True)
    left_is_a = models.BooleanField(null=True, help_text="Whether candidate a was shown left.")
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pair", "annotator"],
                name="judgment_unique_annotator",
                condition=Q(annotator__isnull=False),
            ),
            models.CheckConstraint(
                condition=Q(strength__isnull=True) | Q(strength__gte=1, strength__lte=3),
                name="judgment_strength_range",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "created_at"], name="judgment_project_time"),
            # The labelling page counts the annotator's own judgments on every request.
            models.Index(fields=["annotator", "project"], name="judgment_by_annotator"),
        ]

    def __str__(self) -> str:
        return f"judgment {self.pk}: {self.choice}"

    @property
    def screen_side(self) -> str:
        """The answer as its annotator clicked it: left, right, tie or both_bad (the inverse of
        `Answer.choice` in labeling/services/judgment.py)."""
        if self.choice in (Choice.A, Choice.B) and self.left_is_a is not None:
            return "left" if (self.choice == Choice.A) == self.left_is_a else "right"
        return str(self.choice)


def _invite_token() -> str:
    return secrets.token_urlsafe(24)


class Invite(models.Model):
    """A link that lets people join a project with one role, until it expires, is used up or
    is revoked (labeling/services/invites.py)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invites")
    token = models.CharField(max_length=64, unique=True, default=_invite_token, editable=False)
    role = models.CharField(
        max_length=16, choices=Membership.Role.choices, default=Membership.Role.ANNOTATOR
    )
    expires_at = models.DateTimeField()
    max_uses = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit.")
    uses = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.role} invite {self.pk} to {self.project}"

    def unusable_reason(self, now=None) -> str:
        """Why nobody can join through this link now; empty when they can."""
        if self.revoked_at is not None:
            return "This invite link was revoked."
        if self.expires_at <= (now or timezone.now()):
            return "This invite link has expired."
        if self.max_uses is not None and self.uses >= self.max_uses:
            return "This invite link has been used as many times as it allows."
        if self.project.is_archived:
            return "This project is archived."
        return ""


class AuditAction(models.TextChoices):
    PROJECT_CREATED = "project_created", "Project created"
    SETTINGS_CHANGED = "settings_changed", "Settings changed"
    PROJECT_ARCHIVED = "project_archived", "Project archived"
    PROJECT_UNARCHIVED = "project_unarchived", "Project taken out of the archive"
    PROJECT_DELETED = "project_deleted", "Project deleted"
    MEMBER_ADDED = "member_added", "Member added"
    MEMBER_ROLE_CHANGED = "member_role_changed", "Member's role changed"
    MEMBER_REMOVED = "member_removed", "Member removed"
    INVITE_CREATED = "invite_created", "Invite link created"
    INVITE_REVOKED = "invite_revoked", "Invite link revoked"
    INVITE_ACCEPTED = "invite_accepted", "Joined through an invite link"
    ANNOTATORS_EXCLUDED = "annotators_excluded", "Annotators excluded"
    ANNOTATOR_INCLUDED = "annotator_included", "Annotator included again"
    DATA_IMPORTED = "data_imported", "Data imported"
    DATA_EXPORTED = "data_exported", "Data exported"
    QUEUE_ORDER_CHANGED = "queue_order_changed", "Queue order changed"
    RUN_LAUNCHED = "run_launched", "Run launched"
    RUN_CANCELLED = "run_cancelled", "Run cancelled"
    MODEL_MADE_CURRENT = "model_made_current", "Model made current"


class AuditEvent(models.Model):
    """What a person did to a project, with who and when (labeling/services/audit.py).

    The project's name and slug and the actor's username are copied in, so that the record of a
    deletion, or of a user since removed, still reads.
    """

    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_events"
    )
    project_slug = models.CharField(max_length=50)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="audit_project_time")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_name or '-'} on {self.project_slug}"


# Crowd studies live in a module of their own; importing them here registers them with Django.
from labeling.models_crowd import CrowdStudy, Participant, Platform  # noqa: E402, F401
