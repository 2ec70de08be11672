from django.contrib import admin

from training.models import DatasetSnapshot, ModelArtifact, TrainingRun, TrainingSchedule


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "created_at", "train_rows", "eval_rows", "content_hash"]
    list_filter = ["project"]
    readonly_fields = [f.name for f in DatasetSnapshot._meta.fields]


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
    raw_id_fields = ["snapshot", "base_artifact", "reward_artifact", "created_by"]
    readonly_fields = [
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
    raw_id_fields = ["run"]


@admin.register(TrainingSchedule)
class TrainingScheduleAdmin(admin.ModelAdmin):
    list_display = ["project", "enabled", "min_new_judgments", "follow_up", "last_checked_at"]
