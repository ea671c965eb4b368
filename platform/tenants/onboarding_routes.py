"""Onboarding over HTTP: a new organisation and its onboarding wizard (bureau admin).

Thin: parse the form, call `tenants.onboarding`, render or redirect. Every page under an
organisation's id first loads it for the admin (another bureau's id is not found, before the
form is even read). One route per wizard step; `/onboarding` shows the step the organisation
resumes at, under that address (no redirect), so leaving and coming back lands there.

A new bureau is `tenants.bureau_routes` (platform operator); the counsellors page after
onboarding is `tenants.assignment_routes`, whose form handling the counsellors step shares.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath
from litestar.response import Template

from klankbord.auth import current_context, requires
from klankbord.errors import Invalid
from klankbord.forms import form_text, form_uuid, see_other
from klankbord.settings import LANGUAGES
from klankbord.templating import page
from klankbord.tenancy import Role, tenant_transaction
from tenants import access, onboarding
from tenants.assignment_routes import change_counsellors
from tenants.choices import Assignment, Country, Procedure, Sector
from tenants.onboarding import STEPS, Wizard

BASE = "/{organisation_id:uuid}"  # under the controller's /organisations


def _all(form: FormMultiDict, name: str) -> list[str]:
    return [value[:40] for value in form.getall(name, []) if isinstance(value, str)]


def _step_url(organisation_id: UUID, step: str) -> str:
    return f"/organisations/{organisation_id}/onboarding/{step}"


def _next_url(organisation_id: UUID, step: str) -> str:
    following = STEPS[min(STEPS.index(step) + 1, len(STEPS) - 1)]
    return _step_url(organisation_id, following)


# --- a new organisation, and the wizard (bureau admin) ---------------------------------------


def _profile_form(data: FormMultiDict) -> dict[str, str]:
    return {
        "name": form_text(data, "name", 300),
        "country": form_text(data, "country", 5),
        "sector": form_text(data, "sector", 40),
        "headcount": form_text(data, "headcount", 40),
    }


class OrganisationOnboarding(Controller):
    path = "/organisations"
    guards = [requires(Role.BUREAU_ADMIN)]
    include_in_schema = False

    @get("/new", name="organisation_new")
    async def new_page(self, request: Request[Any, Any, Any]) -> Template:
        form = {"name": "", "country": Country.NL.value, "sector": "", "headcount": ""}
        return await _new_page(request, form=form, errors={})

    @post("/new", name="organisation_create")
    async def create(self, request: Request[Any, Any, Any]) -> Response[Any]:
        form = _profile_form(await request.form())
        try:
            organisation_id = await onboarding.create_profile(current_context(request), **form)
        except Invalid as exc:
            return await _new_page(request, form=form, errors=exc.fields, status_code=400)
        return see_other(_step_url(organisation_id, "scope"))

    @get(f"{BASE}/onboarding", name="onboarding")
    async def resume(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Template:
        ctx = current_context(request)
        state = await onboarding.wizard(ctx, organisation_id)
        if state.step == "authorities":
            state = await onboarding.authorities_for_step(ctx, organisation_id)
        return _step_page(request, state, state.step)

    # profile
    @get(f"{BASE}/onboarding/profile", name="onboarding_profile")
    async def profile_page(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Template:
        return await _show(request, organisation_id, "profile")

    @post(f"{BASE}/onboarding/profile", name="onboarding_profile_save")
    async def profile_save(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Response[Any]:
        ctx = current_context(request)
        state = await onboarding.wizard(ctx, organisation_id)
        form = _profile_form(await request.form())
        try:
            await onboarding.save_profile(ctx, organisation_id=organisation_id, **form)
        except Invalid as exc:
            return _step_page(request, state, "profile", form=form, errors=exc.fields)
        return see_other(_next_url(organisation_id, "profile"))

    # scope
    @get(f"{BASE}/onboarding/scope", name="onboarding_scope")
    async def scope_page(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Template:
        return await _show(request, organisation_id, "scope")

    @post(f"{BASE}/onboarding/scope", name="onboarding_scope_save")
    async def scope_save(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Response[Any]:
        ctx = current_context(request)
        state = await onboarding.wizard(ctx, organisation_id)
        data = await request.form()
        form: dict[str, Any] = {
            "languages": _all(data, "languages"),
            "procedures": _all(data, "procedures"),
        }
        try:
            await onboarding.save_scope(ctx, organisation_id=organisation_id, **form)
        except Invalid as exc:
            return _step_page(request, state, "scope", form=form, errors=exc.fields)
        return see_other(_next_url(organisation_id, "scope"))

    # counsellors
    @get(f"{BASE}/onboarding/counsellors", name="onboarding_counsellors")
    async def counsellors_page(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Template:
        return await _show(request, organisation_id, "counsellors")

    @post(f"{BASE}/onboarding/counsellors", name="onboarding_counsellors_save")
    async def counsellors_save(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Response[Any]:
        ctx = current_context(request)
        state = await onboarding.wizard(ctx, organisation_id)
        data = await request.form()
        action = form_text(data, "action", 20)
        here = _step_url(organisation_id, "counsellors")
        if action == "continue":
            try:
                await onboarding.save_counsellors(ctx, organisation_id=organisation_id)
            except Invalid as exc:
                return _step_page(request, state, "counsellors", errors=exc.fields)
            return see_other(_next_url(organisation_id, "counsellors"))
        problem = await change_counsellors(ctx, organisation_id, data, action)
        if problem is not None:
            form, errors = problem
            return _step_page(request, state, "counsellors", form=form, errors=errors)
        return see_other(here)

    # authorities
    @get(f"{BASE}/onboarding/authorities", name="onboarding_authorities")
    async def authorities_page(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Template:
        state = await onboarding.authorities_for_step(current_context(request), organisation_id)
        return _step_page(request, state, "authorities")

    @post(f"{BASE}/onboarding/authorities", name="onboarding_authorities_save")
    async def authorities_save(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Response[Any]:
        ctx = current_context(request)
        state = await onboarding.wizard(ctx, organisation_id)
        data = await request.form()
        action = form_text(data, "action", 20)
        here = _step_url(organisation_id, "authorities")
        if action == "add":
            form = {
                "authority_name": form_text(data, "authority_name", 400),
                "authority_contact": form_text(data, "authority_contact", 400),
            }
            try:
                await onboarding.add_authority(
                    ctx,
                    organisation_id=organisation_id,
                    name=form["authority_name"],
                    contact=form["authority_contact"],
                )
            except Invalid as exc:
                return _step_page(request, state, "authorities", form=form, errors=exc.fields)
            return see_other(here)
        if action == "remove":
            authority_id = form_uuid(form_text(data, "authority_id", 40))
            await onboarding.remove_authority(
                ctx, organisation_id=organisation_id, authority_id=authority_id
            )
            return see_other(here)
        await onboarding.save_authorities(ctx, organisation_id=organisation_id)
        return see_other(_next_url(organisation_id, "authorities"))

    # retention
    @get(f"{BASE}/onboarding/retention", name="onboarding_retention")
    async def retention_page(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Template:
        return await _show(request, organisation_id, "retention")

    @post(f"{BASE}/onboarding/retention", name="onboarding_retention_save")
    async def retention_save(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Response[Any]:
        ctx = current_context(request)
        state = await onboarding.wizard(ctx, organisation_id)
        data = await request.form()
        form = {
            "retention_months_closed": form_text(data, "retention_months_closed", 40),
            "retention_months_no_follow_up": form_text(data, "retention_months_no_follow_up", 40),
        }
        try:
            await onboarding.save_retention(
                ctx,
                organisation_id=organisation_id,
                closed=form["retention_months_closed"],
                no_follow_up=form["retention_months_no_follow_up"],
            )
        except Invalid as exc:
            return _step_page(request, state, "retention", form=form, errors=exc.fields)
        return see_other(_next_url(organisation_id, "retention"))

    # review
    @get(f"{BASE}/onboarding/review", name="onboarding_review")
    async def review_page(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Template:
        return await _show(request, organisation_id, "review")

    @post(f"{BASE}/onboarding/review", name="onboarding_finish")
    async def finish(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Response[Any]:
        ctx = current_context(request)
        state = await onboarding.wizard(ctx, organisation_id)
        try:
            await onboarding.finish(ctx, organisation_id=organisation_id)
        except Invalid as exc:
            return _step_page(request, state, "review", errors=exc.fields)
        return see_other(f"/organisations/{organisation_id}")


async def _new_page(
    request: Request[Any, Any, Any],
    *,
    form: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    ctx = current_context(request)
    bureau_name = ""
    if ctx.bureau_id is not None:
        async with tenant_transaction(ctx):
            bureau_name = (await access.access_bureau(ctx, ctx.bureau_id))["name"]
    return page(
        request,
        "onboarding/profile.html",
        status_code=status_code,
        organisation=None,
        bureau_name=bureau_name,
        action="/organisations/new",
        back="/organisations",
        step="profile",
        steps=STEPS,
        form=form,
        errors=errors,
        countries=[c.value for c in Country],
        sectors=[s.value for s in Sector],
    )


async def _show(request: Request[Any, Any, Any], organisation_id: UUID, step: str) -> Template:
    state = await onboarding.wizard(current_context(request), organisation_id)
    return _step_page(request, state, step)


def _step_form(state: Wizard, step: str) -> dict[str, Any]:
    organisation = state.organisation
    if step == "profile":
        return {
            "name": organisation["name"],
            "country": organisation["country"],
            "sector": organisation["sector"],
            "headcount": str(organisation["headcount"] or ""),
        }
    if step == "scope":
        return {"languages": state.languages, "procedures": state.procedures}
    if step == "retention":
        return {
            "retention_months_closed": str(organisation["retention_months_closed"]),
            "retention_months_no_follow_up": str(organisation["retention_months_no_follow_up"]),
        }
    if step == "authorities":
        return {"authority_name": "", "authority_contact": ""}
    return {"staff_user_id": "", "assignment": Assignment.PRIMARY.value}


def _step_page(
    request: Request[Any, Any, Any],
    state: Wizard,
    step: str,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> Template:
    organisation_id = state.organisation["id"]
    index = STEPS.index(step)
    back = (
        f"/organisations/{organisation_id}"
        if index == 0
        else _step_url(organisation_id, STEPS[index - 1])
    )
    errors = errors or {}
    return page(
        request,
        f"onboarding/{step}.html",
        status_code=400 if errors else 200,
        organisation=state.organisation,
        state=state,
        step=step,
        steps=STEPS,
        action=_step_url(organisation_id, step),
        back=back,
        form=form if form is not None else _step_form(state, step),
        errors=errors,
        countries=[c.value for c in Country],
        sectors=[s.value for s in Sector],
        languages=LANGUAGES,
        procedures=[p.value for p in Procedure],
        wizard=True,
        bureau_name="",
    )


ROUTES: list[Any] = [OrganisationOnboarding]
