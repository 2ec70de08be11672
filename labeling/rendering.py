"""Model text is untrusted: render its markdown with raw HTML off, then sanitise the result.

markdown-it-py (CommonMark, maintained by the executable-books project) renders; nh3 (bindings to
the Rust sanitiser Ammonia) strips anything outside a small allow-list, so a `<script>` or an
`onerror=` in a response shows as text and never runs.
"""

from functools import lru_cache

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

_ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "pre",
    "code",
    "blockquote",
    "em",
    "strong",
    "del",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "ol": {"start"}}


@lru_cache(maxsize=8192)
def render_markdown(text: str) -> SafeString:
    html = _markdown.render(text)
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)
