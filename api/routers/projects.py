"""Projects and their members: the settings and members pages, for scripts.

Every write calls the services the pages call (labeling/services/projects.py, members.py),
which validate, refuse with the page's words and write the audit log.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from ninja import Router, Status
from ninja.pagination import CursorPagination, paginate

from api.access import manager_project_or_404, member_or_404
from api.auth import caller, request_token
from api.errors import ApiError
from api.schemas import (
    MemberAddIn,
    MemberOut,
    MyProjectOut,
    ProjectDetailOut,
    ProjectNewIn,
    ProjectOut,
    ProjectSettingsIn,
    RemovedOut,
    RoleIn,
    answers,
)
from labeling.models import Membership, Project
from labeling.selectors import project_progress
from labeling.selectors_projects import membership_in, user_find
from labeling.services.members import (
    MembershipRefused,
    membership_add,
    membership_remove,
    membership_role_change,
)
from labeling.services.projects import (
    ProjectRefused,
    project_archive,
    project_create,
    project_update,
)

router = Router(tags=["projects and members"])


def _refused(refused: ValueError) -> ApiError:
    """The services name the field first ("slug: …"), as the page shows the error."""
    text = str(refused)
    field, sep, _rest = text.partition(":")
    return ApiError(400, text, field=field if sep and field.isidentifier() else None)


@router.get("/projects", response=answers(list[MyProjectOut]))
@paginate(CursorPagination, ordering=("id",))
def projects_list(request: HttpRequest) -> QuerySet[Membership]:
    """The projects the caller belongs to (only the token's project for a scoped token)."""
    memberships = Membership.objects.filter(user=caller(request)).select_related("project")
    token = request_token(request)
    if token is not None and token.project_id is not None:
        memberships = memberships.filter(project_id=token.project_id)
    return memberships


@router.post("/projects", response={**answers(ProjectOut, extra=(400, 403)), 201: ProjectOut})
def project_new(request: HttpRequest, payload: ProjectNewIn) -> Status:
    """A new project, managed by the caller (who needs the permission to add projects, as on
    the new-project page; a token scoped to one project cannot)."""
    user = caller(request)
    token = request_token(request)
    if not user.has_perm("labeling.add_project") or (token and token.project_id):
        raise PermissionDenied
    options = payload.dict(exclude_none=True)
    try:
        project = project_create(
            name=options.pop("name"), slug=options.pop("slug"), creator=user, **options
        )
    except ProjectRefused as refused:
        raise _refused(refused) from None
    return Status(201, project)


@router.get("/projects/{slug}", response=answers(ProjectDetailOut))
def project_read(request: HttpRequest, slug: str) -> dict:
    membership = member_or_404(request, slug)
    project = membership.project
    progress = project_progress(project=project) if membership.is_manager else None
    return {"role": membership.role, "project": project, "progress": progress}


@router.patch("/projects/{slug}", response=answers(ProjectOut, extra=(400,)))
def project_settings(request: HttpRequest, slug: str, payload: ProjectSettingsIn) -> Project:
    """Change settings; fields left out keep their values."""
    project = manager_project_or_404(request, slug)
    try:
        return project_update(
            project=project, actor=caller(request), changes=payload.dict(exclude_none=True)
        )
    except ProjectRefused as refused:
        raise _refused(refused) from None


@router.post("/projects/{slug}/archive", response=answers(ProjectOut))
def project_archive_endpoint(request: HttpRequest, slug: str) -> Project:
    """Archive: annotators lose access, live leases end, queued runs are cancelled; every
    judgment and model stays stored."""
    project = manager_project_or_404(request, slug)
    return project_archive(project=project, actor=caller(request))


def _member(request: HttpRequest, slug: str, membership_id: int) -> Membership:
    project = manager_project_or_404(request, slug)
    membership = membership_in(project=project, membership_id=membership_id)
    if membership is None:
        raise Http404("No such member")
    return membership


def _member_out(membership: Membership) -> MemberOut:
    return MemberOut.from_orm(membership)


@router.get("/projects/{slug}/members", response=answers(list[MemberOut]))
@paginate(CursorPagination, ordering=("id",))
def members_list(request: HttpRequest, slug: str) -> QuerySet[Membership]:
    project = manager_project_or_404(request, slug)
    return Membership.objects.filter(project=project).select_related("user")


@router.post(
    "/projects/{slug}/members", response={**answers(MemberOut, extra=(400,)), 201: MemberOut}
)
def member_add(request: HttpRequest, slug: str, payload: MemberAddIn) -> Status:
    project = manager_project_or_404(request, slug)
    user = user_find(identifier=payload.identifier)
    if user is None:
        raise ApiError(400, "No user has this username or e-mail address.", field="identifier")
    try:
        membership = membership_add(
            project=project, actor=caller(request), user=user, role=payload.role
        )
    except MembershipRefused as refused:
        raise _refused(refused) from None
    return Status(201, _member_out(membership))


@router.patch(
    "/projects/{slug}/members/{int:membership_id}", response=answers(MemberOut, extra=(400,))
)
def member_role(request: HttpRequest, slug: str, membership_id: int, payload: RoleIn) -> MemberOut:
    membership = _member(request, slug, membership_id)
    try:
        changed = membership_role_change(
            membership=membership, actor=caller(request), role=payload.role
        )
    except MembershipRefused as refused:
        raise _refused(refused) from None
    return _member_out(changed)


@router.delete(
    "/projects/{slug}/members/{int:membership_id}", response=answers(RemovedOut, extra=(400,))
)
def member_remove(request: HttpRequest, slug: str, membership_id: int) -> RemovedOut:
    """Remove a member; their live leases end and their judgments stay stored."""
    membership = _member(request, slug, membership_id)
    try:
        released = membership_remove(membership=membership, actor=caller(request))
    except MembershipRefused as refused:
        raise _refused(refused) from None
    return RemovedOut(removed=True, leases_released=released)
