"""The manager's quality page: per-annotator numbers, the crowd's agreement, and excluding
annotators from exports and training snapshots."""

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from labeling.access import AuthedRequest, project_for_manager_or_404
from labeling.selectors_quality import AnnotatorQuality, ProjectQuality, project_quality
from labeling.services.quality import annotators_exclude_below, membership_set_excluded

PLOT_WIDTH, BAR_HEIGHT, LABEL_WIDTH = 360, 18, 110


class ExcludeForm(forms.Form):
    threshold = forms.FloatField(
        min_value=0,
        max_value=1,
        initial=0.7,
        help_text="Quality score: gold accuracy, else agreement.",
    )


@dataclass(frozen=True)
class Bar:
    label: str
    y: int
    width: float
    value: float
    flagged: bool


@dataclass(frozen=True)
class TrendPlot:
    points: str  # an SVG polyline
    first_day: str
    last_day: str
    width: int
    height: int


def _left_bars(annotators: list[AnnotatorQuality]) -> list[Bar]:
    """Left-pick rate per annotator; a fair annotator sits at the middle line."""
    return [
        Bar(
            a.username,
            i * (BAR_HEIGHT + 4),
            PLOT_WIDTH * rate,
            rate,
            any(f.startswith("prefers") for f in a.flags),
        )
        for i, (a, rate) in enumerate(
            (x, x.left_rate) for x in annotators if x.left_rate is not None
        )
    ]


def _trend(quality: ProjectQuality, width: int = PLOT_WIDTH, height: int = 120) -> TrendPlot | None:
    """Alpha from -1 to 1 over the days it was measured (y grows downwards in SVG)."""
    points = [p for p in quality.trend if p.alpha is not None]
    if not points:
        return None
    step = width / max(1, len(points) - 1)
    xy = " ".join(
        f"{i * step:.1f},{height * (1 - (p.alpha + 1) / 2):.1f}"  # type: ignore[operator]
        for i, p in enumerate(points)
    )
    return TrendPlot(xy, str(points[0].day), str(points[-1].day), width, height)


@login_required
@require_GET
def quality(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    report = project_quality(project=project)
    bars = _left_bars(report.annotators)
    context = {
        "project": project,
        "quality": report,
        "form": ExcludeForm(),
        "bars": bars,
        "bars_height": len(bars) * (BAR_HEIGHT + 4),
        "plot_width": PLOT_WIDTH,
        "label_width": LABEL_WIDTH,
        "bar_height": BAR_HEIGHT,
        "trend": _trend(report),
    }
    return render(request, "labeling/quality.html", context)


@login_required
@require_POST
def quality_exclude(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    form = ExcludeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a threshold between 0 and 1.")
        return redirect("quality", slug=slug)
    names = annotators_exclude_below(
        project=project, threshold=form.cleaned_data["threshold"], actor=request.user
    )
    if names:
        messages.success(
            request,
            f"Excluded from exports and training: {', '.join(names)}. Their judgments are kept.",
        )
    else:
        messages.info(request, "Nobody else scores below that threshold.")
    return redirect("quality", slug=slug)


@login_required
@require_POST
def quality_include(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    user_id = request.POST.get("user_id", "")
    if user_id.isdigit():
        membership_set_excluded(
            project=project, user_id=int(user_id), excluded=False, actor=request.user
        )
    return redirect("quality", slug=slug)
