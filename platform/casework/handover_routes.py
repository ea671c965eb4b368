"""The bureau admin's handover page for a counsellor: what moves, to whom, and why."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from casework import handover
from klankbord.auth import current_context, requires
from klankbord.errors import Invalid
from klankbord.forms import form_text, see_other
from klankbord.templating import page
from klankbord.tenancy import Role, tenant_transaction


async def _page(
    request: Request[Any, Any, Any],
    staff_user_id: UUID,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    ctx = current_context(request)
    async with tenant_transaction(ctx):
        found = await handover.facts(ctx, staff_user_id=staff_user_id)
    return page(
        request,
        "cases/handover.html",
        status_code=status_code,
        facts=found,
        reasons=handover.REASONS,
        values=values or {},
        errors=errors or {},
    )


class HandoverPages(Controller):
    path = "/bureau/counsellors/{staff_user_id:uuid}/handover"
    guards = [requires(Role.BUREAU_ADMIN)]
    include_in_schema = False

    @get("/", name="counsellor_handover")
    async def handover_page(
        self, request: Request[Any, Any, Any], staff_user_id: FromPath[UUID]
    ) -> Template:
        return await _page(request, staff_user_id)

    @post("/", name="counsellor_handover_submit")
    async def submit(
        self, request: Request[Any, Any, Any], staff_user_id: FromPath[UUID]
    ) -> Redirect | Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await handover.facts(ctx, staff_user_id=staff_user_id)  # access before the form
        form = await request.form()
        values = {
            "successor": form_text(form, "successor", 40),
            "reason": form_text(form, "reason", 40),
        }
        try:
            try:
                successor = UUID(values["successor"])
            except ValueError:
                raise Invalid(
                    code="handover_invalid", fields={"successor": "successor_unknown"}
                ) from None
            await handover.hand_over(
                ctx, staff_user_id=staff_user_id, successor_id=successor, reason=values["reason"]
            )
        except Invalid as invalid:
            return await _page(
                request, staff_user_id, values=values, errors=invalid.fields, status_code=422
            )
        return see_other("/bureau/counsellors?handed_over=1")


ROUTES: list[Any] = [HandoverPages]
