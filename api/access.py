"""The pages' access rules (labeling.access), narrowed to a token's project.

An outsider, an annotator on a manager's endpoint and a token scoped to another project all
get the same 404 as on the pages.
"""

from django.http import Http404, HttpRequest

from api.auth import request_token
from labeling.access import membership_or_404, project_for_manager_or_404
from labeling.models import Membership, Project
from labeling.selectors_participants import participant_of


def _in_scope(request: HttpRequest, project: Project) -> None:
    token = request_token(request)
    if token is not None and token.project_id not in (None, project.pk):
        raise Http404("No such project")


def member_or_404(request: HttpRequest, slug: str) -> Membership:
    """A member's labelling. A crowd participant labels only through the study's page, where
    their batch, time limit and attention checks hold (they have no password to skip the
    lookup with)."""
    membership = membership_or_404(request, slug)
    _in_scope(request, membership.project)
    user = membership.user
    if not user.has_usable_password() and participant_of(project=membership.project, user=user):
        raise Http404("No such project")
    return membership


def manager_project_or_404(request: HttpRequest, slug: str) -> Project:
    project = project_for_manager_or_404(request, slug)
    _in_scope(request, project)
    return project
