"""A row per running cluster, touched by its ticker: how /readyz knows a worker is alive.

The watchdog's heartbeat file is local to its machine; a web process on another machine
sees the clusters only through the database they share.
"""

from django.db import models
from django.utils import timezone


class ClusterHeartbeat(models.Model):
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        app_label = "jobs"
        db_table = "cluster_heartbeats"
        verbose_name = "cluster heartbeat"
        ordering = ["-seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["host", "pid"], name="cluster_heartbeat_per_process"),
        ]

    def __str__(self):
        return f"{self.host}:{self.pid}"
