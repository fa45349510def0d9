"""Django's Redis cache, with one Redis client per connection pool instead of one per call.

Django's RedisCacheClient builds a new `redis.Redis` for every cache operation, and each
one builds its table of some 170 response callbacks: a third of a millisecond, more than
the round trip to Redis itself, on every session read of every poll (bench/poll.py's
profile). A client is safe to share between threads (it takes a connection from its pool
per command), so it is made once per pool.
"""

from django.core.cache.backends import redis


class ReusingClient(redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingClient
