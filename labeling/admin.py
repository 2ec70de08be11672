from django.contrib import admin

from labeling.models import (
    Assignment,
    AuditEvent,
    Candidate,
    CrowdStudy,
    Invite,
    Judgment,
    Membership,
    Pair,
    Participant,
    Project,
    Prompt,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    raw_id_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "overlap",
        "lease_minutes",
        "gold_rate",
        "created_at",
        "archived_at",
    ]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role"]
    list_filter = ["role", "project"]
    raw_id_fields = ["user"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "external_id", "heldout", "created_at"]
    list_filter = ["project", "heldout"]
    search_fields = ["external_id"]


@admin.register(Candidate)
class CandidateAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt", "source", "created_at"]
    raw_id_fields = ["prompt"]
    search_fields = ["source"]


@admin.register(Pair)
class PairAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "priority", "is_gold", "judgment_count", "taken", "is_full"]
    list_filter = ["project", "is_gold", "is_full"]
    raw_id_fields = ["prompt", "candidate_a", "candidate_b"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "pair", "annotator", "status", "expires_at"]
    list_filter = ["status", "project"]
    raw_id_fields = ["pair", "annotator"]


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ["id", "pair", "annotator", "source", "choice", "strength", "created_at"]
    list_filter = ["project", "choice", "source"]
    raw_id_fields = ["pair", "annotator", "assignment"]


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "role", "uses", "max_uses", "expires_at", "revoked_at"]
    list_filter = ["project", "role"]
    readonly_fields = ["token", "uses"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the log is what happened, kept after a project's deletion (project_slug)."""

    list_display = ["created_at", "project_slug", "actor_name", "action"]
    list_filter = ["action", "project_slug"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CrowdStudy)
class CrowdStudyAdmin(admin.ModelAdmin):
    list_display = ["project", "platform", "is_open", "batch_size", "created_at"]
    list_filter = ["platform", "is_open"]
    # The link's token is what lets people in: rotating it is a deliberate act, not an edit.
    readonly_fields = ["token"]


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ["participant_id", "project", "platform", "status", "code", "started_at"]
    list_filter = ["project", "platform", "status"]
    search_fields = ["participant_id"]
    raw_id_fields = ["user"]
