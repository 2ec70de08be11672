"""Crowd studies: the study link participants open, their completion page, and the manager's
participants page with the study settings and the CSV for paying and approving."""

from csp.decorators import csp_replace, csp_update
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET, require_POST
from django_ratelimit.core import is_ratelimited

from labeling.access import AuthedRequest, membership_or_404, project_for_manager_or_404
from labeling.forms_crowd import CrowdStudyForm
from labeling.selectors_participants import (
    completion_url,
    crowd_study_by_token,
    crowd_study_of,
    participant_of,
    participant_rows,
    study_link_query,
)
from labeling.services.participants import (
    MTURK_SUBMIT_ORIGINS,
    StudyRefused,
    crowd_study_save,
    participant_enter,
    participants_csv,
    study_link_is_preview,
)

# The participant a session belongs to (set when the study link logs them in): the label page
# asks the batch's stop rule for them, and only for them.
PARTICIPANT_SESSION_KEY = "prefapp_participant"


@require_GET
@xframe_options_exempt
@csp_replace({"frame-ancestors": list(MTURK_SUBMIT_ORIGINS)})  # type: ignore[arg-type]  # django-csp types one-argument views
def study_enter(request: HttpRequest, token: str) -> HttpResponse:
    study = crowd_study_by_token(token=token)
    if study is None:
        raise Http404("No such study")
    if study_link_is_preview(study=study, params=request.GET):
        return render(request, "labeling/study_preview.html", {"study": study})
    if request.headers.get("Sec-Fetch-Dest") == "iframe":
        # MTurk shows an external question in a frame, where the session cookie is a
        # third-party one and the app's pages refuse to be framed: the study opens in a window.
        return render(request, "labeling/study_open.html", {"url": request.get_full_path()})
    rate = settings.PREFAPP_STUDY_ENTRY_RATE
    if is_ratelimited(request, group="study_enter", key="ip", rate=rate, increment=True):
        reason = "Too many study entries from this address. Please try again later."
        return render(request, "labeling/study_refused.html", {"reason": reason}, status=429)
    try:
        participant = participant_enter(study=study, params=request.GET)
    except StudyRefused as refused:
        return render(request, "labeling/study_refused.html", {"reason": str(refused)}, status=400)
    # No password to check: the platform's id is the credential, so the model backend logs
    # them in directly (the login throttle only counts failed password logins).
    login(request, participant.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[PARTICIPANT_SESSION_KEY] = participant.pk
    if not participant.is_active:
        return redirect("study_done", slug=study.project.slug)
    return redirect("label", slug=study.project.slug)


@login_required
@require_GET
@csp_update({"form-action": list(MTURK_SUBMIT_ORIGINS)})  # type: ignore[arg-type]  # django-csp types one-argument views
def study_done(request: AuthedRequest, slug: str) -> HttpResponse:
    project = membership_or_404(request, slug).project
    participant = participant_of(project=project, user=request.user)
    study = crowd_study_of(project=project)
    if participant is None or study is None:
        raise Http404("No such participant")
    if participant.is_active:
        return redirect("label", slug=slug)
    context = {
        "project": project,
        "participant": participant,
        "study": study,
        "next_url": completion_url(participant=participant, study=study),
    }
    return render(request, "labeling/study_done.html", context)


@login_required
@require_GET
def participants(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    study = crowd_study_of(project=project)
    context = {
        "project": project,
        "study": study,
        "form": CrowdStudyForm(instance=study),
        "rows": participant_rows(project=project),
        "study_url": _study_url(request, study),
    }
    return render(request, "labeling/participants.html", context)


def _study_url(request: HttpRequest, study) -> str:
    if study is None:
        return ""
    path = reverse("study_enter", args=[study.token])
    return request.build_absolute_uri(path) + study_link_query(study=study)


@login_required
@require_POST
def study_settings(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    form = CrowdStudyForm(request.POST, instance=crowd_study_of(project=project))
    if not form.is_valid():
        messages.error(request, form.error_text())
        return redirect("participants", slug=slug)
    crowd_study_save(project=project, actor=request.user, **form.cleaned_data)
    messages.success(request, "Study settings saved.")
    return redirect("participants", slug=slug)


@login_required
@require_GET
def participants_export(request: AuthedRequest, slug: str) -> StreamingHttpResponse:
    project = project_for_manager_or_404(request, slug)
    response = StreamingHttpResponse(
        participants_csv(project=project, actor=request.user), content_type="text/csv"
    )
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-participants.csv"'
    return response
