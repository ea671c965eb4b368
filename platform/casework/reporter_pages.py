"""What every reporter page shares: the link behind the address, rendering, form checks.

Reporter pages set no cookie before a mailbox sign-in, read no language cookie (the language
is in the address), log no address (`klankbord.security` logs the route template only), and
carry an "Exit this page" link. Their forms are not covered by the staff CSRF middleware
(it reads a whole form body first, which an upload must not do, and it needs a cookie): each
form carries its own signed token (`casework.form_tokens`), and a POST whose `Origin` names
another site is refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.response import Template

from casework import attachments
from klankbord import keys, uploads
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.settings import Settings
from klankbord.storage import blob_store
from klankbord.templating import page
from klankbord.tenancy import tenant_transaction
from tenants import intake_links
from tenants.intake_links import ReporterLink

# Where "Exit this page" goes: a neutral site that looks like ordinary browsing. One place.
EXIT_URL = "https://www.google.com/"


def reporter_page(
    request: Request[Any, Any, Any], template: str, *, status_code: int = 200, **context: Any
) -> Template:
    return page(request, template, status_code=status_code, exit_url=EXIT_URL, **context)


class LinkNotLive(NotFound):
    """The address is unknown, moved or switched off: its page says which (neutrally)."""

    def __init__(self, link: ReporterLink | None) -> None:
        super().__init__(code="intake_link_not_live")
        self.link = link


async def live_link(token: str) -> ReporterLink:
    link = await intake_links.reporter_link(token)
    if link is None or link.status != intake_links.LIVE:
        raise LinkNotLive(link)
    return link


def not_live_page(
    request: Request[Any, Any, Any], link: ReporterLink | None, *, kept: list[str] | None = None
) -> Template:
    """Unknown: 404; moved: 410 (gone for good: a rotated address usually leaked or was
    replaced on purpose, so it does not redirect to the new one); disabled: 200 with a neutral
    note (it may come back). `kept`: what the reporter typed into a form sent to this address
    meanwhile, shown back so that no word is lost (nothing was stored)."""
    kept = [text for text in kept or [] if text.strip()]
    if link is None:
        return reporter_page(request, "reporter/not_found.html", status_code=404, kept=kept)
    if link.status == intake_links.MOVED:
        return reporter_page(request, "reporter/moved.html", status_code=410, kept=kept)
    return reporter_page(request, "reporter/not_in_use.html", kept=kept)


class _Dropped:
    """A file sent to an address that takes no report: its bytes are read and forgotten."""

    async def write(self, chunk: bytes) -> None:
        return None

    async def close(self) -> None:
        return None

    async def abort(self) -> None:
        return None


async def read_multipart(
    request: Request[Any, Any, Any], settings: Settings, open_file: uploads.OpenFile
) -> dict[str, list[str]]:
    """A multipart form read as a stream (files to `open_file`), the body capped at
    `body_limit`: the one way our upload forms are read."""
    return await uploads.read_form(
        capped(request.stream(), body_limit(settings)),
        request.headers.get("content-type", ""),
        open_file,
    )


async def typed_text(request: Request[Any, Any, Any], settings: Settings) -> list[str]:
    """The text a reporter typed into a multipart form (answers, a message), files dropped;
    what could not be read is given up quietly (the page says the text was not sent)."""
    try:
        fields = await read_multipart(request, settings, lambda field, name, kind: _Dropped())
    except Invalid:
        return []
    return [
        value
        for name, values in fields.items()
        if name.startswith("q_") or name == "body"
        for value in values
    ]


def check_origin(request: Request[Any, Any, Any]) -> None:
    """A browser names the page a form was sent from; a form on another site is refused."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return
    if urlsplit(origin).netloc != request.headers.get("host", ""):
        raise PermissionDenied(code="foreign_origin")


def language_query(language: str) -> str:
    return f"?lang={language}"


MEGABYTE = 1024 * 1024


async def new_stager(settings: Settings, link: ReporterLink) -> attachments.Stager:
    """Where a reporter's files go while the form is read: encrypted blobs of the link's
    organisation, within the configured limits."""
    ctx = link.context()
    assert link.organisation_id is not None
    async with tenant_transaction(ctx):
        data_key = await keys.data_key(ctx, organisation_id=link.organisation_id)
    return attachments.Stager(
        blob_store(settings),
        data_key=data_key,
        organisation_id=link.organisation_id,
        max_file_bytes=settings.attachment_max_mb * MEGABYTE,
        max_total_bytes=settings.report_max_mb * MEGABYTE,
    )


def body_limit(settings: Settings) -> int:
    """Past this a body is refused outright; up to it, files over the report limit are
    discarded by the stager while the typed text is kept."""
    return settings.report_max_mb * MEGABYTE * 5 // 4 + 2 * MEGABYTE


async def capped(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise Invalid(code="report_too_large")
        yield chunk
