"""Spend and seconds of video over a period, by day, person and model; space stored now."""

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, Q, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from .models import VideoCreationJob

ZERO = Decimal("0")
MONEY = DecimalField(max_digits=12, decimal_places=4)
FINISHED = Q(status__in=["completed", "failed"])


@dataclass(frozen=True)
class Period:
    start: date  # inclusive
    end: date  # inclusive

    @property
    def days(self):
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def bounds(self):
        tz = timezone.get_current_timezone()
        return (
            timezone.make_aware(datetime.combine(self.start, time.min), tz),
            timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min), tz),
        )


def preset(name, today=None) -> Period:
    """Return a named period: this-month, last-month, last-7-days or last-30-days."""
    today = today or timezone.localdate()
    if name == "last-month":
        end = today.replace(day=1) - timedelta(days=1)
        return Period(end.replace(day=1), end)
    if name == "last-7-days":
        return Period(today - timedelta(days=6), today)
    if name == "last-30-days":
        return Period(today - timedelta(days=29), today)
    # The whole calendar month, days to come included, so each day keeps its place.
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    return Period(today.replace(day=1), next_month - timedelta(days=1))


def _figures():
    return {
        "jobs": Count("pk"),
        "seconds": Coalesce(Sum("billed_seconds"), 0),
        "spend": Coalesce(Sum("actual_cost_usd"), Value(ZERO), output_field=MONEY),
        "maybe": Coalesce(
            Sum("estimated_cost_usd", filter=FINISHED & Q(actual_cost_usd__isnull=True)),
            Value(ZERO),
            output_field=MONEY,
        ),
        "reserved": Coalesce(
            Sum("estimated_cost_usd", filter=~FINISHED), Value(ZERO), output_field=MONEY
        ),
    }


def report(period: Period, *, user=None) -> dict:
    """Return totals and rows by day, by person and by model (user=None: the whole team).

    `spend` is what Google billed; `maybe` what may have been billed (submits whose
    outcome is unknown); `reserved` the estimates of jobs still running.
    """
    start, end = period.bounds()
    jobs = VideoCreationJob.objects.filter(created_at__gte=start, created_at__lt=end)
    if user is not None:
        jobs = jobs.filter(owner=user)
    tz = timezone.get_current_timezone()
    per_day = {
        row["day"]: row
        for row in jobs.annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day")
        .annotate(**_figures())
    }
    empty = {"jobs": 0, "seconds": 0, "spend": ZERO, "maybe": ZERO, "reserved": ZERO}
    days = [{"day": day, **empty, **per_day.get(day, {})} for day in period.days]
    return {**totals(jobs), "days": days}


def totals(jobs) -> dict:
    """Return the figures of a queryset of jobs in all, by person and by model."""
    people = list(
        jobs.values("owner__username").annotate(**_figures()).order_by("-spend", "owner__username")
    )
    models = list(jobs.values("model").annotate(**_figures()).order_by("-spend", "model"))
    return {"totals": jobs.aggregate(**_figures()), "people": people, "models": models}


def space(jobs) -> dict:
    """Return the bytes a queryset of jobs keeps in storage now, in all and by person.

    Whatever the period: space is what is stored today. `unmeasured` counts the jobs not
    in the figure yet (running, or finished and waiting for the sweep to measure them).
    """
    measured = Q(stored_bytes__isnull=False)
    rows = list(  # one query: the totals are the people's sums
        jobs.values("owner__username")
        .annotate(
            bytes=Coalesce(Sum("stored_bytes"), 0),
            jobs=Count("pk", filter=measured),
            unmeasured=Count("pk", filter=~measured),
        )
        .order_by("-bytes", "owner__username")
    )
    return {
        "bytes": sum(row["bytes"] for row in rows),
        "jobs": sum(row["jobs"] for row in rows),
        "unmeasured": sum(row["unmeasured"] for row in rows),
        "people": [row for row in rows if row["jobs"]],
    }


def ticks(peak, *, whole=False, count=4):
    """Return round axis values from 0 to at least peak, about count steps apart."""
    peak = float(peak)
    if peak <= 0:
        return [0, 1]
    raw = peak / count
    magnitude = 10 ** math.floor(math.log10(raw))
    multiples = (1, 2, 5, 10) if whole else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in multiples if m * magnitude >= raw)
    if whole:
        step = max(1, round(step))
    return [step * n for n in range(math.ceil(peak / step - 1e-9) + 1)]


# The chart's box (SVG user units): amounts on the left, seconds on the right, dates below.
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 48, 12, 40
# A short period keeps bars this many to the width, so one day never fills the chart.
MIN_SLOTS = 7
MAX_DATE_LABELS = 11


def chart(days):
    """Return the geometry of a bar chart of spend and seconds of video per day.

    Each day has its own slot, in order: a spend bar (billed, with what may have been
    billed stacked on it) against the amount axis on the left, and beside it a bar of
    seconds of video against the axis on the right.
    """
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_height
    amount_ticks = ticks(max((row["spend"] + row["maybe"] for row in days), default=ZERO))
    seconds_ticks = ticks(max((row["seconds"] for row in days), default=0), whole=True)
    amount_top, seconds_top = amount_ticks[-1], seconds_ticks[-1]

    def height(value, top):
        return round(float(value) / top * plot_height, 1)

    slot = plot_width / max(len(days), MIN_SLOTS)
    bar_width = round(slot * 0.4, 1)
    label_every = math.ceil(len(days) / MAX_DATE_LABELS) or 1
    bars = []
    for n, row in enumerate(days):
        x = LEFT + n * slot + slot * 0.1
        billed, maybe = height(row["spend"], amount_top), height(row["maybe"], amount_top)
        seconds = height(row["seconds"], seconds_top)
        bars.append(
            {
                "x": round(x, 1),
                "width": bar_width,
                "y": round(bottom - billed, 1),
                "height": billed,
                "maybe_y": round(bottom - billed - maybe, 1),
                "maybe_height": maybe,
                "seconds_x": round(x + bar_width, 1),
                "seconds_y": round(bottom - seconds, 1),
                "seconds_height": seconds,
                "label_x": round(LEFT + n * slot + slot / 2, 1),
                "labelled": n % label_every == 0,
                "row": row,
            }
        )
    return {
        "bars": bars,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": bottom,
        "date_y": bottom + 18,
        "amount_ticks": [
            {"value": v, "y": round(bottom - height(v, amount_top), 1)} for v in amount_ticks
        ],
        "seconds_ticks": [
            {"value": v, "y": round(bottom - height(v, seconds_top), 1)} for v in seconds_ticks
        ],
    }
