"""Requests per token (or per logged-in user) per minute, counted by django-ratelimit.

django-ratelimit counts in fixed windows with the cache's atomic increment; the cache is
prefapp's optional Redis (prefapp/cache.py), so while Redis is down nobody is limited rather
than everybody refused. django-ninja answers a refusal with 429 and `Retry-After`.
"""

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage
from ninja.throttling import BaseThrottle

from api.auth import request_token


def _caller(group: str, request: HttpRequest) -> str:
    token = request_token(request)
    return f"token:{token.pk}" if token is not None else f"user:{request.user.pk}"


class TokenRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self.time_left: int | None = None

    def allow_request(self, request: HttpRequest) -> bool:
        usage = get_usage(
            request,
            group="api",
            key=_caller,
            rate=settings.PREFAPP_API_RATE,
            increment=True,
        )
        if usage is None or not usage["should_limit"]:
            return True
        self.time_left = max(1, usage["time_left"])
        return False

    def wait(self) -> float | None:
        return self.time_left
