"""The team gallery: every finished video the viewer may see, filtered, and compared.

A video is a completed job or a ready cut: two tables, paged together with one keyset
cursor. Each sort orders both by the same key (newest and oldest: the time it was made,
then its kind, then its id; best rated: the average stars first). A page reads at most
PAGE_SIZE + 1 rows past the cursor from each table, merges the two in that order and
shows the first PAGE_SIZE; the cursor of the next page is the key of the last card shown.
No OFFSET and no COUNT over the whole set: a page costs one query per table however deep
it is and however many videos there are, and the rows carry their average stars and the
viewer's favourite mark (a subquery), so no card costs a query of its own. The average
stars are the video's own column (`average_stars`, kept on every write to the ratings:
drafts.review.averages), so best rated walks an index like the other sorts
(it averaged every job the filters kept, 0.2 s to 0.6 s at 100,000 jobs). The rows are
read as values, the columns a card shows: a page made some 125 model instances (each cut
with its storyboard and owner) for 24 cards.

Filters narrow both tables alike where they mean something for both; a filter only jobs
have (their task, a draft as their source) leaves the cuts out. The search finds prompts
(a cut: its storyboard's name and its segments' prompts) in their folded form
(VideoCreationJob.search_text, jobs.text.fold), as the draft library does: case and
accents are folded on every database ("cafe" finds "Café", "ÉTÉ" finds "été"), and CJK
words are found as written ("東京").
"""

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from django import forms
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.db.models.fields.json import KT
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs import catalog
from jobs.compare import compare_videos
from jobs.models import REVIEW_LABELS, TASK_CHOICES, ReviewState, VideoCreationJob
from jobs.text import fold
from videostudio.links import Links

from ..storyboards.models import Cut, CutSegment
from . import access, services
from .models import Favourite

PAGE_SIZE = 24
MIN_VIDEOS, MAX_VIDEOS = 2, 4
# A job's or a cut's id is a UUID's text; anything longer (or with a NUL, which
# PostgreSQL refuses in a query) cannot be one and is never sent to the database.
ID_MAX_CHARS = 36
NEWEST, OLDEST, RATED = "newest", "oldest", "rated"
STORYBOARD, DRAFT, NEITHER = "storyboard", "draft", "neither"
BROKEN_CURSOR = "This page link is broken; start again from the first page."


class GalleryFilter(forms.Form):
    """What the gallery shows, as GET parameters; every field may be left empty."""

    q = forms.CharField(label="Prompt contains", max_length=200, required=False)
    owner = forms.CharField(label="Owner (username)", max_length=150, required=False)
    kind = forms.ChoiceField(
        label="Kind",
        required=False,
        choices=[("", "Videos and cuts"), (access.JOB, "Videos"), (access.CUT, "Cuts")],
    )
    state = forms.ChoiceField(
        label="Review", required=False, choices=[("", "Any state"), *ReviewState.choices]
    )
    rating = forms.TypedChoiceField(
        label="Stars at least",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "Any"), *((n, f"{n} ★") for n in range(1, 6))],
    )
    favourites = forms.BooleanField(label="My favourites only", required=False)
    model = forms.ChoiceField(label="Model", required=False)
    task = forms.ChoiceField(label="Task", required=False, choices=[("", "Any"), *TASK_CHOICES])
    source = forms.ChoiceField(
        label="Made from",
        required=False,
        choices=[
            ("", "Anything"),
            (STORYBOARD, "A storyboard"),
            (DRAFT, "A draft"),
            (NEITHER, "Neither"),
        ],
    )
    since = forms.DateField(label="From", required=False)
    until = forms.DateField(label="To", required=False)
    sort = forms.ChoiceField(
        label="Sort",
        required=False,
        choices=[(NEWEST, "Newest first"), (OLDEST, "Oldest first"), (RATED, "Best rated")],
    )
    after = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = sorted(catalog.models())
        self.fields["model"].choices = [("", "Any"), *((name, name) for name in names)]
        for field in self.fields.values():
            field.widget.attrs.pop("required", None)

    def clean_sort(self):
        return self.cleaned_data["sort"] or NEWEST

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date comes before the start date.")
        if data.get("after") and "sort" in data:
            try:
                data["cursor"] = parse_cursor(data["after"], data["sort"])
            except ValueError:
                self.add_error("after", BROKEN_CURSOR)
        return data


# --- The key a sort orders by, and the cursor that writes it -------------------------------


