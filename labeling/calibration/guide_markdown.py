"""Guide Markdown to HTML: the one renderer of guide text, for the work page's guide panel, the
guide pages and the editor's preview (``POST /api/v1/guides/preview``).

The subset: headings (``#`` to ``###``), bullet and numbered lists, paragraphs, ``**bold**``,
``*italic*``, ``code``, links ``[text](url)`` and edge-case images ``![alt](edge-case:<id>)``.

Safety: the whole text is HTML-escaped before any markup is added, so raw HTML in a guide shows as
text and never runs. A link keeps its URL only when it is ``http(s)://`` or relative (``/...``,
``#...``); anything else (``javascript:``, ``data:``) renders as the link's text alone. An image is
only an edge case's stored image, resolved by the caller (``image_urls``: edge case id -> URL);
an unknown edge case renders as its alt text.

Lists (the "When in doubt" bug): a list continues over blank lines between its items, over lines
indented under an item and over unindented lines that carry on an item's sentence; a list may
follow a paragraph line directly; a numbered list that resumes after a bullet list keeps its
numbering (``<ol start="4">``).
"""
from __future__ import annotations

import re
from collections.abc import Callable

from django.utils.html import escape

EDGE_CASE_IMAGE_SCHEME = "edge-case:"

_HEADING = re.compile(r"^(#{1,3})\s+(.*)$")
_BULLET = re.compile(r"^[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^(\d{1,9})[.)]\s+(.*)$")
_INLINE_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*([^*]+)\*(?![*\w])")
# After escaping: the brackets and parentheses are untouched; quotes are entities.
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]*)\)")
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]*)\)")
# No backslash anywhere: browsers read "/\host" as "//host", another site.
_SAFE_URL = re.compile(r"^(https?://[^\s\\]+|/(?![/\\])[^\s\\]*|#[^\s\\]*)$", re.IGNORECASE)
_EDGE_CASE_REF = re.compile(r"edge-case:(\d{1,12})")


def guide_edge_case_ids(body: str) -> list[int]:
    """The edge cases a guide's text shows as images (to resolve their URLs in one query)."""
    return sorted({int(match) for match in _EDGE_CASE_REF.findall(body or "")})


def _url_safe(url: str) -> bool:
    # The URL is already escaped (& is &amp;); entities cannot smuggle a scheme: "&#" starts no safe form.
    return bool(_SAFE_URL.match(url))


def _inline(text: str, image_url: Callable[[int], str | None]) -> str:
    code_spans: list[str] = []

    def keep_code(match) -> str:
        code_spans.append(f"<code>{match.group(1)}</code>")
        return f"\x00{len(code_spans) - 1}\x00"

    text = _INLINE_CODE.sub(keep_code, text)

    def image(match) -> str:
        alt, target = match.group(1), match.group(2)
        ref = re.fullmatch(r"edge-case:(\d{1,12})", target)
        url = image_url(int(ref.group(1))) if ref else None
        if url is None:
            return f'<span class="guide-image-missing">{alt}</span>'
        return f'<img class="guide-image" src="{escape(url)}" alt="{alt}" loading="lazy">'

    def link(match) -> str:
        label, url = match.group(1), match.group(2)
        if not _url_safe(url):
            return label
        external = url.lower().startswith(("http://", "https://"))
        rel = ' rel="noopener noreferrer nofollow"' if external else ""
        return f'<a href="{url}"{rel}>{label}</a>'

    text = _IMAGE.sub(image, text)
    text = _LINK.sub(link, text)
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    text = _ITALIC.sub(r"<em>\1</em>", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: code_spans[int(m.group(1))], text)


def guide_html(body: str, *, image_urls: dict[int, str] | None = None) -> str:
    """The guide's HTML (a plain string; callers mark it safe). ``image_urls`` maps edge case ids to
    the URL of their image, for ``![alt](edge-case:<id>)``."""
    urls = image_urls or {}
    image_url = urls.get
    html: list[str] = []
    paragraph: list[str] = []
    list_tag: str | None = None
    list_start = 1
    items: list[list[str]] = []
    numbered_seen = 0  # items of numbered lists since the last heading: a resumed list keeps counting
    blank_before = False

    def flush_paragraph():
        if paragraph:
            html.append("<p>" + _inline(" ".join(paragraph), image_url) + "</p>")
            paragraph.clear()

    def flush_list():
        nonlocal list_tag
        if list_tag:
            start = f' start="{list_start}"' if list_tag == "ol" and list_start != 1 else ""
            html.append(f"<{list_tag}{start}>" + "".join(
                "<li>" + _inline(" ".join(item), image_url) + "</li>" for item in items) + f"</{list_tag}>")
        list_tag = None
        items.clear()

    for raw_line in escape(body or "").replace("\t", "    ").splitlines():
        line = raw_line.strip()
        if not line:
            flush_paragraph()
            blank_before = True
            continue
        heading = _HEADING.match(line)
        bullet = _BULLET.match(line)
        numbered = _NUMBERED.match(line)
        indented = raw_line[:1].isspace()
        if list_tag and not (heading or bullet or numbered):
            if indented or not blank_before:
                items[-1].append(line)  # an item's continuation, indented or not
                blank_before = False
                continue
            flush_list()  # a paragraph after a blank line ends the list
        blank_before = False
        if heading:
            flush_paragraph()
            flush_list()
            numbered_seen = 0
            level = len(heading.group(1))
            html.append(f"<h{level}>{_inline(heading.group(2), image_url)}</h{level}>")
            continue
        if bullet or numbered:
            flush_paragraph()
            wanted = "ul" if bullet else "ol"
            if list_tag != wanted:
                flush_list()
                list_tag = wanted
                if numbered:
                    number = int(numbered.group(1))
                    # "4." after three numbered items and a bullet list resumes the numbering.
                    list_start = number if number != 1 or not numbered_seen else 1
            items.append([bullet.group(1) if bullet else numbered.group(2)])
            if numbered:
                numbered_seen += 1
            continue
        paragraph.append(line)
    flush_paragraph()
    flush_list()
    return "\n".join(html)
