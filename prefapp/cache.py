"""Django's Redis cache, made optional: while Redis cannot be reached every call is a miss.

Redis holds nothing that cannot be lost (docs/architecture.md), so a request must never fail
because the cache is down or restarting. Each public method of Django's `RedisCache` runs as
Django wrote it; a connection error or timeout turns into what an empty cache answers (`get`
returns the default, `add` and `delete` False, `set_many` reports every key as not stored,
`incr` raises ValueError as for a missing key). The outage is logged once per process when it
starts and once when Redis answers again, not on every call. While it lasts Redis is asked
again at most every `retry_seconds` (an OPTIONS entry), so a Redis that hangs rather than
refuses costs one socket timeout per process and interval, not one per call.

Public APIs only: the cache methods Django documents, and the OPTIONS that Django's
RedisCache passes to redis-py's connection pool (`socket_timeout`, `socket_connect_timeout`).
django-redis's IGNORE_EXCEPTIONS would do the same, but logs every failed call (or none) and
adds a second Redis client library for what these few lines do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_SECONDS = 5.0


class _Outage:
    """Whether one Redis server is down, shared by the threads of a process.

    Django builds a cache object per thread; the outage is the server's, so it is logged once
    per process, not once per thread.
    """

    def __init__(self, server: str, retry_seconds: float) -> None:
        self.server = server
        self.retry_seconds = retry_seconds
        self.lock = threading.Lock()
        self.down_since: float | None = None  # time.monotonic() of the first failure
        self.retry_at = 0.0

    def skip(self) -> bool:
        """Down, and not yet time to try again."""
        return self.down_since is not None and time.monotonic() < self.retry_at

    def failed(self, error: RedisError) -> None:
        with self.lock:
            now = time.monotonic()
            self.retry_at = now + self.retry_seconds
            if self.down_since is not None:
                return
            self.down_since = now
        logger.warning(
            "cache: Redis at %s cannot be reached (%s: %s); cache calls are misses until it "
            "answers",
            self.server,
            type(error).__name__,
            error,
        )

    def answered(self) -> None:
        if self.down_since is None:
            return
        with self.lock:
            if self.down_since is None:
                return
            seconds = time.monotonic() - self.down_since
            self.down_since = None
        logger.warning("cache: Redis at %s answers again after %.0f s", self.server, seconds)


_outages: dict[str, _Outage] = {}
_outages_lock = threading.Lock()


def _outage_for(server: str, retry_seconds: float) -> _Outage:
    with _outages_lock:
        if server not in _outages:
            _outages[server] = _Outage(server, retry_seconds)
        return _outages[server]


class OptionalRedisCache(RedisCache):
    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        location = server if isinstance(server, str) else ",".join(server)
        options = dict(params.get("OPTIONS", {}))
        retry_seconds = float(options.pop("retry_seconds", RETRY_SECONDS))
        super().__init__(server, {**params, "OPTIONS": options})
        self._outage = _outage_for(_without_password(location), retry_seconds)

    def _call(self, operation: Callable[..., T], args: tuple, miss: Callable[[], T]) -> T:
        """`operation(*args)`; while Redis cannot be reached, what `miss()` gives instead."""
        if self._outage.skip():
            return miss()
        try:
            result = operation(*args)
        except (RedisConnectionError, RedisTimeoutError) as error:
            self._outage.failed(error)
            return miss()
        self._outage.answered()
        return result

    # Django's public cache API, each method as RedisCache runs it. The others (get_or_set,
    # decr, incr_version, the async methods) are built on these by BaseCache.

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        return self._call(super().add, (key, value, timeout, version), lambda: False)

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return self._call(super().get, (key, default, version), lambda: default)

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        self._call(super().set, (key, value, timeout, version), lambda: None)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return self._call(super().touch, (key, timeout, version), lambda: False)

    def delete(self, key: Any, version: Any = None) -> bool:
        return self._call(super().delete, (key, version), lambda: False)

    def get_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        return self._call(super().get_many, (keys, version), dict)

    def has_key(self, key: Any, version: Any = None) -> bool:
        return self._call(super().has_key, (key, version), lambda: False)

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        def missing() -> int:
            raise ValueError(f"Key '{key}' not found")  # what Django raises for a missing key

        return self._call(super().incr, (key, delta, version), missing)

    def set_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        return self._call(super().set_many, (data, timeout, version), lambda: list(data))

    def delete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        self._call(super().delete_many, (keys, version), lambda: None)

    def clear(self) -> None:
        self._call(super().clear, (), lambda: None)


def _without_password(url: str) -> str:
    """The URL as it may be logged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