def sort_key(row, sort):
    """Return a video's place in the sort (its row: gallery_page), as a tuple compared in
    the sort's direction."""
    key = (row["created_at"], row["kind"], row["pk"])
    return (row["average_stars"], *key) if sort == RATED else key


def write_cursor(key) -> str:
    *head, created_at, kind, pk = key
    return "|".join([*(repr(float(score)) for score in head), created_at.isoformat(), kind, pk])


def parse_cursor(text, sort):
    """Read a cursor written for sort; raise ValueError for anything else."""
    parts = text.split("|")
    if len(parts) != (4 if sort == RATED else 3):
        raise ValueError(text)
    *head, created_at, kind, pk = parts
    when = datetime.fromisoformat(created_at)
    if timezone.is_naive(when) or kind not in access.KINDS:
        raise ValueError(text)
    if not pk or len(pk) > ID_MAX_CHARS or "\x00" in pk:
        raise ValueError(text)
    scores = [float(score) for score in head]
    if not all(math.isfinite(score) and 0 <= score <= 5 for score in scores):
        raise ValueError(text)
    return (*scores, when, kind, pk)


def _past(kind, cursor, sort):
    """Return a Q of one table's rows that come after the cursor in the sort's order.

    The key's kind is the same for every row of a table, so it decides in Python whether
    the rows level with the cursor on the fields before it come after it or not.
    """
    descending = sort != OLDEST
    names = ["average_stars", "created_at"] if sort == RATED else ["created_at"]
    *values, cursor_kind, cursor_pk = cursor
    op = "lt" if descending else "gt"
    alternatives, level = [], Q()
    for name, value in zip(names, values, strict=True):
        alternatives.append(level & Q(**{f"{name}__{op}": value}))
        level &= Q(**{name: value})
    if kind == cursor_kind:
        alternatives.append(level & Q(**{f"pk__{op}": cursor_pk}))
    elif (kind < cursor_kind) == descending:
        alternatives.append(level)
    condition = alternatives[0]
    for alternative in alternatives[1:]:
        condition |= alternative
    # Implied by the alternatives, but a range the index on the sort's first field can
    # seek to: without it a deep page walks the index past every row before it.
    return condition & Q(**{f"{names[0]}__{op}e": values[0]})


def _ordering(sort):
    if sort == OLDEST:
        return ["created_at", "pk"]
    return ["-average_stars", "-created_at", "-pk"] if sort == RATED else ["-created_at", "-pk"]


# --- The two tables ----------------------------------------------------------------------


def _favourites(kind, user):
    """The viewer's favourite rows of the outer query's video."""
    return Favourite.objects.filter(**{kind: OuterRef("pk")}, person=user)


def _favourite(kind, user):
    """The viewer's favourite mark of the video: its row's id, or None.

    A scalar subquery with LIMIT 1, not EXISTS: PostgreSQL hashes an EXISTS in the select
    list, reading every favourite of the viewer's (10 ms with 14,000 of them) to mark 25
    rows, where this is an index probe for each row the page reads.
    """
    return Subquery(_favourites(kind, user).values("pk")[:1])


def _day_start(day):
    return timezone.make_aware(datetime.combine(day, time.min))


def _common(rows, data, kind, user, owner_field):
    """Apply the filters both tables share and annotate the viewer's favourite mark."""
    rows = rows.annotate(favourite=_favourite(kind, user))
    if data.get("owner"):
        rows = rows.filter(**{f"{owner_field}__username": data["owner"]})
    if data.get("state"):
        rows = rows.filter(review_state=data["state"])
    if data.get("rating"):
        rows = rows.filter(average_stars__gte=data["rating"])
    if data.get("favourites"):  # EXISTS, which a database can join on, unlike the mark
        rows = rows.filter(Exists(_favourites(kind, user)))
    if data.get("since"):
        rows = rows.filter(created_at__gte=_day_start(data["since"]))
    if data.get("until"):
        rows = rows.filter(created_at__lt=_day_start(data["until"] + timedelta(days=1)))
    if data.get("cursor"):
        rows = rows.filter(_past(kind, data["cursor"], data["sort"]))
    return rows.order_by(*_ordering(data["sort"]))


def _from_draft():
    return (
        Q(draft__isnull=False)
        | Q(draft_version__isnull=False)
        | Q(batch__draft_version__isnull=False)
    )


