"""Video creation jobs and their resources, on the seed's tables."""

import mimetypes
import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from .text import fold
from .veo.base import Task


def new_id():
    """Return a fresh text primary key, as the seed's TEXT ids are."""
    return str(uuid.uuid4())


# Seeing everyone's jobs and batches takes staff status *and* this permission (superusers
# have every permission): staff status alone opens only the admin. The staff check comes
# first so that everyone else's pages spend no query on permissions.
VIEW_ALL_JOBS = "jobs.view_all_jobs"


# Approving a video, or asking for changes to it, is its owner's or takes this permission.
REVIEW_VIDEOS = "jobs.review_videos"


def sees_all_jobs(user) -> bool:
    return user.is_staff and user.has_perm(VIEW_ALL_JOBS)


class Visibility(models.TextChoices):
    """Who sees a job or a batch besides its owner: nobody, or the whole team (as drafts)."""

    PRIVATE = "private", "Only me"
    SHARED = "shared", "The team"


class ReviewState(models.TextChoices):
    """Where a video (a job's output, or a cut) stands in review."""

    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"


REVIEW_LABELS = dict(ReviewState.choices)

# What else makes a job visible to a teammate, beyond its own and its batch's sharing:
# each entry takes nothing and returns a Q over jobs (the drafts app adds the takes of
# shared storyboards), so that jobs never imports the apps built on it.
SHARED_JOB_PATHS: list = []


class OwnedQuerySet(models.QuerySet):
    """Rows with an owner: jobs and batches share who may see them (see jobs.access)."""

    def for_user(self, user):
        """Return the rows this user owns, or every one with VIEW_ALL_JOBS."""
        return self if sees_all_jobs(user) else self.filter(owner=user)

    def shared_q(self) -> Q:
        return Q(visibility=Visibility.SHARED)

    def visible_to(self, user):
        """Return the rows this user may see: their own, the team's shared ones, or all."""
        if sees_all_jobs(user):
            return self
        return self.filter(Q(owner=user) | self.shared_q())


class JobQuerySet(OwnedQuerySet):
    def shared_q(self) -> Q:
        shared = Q(visibility=Visibility.SHARED) | Q(batch__visibility=Visibility.SHARED)
        for path in SHARED_JOB_PATHS:
            shared |= path()
        return shared

    def active(self):
        return self.filter(
            status__in=[VideoCreationJob.Status.IDLE, VideoCreationJob.Status.PROCESSING]
        )

    def finished(self):
        return self.filter(
            status__in=[VideoCreationJob.Status.COMPLETED, VideoCreationJob.Status.FAILED]
        )

    def in_flight(self):
        """Return jobs holding a place at the provider: claimed and not yet finished."""
        return self.filter(status=VideoCreationJob.Status.PROCESSING)

    def waiting(self):
        """Return queued jobs in the order they will be claimed."""
        return self.filter(status=VideoCreationJob.Status.IDLE).order_by("created_at", "pk")


class BatchQuerySet(OwnedQuerySet):
    def with_counts(self):
        """Annotate each batch with its jobs by status; a retried job counts as its retry."""
        latest = Q(jobs__retries__isnull=True)

        def count(**status):
            return models.Count("jobs", filter=latest & Q(**status), distinct=True)

        return self.annotate(
            job_count=count(),
            completed_count=count(jobs__status="completed"),
            failed_count=count(jobs__status="failed"),
            live_count=count(jobs__status__in=["idle", "processing"]),
        )

    def count_jobs_of(self, batches):
        """Set with_counts()'s figures on batches already read, in one query over theirs only.

        A list page counts the jobs of the batches it shows, not of every batch it could.
        """
        names = ["job_count", "completed_count", "failed_count", "live_count"]
        rows = (
            self.filter(pk__in=[batch.pk for batch in batches]).with_counts().values("pk", *names)
        )
        counts = {row.pop("pk"): row for row in rows}
        for batch in batches:
            for name, value in counts.get(batch.pk, dict.fromkeys(names, 0)).items():
                setattr(batch, name, value)
        return batches


