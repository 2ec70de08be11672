"""Who is calling: a personal token (`Authorization: Bearer …`) or, same-origin, the session."""

from django.contrib.auth.models import User
from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from api.models import ApiToken
from api.selectors import token_for_secret
from api.services.tokens import token_touch


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        api_token = token_for_secret(secret=token)
        if api_token is None:
            return None
        token_touch(token=api_token)
        # The pages' access helpers read request.user: a token acts as its user.
        request.user = api_token.user
        return api_token


class SessionAuthWithCsrf(SessionAuth):
    """The browser's session; unsafe methods need the CSRF token as on the pages."""

    def __init__(self) -> None:
        super().__init__(csrf=True)


def request_token(request: HttpRequest) -> ApiToken | None:
    """The token the request came with, or None for a session."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiToken) else None


def caller(request: HttpRequest) -> User:
    """The authenticated user (every endpoint is behind TokenAuth or the session)."""
    assert isinstance(request.user, User)
    return request.user
