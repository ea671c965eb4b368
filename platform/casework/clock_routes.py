"""Pages for the clocks: the case page's clock forms, and an organisation's clock settings.

The clock forms are for counsellors (guard), and each handler finds the case through
`cases.access_case` before it reads the form, so another organisation's case answers exactly
like a missing one. A refusal shows the case page again with the error (422); success goes
back to the case's clocks. The settings page is read by everyone of the organisation
(`tenants.access`), changed by the bureau admin only (403 for the others, after the access
check).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from casework import acknowledgement, case_routes, cases, clock_settings
from klankbord.auth import STAFF_ROLES, current_context, requires
from klankbord.errors import Invalid, PermissionDenied
from klankbord.forms import form_text, see_other
from klankbord.templating import page
from klankbord.tenancy import Role, TenantContext, tenant_transaction

Action = Callable[[TenantContext, FormMultiDict], Awaitable[None]]


async def _act(request: Request[Any, Any, Any], case_id: UUID, action: Action) -> Any:
    ctx = current_context(request)
    async with tenant_transaction(ctx):
        await cases.access_case(ctx, case_id)
    data = await request.form()
    try:
        await action(ctx, data)
    except Invalid as refused:
        return await case_routes._case_page(
            request, case_id, errors=refused.fields, status_code=422
        )
    return see_other(f"/cases/{case_id}#clocks")


def _date(data: FormMultiDict) -> date | None:
    text = form_text(data, "date", 20, strip=True)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(
            code="date_invalid", fields={acknowledgement.DATE_FIELD: "date_invalid"}
        ) from None


class CaseClockForms(Controller):
    path = "/cases/{case_id:uuid}/clock"
    guards = [requires(Role.COUNSELLOR)]
    include_in_schema = False

    @post("/acknowledge", name="case_clock_acknowledge")
    async def acknowledge(self, request: Request[Any, Any, Any], case_id: FromPath[UUID]) -> Any:
        async def action(ctx: TenantContext, _: FormMultiDict) -> None:
            await acknowledgement.acknowledge(ctx, case_id=case_id)

        return await _act(request, case_id, action)

    @post("/exception", name="case_clock_exception")
    async def exception(self, request: Request[Any, Any, Any], case_id: FromPath[UUID]) -> Any:
        async def action(ctx: TenantContext, data: FormMultiDict) -> None:
            reason = form_text(data, "reason", 40, strip=True)
            await acknowledgement.record_acknowledgement_exception(
                ctx, case_id=case_id, reason=reason
            )

        return await _act(request, case_id, action)

    @post("/first-contact", name="case_clock_first_contact")
    async def first_contact(self, request: Request[Any, Any, Any], case_id: FromPath[UUID]) -> Any:
        async def action(ctx: TenantContext, data: FormMultiDict) -> None:
            await acknowledgement.record_first_contact(ctx, case_id=case_id, at=_date(data))

        return await _act(request, case_id, action)

    @post("/feedback", name="case_clock_feedback")
    async def feedback(self, request: Request[Any, Any, Any], case_id: FromPath[UUID]) -> Any:
        async def action(ctx: TenantContext, _: FormMultiDict) -> None:
            await acknowledgement.record_feedback(ctx, case_id=case_id)

        return await _act(request, case_id, action)


class ClockSettingsPages(Controller):
    path = "/organisations/{organisation_id:uuid}/clocks"
    guards = [requires(*STAFF_ROLES)]
    include_in_schema = False

    @get("/", name="organisation_clocks")
    async def show(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        saved: FromQuery[int] = 0,
    ) -> Template:
        return await _settings_page(request, organisation_id, saved=bool(saved))

    @post("/", name="organisation_clocks_save")
    async def save(self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]) -> Any:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await clock_settings.settings_view(ctx, organisation_id)
        if not clock_settings.may_edit(ctx):
            raise PermissionDenied()
        data = await request.form()
        form = {name: form_text(data, name, 20) for name in clock_settings.LIMITS}
        form["holidays"] = form_text(data, "holidays", 20_000)
        try:
            await clock_settings.save_settings(ctx, organisation_id=organisation_id, form=form)
        except Invalid as refused:
            return await _settings_page(
                request, organisation_id, values=form, errors=refused.fields, status_code=422
            )
        return see_other(f"/organisations/{organisation_id}/clocks?saved=1")


async def _settings_page(
    request: Request[Any, Any, Any],
    organisation_id: UUID,
    *,
    saved: bool = False,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    ctx = current_context(request)
    async with tenant_transaction(ctx):
        view = await clock_settings.settings_view(ctx, organisation_id)
    return page(
        request,
        "clocks/settings.html",
        status_code=status_code,
        clock_settings=view,
        values=values if values is not None else clock_settings.form_values(view.rules),
        errors=errors or {},
        limits=clock_settings.LIMITS,
        saved=saved,
    )


ROUTES: list[Any] = [CaseClockForms, ClockSettingsPages]
