from django.contrib import admin

from training.models import DatasetSnapshot, ModelArtifact, TrainingRun, TrainingSchedule


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "created_at", "train_rows", "eval_rows", "content_hash"]
    list_filter = ["project"]
    readonly_fields = [f.name for f in DatasetSnapshot._meta.fields]


# Model paths and run configs are checked by the dashboard's forms and the services (which
# models a project may use: training.services.runs.base_resolve); the admin shows them only.


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "project",
        "kind",
        "status",
        "step",
        "total_steps",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "kind", "project"]
    raw_id_fields = ["created_by"]

    def has_add_permission(self, request) -> bool:
        return False  # runs are launched from the dashboard or `manage.py train`

    readonly_fields = [
        "kind",
        "base_model",
        "snapshot",
        "base_artifact",
        "reward_artifact",
        "reward_model",
        "config",
        "follow_up_kind",
        "status",
        "step",
        "total_steps",
        "started_at",
        "finished_at",
        "error",
        "log_tail",
        "final_metrics",
        "celery_task_id",
        "worker_hostname",
        "worker_pid",
        "child_pid",
        "heartbeat_at",
    ]


@admin.register(ModelArtifact)
class ModelArtifactAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "is_current", "run", "created_at"]
    list_filter = ["kind", "is_current", "project"]
    readonly_fields = ["project", "kind", "path", "run"]

    def has_add_permission(self, request) -> bool:
        return False  # artifacts come from finished runs


@admin.register(TrainingSchedule)
class TrainingScheduleAdmin(admin.ModelAdmin):
    list_display = ["project", "enabled", "min_new_judgments", "follow_up", "last_checked_at"]
    readonly_fields = ["reward_base_model", "policy_base_model"]
