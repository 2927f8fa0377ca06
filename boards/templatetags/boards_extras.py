from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from boards import forms
from boards.live import protocol
from boards.services.privacy import retention_days

register = template.Library()


@register.simple_tag
def live_version(version: int, kind: str = protocol.Kind.PAGE, oob: bool = False) -> SafeString:
    """The version marker a page or a push starts from (boards.live.protocol)."""
    # Only an integer and a known kind reach the markup.
    return mark_safe(protocol.version_marker(version, kind, oob=oob))


@register.simple_tag
def fields(form, *names: str) -> SafeString:
    """`{% fields form "name" "role" %}`: those fields, each drawn by
    boards/_field.html (a form nobody has filled in, once per process)."""
    return forms.render_fields(form, names)


@register.filter
def clock(seconds: int | float | None) -> str:
    """12:05 for minutes:seconds, 1:02:05 past an hour."""
    total = max(0, int(seconds or 0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


@register.simple_tag
def contact_retention_days() -> int:
    """Days after an atelier is over before contacts in offers are erased."""
    return retention_days()


@register.filter
def percent(value: int | None) -> str:
    """« 42 % » in French (a narrow no-break space), "42%" in English; a dash without a value."""
    if value is None:
        return "—"
    return _("%(value)s %%") % {"value": value}
