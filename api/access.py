"""The pages' access rules (labeling.access), narrowed to a token's project.

An outsider, an annotator on a manager's endpoint and a token scoped to another project all
get the same 404 as on the pages.
"""

from django.http import Http404, HttpRequest

from api.auth import request_token
from labeling.access import membership_or_404, project_for_manager_or_404
from labeling.models import Membership, Project


def _in_scope(request: HttpRequest, project: Project) -> None:
    token = request_token(request)
    if token is not None and token.project_id not in (None, project.pk):
        raise Http404("No such project")


def member_or_404(request: HttpRequest, slug: str) -> Membership:
    membership = membership_or_404(request, slug)
    _in_scope(request, membership.project)
    return membership


def manager_project_or_404(request: HttpRequest, slug: str) -> Project:
    project = project_for_manager_or_404(request, slug)
    _in_scope(request, project)
    return project
