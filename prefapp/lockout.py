"""Login throttling's two hooks into django-axes (settings.py): the page a locked-out login gets,
and the client address attempts are counted by."""

from math import ceil

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    # Every attempt during the lockout starts the cool-off again, so the wait is always whole.
    minutes = ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)


def client_address(request: HttpRequest) -> str | None:
    """The address login attempts are counted by (django-axes' AXES_CLIENT_IP_CALLABLE).

    Behind TRUSTED_PROXY_COUNT reverse proxies, each appending the address it saw to
    X-Forwarded-For, the client is the entry that many places from the right: entries further
    left are whatever the client sent and prove nothing.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies == 0:
        return request.META.get("REMOTE_ADDR")
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [address for address in forwarded if address]
    if len(forwarded) < proxies:
        # Not through the proxies as configured: count by the address that connected.
        return request.META.get("REMOTE_ADDR")
    return forwarded[-proxies]
