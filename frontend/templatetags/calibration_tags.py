"""The labeler's calibration sessions on "My queues": an inclusion tag, so the page's own view
stays as it is and the block is one line of its template (one query)."""
from __future__ import annotations

from django import template

from labeling.calibration.session_selectors import calibration_sessions_of

register = template.Library()


@register.inclusion_tag("frontend/_my_calibration.html", takes_context=True)
def my_calibration(context):
    user = context["request"].user
    return {"calibration_sessions": calibration_sessions_of(labeler=user) if user.is_authenticated else []}