# What a card shows, read as values: no model instance is made for a row (the page reads
# PAGE_SIZE + 1 of each table, and a cut's storyboard and owner too), no JSON decoded.
JOB_CARD_FIELDS = {
    "title": F("prompt_text"),
    "owner_name": F("owner__username"),
    "model_name": F("model"),
    "task_name": F("task"),
    "poster": KT("metadata__poster_url"),
}
CUT_CARD_FIELDS = {
    "board": F("storyboard_id"),
    "board_name": F("storyboard__name"),
    "owner_name": F("storyboard__owner__username"),
    "model_name": F("storyboard__model"),
}
SHARED_CARD_FIELDS = ["pk", "created_at", "review_state", "average_stars", "favourite"]


def gallery_jobs(user, data):
    """Return the completed jobs the filters in data keep, in the sort's order (None:
    the filters keep no job)."""
    if data.get("kind") == access.CUT:
        return None
    jobs = access.visible_jobs(user).filter(status=VideoCreationJob.Status.COMPLETED)
    if data.get("model"):
        jobs = jobs.filter(model=data["model"])
    if data.get("task"):
        jobs = jobs.filter(task=data["task"])
    source = data.get("source")
    if source == STORYBOARD:
        jobs = jobs.filter(take__isnull=False)
    elif source == DRAFT:
        jobs = jobs.filter(_from_draft())
    elif source == NEITHER:
        jobs = jobs.filter(take__isnull=True).exclude(_from_draft())
    if data.get("q"):
        jobs = jobs.filter(search_text__contains=fold(data["q"]))
    return _common(jobs, data, access.JOB, user, "owner")


def gallery_cuts(user, data):
    """Return the ready cuts the filters in data keep; a filter only jobs have, None."""
    if data.get("kind") == access.JOB or data.get("task") or data.get("source") in (DRAFT, NEITHER):
        return None
    cuts = access.visible_cuts(user).filter(status=Cut.Status.READY)
    if data.get("model"):
        cuts = cuts.filter(storyboard__model=data["model"])
    if data.get("q"):
        segments = CutSegment.objects.filter(
            cut=OuterRef("pk"), job__search_text__contains=fold(data["q"])
        )
        cuts = cuts.filter(Q(storyboard__name__icontains=data["q"]) | Exists(segments))
    return _common(cuts, data, access.CUT, user, "storyboard__owner")


def _rows(videos, kind, fields):
    """Return the first PAGE_SIZE + 1 of videos as the dicts their cards are made from."""
    if videos is None:
        return []
    rows = videos.values(*SHARED_CARD_FIELDS, **fields)[: PAGE_SIZE + 1]
    return [{**row, "kind": kind} for row in rows]


# --- Cards -------------------------------------------------------------------------------

TASK_LABELS = dict(TASK_CHOICES)


@dataclass
class Card:
    """One video as the grid shows it; its review badge reads it as it reads a video."""

    kind: str
    pk: str
    key: str
    title: str
    owner: str
    model: str
    task: str
    created_at: datetime
    score: float
    favourite: bool
    review_state: str
    poster_url: str
    video_url: str
    review_url: str

    @property
    def average(self):
        """The average stars, or None when nobody rated it (a rating is at least 1)."""
        return round(self.score, 1) if self.score else None

    @property
    def slug(self):
        """The key as an HTML id may have it."""
        return f"{self.kind}-{self.pk}"

    @property
    def review_label(self):
        return REVIEW_LABELS.get(self.review_state, self.review_state)


def _card(row, links) -> Card:
    kind, pk = row["kind"], row["pk"]
    if kind == access.JOB:
        title, task = row["title"], TASK_LABELS.get(row["task_name"], row["task_name"])
        urls = links(pk)
        poster_url, video_url, review_url = row["poster"] or "", urls["video"], urls["review"]
    else:  # A few on a page, each of its own storyboard: reverse() as it comes.
        title, task, board = f"Cut of {row['board_name']}", "Storyboard cut", row["board"]
        poster_url = reverse("storyboards:cut-poster", args=[board, pk])
        video_url = reverse("storyboards:cut-video", args=[board, pk])
        review_url = reverse("review:video", args=[access.CUT, pk])
    return Card(
        kind=kind,
        pk=pk,
        key=f"{kind}:{pk}",
        title=title,
        owner=row["owner_name"] or "someone removed",
        model=row["model_name"],
        task=task,
        created_at=row["created_at"],
        score=row["average_stars"],
        favourite=row["favourite"] is not None,
        review_state=row["review_state"],
        poster_url=poster_url,
        video_url=video_url,
        review_url=review_url,
    )


