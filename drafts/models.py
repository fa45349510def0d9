"""Saved prompt drafts, on the seed's table."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from jobs.models import new_id


class Draft(models.Model):
    """A named list of prompts kept for later runs."""

    id = models.CharField(primary_key=True, max_length=36, default=new_id, editable=False)
    name = models.TextField()
    prompts = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="drafts"
    )

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

    def save(self, *args, **kwargs):
        self.updated_at = timezone.now()
        super().save(*args, **kwargs)
