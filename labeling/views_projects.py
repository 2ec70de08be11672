"""A project's own pages for its managers: creating it, its settings (with a live preview of
the instructions), archiving, deleting, and its audit log."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from labeling.access import AuthedRequest, project_for_manager_or_404
from labeling.forms import DeleteForm, ProjectNewForm, ProjectSettingsForm, settings_changes
from labeling.models import Project
from labeling.selectors_projects import audit_events, project_contents
from labeling.services.projects import (
    ProjectRefused,
    project_archive,
    project_create,
    project_delete,
    project_unarchive,
    project_update,
)


@login_required
@permission_required("labeling.add_project", raise_exception=True)
@require_http_methods(["GET", "POST"])
def project_new(request: AuthedRequest) -> HttpResponse:
    form = ProjectNewForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_create(**form.cleaned_data, creator=request.user)
        except ProjectRefused as refused:
            form.add_error(None, str(refused))
        else:
            messages.success(request, f"Project {project.name} created; you manage it.")
            return redirect("project_settings", slug=project.slug)
    status = 400 if form.errors else 200
    return render(request, "labeling/project_new.html", {"form": form}, status=status)


def _settings_page(
    request: AuthedRequest, project: Project, form: ProjectSettingsForm, status: int = 200
) -> HttpResponse:
    context = {"project": project, "form": form, "instructions": form["instructions"].value()}
    return render(request, "labeling/project_settings.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    if request.method == "GET":
        return _settings_page(request, project, ProjectSettingsForm(instance=project))
    try:
        updated = project_update(
            project=project, actor=request.user, changes=settings_changes(request.POST)
        )
    except ProjectRefused:
        # Bound again only to show each error next to its field; nothing was saved.
        form = ProjectSettingsForm(request.POST, instance=Project.objects.get(pk=project.pk))
        form.is_valid()
        return _settings_page(request, project, form, status=400)
    messages.success(request, "Settings saved.")
    return redirect("project_settings", slug=updated.slug)


@login_required
@require_POST
def instructions_preview(request: AuthedRequest, slug: str) -> HttpResponse:
    """The instructions as annotators will read them (htmx, while the manager types)."""
    project = project_for_manager_or_404(request, slug)
    context = {"project": project, "instructions": request.POST.get("instructions", "")}
    return render(request, "labeling/partials/_instructions_preview.html", context)


@login_required
@require_POST
def project_archive_view(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    if request.POST.get("archive") == "0":
        project_unarchive(project=project, actor=request.user)
        messages.success(request, "The project is out of the archive; annotators see it again.")
    else:
        project_archive(project=project, actor=request.user)
        messages.success(
            request,
            "Archived: annotators no longer see the project and its queued runs were "
            "cancelled (the audit log lists them); every judgment and model is kept.",
        )
    return redirect("project_settings", slug=slug)


@login_required
@require_http_methods(["GET", "POST"])
def project_delete_view(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    form = DeleteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            removed = project_delete(
                project=project, actor=request.user, confirm_slug=form.cleaned_data["confirm_slug"]
            )
        except ProjectRefused as refused:
            form.add_error("confirm_slug", str(refused).removeprefix("confirm_slug: "))
        else:
            summary = ", ".join(f"{count} {name}" for name, count in removed.items())
            messages.success(request, f"Deleted {project.name} ({summary or 'nothing stored'}).")
            return redirect("home")
    context = {"project": project, "form": form, "contents": project_contents(project=project)}
    return render(
        request, "labeling/project_delete.html", context, status=400 if form.errors else 200
    )


@login_required
@require_GET
def audit_log(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    context = {"project": project, "events": audit_events(project=project)}
    return render(request, "labeling/audit_log.html", context)
