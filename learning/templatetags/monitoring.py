"""Number formatting for the monitoring page: undefined figures show as a dash, never as 0."""

from django import template

from learning.stats import Estimate

register = template.Library()


@register.filter
def rate(value: float | None, digits: int = 2) -> str:
    # Anything but a number (None, or "" for a missing row's attribute) is undefined, shown as a dash.
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "—"


@register.filter
def interval(estimate: Estimate | None, digits: int = 2) -> str:
    """``0.41 (0.32 to 0.50)``; a dash without data."""
    if estimate is None or estimate.value is None:
        return "—"
    if estimate.low is None or estimate.high is None:
        return f"{estimate.value:.{digits}f}"
    return f"{estimate.value:.{digits}f} ({estimate.low:.{digits}f} to {estimate.high:.{digits}f})"
