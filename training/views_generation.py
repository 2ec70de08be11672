"""The dashboard's generation form: a policy answers a set of prompts, and its answers become
candidates and pairs (a run of kind "generate"; its page is the run page)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from labeling.access import project_for_manager_or_404
from labeling.models import Project
from training.forms import GenerationSetupForm, RunConfigForm, split_field_error
from training.models import ModelArtifact, TrainingKind
from training.selectors import run_base_default
from training.services.generation import generation_launch
from training.services.runs import TrainingRefused


@login_required
@require_http_methods(["GET", "POST"])
def generation_new(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    data = request.POST if request.method == "POST" else None
    setup = GenerationSetupForm(data, project=project, initial=_policy_initial(project))
    config = RunConfigForm(data, kind=TrainingKind.GENERATE)
    if data is not None and setup.is_valid() and config.is_valid():
        values = dict(config.config)
        try:
            run = generation_launch(
                project=project,
                policy=setup.cleaned_data["policy"],
                prompt_set=values.pop("prompt_set"),
                k=values.pop("k"),
                pairing=values.pop("pairing"),
                seed=values.pop("seed"),
                sampling=values,
                user=request.user,
            )
        except TrainingRefused as refused:
            name, text = split_field_error(str(refused), {"base": 1, **config.fields})
            if name == "base":
                setup.add_error("policy_model", text)
            else:
                config.add_error(name, text)
        else:
            return redirect("training_run", slug=slug, run_id=run.pk)
    context = {"project": project, "setup": setup, "config": config}
    return render(request, "training/generation_new.html", context, status=400 if data else 200)


def _policy_initial(project: Project) -> dict[str, str]:
    """Start from the policy the project would train next: its current one, or the schedule's."""
    base = run_base_default(project=project, kind=TrainingKind.GENERATE)
    if isinstance(base, ModelArtifact):
        return {"policy_artifact": str(base.pk)}
    return {"policy_model": base} if base else {}
