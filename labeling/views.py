import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from labeling.access import (
    AuthedRequest,
    label_login_required,
    membership_or_404,
    project_for_manager_or_404,
)
from labeling.downloads import export_empty_text, export_response
from labeling.forms import (
    ExportForm,
    ImportForm,
    JudgmentForm,
    SelectionForm,
    SkipForm,
    UndoForm,
)
from labeling.models import Assignment, Judgment, Project
from labeling.selectors import (
    assignment_of,
    judged_count,
    judgment_sides,
    judgment_target,
    judgments_of_annotator,
    manage_counters,
    open_pairs_count,
    project_annotator_names,
    projects_for_user,
)
from labeling.selectors_selection import selection_summary
from labeling.services.assignment import assignment_extend, assignment_next, assignment_skip
from labeling.services.exporting import export_prepare
from labeling.services.importing import ImportFailed, data_import, import_summary
from labeling.services.judgment import (
    UNDO_WINDOW,
    JudgmentRefused,
    judgment_record,
    judgment_undo,
)
from labeling.services.participants import participant_judgment_record, participant_work_next
from labeling.services.selection import selection_set
from labeling.views_crowd import PARTICIPANT_SESSION_KEY

logger = logging.getLogger(__name__)


@login_required
@require_GET
def home(request: AuthedRequest) -> HttpResponse:
    return render(request, "labeling/home.html", {"projects": projects_for_user(user=request.user)})


def _render_work(
    request: AuthedRequest,
    project: Project,
    *,
    error: str = "",
    status: int = 200,
    saved: Judgment | None = None,
    unsaved_rationale: str = "",
    is_manager: bool = False,
    revealed: dict[str, str] | None = None,
) -> HttpResponse:
    """The labelling page, or only its work partial for htmx requests.

    A refused submission (409) still answers with the next pair, so the annotator reads why
    and carries on without reloading; a reason they typed is shown back to them, not dropped.
    `saved`: the judgment just stored (it can be taken back from the next page), so a database
    that cannot serve the next pair gets an answer that says it is stored, not an error page.
    """
    template = "labeling/partials/_work.html" if request.htmx else "labeling/label.html"
    try:
        assignment, judged = _next_work(request, project)
    except BatchEnded:
        return _to_study_done(request, project, status=status)
    except DatabaseError:
        if not saved:
            raise
        logger.exception("judgment stored, the next pair could not be read")
        unavailable = {"project": project, "assignment": None, "next_unavailable": True}
        return render(request, template, unavailable)
    context: dict[str, object] = {
        "project": project,
        "assignment": assignment,
        "error": error,
        "unsaved_rationale": unsaved_rationale,
        "judged": judged,
        "is_manager": is_manager,
        "revealed": revealed,
        "target": judgment_target(project=project, annotator=request.user),
        "undo": saved,
        "undo_seconds": int(UNDO_WINDOW.total_seconds()),
    }
    if not request.htmx:
        # A count over the open queue: once per page load, not on every answer.
        context["open_pairs"] = open_pairs_count(project=project)
    return render(request, template, context, status=status)


class BatchEnded(Exception):
    """A crowd participant's batch is over: they go to their completion page."""


def _next_work(request: AuthedRequest, project: Project) -> tuple[Assignment | None, int]:
    """The annotator's next pair and their count, asked once more on a new connection when the
    database dropped this one (a restart, a failover): leasing is idempotent, the rest reads.
    A crowd participant's go through their batch's stop rule (BatchEnded when it is over)."""

    def read() -> tuple[Assignment | None, int]:
        participant_id = request.session.get(PARTICIPANT_SESSION_KEY)
        if project.is_archived or participant_id is None:
            # An archived project's managers still open it; it hands out no more pairs.
            archived = project.is_archived
            assignment = (
                None if archived else assignment_next(project=project, annotator=request.user)
            )
            return assignment, judged_count(project=project, annotator=request.user)
        work = participant_work_next(
            participant_id=participant_id, project=project, annotator=request.user
        )
        if work.participant is None:  # not a participant of this project after all
            assignment = assignment_next(project=project, annotator=request.user)
            return assignment, judged_count(project=project, annotator=request.user)
        if work.assignment is None:
            raise BatchEnded
        return work.assignment, work.judged

    try:
        return read()
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block:
            raise
        logger.warning("database connection lost; reading the next pair on a new one")
        connection.close()
    return read()


