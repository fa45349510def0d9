"""How many jobs one person may create per window, however they create them.

The web form, a draft's run, a retry and the API all count against the same limit
(API_JOB_CREATE_LIMIT per API_JOB_CREATE_WINDOW_SECONDS), and a request counts for
every job it would create: a run of 200 jobs is 200.
"""

import math
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from .models import VideoCreationJob


class CreationLimitExceeded(ValidationError):
    """Creating these jobs would take a person past the limit; retry_after is in seconds."""

    def __init__(self, message, *, retry_after=None):
        super().__init__(message)
        self.retry_after = retry_after


def check_creation_limit(*, owner, count=1) -> None:
    """Raise CreationLimitExceeded if creating count more jobs takes owner past the limit.

    Call it inside the transaction that creates the jobs: the owner's row is locked so
    that concurrent requests count in turn (SQLite's IMMEDIATE transactions already do).
    """
    limit, window = settings.API_JOB_CREATE_LIMIT, settings.API_JOB_CREATE_WINDOW_SECONDS
    per = f"{limit} per {duration(window)} for each person"
    if count > limit:
        raise CreationLimitExceeded(
            f"This would create {count} jobs at once; the studio accepts {per}. "
            "Run fewer prompts or rows at a time."
        )
    list(get_user_model().objects.select_for_update().filter(pk=owner.pk).values_list("pk"))
    now = timezone.now()
    recent = VideoCreationJob.objects.filter(
        owner=owner, created_at__gt=now - timedelta(seconds=window)
    )
    made = recent.count()
    if made + count <= limit:
        return
    # The wait until enough jobs leave the window for these to fit.
    frees_enough = recent.order_by("created_at").values_list("created_at", flat=True)[
        made + count - limit - 1
    ]
    wait = max(math.ceil((frees_enough + timedelta(seconds=window) - now).total_seconds()), 1)
    creating = "" if count == 1 else f" This request would create {count}."
    raise CreationLimitExceeded(
        f"Too many jobs: the studio accepts {per}.{creating} Try again in {duration(wait)}.",
        retry_after=wait,
    )


def duration(seconds) -> str:
    """Return seconds as a person says them: "hour", "3 hours", "5 minutes", "1 second"."""
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "hour" if hours == 1 else f"{hours} hours"
    if seconds >= 120:
        return f"{math.ceil(seconds / 60)} minutes"
    return "1 second" if seconds == 1 else f"{seconds} seconds"
