"""Safe markdown for texts that bureaus write and reporters read.

CommonMark without raw HTML and without images (an image URL would load a third-party asset
on a reporter page). Links survive only with an http, https, mailto or tel scheme; anything
else stays visible as plain text. Every link gets rel="nofollow noopener noreferrer".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

_ALLOWED_SCHEME = re.compile(r"^(?:https?|mailto|tel):", re.IGNORECASE)
_REL = "nofollow noopener noreferrer"


class _SafeMarkdownIt(MarkdownIt):
    def validateLink(self, url: str) -> bool:
        return bool(_ALLOWED_SCHEME.match(url.strip()))


def _link_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("rel", _REL)
    return str(self.renderToken(tokens, idx, options, env))


def _build() -> MarkdownIt:
    md = _SafeMarkdownIt("commonmark", {"html": False})
    md.disable("image")
    md.add_render_rule("link_open", _link_open)
    return md


_MD = _build()


def render_markdown(text: str) -> Markup:
    """Render markdown written by a bureau or organisation to safe HTML."""
    return Markup(_MD.render(text or ""))  # noqa: S704 (raw HTML is disabled above)
