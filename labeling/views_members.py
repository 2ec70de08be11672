"""Members and invite links: the members page of a project's managers, and the page an
invite link opens for anyone, signed in or not."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from labeling.access import AuthedRequest, project_for_manager_or_404
from labeling.forms import InviteForm, MemberAddForm, RoleForm, SignUpForm
from labeling.models import Membership, Project
from labeling.selectors_projects import (
    invite_by_token,
    invite_in,
    invites_of,
    members_table,
    membership_in,
    user_find,
)
from labeling.services.invites import InviteRefused, invite_accept, invite_create, invite_revoke
from labeling.services.members import (
    MembershipRefused,
    membership_add,
    membership_remove,
    membership_role_change,
)


def _members_page(
    request: AuthedRequest,
    project: Project,
    *,
    add_form: MemberAddForm | None = None,
    invite_form: InviteForm | None = None,
    status: int = 200,
    partial: bool = False,
    error: str = "",
) -> HttpResponse:
    """The members page, or (`partial`, htmx) only its members table, which a role change
    swaps."""
    context = {
        "project": project,
        "members": members_table(project=project),
        "roles": Membership.Role.choices,
        "error": error,
        "add_form": add_form or MemberAddForm(),
        "invite_form": invite_form or InviteForm(),
        "invites": [
            (invite, request.build_absolute_uri(reverse("invite", args=[invite.token])))
            for invite in invites_of(project=project)
        ],
    }
    template = "labeling/partials/_members_table.html" if partial else "labeling/members.html"
    return render(request, template, context, status=status)


def _membership_or_404(request: AuthedRequest, slug: str, membership_id: int) -> Membership:
    project = project_for_manager_or_404(request, slug)
    membership = membership_in(project=project, membership_id=membership_id)
    if membership is None:
        raise Http404("No such member")
    return membership


@login_required
@require_GET
def members(request: AuthedRequest, slug: str) -> HttpResponse:
    return _members_page(request, project_for_manager_or_404(request, slug))


@login_required
@require_POST
def member_add(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        user = user_find(identifier=form.cleaned_data["identifier"])
        if user is None:
            form.add_error("identifier", "No user has this username or e-mail address.")
        else:
            try:
                membership_add(
                    project=project, actor=request.user, user=user, role=form.cleaned_data["role"]
                )
            except MembershipRefused as refused:
                form.add_error("identifier", str(refused))
            else:
                messages.success(request, f"{user.get_username()} added.")
                return redirect("members", slug=slug)
    return _members_page(request, project, add_form=form, status=400)


@login_required
@require_POST
def member_role(request: AuthedRequest, slug: str, membership_id: int) -> HttpResponse:
    membership = _membership_or_404(request, slug, membership_id)
    form = RoleForm(request.POST)
    error = form.error_text()
    if not error:
        try:
            membership_role_change(
                membership=membership, actor=request.user, role=form.cleaned_data["role"]
            )
        except MembershipRefused as refused:
            error = str(refused)
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("members", slug=slug)
    # Answered 200 so that htmx swaps the table in, with the refusal above it.
    return _members_page(request, membership.project, partial=True, error=error)


@login_required
@require_POST
def member_remove(request: AuthedRequest, slug: str, membership_id: int) -> HttpResponse:
    membership = _membership_or_404(request, slug, membership_id)
    try:
        released = membership_remove(membership=membership, actor=request.user)
    except MembershipRefused as refused:
        messages.error(request, str(refused))
    else:
        leases = f"; {released} pair{'s' if released != 1 else ''} released" if released else ""
        messages.success(
            request, f"{membership.user.get_username()} removed; their judgments stay{leases}."
        )
        if request.user == membership.user:  # they left: the project's pages are not theirs
            return redirect("home")
    return redirect("members", slug=slug)


@login_required
@require_POST
def invite_new(request: AuthedRequest, slug: str) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _members_page(request, project, invite_form=form, status=400)
    try:
        invite_create(
            project=project,
            actor=request.user,
            role=form.cleaned_data["role"],
            expires_at=form.expires_at(),
            max_uses=form.cleaned_data["max_uses"],
        )
    except InviteRefused as refused:
        form.add_error(None, str(refused))
        return _members_page(request, project, invite_form=form, status=400)
    messages.success(request, "Invite link created: copy it from the list below.")
    return redirect("members", slug=slug)


@login_required
@require_POST
def invite_revoke_view(request: AuthedRequest, slug: str, invite_id: int) -> HttpResponse:
    project = project_for_manager_or_404(request, slug)
    invite = invite_in(project=project, invite_id=invite_id)
    if invite is None:
        raise Http404("No such invite")
    invite_revoke(invite=invite, actor=request.user)
    messages.success(request, "Invite link revoked: nobody else can join through it.")
    return redirect("members", slug=slug)


@require_http_methods(["GET", "POST"])
def invite(request: HttpRequest, token: str) -> HttpResponse:
    """An invite link: a signed-in person joins with one click, anyone else signs up here.

    Either way they land on the project's labelling page.
    """
    found = invite_by_token(token=token)
    if found is None:
        raise Http404("No such invite")
    form = SignUpForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        signed_in = request.user if request.user.is_authenticated else None
        try:
            membership = invite_accept(invite=found, user=signed_in, **form.cleaned_data)
        except InviteRefused as refused:
            form.add_error(None, str(refused))
        else:
            if signed_in is None:
                login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("label", slug=found.project.slug)
    context = {
        "invite": found,
        "form": form,
        "unusable": found.unusable_reason(),
        "annotator_link": found.role == Membership.Role.ANNOTATOR,
    }
    return render(request, "labeling/invite.html", context, status=400 if form.errors else 200)
