"""Outgoing webhooks: the endpoints people register, and each message sent to one.

Imported by jobs/models.py, so the models belong to the jobs app.
"""

import base64
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


class Event(models.TextChoices):
    JOB_COMPLETED = "job.completed", "A job completed"
    JOB_FAILED = "job.failed", "A job failed or was cancelled"
    BATCH_FINISHED = "batch.finished", "A batch finished (its last job ended)"
    BUDGET_THRESHOLD = "budget.threshold", "Spending reached 80 % or 100 % of a budget"
    TAKE_COMPLETED = "take.completed", "A storyboard shot's take completed"
    STORYBOARD_CUT_READY = "storyboard.cut_ready", "A storyboard's cut was assembled"
    REVIEW_CHANGED = "review.changed", "A video's review state changed"
    COMMENT_CREATED = "comment.created", "Someone commented on a video"
    COMMENT_MENTIONED = "comment.mentioned", "Someone mentioned you in a comment"
    CLIENT_LINK_VIEWED = "client_link.viewed", "A client opened a link for the first time"


def new_endpoint_id():
    return f"ep_{uuid.uuid4().hex}"


def new_message_id():
    """Return a delivery's webhook-id: the same on every attempt, so receivers can dedupe."""
    return f"msg_{uuid.uuid4().hex}"


def new_secret():
    """Return a Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(models.Model):
    """A URL that is sent the chosen events, signed with the endpoint's own secret."""

    class Format(models.TextChoices):
        STANDARD = "standard", "Standard Webhooks JSON"
        SLACK = "slack", 'Slack message ({"text": …})'

    id = models.CharField(primary_key=True, max_length=40, default=new_endpoint_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField("URL", max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list)
    format = models.CharField(max_length=16, choices=Format, default=Format.STANDARD)
    # Staff who see everyone's jobs may have an endpoint told about the whole team's.
    for_team = models.BooleanField(default=False)
    is_active = models.BooleanField("active", default=True)
    secret = models.CharField(max_length=100, default=new_secret, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "webhook_endpoints"
        ordering = ["-created_at"]
        verbose_name = "webhook endpoint"

    def __str__(self):
        return self.description or self.url

    def get_absolute_url(self):
        return reverse("webhooks:endpoint", args=[self.pk])


class WebhookDelivery(models.Model):
    """One event's message to one endpoint, tried until it is delivered or given up.

    `event_key` names the occurrence (a job's end, a budget's 80 % in a period), and is
    unique per endpoint: an event fired twice is sent once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    id = models.CharField(primary_key=True, max_length=40, default=new_message_id, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_type = models.CharField(max_length=32, choices=Event)
    event_key = models.CharField(max_length=200)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # While pending: when the ticker enqueues the next attempt (a lease ahead while one
    # is under way, so a lost task is tried again). Empty once delivered or given up.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Failed attempts are retried, with a growing wait, until this time.
    retry_until = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "webhook_deliveries"
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_key"], name="webhook_delivery_once_per_event"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due_idx",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self):
        return f"{self.event_type} to {self.endpoint_id} ({self.get_status_display()})"


class WebhookAttempt(models.Model):
    """The log line of one try at sending a delivery."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField(default=timezone.now)
    succeeded = models.BooleanField(default=False)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # A sentence for a person; the details go to the log.
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        db_table = "webhook_attempts"
        ordering = ["-at", "-number"]

    def __str__(self):
        return f"attempt {self.number}"


class InboundEvent(models.Model):
    """A webhook Google sent to the studio, kept by its webhook-id for a week.

    Google delivers at least once and retries for a day, so a webhook-id seen before is
    answered and not acted on again; the row also tells ops what came in and what the
    studio did with it.
    """

    class Outcome(models.TextChoices):
        WOKE = "woke", "Woke the job's pipeline"
        NO_JOB = "no_job", "No unfinished job has this id"
        IGNORED = "ignored", "An event the studio does not act on"

    webhook_id = models.CharField(max_length=200, unique=True)
    event_type = models.CharField(max_length=64)
    # The event's data.id: an interaction's id, or for video.generated an operation's.
    object_id = models.CharField(max_length=500, blank=True)
    job = models.ForeignKey(
        "jobs.VideoCreationJob",
        on_delete=models.DB_SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    outcome = models.CharField(max_length=16, choices=Outcome)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "inbound_webhook_events"
        ordering = ["-received_at"]
        verbose_name = "inbound webhook event"

    def __str__(self):
        return f"{self.event_type} {self.webhook_id}"
