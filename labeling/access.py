"""Who may see a project: one place that turns an outsider's request into a 404."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
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


def label_login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """`login_required` for the labelling page's views (`slug` in the URL).

    A session that ended mid-pair must not cost the answer: an htmx request gets a bare 401,
    which the page's script answers by keeping the answer and offering to log in again (the
    login page would otherwise be swapped into the work area), and a plain POST goes through
    the login page back to the label page, never to its POST-only URL (a 405 after logging in).
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args, slug: str, **kwargs) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, slug=slug, **kwargs)
        if getattr(request, "htmx", False):
            return HttpResponse("Your session has ended; log in again.", status=401)
        back = request.get_full_path() if request.method == "GET" else reverse("label", args=[slug])
        return redirect_to_login(back)

    return wrapped
