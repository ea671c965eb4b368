"""Counsellor assignments over HTTP: an organisation's counsellors page after onboarding
(bureau admin).

Thin: parse the form, call `tenants.assignments`, render or redirect. The page is the
wizard's counsellors step without the wizard around it (same template, same `Wizard` state),
and `change_counsellors` is shared with that step, so both treat a form the same way. Every
page first loads the organisation for the admin (another bureau's id is not found, before
the form is even read).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath
from litestar.response import Template

from klankbord.auth import current_context, requires
from klankbord.errors import Conflict, Invalid
from klankbord.forms import form_text, form_uuid, see_other
from klankbord.templating import page
from klankbord.tenancy import Role, TenantContext
from tenants import assignments, onboarding
from tenants.choices import Assignment
from tenants.onboarding import STEPS, Wizard

BASE = "/{organisation_id:uuid}"  # under the controller's /organisations


class OrganisationCounsellors(Controller):
    path = "/organisations"
    guards = [requires(Role.BUREAU_ADMIN)]
    include_in_schema = False

    @get(f"{BASE}/counsellors", name="organisation_counsellors")
    async def manage_page(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Template:
        state = await onboarding.wizard(current_context(request), organisation_id)
        return _counsellors_page(request, state, form=None, errors={})

    @post(f"{BASE}/counsellors", name="organisation_counsellor_assign")
    async def manage_assign(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Response[Any]:
        ctx = current_context(request)
        state = await onboarding.wizard(ctx, organisation_id)
        problem = await change_counsellors(ctx, organisation_id, await request.form(), "assign")
        if problem is not None:
            return _counsellors_page(request, state, form=problem[0], errors=problem[1])
        return see_other(f"/organisations/{organisation_id}/counsellors")

    @post(f"{BASE}/counsellors/remove", name="organisation_counsellor_remove")
    async def manage_remove(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Response[Any]:
        ctx = current_context(request)
        state = await onboarding.wizard(ctx, organisation_id)
        problem = await change_counsellors(ctx, organisation_id, await request.form(), "remove")
        if problem is not None:
            return _counsellors_page(request, state, form=problem[0], errors=problem[1])
        return see_other(f"/organisations/{organisation_id}/counsellors")


async def change_counsellors(
    ctx: TenantContext, organisation_id: UUID, data: FormMultiDict, action: str
) -> tuple[dict[str, str], dict[str, str]] | None:
    """Assign (any `action` but "remove") or remove; the form and errors to show again, or
    None when it worked. Also the wizard's counsellors step, so both pages answer alike."""
    form = {
        "staff_user_id": form_text(data, "staff_user_id", 40),
        "assignment": form_text(data, "assignment", 20),
    }
    if action == "remove":
        try:
            await assignments.remove_counsellor(
                ctx, organisation_id=organisation_id, staff_user_id=form_uuid(form["staff_user_id"])
            )
        except Conflict as exc:
            return {"staff_user_id": "", "assignment": ""}, {"form": exc.code}
        return None
    if not form["staff_user_id"]:
        return form, {"staff_user_id": "required"}
    try:
        await assignments.assign_counsellor(
            ctx,
            organisation_id=organisation_id,
            staff_user_id=form_uuid(form["staff_user_id"]),
            assignment=form["assignment"],
        )
    except Invalid as exc:
        return form, exc.fields
    except Conflict as exc:
        return form, {"staff_user_id": exc.code}
    return None


def _counsellors_page(
    request: Request[Any, Any, Any],
    state: Wizard,
    *,
    form: dict[str, str] | None,
    errors: dict[str, str],
) -> Template:
    organisation_id = state.organisation["id"]
    return page(
        request,
        "onboarding/counsellors.html",
        status_code=400 if errors else 200,
        organisation=state.organisation,
        state=state,
        step="counsellors",
        steps=STEPS,
        action=f"/organisations/{organisation_id}/counsellors",
        back=f"/organisations/{organisation_id}",
        form=form or {"staff_user_id": "", "assignment": Assignment.PRIMARY.value},
        errors=errors,
        wizard=False,
    )


ROUTES: list[Any] = [OrganisationCounsellors]
