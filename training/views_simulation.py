"""The rounds page's "simulated annotators" form: a manager starts them on the project; a task
of the default worker labels through the same services as people
(labeling/services/simulation.py)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from labeling.access import project_for_manager_or_404
from labeling.services.simulation import SimulationRefused, simulation_launch
from training.forms import SimulationForm, split_field_error
from training.views import rounds_page


@login_required
@require_POST
def simulation_start(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    form = SimulationForm(request.POST)
    if form.is_valid():
        try:
            simulation_launch(project=project, **form.cleaned_data)
        except SimulationRefused as refused:
            name, text = split_field_error(str(refused), form.fields)
            form.add_error(name, text)
        else:
            data = form.cleaned_data
            budget = data["budget"] or "every open"
            messages.success(
                request,
                f"{data['annotators']} simulated annotators started ({data['oracle']}, noise "
                f"{data['noise']}, {budget} judgments); the page shows their judgments as they "
                "count towards the round.",
            )
            return redirect("training_rounds", slug=slug)
    return rounds_page(request, project, simulation_form=form, status=400)
