"""The training dashboard: managers launch, watch, compare and cancel runs, and pick models.

Every view starts with `project_for_manager_or_404`: annotators, outsiders and other projects'
managers get a 404, as if the project had no training at all.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from labeling.access import project_for_manager_or_404
from labeling.models import Project
from labeling.selectors_selection import selection_summary
from training.archive import artifact_download_response
from training.forms import (
    LoopSettingsForm,
    RunConfigForm,
    RunFilterForm,
    RunSetupForm,
    ScheduleForm,
    SimulationForm,
    TryForm,
    split_field_error,
)
from training.ml.config import KINDS_NEEDING_REFERENCE, KINDS_WITHOUT_SNAPSHOT
from training.models import ModelArtifact, TrainingKind, TrainingRun
from training.selectors import artifact_current, run_base_default, schedule_get
from training.selectors_arena import artifact_ratings
from training.selectors_dashboard import (
    METRIC_ORDER,
    artifacts_listed,
    judgments_total,
    key_metrics,
    run_for_page,
    run_points_after,
    run_timing,
    runs_active,
    runs_comparison,
    runs_filtered,
)
from training.selectors_rounds import (
    ROUND_CHARTS,
    loop_settings_get,
    round_open,
    rounds_chart_data,
    rounds_table,
)
from training.selectors_workers import queue_workers
from training.services.artifacts import artifact_make_current
from training.services.loop import (
    STEPS,
    LoopRefused,
    loop_resume,
    loop_round_next,
    loop_settings_set,
)
from training.services.runs import TrainingRefused, run_cancel, run_create
from training.services.schedule import new_judgments_count, schedule_set
from training.services.scoring import scoring_launch
from training.try_it import TryRefused, artifact_try_generate, artifact_try_score


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails  # set by django_htmx's middleware


def _run_for_manager(request: HttpRequest, slug: str, run_id: int) -> TrainingRun:
    project = project_for_manager_or_404(request, slug)
    run = run_for_page(project=project, run_id=run_id)
    if run is None:
        raise Http404("No such run")
    run.project = project  # already loaded: the page (and every poll) reads it
    return run


def _artifact_for_manager(request: HttpRequest, slug: str, artifact_id: int) -> ModelArtifact:
    project = project_for_manager_or_404(request, slug)
    artifact = artifacts_listed(project=project).filter(pk=artifact_id).first()
    if artifact is None:
        raise Http404("No such artifact")
    return artifact


def _schedule_form(project: Project) -> ScheduleForm:
    schedule = schedule_get(project=project)
    initial = (
        {}
        if schedule is None
        else {name: getattr(schedule, name) for name in ScheduleForm.base_fields}
    )
    return ScheduleForm(initial=initial, project=project)


def _overview_context(project: Project, schedule_form: ScheduleForm | None = None) -> dict:
    current = {kind: artifact_current(project=project, kind=kind) for kind in ("reward", "policy")}
    return {
        "project": project,
        "current": [
            (kind, artifact, key_metrics(artifact.metrics) if artifact else [])
            for kind, artifact in current.items()
        ],
        "new_judgments": new_judgments_count(project=project),
        "schedule": schedule_get(project=project),
        "schedule_form": schedule_form or _schedule_form(project),
        # Generation and scoring have their own buttons and forms (views_generation.py, score);
        # an evaluation compares with a round's reference policy: the rounds launch it.
        "kinds": [
            c
            for c in TrainingKind.choices
            if c[0] not in KINDS_WITHOUT_SNAPSHOT and c[0] not in KINDS_NEEDING_REFERENCE
        ],
        "selection": selection_summary(project=project),
        "active_runs": runs_active(project=project),
        "recent_runs": runs_filtered(project=project)[:5],
    }


@login_required
@require_GET
def overview(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    return render(request, "training/overview.html", _overview_context(project))


@login_required
@require_POST
def schedule_update(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    form = ScheduleForm(request.POST, project=project)
    if not form.is_valid():
        return render(
            request, "training/overview.html", _overview_context(project, form), status=400
        )
    schedule_set(project=project, **form.cleaned_data)
    messages.success(request, "Schedule saved.")
    return redirect("training_overview", slug=slug)


@login_required
@require_POST
def scoring_new(request: HttpRequest, slug: str) -> HttpResponse:
    """Score the open pairs with the current reward model now."""
    project = project_for_manager_or_404(request, slug)
    try:
        run = scoring_launch(project=project, user=request.user)
    except TrainingRefused as refused:
        messages.error(request, str(refused))
        return redirect("training_overview", slug=slug)
    return redirect("training_run", slug=slug, run_id=run.pk)


@login_required
@require_http_methods(["GET", "POST"])
def run_new(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    if (
        kind not in TrainingKind.values
        or kind == TrainingKind.SCORE
        or kind in KINDS_NEEDING_REFERENCE
    ):
        raise Http404("No such training kind")
    data = request.POST if request.method == "POST" else None
    setup = RunSetupForm(
        data,
        project=project,
        kind=kind,
        judgments=judgments_total(project=project),
        initial=_setup_initial(project, kind),
    )
    config = RunConfigForm(data, kind=kind)
    if data is not None and setup.is_valid() and config.is_valid():
        options = setup.cleaned_data
        try:
            run = run_create(
                project=project,
                kind=kind,
                base=options["base"],
                config_values=config.config,
                snapshot=options["snapshot_obj"],
                reward_artifact=options["reward"],
                snapshot_filters={"aggregate": options["aggregate"]},
                eval_fraction=options["eval_fraction"],
                created_by=request.user,
            )
        except TrainingRefused as refused:
            setup.add_refusal(str(refused))
        else:
            return redirect("training_run", slug=slug, run_id=run.pk)
    context = {
        "project": project,
        "kind": kind,
        "kind_label": TrainingKind(kind).label,
        "setup": setup,
        "config": config,
    }
    return render(request, "training/run_new.html", context, status=400 if data else 200)


def _setup_initial(project: Project, kind: str) -> dict[str, str]:
    """Start from what the project would train next: its current model, or the schedule's."""
    base = run_base_default(project=project, kind=kind)
    reward = artifact_current(project=project, kind="reward")
    initial = {"reward_artifact": str(reward.pk) if reward else ""}
    if isinstance(base, ModelArtifact):
        initial["base_artifact"] = str(base.pk)
    elif base:
        initial["base_model"] = base
    return initial


