"""Saved prompt drafts, on the seed's table, with immutable versions."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from jobs.models import new_id


class DraftQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Return the drafts this user may see: their own, shared ones, or all (staff who
        have drafts.view_draft)."""
        if user.is_staff and user.has_perm("drafts.view_draft"):
            return self
        return self.filter(Q(owner=user) | Q(visibility=Draft.Visibility.SHARED))

    def mine(self, user):
        return self.filter(owner=user)

    def shared_by_others(self, user):
        return self.filter(visibility=Draft.Visibility.SHARED).exclude(owner=user)

    def search(self, folded):
        """Return drafts whose name or a prompt's text contains folded text.

        `folded` is already case- and accent-folded (drafts.services.fold), like the
        search_text column it is looked up in, so accents and non-ASCII letters match
        on every database and the JSON's keys ("id", "text") never do.
        """
        if not folded:
            return self
        return self.filter(search_text__contains=folded)


class Draft(models.Model):
    """A named list of prompts kept for later runs, private or shared with the team."""

    class Visibility(models.TextChoices):
        PRIVATE = "private", "Only me"
        SHARED = "shared", "Shared with the team"

    # The seed's columns. `prompts` holds the current version's prompts:
    # [{"id": "...", "text": "...", "options": {...}?}, ...].
    id = models.CharField(primary_key=True, max_length=36, default=new_id, editable=False)
    name = models.TextField()
    prompts = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    # Database-level, because jobs point at drafts with database-level actions and
    # Django refuses to mix the two kinds in one chain of references.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="drafts"
    )
    visibility = models.CharField(max_length=16, choices=Visibility, default=Visibility.PRIVATE)
    version = models.PositiveIntegerField(default=1, help_text="The current version's number.")
    # Written with every version, so lists need not read the prompts they do not show.
    prompt_count = models.PositiveIntegerField(default=0, editable=False)
    search_text = models.TextField(default="", editable=False)

    objects = DraftQuerySet.as_manager()

    class Meta:
        db_table = "video_creation_drafts"
        ordering = ["name"]
        indexes = [models.Index(fields=["name"], name="idx_video_creation_drafts_name")]
        constraints = [
            # The seed made names unique across the table; in a team, per owner.
            models.UniqueConstraint(fields=["owner", "name"], name="draft_name_unique_per_owner"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("drafts:detail", args=[self.pk])

    @property
    def is_shared(self):
        return self.visibility == self.Visibility.SHARED


class DraftVersion(models.Model):
    """One saved state of a draft; never changed once written."""

    id = models.CharField(primary_key=True, max_length=36, default=new_id, editable=False)
    draft = models.ForeignKey(Draft, on_delete=models.DB_CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    name = models.TextField()
    prompts = models.JSONField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_SET_NULL, null=True, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "video_creation_draft_versions"
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["draft", "number"], name="draft_version_unique"),
        ]

    def __str__(self):
        return f"{self.name} v{self.number}"

    def prompt(self, prompt_id):
        return next((p for p in self.prompts if p["id"] == prompt_id), None)


# Storyboards are a room of their own (drafts/storyboards/), in this app's migrations.
from .review.models import (  # noqa: E402, F401
    ClientLink,
    ClientLinkView,
    Comment,
    Favourite,
    Mention,
    Rating,
    ReviewChange,
)
from .storyboards.models import (  # noqa: E402, F401
    Cut,
    CutSegment,
    Shot,
    Storyboard,
    StoryboardVersion,
    Take,
)
