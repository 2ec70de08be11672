"""Personal API tokens: made with a secret shown once, stored as its SHA-256, revocable."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from api.models import ApiToken
from labeling.models import Membership, Project

# Recognisable in logs and by secret scanners.
SECRET_PREFIX = "pfa_"
# last_used_at is written at most this often per token, not on every request.
TOUCH_EVERY = timedelta(minutes=1)


class TokenRefused(ValueError):
    """The token cannot be made; the message says why."""


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown to its owner once, never stored


def secret_hash(secret: str) -> str:
    # A plain hash is enough: the secret is 256 random bits, not a password to guess.
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(*, user: User, name: str, project: Project | None = None) -> NewToken:
    """A token acting as `user`, in `project` only or (None) in all of the user's projects."""
    name = name.strip()
    if not name:
        raise TokenRefused("Give the token a name.")
    if project is not None and not Membership.objects.filter(user=user, project=project).exists():
        raise TokenRefused("You are not a member of that project.")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        project=project,
        key_hash=secret_hash(secret),
        prefix=secret[: len(SECRET_PREFIX) + 6],
    )
    return NewToken(token=token, secret=secret)


def token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def token_touch(*, token: ApiToken) -> None:
    """Record that the token was used (at most once a minute, to keep requests write-free)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
