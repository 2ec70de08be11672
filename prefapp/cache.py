"""Django's Redis cache, keeping one client object per connection pool.

Django's RedisCacheClient builds a new `redis.Redis` for every operation, and building one costs
more CPU than the GET itself (it fills the client's table of ~170 response callbacks). The
session is read from this cache on every request, so the client is kept: a `redis.Redis` is
safe to share between threads (each command takes a connection from the pool).
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):  # noqa: ANN001, ANN201 - Django's signature
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(
                connection_pool=self._get_connection_pool(write)
            )
        return client


class ReusedClientRedisCache(RedisCache):
    def __init__(self, server, params) -> None:  # noqa: ANN001 - Django's signature
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