def gallery_page(user, data):
    """Return (the cards of one page, the cursor of the next page or None)."""
    sort = data["sort"]
    jobs = _rows(gallery_jobs(user, data), access.JOB, JOB_CARD_FIELDS)
    cuts = _rows(gallery_cuts(user, data), access.CUT, CUT_CARD_FIELDS)
    # The two lists merged in the sort's order; cards are made for the page's videos alone.
    rows = sorted(jobs + cuts, key=lambda row: sort_key(row, sort), reverse=sort != OLDEST)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    # What a job's card links to (videostudio.links: one reverse() a name, not two a card).
    links = Links({"video": "jobs:video", "review": ("review:video", access.JOB)})
    cards = [_card(row, links) for row in rows]
    return cards, write_cursor(sort_key(rows[-1], sort)) if more else None


# --- Views -------------------------------------------------------------------------------


@require_GET
def index(request):
    """Show one page of the videos the viewer may see, as the filters in the query say."""
    form = GalleryFilter(request.GET)
    if not form.is_valid():
        return render(request, "review/gallery.html", {"form": form, "cards": []}, status=400)
    cards, cursor = gallery_page(request.user, form.cleaned_data)
    # No filter chosen: the filters form renders the same for everyone (the cursor is hidden).
    filters_empty = not any(request.GET.get(field.name) for field in form.visible_fields())
    context = {"form": form, "cards": cards, "filters_empty": filters_empty}
    if cursor:
        query = request.GET.copy()
        query["after"] = cursor
        context["next_url"] = f"?{query.urlencode()}"
    if form.cleaned_data["after"]:
        query = request.GET.copy()
        query.pop("after")
        context["first_url"] = f"?{query.urlencode()}"
    return render(request, "review/gallery.html", context)


def _video(user, key):
    """Return the video a "kind:id" key names if user may see it; 404 for anything else."""
    _kind, _, pk = key.partition(":")
    if len(pk) > ID_MAX_CHARS or "\x00" in key:
        raise Http404("No such video.")
    return access.get_video_by_key(user, key)


def _described(number, video) -> dict:
    """Return a video as jobs.compare wants it."""
    if isinstance(video, Cut):
        board = video.storyboard
        segments = video.edit_list or []
        return {
            "label": f"{number}. {board.owner.get_username()}'s cut",
            "video_url": reverse("storyboards:cut-video", args=[board.pk, video.pk]),
            "poster_url": reverse("storyboards:cut-poster", args=[board.pk, video.pk]),
            "prompt": " ".join(segment.get("prompt") or "" for segment in segments),
            "seed": None,
            "model": board.model,
            "options": {"aspect_ratio": board.aspect_ratio, "resolution": board.resolution},
            "cost": sum((Decimal(s.get("costUsd") or 0) for s in segments), Decimal(0)),
            "duration": video.duration_seconds,
        }
    options = dict(video.options or {})
    seed = options.pop("seed", None)
    cost = video.actual_cost_usd if video.actual_cost_usd is not None else video.estimated_cost_usd
    owner = video.owner.get_username() if video.owner_id else "someone removed"
    return {
        "label": f"{number}. {owner}'s video",
        "video_url": reverse("jobs:video", args=[video.pk]),
        "poster_url": (video.metadata or {}).get("poster_url") or "",
        "prompt": video.prompt_text,
        "seed": seed,
        "model": video.model,
        "options": options,
        "cost": cost,
        "duration": services.video_duration(video),
    }


@require_GET
def compare(request):
    """Play two to four videos of the gallery side by side, with what differs between them."""
    keys = list(dict.fromkeys(key for key in request.GET.getlist("v") if key))
    if not MIN_VIDEOS <= len(keys) <= MAX_VIDEOS:
        problem = (
            f"Choose two to four videos to compare; {len(keys)} "
            f"{'was' if len(keys) == 1 else 'were'} chosen."
        )
        return render(request, "review/compare.html", {"problem": problem}, status=400)
    videos = [_video(request.user, key) for key in keys]
    described = [_described(number, video) for number, video in enumerate(videos, 1)]
    context = {
        "comparison": compare_videos(described),
        "videos": [
            (item["label"], services.video_url(video))
            for item, video in zip(described, videos, strict=True)
        ],
    }
    return render(request, "review/compare.html", context)
