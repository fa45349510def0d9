"""/metrics' figures, read at scrape time, and the tallies the pipeline keeps for it.

Every figure is read from the shared database (the queue's depth from the broker) when
Prometheus scrapes, so any web process on any machine answers the same. What happens
inside a worker (a provider error, the wait between Google's "done" and the download) is
tallied in rows (ProviderErrorTally, LatencyTally): a worker's memory is out of the web's
reach, and a counter kept there would restart at 0 with the worker.
"""

import logging
import math
from itertools import product

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone
from django_q.brokers import get_broker
from prometheus_client import generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import CollectorRegistry
from prometheus_client.utils import floatToGoString

from .. import pricing
from ..models import Budget, VideoCreationJob
from ..veo.base import DownloadRefused, SubmitOutcomeUnknown
from ..webhooks.models import InboundEvent, WebhookDelivery
from .models import LatencyTally, ProviderErrorTally

logger = logging.getLogger(__name__)

# videostudio_provider_errors_total's classes; every one is exposed, 0 until it happens.
ERROR_CLASSES = (
    "rate_limited",  # a 429 to retry after a wait
    "quota",  # a quota used up (a daily one, prepaid credit): no retry helps today
    "server",  # a 5xx or 408 from Google's API or file server
    "auth",  # credentials refused or unusable, or no permission (401, 403)
    "refused",  # any other refusal: a bad request, a model not offered, a download refused
    "network",  # no answer: a connection that failed or broke, a timeout, a garbled reply
    "outcome_unknown",  # a paid submit that may have gone through: never resent
    "generation_failed",  # Google accepted the generation, then ended it with an error
)
AUTH_STATUSES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})

# Seconds from Google's "done" to the download's start. A poll every VEO_POLL_INTERVAL
# (5 s, growing to 30 s) makes a few seconds usual; minutes mean the workers are behind.
LATENCY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, math.inf)


def error_class(error) -> str:
    """Return the class a provider error (a VeoError, or a class's name) counts in."""
    if isinstance(error, str):
        if error not in ERROR_CLASSES:
            raise ValueError(f"{error!r} is not one of {', '.join(ERROR_CLASSES)}")
        return error
    if isinstance(error, SubmitOutcomeUnknown):
        return "outcome_unknown"
    if isinstance(error, DownloadRefused):
        return "refused"
    # An HTTP status; an operation's error may carry a gRPC code, which is not one.
    code = error.code if isinstance(error.code, int) else None
    if code == 429 or error.status == "RESOURCE_EXHAUSTED":
        return "rate_limited" if error.retryable else "quota"
    if code == 402:
        return "quota"
    if code in (401, 403) or error.status in AUTH_STATUSES:
        return "auth"
    if code is not None and (code >= 500 or code == 408):
        return "server"
    if code is None and error.retryable:
        return "network"
    return "refused"


def record_provider_error(error) -> None:
    """Count a provider error (a VeoError, or a class's name) once, in its class."""
    _add(ProviderErrorTally, {"error_class": error_class(error)}, count=1)


def record_done_to_downloading(done_at) -> None:
    """Count the seconds from done_at (when Google finished the video) to now."""
    seconds = max((timezone.now() - done_at).total_seconds(), 0.0)
    le = next(bound for bound in LATENCY_BUCKETS if seconds <= bound)
    _add(LatencyTally, {"bucket_le": floatToGoString(le)}, count=1, sum_seconds=seconds)


def _add(model, key, **amounts):
    """Add amounts to the tally row with key (a dict), creating it first; safe under races.

    Best effort: a tally that cannot be written is logged, and the pipeline goes on.
    """
    changes = {field: F(field) + amount for field, amount in amounts.items()}
    try:
        with transaction.atomic():
            if model.objects.filter(**key).update(**changes):
                return
            try:
                with transaction.atomic():
                    model.objects.create(**key, **amounts)
                return
            except IntegrityError:
                pass  # another run created it meanwhile: add to theirs
            model.objects.filter(**key).update(**changes)
    except DatabaseError:
        logger.warning("Could not add to the tally %s", key, exc_info=True)


