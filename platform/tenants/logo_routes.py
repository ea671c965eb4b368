"""The bureau admin's page for an organisation's logo (upload, replace, remove).

The upload is small (`logos.MAX_BYTES`), so the usual form handling and CSRF middleware
apply. Every handler checks access to the organisation first: another tenant's id is 404.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from klankbord.auth import current_context, requires
from klankbord.errors import Invalid
from klankbord.forms import see_other
from klankbord.templating import page
from klankbord.tenancy import Role
from tenants import logos

NOTICES = frozenset({"saved", "removed"})


async def _page(
    request: Request[Any, Any, Any],
    organisation_id: UUID,
    *,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Template:
    organisation, logo = await logos.logo_page_facts(current_context(request), organisation_id)
    return page(
        request,
        "tenants/logo.html",
        status_code=status_code,
        organisation=organisation,
        logo=logo,
        errors=errors or {},
        notice=notice if notice in NOTICES else "",
        max_kb=logos.MAX_BYTES // 1024,
    )


class LogoPages(Controller):
    path = "/organisations/{organisation_id:uuid}/logo"
    guards = [requires(Role.BUREAU_ADMIN)]
    include_in_schema = False

    @get("/", name="organisation_logo")
    async def logo_page(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        done: FromQuery[str] = "",
    ) -> Template:
        return await _page(request, organisation_id, notice=done)

    @post("/", name="organisation_logo_set", request_max_body_size=logos.MAX_BYTES * 2 + 65536)
    async def upload(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Redirect | Template:
        ctx = current_context(request)
        await logos.logo_page_facts(ctx, organisation_id)  # access before the form is read
        form = await request.form()
        upload = form.get("logo")
        data = await upload.read() if isinstance(upload, UploadFile) else b""
        try:
            await logos.set_logo(ctx, organisation_id=organisation_id, data=data)
        except Invalid as invalid:
            return await _page(request, organisation_id, errors=invalid.fields, status_code=422)
        return see_other(f"/organisations/{organisation_id}/logo?done=saved")

    @post("/remove", name="organisation_logo_remove")
    async def remove(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Redirect:
        await logos.remove_logo(current_context(request), organisation_id=organisation_id)
        return see_other(f"/organisations/{organisation_id}/logo?done=removed")


ROUTES: list[Any] = [LogoPages]
