"""Reading posted forms in route handlers: one way, so every form treats input alike.

A missing field, or a file where text was expected, reads as ""; text is cut at `limit`
characters (the service layer validates; the cut only keeps absurd input out of memory and
error messages). An id that is not a UUID is a `NotFound`: nothing has such an id.
"""

from __future__ import annotations

from uuid import UUID

from litestar.datastructures import FormMultiDict
from litestar.response import Redirect

from klankbord.errors import NotFound


def form_text(form: FormMultiDict, name: str, limit: int, *, strip: bool = False) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return (value.strip() if strip else value)[:limit]


def form_uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise NotFound() from None


def see_other(path: str) -> Redirect:
    """The redirect after a successful POST (303: the browser follows with a GET)."""
    return Redirect(path=path, status_code=303)
