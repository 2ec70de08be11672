"""A project's webhooks page (managers): register URLs, delete them, see the deliveries."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from api.forms import WebhookForm
from api.selectors import deliveries_of, webhook_in, webhooks_of
from api.services.webhooks import WebhookRefused, webhook_create, webhook_delete
from labeling.access import AuthedRequest, project_for_manager_or_404


@login_required
@require_http_methods(["GET", "POST"])
def webhooks(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    form = WebhookForm(request.POST if request.method == "POST" else None)
    made = None
    if request.method == "POST" and form.is_valid():
        try:
            made = webhook_create(project=project, user=request.user, **form.cleaned_data)
        except WebhookRefused as refused:
            form.add_error(None, str(refused))
        else:
            form = WebhookForm()
    context = {
        "project": project,
        "form": form,
        "made": made,
        "hooks": webhooks_of(project=project),
        "deliveries": deliveries_of(project=project)[:100],
    }
    status = 400 if form.errors else 200
    return render(request, "api/webhooks.html", context, status=status)


@login_required
@require_POST
def webhook_delete_view(request: AuthedRequest, slug: str, webhook_id: int) -> HttpResponse:
    hook = webhook_in(project=project_for_manager_or_404(request, slug), webhook_id=webhook_id)
    if hook is None:
        raise Http404("No such webhook")
    webhook_delete(webhook=hook)
    messages.success(request, f"Webhook to {hook.url} deleted.")
    return redirect("webhooks", slug=slug)
