"""Review and share: what the team thinks of each video, and the links clients open.

A video is a job's output or a storyboard's cut; each row here points at exactly one of
the two (a check constraint says so). Imported by drafts.models, so that they belong to
the drafts app and its migrations.
"""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from jobs.models import ReviewState, VideoCreationJob, new_id

from ..storyboards.models import Cut, Storyboard

COMMENT_MAX_LENGTH = 5000
GUEST_NAME_MAX_LENGTH = 80


def one_of(*fields):
    """A condition that exactly one of the nullable foreign keys `fields` is set."""
    condition = Q()
    for index, chosen in enumerate(fields):
        set_only = Q(**{f"{chosen}__isnull": False})
        for other in fields[:index] + fields[index + 1 :]:
            set_only &= Q(**{f"{other}__isnull": True})
        condition |= set_only
    return condition


class OfVideo(models.Model):
    """A row about one video: a job's output or a cut."""

    job = models.ForeignKey(
        VideoCreationJob,
        on_delete=models.DB_CASCADE,
        null=True,
        blank=True,
        related_name="%(class)ss",
    )
    cut = models.ForeignKey(
        Cut, on_delete=models.DB_CASCADE, null=True, blank=True, related_name="%(class)ss"
    )

    class Meta:
        abstract = True

    @property
    def video(self):
        return self.job if self.job_id else self.cut


def video_constraints(name, *, per_person=None):
    """The constraints every video row has: one video, and at most one row per person."""
    constraints = [models.CheckConstraint(condition=one_of("job", "cut"), name=f"{name}_one_video")]
    if per_person:
        for field in ("job", "cut"):
            constraints.append(
                models.UniqueConstraint(
                    fields=[per_person, field],
                    condition=Q(**{f"{field}__isnull": False}),
                    name=f"{name}_one_per_{field}",
                )
            )
    return constraints


class ReviewChange(OfVideo):
    """One step of a video's review: the state it moved to, who moved it, and when."""

    state = models.CharField(max_length=24, choices=ReviewState)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "video_creation_review_changes"
        ordering = ["-at", "-pk"]
        constraints = video_constraints("review_change")
        indexes = [
            models.Index(fields=["job", "-at"], name="review_changes_job_idx"),
            models.Index(fields=["cut", "-at"], name="review_changes_cut_idx"),
        ]

    def __str__(self):
        return f"{self.get_state_display()} by {self.by} at {self.at:%Y-%m-%d %H:%M}"


class Rating(OfVideo):
    """A person's one to five stars for a video; the video's average is over everyone's."""

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="video_ratings"
    )
    stars = models.PositiveSmallIntegerField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "video_creation_ratings"
        constraints = [
            *video_constraints("rating", per_person="person"),
            models.CheckConstraint(condition=Q(stars__gte=1, stars__lte=5), name="rating_stars"),
        ]

    def __str__(self):
        return f"{self.stars} stars by {self.person}"


class Favourite(OfVideo):
    """A video one person marked to find again."""

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="video_favourites"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "video_creation_favourites"
        constraints = video_constraints("favourite", per_person="person")

    def __str__(self):
        return f"A favourite of {self.person}"


def hash_token(token: str) -> str:
    """Return what is stored of a client link's token: its SHA-256, so a leak opens nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class ClientLinkQuerySet(models.QuerySet):
    def open(self, now=None):
        """Return the links that still open: not revoked, not past their expiry."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=now or timezone.now())


