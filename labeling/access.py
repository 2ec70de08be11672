"""Who may see a project: one place that turns an outsider's request into a 404."""

from django.contrib.auth.models import User
from django.http import Http404, HttpRequest
from django_htmx.middleware import HtmxDetails

from labeling.models import Membership, Project
from labeling.selectors import membership_get


class AuthedRequest(HttpRequest):
    """A request that passed login_required, with django-htmx's details attached."""

    user: User
    htmx: HtmxDetails


def membership_or_404(request: HttpRequest, slug: str) -> Membership:
    membership = membership_get(user=request.user, project_slug=slug)
    if membership is None:
        raise Http404("No such project")
    return membership


def project_for_manager_or_404(request: HttpRequest, slug: str) -> Project:
    """The project, if the user manages it; annotators and outsiders get the same 404."""
    membership = membership_or_404(request, slug)
    if not membership.is_manager:
        raise Http404("No such project")
    return membership.project
