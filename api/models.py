"""What the JSON API keeps: personal tokens, answers to idempotent requests, import jobs."""

from django.conf import settings
from django.db import models

from labeling.models import Project


class ApiToken(models.Model):
    """A personal API token. Only the SHA-256 of the secret is stored; the secret is shown once.

    A token acts as its user, limited to one project (`project`) or to all of the user's
    projects (`project` empty); a user's role in a project decides the rest, as on the pages.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=100)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, null=True, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)
    # The first characters of the secret, so that its owner can tell tokens apart.
    prefix = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotentResponse(models.Model):
    """The answer given to a request that carried an `Idempotency-Key`, replayed on a retry.

    In the database, not the cache: the answer to a stored judgment must survive a Redis restart.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=200)
    # SHA-256 of method, path and body: the same key sent with another request is refused.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotent_unique_user_key")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotent_created")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code})"


class ImportJob(models.Model):
    """A large import sent through the API, run on the default worker."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    filename = models.CharField(max_length=255)
    format = models.CharField(max_length=32)
    skip_invalid = models.BooleanField(default=False)
    as_gold = models.BooleanField(default=False)
    # Where the upload waits for the worker (under PREFAPP_DATA_DIR); removed when it ran.
    path = models.CharField(max_length=500)
    summary = models.CharField(max_length=500, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"import {self.pk} ({self.status})"


class WebhookEvent(models.TextChoices):
    RUN_FINISHED = "run.finished", "A training run succeeded"
    RUN_FAILED = "run.failed", "A training run failed"
    JUDGMENTS = "judgments.new", "N new judgments"
    PROJECT_COMPLETE = "project.complete", "Every pair has its judgments"


class Webhook(models.Model):
    """A URL that is sent the project's events, signed with HMAC-SHA256 under `secret`."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="WebhookEvent values.")
    every_judgments = models.PositiveIntegerField(
        default=100, help_text="judgments.new: sent after each this many new judgments."
    )
    # Kept in clear: the server signs every delivery with it. Shown to managers when made.
    secret = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # What the periodic check has announced already (api/services/webhooks.py).
    runs_seen_until = models.DateTimeField()
    judgments_seen_until_id = models.BigIntegerField(default=0)
    complete_announced = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"webhook {self.pk} → {self.url}"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32, choices=WebhookEvent.choices)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.event}, {self.status})"
