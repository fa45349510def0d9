"""The cluster's side of the heartbeat: the ticker calls `beat` on every tick."""

import contextlib
import os
import socket
import time
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import ClusterHeartbeat

# Often enough for /readyz's window (READY_HEARTBEAT_SECONDS, a minute by default), seldom
# enough that a tick twice a second does not write each time.
BEAT_EVERY_SECONDS = 10
# A cluster gone for this long (its machine replaced, its pid reused) is forgotten.
FORGET_AFTER = timedelta(days=1)


class Heart:
    """One process's heartbeat row, written at most every BEAT_EVERY_SECONDS."""

    def __init__(self):
        self.host, self.pid = socket.gethostname()[:255], os.getpid()
        self.last = None

    def beat(self):
        if self.last is not None and time.monotonic() - self.last < BEAT_EVERY_SECONDS:
            return False
        now = timezone.now()
        mine = ClusterHeartbeat.objects.filter(host=self.host, pid=self.pid)
        if not mine.update(seen_at=now):
            # Another ticker of this process may have made the row meanwhile: keep it.
            with contextlib.suppress(IntegrityError), transaction.atomic():
                ClusterHeartbeat.objects.create(
                    host=self.host, pid=self.pid, started_at=now, seen_at=now
                )
            ClusterHeartbeat.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()
        self.last = time.monotonic()
        return True

    def stop(self):
        """Remove this process's row: a cluster stopped warmly is not alive any more."""
        ClusterHeartbeat.objects.filter(host=self.host, pid=self.pid).delete()
