"""Projects: the caller's list and one project's settings (and progress, for its managers)."""

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router
from ninja.pagination import CursorPagination, paginate

from api.access import member_or_404
from api.auth import caller, request_token
from api.schemas import MyProjectOut, ProjectDetailOut, answers
from labeling.models import Membership
from labeling.selectors import project_progress

router = Router(tags=["projects"])


@router.get("/projects", response=answers(list[MyProjectOut]))
@paginate(CursorPagination, ordering=("id",))
def projects_list(request: HttpRequest) -> QuerySet[Membership]:
    """The projects the caller belongs to (only the token's project for a scoped token)."""
    memberships = Membership.objects.filter(user=caller(request)).select_related("project")
    token = request_token(request)
    if token is not None and token.project_id is not None:
        memberships = memberships.filter(project_id=token.project_id)
    return memberships


@router.get("/projects/{slug}", response=answers(ProjectDetailOut))
def project_read(request: HttpRequest, slug: str) -> dict:
    membership = member_or_404(request, slug)
    project = membership.project
    progress = project_progress(project=project) if membership.is_manager else None
    return {"role": membership.role, "project": project, "progress": progress}