class Batch(models.Model):
    """Jobs started together, e.g. every prompt of a draft times every row of values."""

    id = models.CharField(primary_key=True, max_length=36, default=new_id, editable=False)
    # Database-level actions throughout: jobs point here with one (see VideoResource).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_SET_NULL, null=True, related_name="+"
    )
    label = models.CharField(max_length=200)
    draft_version = models.ForeignKey(
        "drafts.DraftVersion",
        on_delete=models.DB_SET_NULL,
        null=True,
        blank=True,
        related_name="batches",
    )
    options = models.JSONField(default=dict, blank=True)
    # Shared, every job in it is the team's to see (not to cancel or retry).
    visibility = models.CharField(
        max_length=16, choices=Visibility, default=Visibility.PRIVATE, db_default="private"
    )
    notify_by_email = models.BooleanField(default=False)
    notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = BatchQuerySet.as_manager()

    class Meta:
        db_table = "video_creation_batches"
        ordering = ["-created_at"]
        verbose_name_plural = "batches"

    def __str__(self):
        return self.label

    def get_absolute_url(self):
        return reverse("jobs:batch", args=[self.pk])


TASK_CHOICES = [
    (Task.TEXT.value, "Text to video"),
    (Task.IMAGE.value, "Image to video"),
    (Task.REFERENCES.value, "Reference images to video"),
    (Task.EXTEND.value, "Extend a video"),
    (Task.EDIT.value, "Edit a video"),
    (Task.UPSCALE.value, "Upscale a video"),
]


