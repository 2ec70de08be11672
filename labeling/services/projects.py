"""Creating, configuring, archiving and deleting projects (members: members.py, links:
invites.py)."""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from labeling import signals, sql
from labeling.forms import ProjectSettingsForm, settings_form_data
from labeling.models import Assignment, AuditAction, Membership, Project, Prompt
from labeling.services.assignment import leases_release
from labeling.services.audit import audit_record

# How much of a changed text the audit log keeps (instructions can be pages long).
_AUDIT_TEXT = 200


class ProjectRefused(ValueError):
    """The change is not made; the message names the field to correct."""


def _validated(form: ProjectSettingsForm) -> ProjectSettingsForm:
    if not form.is_valid():
        raise ProjectRefused(form.error_text())
    return form


def _split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Options the settings form validates, and the other model fields (e.g. the queue order,
    whose own service validates it)."""
    settings = {k: v for k, v in options.items() if k in ProjectSettingsForm.Meta.fields}
    others = {k: v for k, v in options.items() if k not in settings}
    known = {field.name for field in Project._meta.get_fields()}
    unknown = sorted(set(others) - known)
    if unknown:
        raise ProjectRefused(f"{', '.join(unknown)}: not a project setting")
    return settings, others


def project_create(*, name: str, slug: str, creator: User | None = None, **options: Any) -> Project:
    """A new project with the model's defaults for every setting not given; the creator becomes
    its manager. ProjectRefused (naming the field) when a value is invalid or the slug taken."""
    settings, others = _split_options(options)
    data = settings_form_data(Project()) | settings | {"name": name, "slug": slug}
    form = _validated(ProjectSettingsForm(data=data))
    with transaction.atomic():
        project = form.save(commit=False)
        for field, value in others.items():
            setattr(project, field, value)
        project.save()
        if creator is not None:
            Membership.objects.create(project=project, user=creator, role=Membership.Role.MANAGER)
        audit_record(
            project=project,
            actor=creator,
            action=AuditAction.PROJECT_CREATED,
            details={"name": name, "slug": slug},
        )
    return project


def _audit_value(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _AUDIT_TEXT:
        return value[:_AUDIT_TEXT] + "…"
    return value


def project_update(*, project: Project, actor: User | None, changes: dict[str, Any]) -> Project:
    """Apply `changes` (settings by field name) through the settings form and record which
    fields changed, old and new. Returns the stored project; the one passed in is not changed.
    ProjectRefused, with nothing written, when a value is invalid."""
    unknown = sorted(set(changes) - set(ProjectSettingsForm.Meta.fields))
    if unknown:
        raise ProjectRefused(f"{', '.join(unknown)}: not a setting of the settings page")
    with transaction.atomic():
        stored = Project.objects.select_for_update().get(pk=project.pk)
        before = settings_form_data(stored)
        form = _validated(ProjectSettingsForm(data=before | changes, instance=stored))
        changed = {
            name: [_audit_value(before[name]), _audit_value(form.cleaned_data[name])]
            for name in ProjectSettingsForm.Meta.fields
            if before[name] != form.cleaned_data[name]
        }
        if not changed:
            return stored
        updated = form.save()
        if "overlap" in changed:
            # A pair is full at `overlap` judgments and leases: the queue follows the new value.
            sql.pairs_refill(project_id=updated.pk, overlap=updated.overlap)
        audit_record(
            project=updated,
            actor=actor,
            action=AuditAction.SETTINGS_CHANGED,
            details={"changed": changed},
        )
    return updated


def project_archive(*, project: Project, actor: User | None) -> Project:
    """Archive: annotators lose access, live leases are released, the training app cancels the
    queued runs (labeling.signals); every judgment and model stays stored."""
    with transaction.atomic():
        stored = Project.objects.select_for_update().get(pk=project.pk)
        if stored.is_archived:
            return stored
        stored.archived_at = project.archived_at = timezone.now()
        stored.save(update_fields=["archived_at"])
        details: dict[str, Any] = {"leases_released": leases_release(project=stored)}
        for _receiver, facts in signals.project_archived.send(
            sender=Project, project=stored, actor=actor
        ):
            if isinstance(facts, dict):
                details |= facts
        audit_record(
            project=stored, actor=actor, action=AuditAction.PROJECT_ARCHIVED, details=details
        )
    return stored


def project_unarchive(*, project: Project, actor: User | None) -> Project:
    with transaction.atomic():
        stored = Project.objects.select_for_update().get(pk=project.pk)
        if not stored.is_archived:
            return stored
        stored.archived_at = project.archived_at = None
        stored.save(update_fields=["archived_at"])
        audit_record(project=stored, actor=actor, action=AuditAction.PROJECT_UNARCHIVED)
    return stored


def project_delete(*, project: Project, actor: User | None, confirm_slug: str) -> dict[str, int]:
    """Delete the project and everything stored for it, once `confirm_slug` is its slug.

    Returns what was removed (labeling.selectors_projects.project_contents, counted first).
    The audit record of the deletion stays, with the project's slug.
    """
    from labeling.selectors_projects import project_contents

    if confirm_slug.strip() != project.slug:
        raise ProjectRefused(f"confirm_slug: type the project's slug, {project.slug}, to delete it")
    with transaction.atomic():
        stored = Project.objects.select_for_update().get(pk=project.pk)
        removed = project_contents(project=stored)
        signals.project_deleting.send(sender=Project, project=stored, actor=actor)
        audit_record(
            project=stored,
            actor=actor,
            action=AuditAction.PROJECT_DELETED,
            details={"name": stored.name, "removed": removed},
        )
        # Judgments protect their assignments from a lone deletion; with the project both go.
        stored.judgments.all().delete()
        Assignment.objects.filter(project=stored).delete()
        stored.delete()
    return removed


def membership_set(*, project: Project, user: User, role: str) -> Membership:
    """Make the user a member with this role (demo data, simulated annotators; no audit)."""
    membership, _ = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership


def user_ensure(*, username: str, password: str, is_staff: bool = False) -> User:
    """Create the user, or reset the password of an existing one (demo and test logins)."""
    with transaction.atomic():
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.set_password(password)
        user.is_staff = user.is_superuser = is_staff
        user.save()
    return user


def prompts_hold_out(*, project: Project, external_ids: list[str]) -> int:
    """Mark prompts as held out for evaluation: generation for labelling leaves them out."""
    return Prompt.objects.filter(project=project, external_id__in=external_ids).update(heldout=True)
