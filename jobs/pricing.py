"""What jobs cost and what budgets allow.

A job counts against budgets as Coalesce(actual, estimated): its estimate while it
runs, what Google billed once known, nothing for a failure Google does not bill, and
its estimate again when a submit's outcome is unknown (it may have been billed).
"""

from datetime import datetime, time
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import catalog
from .models import Budget, VideoCreationJob

ZERO = Decimal("0")
CHARGE = Coalesce("actual_cost_usd", "estimated_cost_usd")


class BudgetExceeded(ValidationError):
    """A submit would take spending past a limit; the message says how much is left."""


def period_start(period, now=None):
    """Return the start of the current calendar day or month in the studio's time zone."""
    local = timezone.localtime(now or timezone.now())
    day = local.date() if period == Budget.Period.DAILY else local.date().replace(day=1)
    return timezone.make_aware(datetime.combine(day, time.min), local.tzinfo)


def spent(*, since, user=None) -> Decimal:
    """Return what jobs made since `since` (by user, or by everyone) count against budgets."""
    jobs = VideoCreationJob.objects.filter(created_at__gte=since)
    if user is not None:
        jobs = jobs.filter(owner=user)
    return jobs.aggregate(total=Coalesce(Sum(CHARGE), Value(ZERO)))["total"]


def check_budgets(*, owner, amount):
    """Raise BudgetExceeded if spending `amount` more breaks the owner's or the team's limit.

    Call it inside the transaction that creates the jobs, under the writers' lock, so
    concurrent submits cannot both pass against the same remaining amount.
    """
    budgets = Budget.objects.filter(Q(user=owner) | Q(user__isnull=True)).order_by("user_id")
    for budget in budgets:
        since = period_start(budget.period)
        used = spent(since=since, user=budget.user if budget.user_id else None)
        left = max(budget.limit_usd - used, ZERO)
        if amount > left:
            whose = "your" if budget.user_id else "the team's"
            period = "daily" if budget.period == Budget.Period.DAILY else "monthly"
            raise BudgetExceeded(
                f"This would cost ${amount:.2f}, but only ${left:.2f} is left of {whose} "
                f"{period} budget of ${budget.limit_usd:.2f}. Nothing was sent to Veo."
            )


UNLIMITED_WARNING = (
    "No budget is set, so spending on Veo is unlimited: anyone who can log in can spend "
    "without a cap. Add a team budget under Video jobs > Budgets."
)


def spending_unlimited() -> bool:
    """Return whether a production studio (DEBUG off) has no budget at all."""
    return not settings.DEBUG and not Budget.objects.exists()


def job_estimate(model, options) -> Decimal:
    return catalog.estimate_cost(
        model,
        resolution=options["resolution"],
        duration_seconds=options["duration_seconds"],
        samples=options.get("sample_count", 1),
    )


def billed(job, *, samples) -> tuple[Decimal, int]:
    """Return (cost, seconds) Google bills for `samples` videos of this job."""
    seconds = int(job.options["duration_seconds"]) * samples
    spec = catalog.models().get(job.model)
    rate = spec.price(job.options["resolution"]) if spec else None
    return catalog.money((rate or ZERO) * seconds), seconds


def cost_of_tokens(model, video_tokens) -> Decimal | None:
    """Return what Google bills for `video_tokens` video output tokens (Interactions'
    usage) on a model priced per token; None when the model is priced per second or the
    count is unknown, and the job's cost comes from billed() instead."""
    return catalog.cost_of_tokens(model, video_tokens)
