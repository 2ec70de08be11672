"""The arena page: settings, contenders, the generation of answers and battles, the
leaderboard (table and plot), and its exports. Managers only (`project_for_manager_or_404`)."""

import csv
import io
import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from labeling.access import project_for_manager_or_404
from labeling.formats.exports import spreadsheet_safe
from labeling.models import Project
from training.forms_arena import ArenaForm, ContenderForm
from training.models import Arena
from training.selectors_arena import (
    arena_battle_records,
    arena_contenders,
    arena_fit_latest,
    arena_get,
    leaderboard_plot,
)
from training.services.arena import (
    ArenaRefused,
    arena_contender_add,
    arena_contender_import,
    arena_fit_launch,
    arena_generate,
    arena_set,
)


def _arena_or_404(request: HttpRequest, slug: str) -> Arena:
    arena = arena_get(project=project_for_manager_or_404(request, slug))
    if arena is None:
        raise Http404("The project is no arena")
    return arena


def _board_context(project: Project, arena: Arena | None) -> dict[str, Any]:
    fit = arena_fit_latest(arena=arena) if arena else None
    shown = arena_fit_latest(arena=arena, succeeded=True) if arena else None
    return {
        "project": project,
        "arena": arena,
        "fit": fit,
        "board": shown.leaderboard if shown else None,
        "shown_fit": shown,
        "plot": leaderboard_plot(shown.leaderboard) if shown else None,
        "win_rows": list(
            zip(shown.leaderboard["models"], shown.leaderboard["win_rate"], strict=True)
        )
        if shown
        else [],
    }


def _win_rows(board: dict[str, Any]) -> list[tuple[str, list]]:
    return list(zip(board["models"], board["win_rate"], strict=True))


@login_required
@require_GET
def arena_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    arena = arena_get(project=project)
    context = _board_context(project, arena)
    if getattr(request, "htmx", False):
        return render(request, "training/partials/_arena_board.html", context)
    form = ArenaForm(instance=arena, project=project, user=request.user)
    context.update(
        form=form,
        contender_form=ContenderForm(user=request.user),
        contenders=arena_contenders(arena=arena) if arena else [],
    )
    return render(request, "training/arena.html", context)


@login_required
@require_POST
def arena_settings(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    arena = arena_get(project=project)
    form = ArenaForm(request.POST, instance=arena, project=project, user=request.user)
    if form.is_valid():
        values = {k: v for k, v in form.cleaned_data.items() if k in ArenaForm.Meta.fields}
        extra = values.pop("extra_projects")
        try:
            arena_set(
                project=project,
                user=request.user,
                reveal_sources=form.cleaned_data["reveal_sources"],
                extra_projects=extra,
                **values,
            )
        except ArenaRefused as refused:
            form.add_error(None, str(refused))
        else:
            messages.success(request, "Arena settings saved.")
            return redirect("training_arena", slug=slug)
    context = _board_context(project, arena)
    context.update(
        form=form,
        contender_form=ContenderForm(user=request.user),
        contenders=arena_contenders(arena=arena) if arena else [],
    )
    return render(request, "training/arena.html", context, status=400)


@login_required
@require_POST
def arena_contender_new(request: HttpRequest, slug: str) -> HttpResponse:
    arena = _arena_or_404(request, slug)
    form = ContenderForm(request.POST, request.FILES, user=request.user)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect("training_arena", slug=slug)
    data = form.cleaned_data
    try:
        if data["answers"]:
            arena_contender_import(arena=arena, name=data["name"], lines=data["answers"])
        else:
            arena_contender_add(
                arena=arena,
                user=request.user,
                name=data["name"],
                artifact=data["artifact"],
                model_path=data["model_path"],
            )
    except ArenaRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, f"Contender {data['name']} added.")
    return redirect("training_arena", slug=slug)


@login_required
@require_POST
def arena_generate_view(request: HttpRequest, slug: str) -> HttpResponse:
    arena = _arena_or_404(request, slug)
    try:
        runs = arena_generate(arena=arena, user=request.user)
    except ArenaRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(
            request,
            f"{len(runs)} generation job{'s' if len(runs) != 1 else ''} queued; the battles "
            "are made when every contender has answered."
            if runs
            else "Battles made from the contenders' answers.",
        )
    return redirect("training_arena", slug=slug)


@login_required
@require_POST
def arena_fit_view(request: HttpRequest, slug: str) -> HttpResponse:
    arena = _arena_or_404(request, slug)
    arena_fit_launch(arena=arena)
    messages.success(request, "Leaderboard fit queued.")
    return redirect("training_arena", slug=slug)


def _board_or_404(request: HttpRequest, slug: str) -> dict[str, Any]:
    fit = arena_fit_latest(arena=_arena_or_404(request, slug), succeeded=True)
    if fit is None:
        raise Http404("No leaderboard yet")
    return fit.leaderboard


LEADERBOARD_COLUMNS = (
    "rank model rating lower upper battles rating_lc lower_lc upper_lc".split()  # noqa: SIM905
)


@login_required
@require_GET
def arena_leaderboard_csv(request: HttpRequest, slug: str) -> HttpResponse:
    board = _board_or_404(request, slug)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=LEADERBOARD_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in board["rows"]:
        # A model name is text from imports: never a formula in a spreadsheet.
        writer.writerow({**row, "model": spreadsheet_safe(row["model"])})
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{slug}-leaderboard.csv"'
    return response


@login_required
@require_GET
def arena_leaderboard_json(request: HttpRequest, slug: str) -> HttpResponse:
    response = JsonResponse(_board_or_404(request, slug))
    response["Content-Disposition"] = f'attachment; filename="{slug}-leaderboard.json"'
    return response


@login_required
@require_GET
def arena_battles_export(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    arena = _arena_or_404(request, slug)
    lines = (json.dumps(record) + "\n" for record in arena_battle_records(arena=arena))
    response = StreamingHttpResponse(lines, content_type="application/jsonl")
    response["Content-Disposition"] = f'attachment; filename="{slug}-battles.jsonl"'
    return response
