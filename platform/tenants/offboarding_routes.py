"""Offboarding pages: what happens, the export download, the deletion.

Thin: one `tenants.offboarding` call per request. The bureau admin only (the guard; a
counsellor or contact gets 403). Each service call checks access to the organisation before it
reads the form, so another tenant's id answers 404 whatever the body holds.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from klankbord.app_state import app_settings
from klankbord.auth import current_context, requires
from klankbord.errors import Invalid
from klankbord.forms import form_text
from klankbord.templating import page
from klankbord.tenancy import Role
from tenants import offboarding


async def _page(
    request: Request[Any, Any, Any],
    organisation_id: UUID,
    *,
    errors: dict[str, str],
    typed_name: str = "",
    status_code: int = 200,
) -> Template:
    facts = await offboarding.summary(current_context(request), organisation_id=organisation_id)
    return page(
        request,
        "offboarding/offboarding.html",
        status_code=status_code,
        organisation=facts.organisation,
        intake_links=facts.intake_links,
        memberships=facts.memberships,
        errors=errors,
        typed_name=typed_name,
    )


class OffboardingPages(Controller):
    path = "/organisations/{organisation_id:uuid}/offboarding"
    guards = [requires(Role.BUREAU_ADMIN)]
    include_in_schema = False

    @get("/", name="offboarding")
    async def offboarding_page(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Template:
        return await _page(request, organisation_id, errors={})

    @post("/export", name="offboarding_export")
    async def export(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Response[bytes]:
        made = await offboarding.export_organisation(
            current_context(request), organisation_id=organisation_id
        )
        return Response(
            content=made.content,
            media_type="application/zip",
            status_code=200,
            headers={
                "Content-Disposition": f'attachment; filename="{made.filename}"',
                "Cache-Control": "no-store",
            },
        )

    @post("/delete", name="offboarding_delete")
    async def delete(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Response[Any]:
        data = await request.form()
        typed_name = form_text(data, "name", offboarding.CONFIRM_NAME_LIMIT)
        settings = app_settings(request)
        try:
            await offboarding.delete_organisation(
                current_context(request),
                settings,
                organisation_id=organisation_id,
                typed_name=typed_name,
                confirmed=form_text(data, "confirm", 10) == "1",
            )
        except Invalid as exc:
            return await _page(
                request, organisation_id, errors=exc.fields, typed_name=typed_name, status_code=400
            )
        return Redirect(path="/organisations?offboarded=1", status_code=303)


ROUTES: list[Any] = [OffboardingPages]
