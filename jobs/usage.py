"""Spend and seconds of video over a period, by day, person and model."""

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
    return Period(today.replace(day=1), today)


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
    totals = jobs.aggregate(**_figures())
    tz = timezone.get_current_timezone()
    per_day = {
        row["day"]: row
        for row in jobs.annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day")
        .annotate(**_figures())
    }
    empty = {"jobs": 0, "seconds": 0, "spend": ZERO, "maybe": ZERO, "reserved": ZERO}
    days = [{"day": day, **empty, **per_day.get(day, {})} for day in period.days]
    people = list(
        jobs.values("owner__username").annotate(**_figures()).order_by("-spend", "owner__username")
    )
    models = list(jobs.values("model").annotate(**_figures()).order_by("-spend", "model"))
    return {"totals": totals, "days": days, "people": people, "models": models}


def chart(days, *, width=720, height=200, gap=2):
    """Return bar geometry for spend per day, for an SVG drawn by the template."""
    peak = max((row["spend"] + row["maybe"] for row in days), default=ZERO) or Decimal(1)
    slot = width / max(len(days), 1)
    bars = []
    for n, row in enumerate(days):
        billed_h = float(row["spend"] / peak) * (height - 20)
        maybe_h = float(row["maybe"] / peak) * (height - 20)
        x = n * slot + gap / 2
        bars.append(
            {
                "x": round(x, 1),
                "width": round(max(slot - gap, 1), 1),
                "y": round(height - billed_h, 1),
                "height": round(billed_h, 1),
                "maybe_y": round(height - billed_h - maybe_h, 1),
                "maybe_height": round(maybe_h, 1),
                "row": row,
            }
        )
    return {"bars": bars, "width": width, "height": height, "peak": peak}
