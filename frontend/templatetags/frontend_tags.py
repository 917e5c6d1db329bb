"""Template filters for the pages: role checks for the navigation, percentages, guide text."""
from __future__ import annotations

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

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


_INLINE_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*([^*]+)\*(?![*\w])")


def _inline(text: str) -> str:
    text = _INLINE_CODE.sub(r"<code>\1</code>", text)
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    return _ITALIC.sub(r"<em>\1</em>", text)


@register.filter
def guide_markdown(body: str) -> str:
    """The Markdown subset guides use (headings, bullet and numbered lists, paragraphs, bold,
    italic, code). An indented line right after a list item continues that item.

    The text is escaped before any markup is added, so a guide can never inject HTML into the page
    labelers work in.
    """
    html: list[str] = []
    paragraph: list[str] = []
    list_tag: str | None = None
    items: list[list[str]] = []

    def flush_paragraph():
        if paragraph:
            html.append("<p>" + _inline(" ".join(paragraph)) + "</p>")
            paragraph.clear()

    def flush_list():
        nonlocal list_tag
        if list_tag:
            html.append(f"<{list_tag}>" + "".join("<li>" + _inline(" ".join(item)) + "</li>" for item in items)
                        + f"</{list_tag}>")
        list_tag = None
        items.clear()

    for raw_line in escape(body or "").splitlines():
        line = raw_line.strip()
        heading = re.match(r"^(#{1,3})\s+(.*)$", line)
        bullet = re.match(r"^[-*]\s+(.*)$", line)
        numbered = re.match(r"^\d+\.\s+(.*)$", line)
        if list_tag and line and raw_line[:1].isspace() and not (bullet or numbered):
            items[-1].append(line)  # a wrapped list item
            continue
        if heading or bullet or numbered or not line:
            flush_paragraph()
        wanted = "ul" if bullet else "ol" if numbered else None
        if list_tag and list_tag != wanted:
            flush_list()
        if heading:
            level = len(heading.group(1))
            html.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif wanted:
            list_tag = wanted
            items.append([(bullet or numbered).group(1)])
        elif line:
            paragraph.append(line)
    flush_paragraph()
    flush_list()
    return mark_safe("\n".join(html))