class ClientLink(models.Model):
    """A link that lets someone without an account watch one video, a cut or a storyboard.

    Only the token's hash is stored; the token itself is shown once, when it is made.
    """

    id = models.CharField(primary_key=True, max_length=36, default=new_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="client_links"
    )
    job = models.ForeignKey(
        VideoCreationJob,
        on_delete=models.DB_CASCADE,
        null=True,
        blank=True,
        related_name="client_links",
    )
    cut = models.ForeignKey(
        Cut, on_delete=models.DB_CASCADE, null=True, blank=True, related_name="client_links"
    )
    storyboard = models.ForeignKey(
        Storyboard,
        on_delete=models.DB_CASCADE,
        null=True,
        blank=True,
        related_name="client_links",
    )
    label = models.CharField(max_length=200, blank=True, default="")
    token_hash = models.CharField(max_length=64, unique=True)
    # The token's last characters, so that its owner can tell links apart in the list.
    token_hint = models.CharField(max_length=8)
    # A password hash (django.contrib.auth.hashers), or empty for none.
    password = models.CharField(max_length=200, blank=True, default="")
    guests_may_comment = models.BooleanField(default=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    first_viewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClientLinkQuerySet.as_manager()

    class Meta:
        db_table = "video_creation_client_links"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=one_of("job", "cut", "storyboard"), name="client_link_one_target"
            )
        ]

    def __str__(self):
        return self.label or f"Link …{self.token_hint}"

    @property
    def target(self):
        return self.job or self.cut or self.storyboard

    def is_open(self, now=None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or timezone.now())


class ClientLinkView(models.Model):
    """One request through a client link: when, from where, and what it played."""

    link = models.ForeignKey(ClientLink, on_delete=models.DB_CASCADE, related_name="views")
    at = models.DateTimeField(default=timezone.now)
    address = models.GenericIPAddressField(null=True, blank=True)
    # What was asked for: "page", or the video played ("job:<id>", "cut:<id>").
    played = models.CharField(max_length=80)

    class Meta:
        db_table = "video_creation_client_link_views"
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["link", "-at"], name="client_link_views_idx")]

    def __str__(self):
        return f"{self.played} at {self.at:%Y-%m-%d %H:%M}"


class Comment(OfVideo):
    """A note on a video, pinned to a moment of it or to the whole; a reply has a parent.

    A guest's comment (through a client link that allows it) has no author, a guest name
    and the link.
    """

    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DB_SET_NULL,
        null=True,
        blank=True,
        related_name="video_comments",
    )
    guest_name = models.CharField(max_length=GUEST_NAME_MAX_LENGTH, blank=True, default="")
    link = models.ForeignKey(
        ClientLink, on_delete=models.DB_SET_NULL, null=True, blank=True, related_name="comments"
    )
    parent = models.ForeignKey(
        "self", on_delete=models.DB_CASCADE, null=True, blank=True, related_name="replies"
    )
    # Seconds into the video, or none for a comment on the whole of it.
    at_seconds = models.DecimalField(max_digits=8, decimal_places=3, null=True, blank=True)
    text = models.TextField(max_length=COMMENT_MAX_LENGTH)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DB_SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "video_creation_comments"
        ordering = ["created_at", "pk"]
        constraints = [
            *video_constraints("comment"),
            models.CheckConstraint(condition=Q(at_seconds__gte=0), name="comment_at_not_negative"),
        ]
        indexes = [
            models.Index(fields=["job", "created_at"], name="comments_job_idx"),
            models.Index(fields=["cut", "created_at"], name="comments_cut_idx"),
        ]

    def __str__(self):
        return f"{self.by_name}: {self.text[:60]}"

    @property
    def is_guest(self):
        return self.author_id is None and bool(self.guest_name)

    @property
    def by_name(self):
        if self.author_id:
            return self.author.get_username()
        return self.guest_name or "someone removed"


class Mention(models.Model):
    """A person an `@name` in a comment pointed at, told once."""

    comment = models.ForeignKey(Comment, on_delete=models.DB_CASCADE, related_name="mentions")
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="mentions"
    )

    class Meta:
        db_table = "video_creation_mentions"
        constraints = [
            models.UniqueConstraint(fields=["comment", "person"], name="one_mention_per_person")
        ]

    def __str__(self):
        return f"@{self.person}"
