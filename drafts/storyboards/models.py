"""A storyboard's rows: its shots, each shot's takes, its versions and its cuts.

Imported by drafts.models, so that they belong to the drafts app and its migrations.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from jobs.models import REVIEW_LABELS, ReviewState, VideoCreationJob, new_id


class Visibility(models.TextChoices):
    PRIVATE = "private", "Only me"
    SHARED = "shared", "Shared with the team"


class StoryboardQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Return the storyboards this user may see: their own, shared ones, or all (staff who
        have drafts.view_storyboard)."""
        if user.is_staff and user.has_perm("drafts.view_storyboard"):
            return self
        return self.filter(Q(owner=user) | Q(visibility=Visibility.SHARED))


class Storyboard(models.Model):
    """A piece in the making: ordered shots with the storyboard's defaults for each."""

    id = models.CharField(primary_key=True, max_length=36, default=new_id, editable=False)
    # Database-level, like drafts': the takes point at jobs, which use database actions.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="storyboards"
    )
    name = models.CharField(max_length=200)
    visibility = models.CharField(max_length=16, choices=Visibility, default=Visibility.PRIVATE)
    # The defaults every shot takes unless it says otherwise; the cut's profile comes from them.
    model = models.CharField(max_length=100)
    aspect_ratio = models.CharField(max_length=8, default="16:9")
    resolution = models.CharField(max_length=8, default="720p")
    version = models.PositiveIntegerField(default=1, help_text="The current version's number.")
    # "Chain automatically": a continuing shot's take starts as soon as the previous shot's
    # take completes, which is then picked; cleared when the chain reaches its end.
    chaining = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = StoryboardQuerySet.as_manager()

    class Meta:
        db_table = "video_creation_storyboards"
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"], name="storyboard_name_unique_per_owner"
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("storyboards:detail", args=[self.pk])

    @property
    def is_shared(self):
        return self.visibility == Visibility.SHARED


class Shot(models.Model):
    """One shot of a storyboard: what to generate, and which of its takes is picked."""

    class Task(models.TextChoices):
        TEXT = "text", "From the prompt"
        FIRST_FRAME = "first_frame", "From a first frame"
        REFERENCES = "references", "From reference images"
        CONTINUE_FRAME = "continue_frame", "Continue from the previous shot's last frame"
        CONTINUE_EXTEND = "continue_extend", "Extend the previous shot's take"

    id = models.CharField(primary_key=True, max_length=36, default=new_id, editable=False)
    storyboard = models.ForeignKey(Storyboard, on_delete=models.DB_CASCADE, related_name="shots")
    position = models.PositiveIntegerField(help_text="1 for the first shot, in the cut's order.")
    prompt = models.TextField()
    task = models.CharField(max_length=24, choices=Task, default=Task.TEXT)
    duration_seconds = models.PositiveSmallIntegerField(default=8)
    # Further generation options (seed, negative prompt, audio...), as jobs store them.
    options = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True, default="")
    # Stored names (jobs.storage) of the shot's first frame or reference images.
    images = models.JSONField(default=list, blank=True)
    picked = models.ForeignKey(
        "Take",
        on_delete=models.DB_SET_NULL,
        null=True,
        blank=True,
        related_name="picked_for",
        help_text="The take the cut uses.",
    )
    # Where the picked take is cut, in seconds from its start; no trim_out is its end.
    trim_in = models.DecimalField(max_digits=7, decimal_places=3, default=0)
    trim_out = models.DecimalField(max_digits=7, decimal_places=3, null=True, blank=True)
    # A take should start once the previous shot has its pick (a chained generate-all).
    waiting_for_previous = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "video_creation_storyboard_shots"
        ordering = ["storyboard", "position", "created_at"]
        indexes = [models.Index(fields=["storyboard", "position"], name="shots_order_idx")]

    def __str__(self):
        return f"Shot {self.position}: {self.prompt[:60]}"

    @property
    def continues(self):
        """Whether this shot starts from the previous shot's picked take."""
        return self.task in (self.Task.CONTINUE_FRAME, self.Task.CONTINUE_EXTEND)


