"""Answers to requests sent with an `Idempotency-Key`: a retry gets the first answer again."""

import hashlib
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from api.models import IdempotentResponse

# How long a key's answer is kept; a client retries within minutes, not days.
KEEP_FOR = timedelta(days=1)


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\0".join([method.encode(), path.encode(), body])).hexdigest()


def idempotent_response_get(*, user: User, key: str) -> IdempotentResponse | None:
    return IdempotentResponse.objects.filter(user=user, key=key).first()


def idempotent_response_store(
    *, user: User, key: str, fingerprint: str, status_code: int, body: dict
) -> IdempotentResponse:
    """Keep the answer; when a parallel retry stored one first, that one is the answer."""
    try:
        with transaction.atomic():
            return IdempotentResponse.objects.create(
                user=user, key=key, fingerprint=fingerprint, status_code=status_code, body=body
            )
    except IntegrityError:
        return IdempotentResponse.objects.get(user=user, key=key)


def idempotent_responses_purge(*, now=None) -> int:
    now = now or timezone.now()
    deleted, _ = IdempotentResponse.objects.filter(created_at__lt=now - KEEP_FOR).delete()
    return deleted
