"""An organisation's register as a CSV download.

Counsellors and bureau admins pass the guard (organisation contacts get 403 there); the
service then admits only the organisation's own counsellors and its bureau's admin, so another
tenant's organisation answers 404 exactly like a missing one. The rows are read and the export
audited before the first byte is sent (see `casework.register`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote
from uuid import UUID

from litestar import Controller, Request, get
from litestar.params import FromPath
from litestar.response import Stream

from casework import register
from casework.time_entries import local_today
from klankbord.auth import current_context, requires
from klankbord.tenancy import Role

_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()&,+-]")


def attachment(filename: str) -> str:
    """A Content-Disposition value for a download named `filename`: an ASCII fallback
    (quotes, slashes and control characters replaced) and the exact name per RFC 6266."""
    fallback = _UNSAFE.sub("_", filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def download_name(organisation_name: str, extension: str = "csv") -> str:
    """The register's download, naming the organisation and the date."""
    return attachment(f"register {organisation_name} {local_today().isoformat()}.{extension}")


class RegisterPages(Controller):
    path = "/organisations/{organisation_id:uuid}"
    guards = [requires(Role.COUNSELLOR, Role.BUREAU_ADMIN)]
    include_in_schema = False

    @get("/register.csv", name="organisation_register_csv")
    async def register_csv(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Stream:
        export = await register.export_csv(current_context(request), organisation_id)

        async def stream() -> AsyncIterator[bytes]:
            for chunk in export.chunks:
                yield chunk

        return Stream(
            stream(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": download_name(export.organisation_name),
                "Cache-Control": "no-store",
            },
        )


ROUTES: list[Any] = [RegisterPages]
