"""Which worker pools (Celery queues) have a worker now: asked of the workers themselves.

Celery's public remote-control API (`inspect().active_queues()`) broadcasts the question and
gathers the answers of the workers up within a second. The answer is cached for
PREFAPP_WORKER_QUEUES_CACHE_SECONDS, since the run page asks on every poll.
"""

import logging

from celery import current_app
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

_CACHE_KEY = "training:worker-queues"
_REPLY_SECONDS = 1.0


def worker_queues() -> dict[str, list[str]] | None:
    """{queue: [worker name, ...]} of the workers that answered; None when the broker could not
    be asked (then nothing is known, which is not the same as "no worker")."""
    cached = cache.get(_CACHE_KEY)
    if cached is not None:
        return cached
    try:
        replies = current_app.control.inspect(timeout=_REPLY_SECONDS).active_queues() or {}
    except Exception as error:  # the broker is down or unreachable: the page still renders
        logger.warning("asking the workers for their queues failed: %s", error)
        return None
    queues: dict[str, list[str]] = {}
    for worker, consumed in replies.items():
        for queue in consumed or []:
            queues.setdefault(queue["name"], []).append(worker)
    cache.set(_CACHE_KEY, queues, settings.PREFAPP_WORKER_QUEUES_CACHE_SECONDS)
    return queues


def queue_workers(*, queue: str) -> list[str] | None:
    """The workers consuming `queue` now ([]: none), or None when that cannot be known."""
    queues = worker_queues()
    return None if queues is None else sorted(queues.get(queue, []))
