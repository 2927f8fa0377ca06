from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def clock(seconds: int | float | None) -> str:
    """12:05 for minutes:seconds, 1:02:05 past an hour."""
    total = max(0, int(seconds or 0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