class VideoCreationJob(models.Model):
    """One prompt sent to Veo, from queueing to a playable video or a failure."""

    class Status(models.TextChoices):
        IDLE = "idle", "Queued"
        PROCESSING = "processing", "Processing"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    class Stage(models.TextChoices):
        """The finer step within a status, shown in the studio."""

        QUEUED = "queued", "Waiting for a worker"
        SUBMITTING = "submitting", "Sending to Veo"
        GENERATING = "generating", "Veo is generating"
        DOWNLOADING = "downloading", "Downloading the video"
        FINISHING = "finishing", "Preparing the poster"
        DONE = "done", "Done"

    # The seed's columns.
    id = models.CharField(primary_key=True, max_length=36, default=new_id, editable=False)
    prompt_id = models.TextField(default=new_id)
    prompt_text = models.TextField()
    status = models.CharField(max_length=16, choices=Status, default=Status.IDLE)
    # Nullable with a default of 0, exactly as the seed declares it.
    progress = models.IntegerField(null=True, default=0, db_default=0)
    video_url = models.TextField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)

    # What a multi-user studio adds.
    # Database-level, like the resources' cascade (Django refuses to mix the two kinds
    # in one chain): removing a user keeps the team's videos, ownerless, for staff.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DB_SET_NULL,
        null=True,
        related_name="video_jobs",
    )
    model = models.CharField(max_length=100)
    options = models.JSONField(default=dict, blank=True)
    stage = models.CharField(max_length=16, choices=Stage, default=Stage.QUEUED)
    operation_name = models.TextField(null=True, blank=True)
    retry_of = models.ForeignKey(
        "self",
        on_delete=models.DB_SET_NULL,
        null=True,
        blank=True,
        related_name="retries",
        help_text="The failed job this one retries, with the same prompt and options.",
    )
    # What the generation does (jobs.veo.base.Task), and for an extend, edit or upscale
    # the job whose video it starts from.
    task = models.CharField(max_length=24, choices=TASK_CHOICES, default=Task.TEXT.value)
    parent = models.ForeignKey(
        "self",
        on_delete=models.DB_SET_NULL,
        null=True,
        blank=True,
        related_name="children",
        help_text="The job whose video this one extends, edits or upscales.",
    )
    # Where the prompt came from: a draft, the version that was run, and (in the seed's
    # prompt_id column) the prompt's id within it; and the batch it ran in.
    draft = models.ForeignKey(
        "drafts.Draft", on_delete=models.DB_SET_NULL, null=True, blank=True, related_name="jobs"
    )
    draft_version = models.ForeignKey(
        "drafts.DraftVersion",
        on_delete=models.DB_SET_NULL,
        null=True,
        blank=True,
        related_name="jobs",
    )
    batch = models.ForeignKey(
        Batch, on_delete=models.DB_SET_NULL, null=True, blank=True, related_name="jobs"
    )
    # Money, in USD: the catalog's estimate when the job was made, and what Google
    # bills once known (0 for a failure Google does not bill; unknown while running or
    # when a submit's outcome is unknown). Budgets count Coalesce(actual, estimated).
    estimated_cost_usd = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    actual_cost_usd = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    billed_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Set by the recovery sweep once a finished job's directory matches its row
    # (metadata.json written, no temporary file left); every terminal write clears it,
    # so whatever a kill interrupts after that write, the next sweep finishes or cleans.
    files_settled_at = models.DateTimeField(null=True, blank=True)
    # What the job's files take in storage (its output, resources and metadata.json),
    # measured through the storage API once they are written; empty until then.
    stored_bytes = models.BigIntegerField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # When a person cancelled it. The seed knows a cancel only as a failed job with the
    # error "Cancelled by user"; the studio sets both, and asks this column.
    cancelled_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # While set and in the future, one pipeline run holds the job; others leave it be.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When the job's next step is due (its next poll, or a retry after a backoff): the
    # cluster's ticker enqueues a run then. No run ever sleeps waiting for it.
    next_run_at = models.DateTimeField(null=True, blank=True)
    # Failed tries of the current stage's submit or download, and consecutive failed
    # polls: kept on the row, so a later run backs off and gives up like the first.
    attempts = models.PositiveSmallIntegerField(default=0)
    poll_failures = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
    # Shared, the job and its video are the team's to see, rate and comment on.
    visibility = models.CharField(
        max_length=16, choices=Visibility, default=Visibility.PRIVATE, db_default="private"
    )
    # Where its video stands in review (the changes that led here: drafts.review).
    review_state = models.CharField(
        max_length=24, choices=ReviewState, default=ReviewState.DRAFT, db_default="draft"
    )
    # The prompt as it is searched (jobs.text.fold: case and accents folded), set on save;
    # the gallery looks words up here. A bulk_create must set it itself.
    search_text = models.TextField(default="", db_default="", editable=False)
    # Everyone's stars for its video averaged, 0 while nobody rated it, kept on every
    # rating's write by drafts.review.averages, so the gallery sorts and filters by it
    # from an index instead of averaging every job. A save() of the whole row writes back
    # the average it read: save only the fields you mean to.
    average_stars = models.FloatField(default=0, db_default=0, editable=False)

    objects = JobQuerySet.as_manager()

    class Meta:
        db_table = "video_creation_jobs"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status"], name="idx_video_creation_jobs_status"),
            models.Index(fields=["-created_at"], name="idx_video_creation_jobs_created_at"),
            # Each person's list, newest first, without sorting all their jobs.
            models.Index(fields=["owner", "-created_at"], name="jobs_owner_created_idx"),
            # The team gallery: the shared videos, newest first.
            models.Index(
                fields=["visibility", "-created_at"],
                condition=models.Q(status="completed"),
                name="jobs_gallery_idx",
            ),
            # The waiting queue, oldest first.
            models.Index(fields=["status", "created_at"], name="jobs_status_created_idx"),
            # The gallery's best rated first: the completed videos by their stored average.
            # Not a partial index: SQLite cannot use one for Django's `status = ?`.
            models.Index(
                fields=["status", "-average_stars", "-created_at"], name="jobs_status_stars_idx"
            ),
            # The ticker's question, twice a second: which steps are due? Only unfinished
            # jobs, so the index stays as small as the work in flight.
            models.Index(
                fields=["next_run_at"],
                name="jobs_next_run_idx",
                condition=models.Q(status__in=["idle", "processing"]),
            ),
            # The sweep's list of finished jobs whose files it has not settled.
            models.Index(
                fields=["status"],
                condition=models.Q(files_settled_at__isnull=True),
                name="jobs_files_unsettled_idx",
            ),
            # The sweep's list of finished jobs whose files it has not measured yet.
            models.Index(
                fields=["status"],
                condition=models.Q(stored_bytes__isnull=True),
                name="jobs_files_unmeasured_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["idle", "processing", "completed", "failed"]),
                name="video_creation_jobs_status_check",
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0, progress__lte=100),
                name="video_creation_jobs_progress_range",
            ),
        ]
        permissions = [
            ("view_all_jobs", "Can see everyone's jobs and batches in the studio"),
            ("review_videos", "Can approve, or ask for changes to, any video they can see"),
        ]

    def __str__(self):
        return f"{self.prompt_text[:60]} ({self.get_status_display()})"

    def save(self, *args, **kwargs):
        """Save, keeping search_text the folded prompt whenever the prompt is written."""
        fields = kwargs.get("update_fields")
        if fields is None and "prompt_text" not in self.get_deferred_fields():
            self.search_text = fold(self.prompt_text or "")
        elif fields is not None and "prompt_text" in fields:
            self.search_text = fold(self.prompt_text or "")
            kwargs["update_fields"] = {*fields, "search_text"}
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("jobs:detail", args=[self.pk])

    @property
    def is_finished(self):
        return self.status in (self.Status.COMPLETED, self.Status.FAILED)

    @property
    def is_cancelled(self):
        """A person stopped it: failed, with the seed's "Cancelled by user" as its error."""
        return self.cancelled_at is not None

    # The polled partials show these labels: an enum lookup, where get_FOO_display()
    # builds a dict of every choice on each call.
    @property
    def status_label(self):
        return self.Status(self.status).label

    @property
    def review_label(self):
        return REVIEW_LABELS.get(self.review_state, self.review_state)

    @property
    def stage_label(self):
        """Return what the job is doing now, for a running job's progress bar."""
        if self.status == self.Status.IDLE:
            return self.Stage.QUEUED.label
        return self.Stage(self.stage).label


