"""Template filters for the pages: role checks for the navigation, percentages, guide text."""
from __future__ import annotations

from django import template
from django.utils.safestring import mark_safe

from labeling.calibration.guide_markdown import guide_html
from labeling.permissions import user_has_role

register = template.Library()


@register.filter
def has_role(user, roles: str) -> bool:
    """``{% if user|has_role:"engineer,expert" %}``; admins pass every check, as in the API."""
    return user_has_role(user, *[r.strip() for r in roles.split(",") if r.strip()])


@register.filter
def percent(value, digits: int = 1) -> str:
    """A share in [0, 1] as ``"42.0%"``; missing values show as an en dash, never as 0%."""
    if value is None or value == "":
        return "–"
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def percent_width(value) -> str:
    """A share clamped to [0, 100] for a CSS width, with a dot decimal whatever the locale."""
    if value is None:
        return "0"
    return f"{max(0.0, min(1.0, float(value))) * 100:.2f}"


@register.filter
def guide_markdown(body: str) -> str:
    """A guide's Markdown as HTML, escaped first and sanitised (labeling/calibration/guide_markdown.py);
    edge-case images need their URLs, so pages that show them render with ``guide_html`` in the view."""
    return mark_safe(guide_html(body or ""))
