"""The JSON API under /api/video-creation/: the seed's IPC channels over HTTP.

Routers for jobs, batches and files (drafts.api has the drafts'), mounted on the one
NinjaAPI instance in videostudio.api, which also holds the envelope's error handlers.
Here too: authentication (auth), Idempotency-Key (idempotency), the creation limit
(creation), cursor pagination (pagination) and the shapes (schemas).

A caller is either the browser session, which must send the CSRF token on unsafe
methods, or a script sending `Authorization: Bearer <token>` (tokens; their page is views, their admin admin).
"""

from .batches import router as batches_router
from .files import router as files_router
from .jobs import router as jobs_router

__all__ = ["batches_router", "files_router", "jobs_router"]
