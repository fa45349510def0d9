"""The health rows: clusters' heartbeats, and the tallies /metrics reads.

A row per running cluster, touched by its ticker, is how /readyz knows a worker is alive.

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


class ProviderErrorTally(models.Model):
    """How many provider errors of one class the pipeline has met, since the studio began.

    A Prometheus counter kept in the database, so that every web process, on any machine,
    answers /metrics with the same figure whichever worker met the error.
    """

    error_class = models.CharField(max_length=32, unique=True)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        app_label = "jobs"
        db_table = "provider_error_tallies"
        verbose_name = "provider error tally"
        verbose_name_plural = "provider error tallies"
        ordering = ["error_class"]

    def __str__(self):
        return f"{self.error_class}: {self.count}"


class LatencyTally(models.Model):
    """One bucket of the done-to-downloading histogram: its samples' count and sum.

    A sample counts in the one bucket it falls in (the smallest bound at or above it);
    /metrics adds the buckets up into Prometheus's cumulative ones, and their sums and
    counts into the histogram's _sum and _count.
    """

    bucket_le = models.CharField("bucket (seconds, at most)", max_length=16, unique=True)
    count = models.PositiveBigIntegerField(default=0)
    sum_seconds = models.FloatField(default=0)

    class Meta:
        app_label = "jobs"
        db_table = "latency_tallies"
        verbose_name = "done-to-downloading latency bucket"
        ordering = ["id"]

    def __str__(self):
        return f"≤ {self.bucket_le} s: {self.count}"