def counted(name, documentation, queryset, **labels):
    """Return a gauge of queryset's rows counted by fields, in one GROUP BY.

    `labels` maps each label to (field, choices). Every combination of the choices has a
    sample, 0 when no row has it, so a series does not vanish when its last row goes; a
    value outside the choices still counts.
    """
    fields = [field for field, _choices in labels.values()]
    rows = queryset.order_by().values_list(*fields).annotate(rows=Count("pk"))
    found = {tuple(row[:-1]): row[-1] for row in rows}
    every = product(*(choices.values for _field, choices in labels.values()))
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    for values in dict.fromkeys([*every, *found]):
        family.add_metric([str(value) for value in values], found.get(values, 0))
    return family


def queue_depth():
    """Return how many tasks wait in django-q2's broker, or None (logged) when it errs."""
    try:
        return get_broker().queue_size()
    except Exception:  # any broker failure: the other figures are still worth answering
        logger.warning("The broker's queue size could not be read", exc_info=True)
        return None


def latency_histogram():
    buckets = dict.fromkeys(LATENCY_BUCKETS, 0)
    total = 0.0
    for row in LatencyTally.objects.all():
        # A bound no longer in LATENCY_BUCKETS counts in the next one above it.
        le = next(bound for bound in LATENCY_BUCKETS if float(row.bucket_le) <= bound)
        buckets[le] += row.count
        total += row.sum_seconds
    cumulative, running = [], 0
    for le, count in buckets.items():
        running += count
        cumulative.append((floatToGoString(le), running))
    return HistogramMetricFamily(
        "videostudio_done_to_downloading_seconds",
        "Seconds from Google's done to the studio starting the download (Google's time "
        "when its answer says, else the poll that saw it).",
        buckets=cumulative,
        sum_value=total,
    )


class StudioCollector:
    """The studio's figures, read afresh at every scrape."""

    def collect(self):
        yield counted(
            "videostudio_jobs",
            "Jobs by status and stage.",
            VideoCreationJob.objects.all(),
            status=("status", VideoCreationJob.Status),
            stage=("stage", VideoCreationJob.Stage),
        )
        depth = GaugeMetricFamily(
            "videostudio_queue_depth", "Tasks waiting in django-q2's broker for a worker."
        )
        if (size := queue_depth()) is not None:
            depth.add_metric([], size)
        yield depth
        yield GaugeMetricFamily(
            "videostudio_jobs_in_flight",
            "Jobs holding a place at the provider (what VEO_MAX_IN_FLIGHT caps).",
            value=VideoCreationJob.objects.in_flight().count(),
        )
        since = pricing.period_start(Budget.Period.DAILY)
        yield GaugeMetricFamily(
            "videostudio_spend_today_usd",
            "What today's jobs count against budgets, in USD: billed, else estimated.",
            value=float(pricing.spent(since=since)),
        )
        yield counted(
            "videostudio_webhook_deliveries",
            "Outgoing webhook deliveries by outcome.",
            WebhookDelivery.objects.all(),
            outcome=("status", WebhookDelivery.Status),
        )
        yield counted(
            "videostudio_inbound_webhooks",
            "Webhooks from Google kept (a week) by what the studio did with them.",
            InboundEvent.objects.all(),
            outcome=("outcome", InboundEvent.Outcome),
        )
        errors = CounterMetricFamily(
            "videostudio_provider_errors",
            "Provider errors the pipeline met, by class.",
            labels=["class"],
        )
        tallies = dict(ProviderErrorTally.objects.values_list("error_class", "count"))
        for name in dict.fromkeys([*ERROR_CLASSES, *tallies]):
            errors.add_metric([name], tallies.get(name, 0))
        yield errors
        yield latency_histogram()


# A registry of its own: the default one would add this process's own figures, which
# differ from one web process to the next.
registry = CollectorRegistry()
registry.register(StudioCollector())


def exposition() -> bytes:
    """Return every figure in Prometheus's text format."""
    return generate_latest(registry)
