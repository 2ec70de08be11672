"""The page where a user makes, lists and revokes their personal API tokens."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from api.forms import TokenForm
from api.selectors import token_of, tokens_for_user
from api.services.tokens import TokenRefused, token_create, token_revoke
from labeling.access import AuthedRequest


def _render(request: AuthedRequest, form: TokenForm, **extra: object) -> HttpResponse:
    context = {"form": form, "tokens": tokens_for_user(user=request.user), **extra}
    return render(request, "api/tokens.html", context)


@login_required
@require_GET
def tokens(request: AuthedRequest) -> HttpResponse:
    return _render(request, TokenForm(user=request.user))


@login_required
@require_POST
def token_new(request: AuthedRequest) -> HttpResponse:
    form = TokenForm(request.POST, user=request.user)
    if not form.is_valid():
        messages.error(request, form.error_text())
        return redirect("api_tokens")
    try:
        made = token_create(
            user=request.user, name=form.cleaned_data["name"], project=form.cleaned_data["project"]
        )
    except TokenRefused as refused:
        messages.error(request, str(refused))
        return redirect("api_tokens")
    # Shown in this answer only: the secret is not stored and cannot be shown again.
    return _render(request, TokenForm(user=request.user), new_secret=made.secret, new=made.token)


@login_required
@require_POST
def token_revoke_view(request: AuthedRequest, token_id: int) -> HttpResponse:
    token = token_of(user=request.user, token_id=token_id)
    if token is None:
        raise Http404("No such token")
    token_revoke(token=token)
    messages.success(request, f"Token {token.name!r} revoked.")
    return redirect("api_tokens")
