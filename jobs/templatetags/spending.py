"""The admin's warning that spending is unlimited."""

from django import template

from .. import pricing

register = template.Library()


@register.simple_tag
def spending_unlimited_warning():
    """Return the warning when no budget caps a production studio's spending, else ""."""
    return pricing.UNLIMITED_WARNING if pricing.spending_unlimited() else ""