def _to_study_done(request: AuthedRequest, project: Project, *, status: int = 200) -> HttpResponse:
    """The participant's batch is over. htmx follows HX-Redirect whatever the status, so a
    refused submission keeps its 409: the page moves on, the answer still says not stored."""
    url = reverse("study_done", args=[project.slug])
    if not request.htmx:
        return redirect(url)
    response = HttpResponseClientRedirect(url)
    response.status_code = status
    return response


@label_login_required
@require_GET
def label(request: AuthedRequest, slug: str) -> HttpResponse:
    membership = membership_or_404(request, slug)
    return _render_work(request, membership.project, is_manager=membership.is_manager)


@label_login_required
@require_POST
def label_submit(request: AuthedRequest, slug: str) -> HttpResponse:
    project = membership_or_404(request, slug).project
    form = JudgmentForm(request.POST, project=project)
    if not form.is_valid():
        return _answer(request, project, error=form.error_text(), status=400)
    participant_id = request.session.get(PARTICIPANT_SESSION_KEY)
    try:
        if participant_id is None:
            recorded = judgment_record(project=project, annotator=request.user, **form.cleaned_data)
        else:  # a crowd participant: their batch's cap holds here too
            recorded = participant_judgment_record(
                participant_id=participant_id,
                project=project,
                annotator=request.user,
                **form.cleaned_data,
            )
    except JudgmentRefused as refused:
        rationale = form.cleaned_data["rationale"].strip() if project.ask_rationale else ""
        return _answer(
            request, project, error=str(refused), status=409, unsaved_rationale=rationale
        )
    revealed = judgment_sides(judgment=recorded.judgment) if project.reveal_sources else None
    return _answer(request, project, saved=recorded.judgment, revealed=revealed)


@label_login_required
@require_POST
def label_undo(request: AuthedRequest, slug: str) -> HttpResponse:
    project = membership_or_404(request, slug).project
    form = UndoForm(request.POST)
    if not form.is_valid():
        return _answer(request, project, error=form.error_text(), status=400)
    try:
        judgment_undo(
            project=project, annotator=request.user, judgment_id=form.cleaned_data["judgment_id"]
        )
    except JudgmentRefused as refused:
        return _answer(request, project, error=str(refused), status=409)
    return _answer(request, project)


@label_login_required
@require_POST
def label_extend(request: AuthedRequest, slug: str) -> JsonResponse:
    """The page's lease timer: the annotator is still at work on this pair."""
    project = membership_or_404(request, slug).project
    form = SkipForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"error": form.error_text()}, status=400)
    expires = assignment_extend(
        project=project, annotator=request.user, assignment_id=form.cleaned_data["assignment_id"]
    )
    if expires is None:
        return JsonResponse({"seconds_left": 0}, status=409)
    return JsonResponse({"seconds_left": int((expires - timezone.now()).total_seconds())})


@label_login_required
@require_GET
def my_judgments(request: AuthedRequest, slug: str) -> HttpResponse:
    membership = membership_or_404(request, slug)
    project = membership.project
    judgments = judgments_of_annotator(project=project, annotator=request.user)
    page = Paginator(judgments, 50).get_page(request.GET.get("page"))
    context = {"project": project, "page": page, "is_manager": membership.is_manager}
    return render(request, "labeling/my_judgments.html", context)