@login_required
@require_GET
def run_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    filters = RunFilterForm(request.GET)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    runs = runs_filtered(
        project=project, kind=chosen.get("kind", ""), status=chosen.get("status", "")
    )[:200]
    context = {"project": project, "filters": filters, "runs": runs, "selectable": True}
    template = "training/partials/_run_table.html" if request.htmx else "training/run_list.html"
    return render(request, template, context)


def _live_context(run: TrainingRun, after_id: int) -> dict:
    points = run_points_after(run=run, after_id=after_id)
    return {
        "run": run,
        "timing": run_timing(run=run),
        "points": points,
        "last_point_id": points[-1][0] if points else after_id,
        # Stop polling once the run is over and every point has been sent.
        "polling": not run.is_finished or bool(points),
        # A queued run says whether any worker serves its pool.
        "pool_workers": (
            queue_workers(queue=run.queue) if run.status == TrainingRun.Status.QUEUED else None
        ),
    }


@login_required
@require_GET
def run_detail(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    run = _run_for_manager(request, slug, run_id)
    context = {"project": run.project, "metric_order": METRIC_ORDER, **_live_context(run, 0)}
    return render(request, "training/run_detail.html", context)


@login_required
@require_GET
def run_poll(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    """The live part of the run page, with only the points after `?after=` (cheap: a handful
    of indexed queries whatever the length of the run)."""
    run = _run_for_manager(request, slug, run_id)  # status first: no point is missed at the end
    try:
        after_id = max(int(request.GET.get("after", "0")), 0)
    except ValueError:
        after_id = 0
    context = {"project": run.project, **_live_context(run, after_id)}
    return render(request, "training/partials/_run_live.html", context)


@login_required
@require_POST
def run_cancel_view(request: HtmxHttpRequest, slug: str, run_id: int) -> HttpResponse:
    run = _run_for_manager(request, slug, run_id)
    if not run_cancel(run=run, actor=request.user):
        messages.info(request, f"Run {run.pk} had already ended ({run.status}).")
    if request.htmx:
        run.refresh_from_db()
        return render(
            request,
            "training/partials/_run_live.html",
            {"project": run.project, **_live_context(run, _after(request))},
        )
    return redirect("training_run", slug=slug, run_id=run.pk)


def _after(request: HttpRequest) -> int:
    try:
        return max(int(request.POST.get("after", "0")), 0)
    except ValueError:
        return 0


@login_required
@require_GET
def run_compare(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    ids = [int(value) for value in request.GET.getlist("run") if value.isdigit()]
    comparison = runs_comparison(project=project, run_ids=ids)
    status = 200 if len(comparison.runs) >= 2 else 400
    return render(
        request,
        "training/run_compare.html",
        {"project": project, "comparison": comparison, "metric_order": METRIC_ORDER},
        status=status,
    )


@login_required
@require_GET
def artifact_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    artifacts = list(artifacts_listed(project=project))
    return render(
        request,
        "training/artifact_list.html",
        {
            "project": project,
            "artifacts": artifacts,
            "ratings": artifact_ratings(artifacts=artifacts),
            "try_form": TryForm(),
        },
    )


@login_required
@require_POST
def artifact_current_view(request: HttpRequest, slug: str, artifact_id: int) -> HttpResponse:
    artifact = _artifact_for_manager(request, slug, artifact_id)
    artifact_make_current(artifact=artifact, actor=request.user)
    messages.success(request, f"Artifact {artifact.pk} is now the current {artifact.kind} model.")
    return redirect("training_artifacts", slug=slug)


@login_required
@require_GET
def artifact_download(request: HttpRequest, slug: str, artifact_id: int) -> HttpResponseBase:
    artifact = _artifact_for_manager(request, slug, artifact_id)
    return artifact_download_response(
        path=artifact.path, name=f"{slug}-{artifact.kind}-{artifact.pk}"
    )


@login_required
@require_POST
def artifact_try(request: HtmxHttpRequest, slug: str, artifact_id: int) -> HttpResponse:
    artifact = _artifact_for_manager(request, slug, artifact_id)
    form = TryForm(request.POST)
    context: dict[str, Any] = {"project": artifact.project, "artifact": artifact}
    if not form.is_valid():
        context["error"] = "prompt: required"
    else:
        data = form.cleaned_data
        try:
            if artifact.kind == ModelArtifact.Kind.POLICY:
                context["generated"] = artifact_try_generate(
                    artifact=artifact, prompt=data["prompt"]
                )
            else:
                context["scores"] = artifact_try_score(
                    artifact=artifact,
                    prompt=data["prompt"],
                    response_a=data["response_a"],
                    response_b=data["response_b"],
                )
        except TryRefused as refused:
            context["error"] = str(refused)
    status = 400 if "error" in context else 200
    if not request.htmx:  # without JavaScript: the whole page, with the answer under its form
        context.update(artifacts=artifacts_listed(project=artifact.project), tried=artifact)
        return render(request, "training/artifact_list.html", context, status=status)
    return render(request, "training/partials/_try_result.html", context, status=status)


# ----------------------------------------------------------------------------- the loop


def _loop_settings_form(project: Project) -> LoopSettingsForm:
    settings = loop_settings_get(project=project)
    initial = (
        {"label_budget": 100, "prompts_per_round": 50, "k": 2, "policy_method": "dpo"}
        if settings is None
        else {name: getattr(settings, name) for name in LoopSettingsForm.base_fields}
    )
    return LoopSettingsForm(initial=initial)


def _rounds_context(
    project: Project,
    form: LoopSettingsForm | None = None,
    simulation_form: SimulationForm | None = None,
) -> dict[str, Any]:
    rows = rounds_table(project=project)
    settings = loop_settings_get(project=project)
    return {
        "project": project,
        "settings": settings,
        "form": form or _loop_settings_form(project),
        "simulation_form": simulation_form
        or SimulationForm(initial={"budget": settings.label_budget if settings else None}),
        "rows": rows,
        # Human-judged: each round's policy on an arena's leaderboard, beside the win-rate
        # its reward model judged.
        "arena_ratings": artifact_ratings(
            artifacts=[row.policy_artifact for row in rows if row.policy_artifact]
        ),
        "open_round": round_open(project=project),
        "charts": rounds_chart_data(rows),
        # charts.js orders charts by this list (the win-rate first), as the run pages' metrics.
        "chart_order": {
            "key": [title for title, _ in ROUND_CHARTS],
            "last": [],
            "hidden": [],
            "hidden_prefixes": [],
            "hidden_suffixes": [],
        },
        "step_labels": {step.name: step.label for step in STEPS},
    }


@login_required
@require_GET
def rounds(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    return rounds_page(request, project)


def rounds_page(
    request: HttpRequest,
    project: Project,
    *,
    simulation_form: SimulationForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The rounds page (also with a refused simulation form and its errors)."""
    context = _rounds_context(project, simulation_form=simulation_form)
    return render(request, "training/rounds.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def loop_settings(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    if request.method == "GET":
        return render(request, "training/loop_settings.html", _rounds_context(project))
    form = LoopSettingsForm(request.POST)
    if form.is_valid():
        try:
            loop_settings_set(project=project, **form.cleaned_data)
        except LoopRefused as refused:
            name, text = split_field_error(str(refused), form.fields)
            form.add_error(name, text)
        else:
            messages.success(request, "Loop settings saved.")
            return redirect("training_rounds", slug=slug)
    return render(
        request, "training/loop_settings.html", _rounds_context(project, form), status=400
    )


@login_required
@require_POST
def round_next(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    try:
        round = loop_round_next(project=project)
    except LoopRefused as refused:
        messages.error(request, f"No next round: {refused}")
    else:
        messages.success(request, f"Round {round.number}: {round.get_status_display()}.")
    return redirect("training_rounds", slug=slug)


@login_required
@require_POST
def round_resume(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    try:
        round = loop_resume(project=project)
    except LoopRefused as refused:
        messages.error(request, f"Nothing resumed: {refused}")
    else:
        messages.success(request, f"Round {round.number} resumed.")
    return redirect("training_rounds", slug=slug)