class VideoResource(models.Model):
    """A file that belongs to a job: a poster image, audio, a transcript or a video."""

    class Type(models.TextChoices):
        IMAGE = "image"
        VIDEO = "video"
        AUDIO = "audio"
        TRANSCRIPT = "transcript"

    id = models.CharField(primary_key=True, max_length=36, default=new_id, editable=False)
    # The database cascades, as the seed's ON DELETE CASCADE does; the seed names the
    # index, so Django's own FK index is switched off in favour of it.
    job = models.ForeignKey(
        VideoCreationJob, on_delete=models.DB_CASCADE, related_name="resources", db_index=False
    )
    type = models.CharField(max_length=16, choices=Type)
    url = models.TextField()
    filename = models.TextField()
    file_path = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "video_resources"
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["job"], name="idx_video_resources_job_id"),
            models.Index(fields=["type"], name="idx_video_resources_type"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(type__in=["image", "video", "audio", "transcript"]),
                name="video_resources_type_check",
            ),
        ]

    def __str__(self):
        return f"{self.type}: {self.filename}"

    def get_absolute_url(self):
        return reverse("jobs:resource", args=[self.job_id, self.pk])

    @property
    def content_type(self):
        return mimetypes.guess_type(self.filename)[0] or "application/octet-stream"


class Budget(models.Model):
    """A spending limit per calendar day or month, for one person or the whole team."""

    class Period(models.TextChoices):
        DAILY = "daily", "Per day"
        MONTHLY = "monthly", "Per month"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="budgets",
        help_text="Leave empty for a limit on the whole team's spending.",
    )
    period = models.CharField(max_length=16, choices=Period, default=Period.MONTHLY)
    limit_usd = models.DecimalField(
        "limit (USD)",
        max_digits=10,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "video_creation_budgets"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "period"],
                condition=Q(user__isnull=False),
                name="budget_unique_per_user_period",
            ),
            models.UniqueConstraint(
                fields=["period"], condition=Q(user__isnull=True), name="team_budget_unique"
            ),
            models.CheckConstraint(condition=Q(limit_usd__gte=0), name="budget_not_negative"),
        ]

    def __str__(self):
        who = self.user.get_username() if self.user_id else "the team"
        return f"{self.get_period_display()} limit of ${self.limit_usd} for {who}"


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        """Return the tokens that are neither revoked nor expired."""
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        )


class ApiToken(models.Model):
    """A personal token a script sends as `Authorization: Bearer <token>` to use the API.

    Only a SHA-256 of the token is stored; the token itself is shown once, when made.
    """

    class Scope(models.TextChoices):
        READ_WRITE = "read-write", "Read and write"
        READ = "read", "Read only"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. a script.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The token's first characters: too few to use it, enough to tell tokens apart.
    prefix = models.CharField(max_length=16, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Empty: the token lasts until revoked (or until its owner's password changes).
    expires_at = models.DateTimeField(null=True, blank=True)
    scope = models.CharField(max_length=16, choices=Scope, default=Scope.READ_WRITE)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        db_table = "api_tokens"
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self):
        return self.revoked_at is not None

    @property
    def is_expired(self):
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_read_only(self):
        return self.scope == self.Scope.READ


class IdempotencyKey(models.Model):
    """The first answer to a create request sent with an Idempotency-Key, kept for repeats.

    The row is inserted before the work, in the transaction that does it, so the unique
    constraint makes a concurrent repeat wait for (or find) the first request's answer.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    # Empty only inside the transaction that reserved the key and is still doing the work.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "api_idempotency_keys"
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user"),
        ]

    def __str__(self):
        return self.key


# The webhooks' models, the clusters' heartbeat and the metrics' tallies live in their own
# rooms (jobs/webhooks/, jobs/health/) and belong to this app.
class Notice(models.Model):
    """Something to tell one person at their next page: a mention, a review, a client's view.

    The notices poller (jobs.views.notices) shows those made since the page last asked,
    beside the jobs and batches that ended.
    """

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="notices"
    )
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "video_creation_notices"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["recipient", "created_at"], name="notices_recipient_idx")]

    def __str__(self):
        return self.text


from .health.models import (  # noqa: E402, F401
    ClusterHeartbeat,
    LatencyTally,
    ProviderErrorTally,
)
from .webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint  # noqa: E402, F401