@label_login_required
@require_POST
def label_skip(request: AuthedRequest, slug: str) -> HttpResponse:
    project = membership_or_404(request, slug).project
    form = SkipForm(request.POST)
    if not form.is_valid():
        return _answer(request, project, error=form.error_text(), status=400)
    assignment = assignment_of(
        assignment_id=form.cleaned_data["assignment_id"], annotator=request.user, project=project
    )
    if assignment is not None:
        assignment_skip(assignment=assignment)
    return _answer(request, project)


def _answer(
    request: AuthedRequest,
    project: Project,
    *,
    error: str = "",
    status: int = 200,
    saved: Judgment | None = None,
    unsaved_rationale: str = "",
    revealed: dict[str, str] | None = None,
) -> HttpResponse:
    if request.htmx:
        return _render_work(
            request,
            project,
            error=error,
            status=status,
            saved=saved,
            unsaved_rationale=unsaved_rationale,
            revealed=revealed,
        )
    if error:
        messages.error(request, error)
        if unsaved_rationale:
            messages.info(request, f"Your reason, not saved: {unsaved_rationale}")
    if revealed:
        messages.info(
            request, f"Your last vote: left was {revealed['left']}, right was {revealed['right']}."
        )
    return redirect("label", slug=project.slug)


@login_required
@require_GET
def manage(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    context = {
        "project": project,
        "counters": manage_counters(project=project),
        "import_form": ImportForm(),
        "export_form": ExportForm(annotators=project_annotator_names(project=project)),
        "selection": selection_summary(project=project),
        "selection_form": SelectionForm(
            initial={name: getattr(project, name) for name in SelectionForm.base_fields}
        ),
    }
    return render(request, "labeling/manage.html", context)


@login_required
@require_GET
def manage_progress(request: AuthedRequest, slug: str) -> HttpResponse:
    """The manage page's counters alone; the page polls it (htmx) to stay current."""
    project = project_for_manager_or_404(request, slug)
    context = {"project": project, "counters": manage_counters(project=project)}
    return render(request, "labeling/partials/_progress.html", context)


@login_required
@require_POST
def selection_update(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    form = SelectionForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.error_text())
        return redirect("manage", slug=slug)
    selection_set(
        project=project,
        strategy=form.cleaned_data["selection_strategy"],
        exploration_share=form.cleaned_data["exploration_share"],
        score_after=form.cleaned_data["score_after_reward"],
        actor=request.user,
    )
    messages.success(request, "Queue order saved; the open pairs are being reordered.")
    return redirect("manage", slug=slug)


@login_required
@require_POST
def import_upload(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, form.error_text())
        return redirect("manage", slug=slug)
    upload = form.cleaned_data["file"]
    try:
        result = data_import(
            project=project,
            fileobj=upload.file,
            filename=upload.name,
            format=form.cleaned_data["format"],
            skip_invalid=form.cleaned_data["skip_invalid"],
            as_gold=form.cleaned_data["as_gold"],
            actor=request.user,
        )
    except ImportFailed as failed:
        return render(
            request,
            "labeling/import_failed.html",
            {"project": project, "errors": failed.errors, "filename": upload.name},
            status=400,
        )
    messages.success(request, import_summary(result))
    for error in result.errors[:20]:
        messages.warning(request, f"Left out {error}")
    return redirect("manage", slug=slug)


@login_required
@require_GET
def export_download(request: AuthedRequest, slug: str) -> HttpResponseBase:
    project = project_for_manager_or_404(request, slug)
    form = ExportForm(request.GET, annotators=project_annotator_names(project=project))
    if not form.is_valid():
        refused = {"project": project, "heading": "Export refused", "text": form.error_text()}
        return render(request, "labeling/export_problem.html", refused, status=400)
    options = form.options()
    download = export_prepare(project=project, options=options, actor=request.user)
    if download is None:
        text = export_empty_text(project=project, options=options)
        empty = {"project": project, "heading": "Nothing to export", "text": text}
        return render(request, "labeling/export_problem.html", empty)
    return export_response(download)
