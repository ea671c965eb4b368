"""A new bureau over HTTP (platform operator): its name and its first bureau admin, who gets
an invitation mail.

Thin: parse the form, call `tenants.onboarding.create_bureau_with_admin`, render or redirect.
A success redirects (303) back to the form with `created=1`, so reloading the page does not
post the form a second time. Apart from the wizard's routes because another role uses it:
a platform operator, not a bureau admin.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Template

from klankbord.app_state import app_settings
from klankbord.auth import current_context, requires
from klankbord.errors import Invalid
from klankbord.forms import form_text, see_other
from klankbord.settings import LANGUAGES
from klankbord.templating import page, request_language
from klankbord.tenancy import Role, tenant_transaction
from tenants import access, onboarding


class BureauOnboarding(Controller):
    path = "/platform/bureaus/new"
    guards = [requires(Role.PLATFORM_OPERATOR)]
    include_in_schema = False

    @get("/", name="platform_bureau_new")
    async def form_page(
        self, request: Request[Any, Any, Any], created: FromQuery[int] = 0
    ) -> Template:
        form = {"bureau_name": "", "admin_name": "", "admin_email": ""}
        form["language"] = request_language(request)
        return await _bureau_page(request, form=form, errors={}, created=bool(created))

    @post("/", name="platform_bureau_create")
    async def create(self, request: Request[Any, Any, Any]) -> Response[Any]:
        data = await request.form()
        form = {
            "bureau_name": form_text(data, "bureau_name", 300),
            "admin_name": form_text(data, "admin_name", 300),
            "admin_email": form_text(data, "admin_email", 300),
            "language": form_text(data, "language", 5),
        }
        settings = app_settings(request)
        try:
            await onboarding.create_bureau_with_admin(
                current_context(request),
                settings,
                bureau_name=form["bureau_name"],
                admin_name=form["admin_name"],
                admin_email=form["admin_email"],
                language=form["language"],
            )
        except Invalid as exc:
            return await _bureau_page(request, form=form, errors=exc.fields, status_code=400)
        return see_other("/platform/bureaus/new?created=1")


async def _bureau_page(
    request: Request[Any, Any, Any],
    *,
    form: dict[str, str],
    errors: dict[str, str],
    created: bool = False,
    status_code: int = 200,
) -> Template:
    ctx = current_context(request)
    async with tenant_transaction(ctx):
        bureaus = await access.list_bureaus(ctx)
    return page(
        request,
        "onboarding/bureau_new.html",
        status_code=status_code,
        form=form,
        errors=errors,
        created=created,
        bureaus=bureaus,
        languages=LANGUAGES,
    )


ROUTES: list[Any] = [BureauOnboarding]