class Take(models.Model):
    """One generation of a shot: a job, numbered within its shot."""

    id = models.CharField(primary_key=True, max_length=36, default=new_id, editable=False)
    shot = models.ForeignKey(Shot, on_delete=models.DB_CASCADE, related_name="takes")
    job = models.OneToOneField(VideoCreationJob, on_delete=models.DB_CASCADE, related_name="take")
    number = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "video_creation_storyboard_takes"
        ordering = ["shot", "number"]
        constraints = [
            models.UniqueConstraint(fields=["shot", "number"], name="take_number_unique"),
        ]

    def __str__(self):
        return f"Take {self.number}"


class StoryboardVersion(models.Model):
    """One saved state of a storyboard (its name, defaults and shots); never changed."""

    id = models.CharField(primary_key=True, max_length=36, default=new_id, editable=False)
    storyboard = models.ForeignKey(Storyboard, on_delete=models.DB_CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    snapshot = models.JSONField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_SET_NULL, null=True, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "video_creation_storyboard_versions"
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["storyboard", "number"], name="storyboard_version_unique"
            ),
        ]

    def __str__(self):
        return f"{self.snapshot.get('name', '')} v{self.number}"


class Cut(models.Model):
    """The picked takes assembled in order into one video, with its edit list and poster."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        ASSEMBLING = "assembling", "Assembling"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    id = models.CharField(primary_key=True, max_length=36, default=new_id, editable=False)
    storyboard = models.ForeignKey(Storyboard, on_delete=models.DB_CASCADE, related_name="cuts")
    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    # A digest of the picks and trims it was made from: a different one makes it stale.
    signature = models.CharField(max_length=64)
    # For each segment: shot, take, job, in and out points, prompt, seed, model, cost.
    edit_list = models.JSONField(default=list)
    duration_seconds = models.FloatField(null=True, blank=True)
    stream_copy = models.BooleanField(null=True, blank=True)
    stored_bytes = models.BigIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Where the cut stands in review (the changes that led here: drafts.review).
    review_state = models.CharField(
        max_length=24, choices=ReviewState, default=ReviewState.DRAFT, db_default="draft"
    )
    # Its ratings averaged, 0 while nobody rated it, kept as a job's is (drafts.review.averages).
    average_stars = models.FloatField(default=0, db_default=0, editable=False)

    class Meta:
        db_table = "video_creation_storyboard_cuts"
        ordering = ["-created_at"]
        constraints = [
            # Assembling twice at once makes one cut: the second request finds the first.
            models.UniqueConstraint(
                fields=["storyboard"],
                condition=Q(status__in=["queued", "assembling"]),
                name="one_cut_in_progress_per_storyboard",
            ),
        ]

    def __str__(self):
        return f"Cut of {self.storyboard_id} ({self.get_status_display()})"

    def get_absolute_url(self):
        return reverse("storyboards:cut", args=[self.storyboard_id, self.pk])

    @property
    def is_live(self):
        return self.status in (self.Status.QUEUED, self.Status.ASSEMBLING)

    @property
    def review_label(self):
        """Its review state's label (the badge: an enum lookup, as a job's review_label)."""
        return REVIEW_LABELS.get(self.review_state, self.review_state)


class CutSegment(models.Model):
    """One segment of a cut, pointing back at the take and job it came from."""

    cut = models.ForeignKey(Cut, on_delete=models.DB_CASCADE, related_name="segments")
    position = models.PositiveIntegerField()
    # Kept when the take goes, so the edit list still says where a segment came from;
    # and a job that is a segment of a stored cut is one retention never deletes.
    job = models.ForeignKey(
        VideoCreationJob, on_delete=models.DB_SET_NULL, null=True, related_name="cut_segments"
    )
    trim_in = models.DecimalField(max_digits=7, decimal_places=3)
    trim_out = models.DecimalField(max_digits=7, decimal_places=3)

    class Meta:
        db_table = "video_creation_storyboard_cut_segments"
        ordering = ["cut", "position"]

    def __str__(self):
        return f"Segment {self.position}"
