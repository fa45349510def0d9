"""What every request that creates jobs shares: the creation limit, budgets, refusals."""

from django.core.exceptions import NON_FIELD_ERRORS
from pydantic.alias_generators import to_camel

from jobs import limits, options
from videostudio.envelope import ApiError, invalid


def check_rate_limit(user, *, count=1):
    """Raise a 429 if creating count jobs takes user past the creation limit (jobs.limits)."""
    try:
        limits.check_creation_limit(owner=user, count=count)
    except limits.CreationLimitExceeded as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        raise ApiError(429, exc.messages[0], headers=headers) from None


def budget_refused(exc) -> ApiError:
    """Return the 403 for a pricing.BudgetExceeded."""
    return ApiError(403, " ".join(exc.messages))


def refused(exc, *, options_prefix=False, renames=None) -> ApiError:
    """Return a 400 for a ValidationError from the services, its fields named as sent.

    With options_prefix, an option's name is written as inside `options`
    (`options.durationSeconds`), as a job's request sends it. `renames` maps a service's
    name for a field to the request's (`parent` -> `parentId`) where they differ.
    """
    if not hasattr(exc, "error_dict"):
        return ApiError(400, " ".join(exc.messages))
    fields = {}
    for name, messages in exc.message_dict.items():
        if renames and name in renames:
            field = renames[name]
        elif options_prefix and name in options.OPTIONS:
            field = f"options.{options.OPTIONS[name].api_name}"
        elif name == NON_FIELD_ERRORS:
            field = "request"
        else:
            field = to_camel(name)
        fields[field] = " ".join(messages)
    return invalid(fields)
