"""The `Idempotency-Key` header: the first answer to a key is stored and replayed on retries.

The services are idempotent by themselves (a lease is submitted once; a resubmission returns
the stored judgment), so a retry never stores a second judgment; the key makes it get the
same answer too, refusals included. Server errors are not kept: a retry runs again.
"""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from ninja import Status

from api.auth import caller
from api.errors import ApiError
from api.services.idempotency import (
    idempotent_response_get,
    idempotent_response_store,
    request_fingerprint,
)
from labeling.services.judgment import JudgmentRefused

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def replayed_or_run(request: HttpRequest, run: Callable[[], Any]) -> Status:
    """The status and body: the stored answer to this key, or `run()`'s, stored under the key."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return Status(200, run())
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(422, f"{HEADER} is longer than {MAX_KEY_LENGTH} characters.", field=HEADER)
    fingerprint = request_fingerprint(
        method=request.method or "", path=request.path, body=request.body
    )
    stored = idempotent_response_get(user=caller(request), key=key)
    if stored is None:
        try:
            status, body = 200, _plain(run())
        except ApiError as error:
            status, body = error.status, {"error": error.body}
        except JudgmentRefused as refused:
            status, body = 409, {"error": ApiError(409, str(refused), code="refused").body}
        stored = idempotent_response_store(
            user=caller(request),
            key=key,
            fingerprint=fingerprint,
            status_code=status,
            body=body,
        )
    if stored.fingerprint != fingerprint:
        raise ApiError(
            422, f"This {HEADER} was already used for a different request.", field=HEADER
        )
    return Status(stored.status_code, stored.body)


def _plain(body: Any) -> Any:
    """The body as JSON-ready data (a schema instance becomes a dict of plain values)."""
    from ninja import Schema

    return body.model_dump(mode="json") if isinstance(body, Schema) else body
