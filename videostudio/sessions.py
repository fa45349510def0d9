"""Sessions read from Redis and kept in the database: what SESSION_ENGINE is with REDIS_URL.

Every request a logged-in person makes reads the session, and a job page polls every two
seconds: a database session is a query per poll. Django's `cached_db` answers that read
from the cache (here Redis, shared by every web process) and writes each change through to
the database, so a restarted Redis logs nobody out; logging out deletes the session from
both, so the cookie is revoked on every process at once.

The differences from Django's own: a cache that cannot be reached (Redis restarting) falls
back to the database for reads instead of failing the request (Django's `load` survives a
failed read but not the failed write that follows it), and whether a new key is taken asks
the database alone, which holds every session the cache does. A failed delete still fails
loudly, so a logout never pretends to have revoked what it could not.
"""

import logging

from django.contrib.sessions.backends import cached_db, db

log = logging.getLogger(__name__)


class SessionStore(cached_db.SessionStore):
    def load(self):
        try:
            data = self._cache.get(self.cache_key)
        except Exception:  # Redis unreachable, or a key it refuses: read the database
            log.warning("The session cache could not be read; reading the database.")
            data = None
        if data is not None:
            return data
        row = self._get_session_from_db()
        if not row:
            return {}
        data = self.decode(row.session_data)
        try:
            self._cache.set(self.cache_key, data, self.get_expiry_age(expiry=row.expire_date))
        except Exception:
            log.warning("The session cache could not be written; the database has the session.")
        return data

    def exists(self, session_key):
        return db.SessionStore.exists(self, session_key)
