"""The manager's quality pages: per-annotator numbers, the crowd's agreement, one annotator's
judgments, and excluding annotators from exports and training snapshots (after a confirmation
that lists who)."""

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from labeling.access import AuthedRequest, project_for_manager_or_404
from labeling.selectors_quality import (
    FAST_FLOOR_SECONDS,
    MIN_COMPARED,
    MIN_GOLD,
    MIN_OTHERS,
    MIN_TIMED,
    AnnotatorQuality,
    ProjectQuality,
    annotator_work,
    exclusion_preview,
    project_quality,
)
from labeling.services.quality import (
    ExclusionRefused,
    annotators_exclude_below,
    membership_set_excluded,
)

PLOT_WIDTH, BAR_HEIGHT, LABEL_WIDTH = 360, 18, 110
JUDGMENTS_PER_PAGE = 50


class ExcludeForm(forms.Form):
    threshold = forms.FloatField(
        min_value=0,
        max_value=1,
        initial=0.7,
        help_text="Quality score: gold accuracy, else agreement.",
    )


class ExcludeConfirmForm(ExcludeForm):
    """The threshold and the annotators the manager saw listed and confirmed."""

    user_id = forms.TypedMultipleChoiceField(coerce=int, choices=(), required=True)

    def __init__(self, *args, candidates: list[int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["user_id"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = [(str(uid), str(uid)) for uid in candidates]


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


def _quality_rules() -> dict[str, object]:
    """The numbers the page states: when a score counts, when "fast" is flagged."""
    return {
        "min_gold": MIN_GOLD,
        "min_others": MIN_OTHERS,
        "min_compared": MIN_COMPARED,
        "fast_floor": FAST_FLOOR_SECONDS,
        "min_timed": MIN_TIMED,
    }


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
        "rules": _quality_rules(),
    }
    return render(request, "labeling/quality.html", context)


@login_required
@require_GET
def quality_exclude_preview(request: AuthedRequest, slug: str) -> HttpResponse:
    """Who a threshold would exclude, to confirm; nobody is excluded by this page."""
    project = project_for_manager_or_404(request, slug)
    form = ExcludeForm(request.GET)
    if not form.is_valid():
        messages.error(request, "Give a threshold between 0 and 1.")
        return redirect("quality", slug=slug)
    preview = exclusion_preview(project=project, threshold=form.cleaned_data["threshold"])
    if preview.refused:
        messages.error(request, preview.refused)
        return redirect("quality", slug=slug)
    if not preview.below:
        messages.info(request, "Nobody else has a score below that threshold.")
        return redirect("quality", slug=slug)
    context = {"project": project, "preview": preview, "rules": _quality_rules()}
    return render(request, "labeling/quality_exclude_confirm.html", context)


@login_required
@require_POST
def quality_exclude(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    form = ExcludeConfirmForm(request.POST, candidates=_posted_ids(request))
    if not form.is_valid():
        messages.error(request, "Give a threshold between 0 and 1 and confirm who to exclude.")
        return redirect("quality", slug=slug)
    try:
        names = annotators_exclude_below(
            project=project,
            threshold=form.cleaned_data["threshold"],
            user_ids=form.cleaned_data["user_id"],
            actor=request.user,
        )
    except ExclusionRefused as refused:
        messages.error(request, str(refused))
        return redirect("quality", slug=slug)
    if names:
        messages.success(
            request,
            f"Excluded from exports and training: {', '.join(names)}. Their judgments are kept.",
        )
    else:
        messages.info(request, "Nobody was excluded: their scores changed since the list.")
    return redirect("quality", slug=slug)


def _posted_ids(request: AuthedRequest) -> list[int]:
    return [int(v) for v in request.POST.getlist("user_id") if v.isdigit()]


@login_required
@require_POST
def quality_include(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    user_id = request.POST.get("user_id", "")
    if not user_id.isdigit():
        messages.error(request, "Choose an annotator to take back.")
    elif membership_set_excluded(
        project=project, user_id=int(user_id), excluded=False, actor=request.user
    ):
        messages.success(request, "Taken back: their judgments are in exports and training again.")
    else:
        messages.error(request, "That annotator is no member of this project.")
    return redirect("quality", slug=slug)


@login_required
@require_POST
def quality_exclude_one(request: AuthedRequest, slug: str, user_id: int) -> HttpResponse:
    """Exclude one annotator, chosen on their page (their judgments are kept)."""
    project = project_for_manager_or_404(request, slug)
    if not membership_set_excluded(
        project=project, user_id=user_id, excluded=True, actor=request.user
    ):
        messages.error(request, "That annotator is no member of this project.")
        return redirect("quality", slug=slug)
    messages.success(request, "Excluded from exports and training. Their judgments are kept.")
    return redirect("quality_annotator", slug=slug, user_id=user_id)


@login_required
@require_GET
def quality_annotator(request: AuthedRequest, slug: str, user_id: int) -> HttpResponse:
    """One annotator's judgments, newest first, with their numbers and export id."""
    project = project_for_manager_or_404(request, slug)
    work = annotator_work(project=project, user_id=user_id)
    if work is None:
        raise Http404("No such annotator")
    page = Paginator(work.judgments, JUDGMENTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"project": project, "work": work, "page": page, "rules": _quality_rules()}
    return render(request, "labeling/quality_annotator.html", context)
