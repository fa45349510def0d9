"""Cursor pagination for the job list: newest first, an opaque cursor to the next page.

The cursor is the last row's (created_at, id), so a page never repeats or skips a job
created meanwhile. It travels beside the list (`nextCursor`) and in a `Link` header.
"""

import base64
import binascii
import json
from datetime import datetime

from django.db.models import Q

from videostudio.envelope import invalid

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100


def page_of(rows, *, limit, cursor):
    """Return (page, next cursor or None) of rows ordered by -created_at, -pk."""
    limit = min(limit, MAX_PAGE_SIZE)
    if cursor:
        created_at, pk = read_cursor(cursor)
        rows = rows.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))
    page = list(rows[: limit + 1])
    next_cursor = make_cursor(page[limit - 1]) if len(page) > limit else None
    return page[:limit], next_cursor


def make_cursor(row) -> str:
    position = json.dumps([row.created_at.isoformat(), row.pk])
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def read_cursor(cursor):
    """Return (created_at, id) from a cursor this API gave out; a 400 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, pk = json.loads(raw)
        created_at = datetime.fromisoformat(created_at)
        if created_at.tzinfo is None or not isinstance(pk, str):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise invalid(
            {"cursor": "This is not a cursor the API gave out; start again without one."}
        ) from None
    return created_at, pk


def next_page_url(request, next_cursor):
    """Return the request's URL with cursor set to next_cursor, or None on the last page."""
    if next_cursor is None:
        return None
    query = request.GET.copy()
    query["cursor"] = next_cursor
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
