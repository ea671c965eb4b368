"""Staff pages for intake links under an organisation (the reporter's pages are in
`casework.intake_routes`).

Staff: the bureau admin creates, enables, disables and rotates links and sets their anonymity
mode; the organisation's counsellors and contacts read the list and print posters and cards.
Every handler checks access to the organisation (and link) before it reads a form, so another
tenant's ids answer exactly like ids that do not exist.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import segno
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from klankbord import i18n
from klankbord.app_state import app_settings
from klankbord.auth import STAFF_ROLES, current_context, requires
from klankbord.errors import Conflict, Invalid
from klankbord.forms import form_text
from klankbord.settings import LANGUAGES, Settings
from klankbord.templating import page
from klankbord.tenancy import Role
from tenants import intake_links
from tenants.choices import AnonymityMode

NOTICES = frozenset({"created", "enabled", "disabled", "rotated", "anonymity"})
ANONYMITY_MODES = [mode.value for mode in AnonymityMode]
CARD_COPIES = 8  # business cards on one printed A4 sheet (2 by 4)


def reporter_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/r/{token}"


def qr_svg(url: str, title: str) -> str:
    """The address as an inline SVG QR code (no size: CSS scales it for screen and print)."""
    return str(segno.make(url, error="m").svg_inline(scale=4, title=title, omitsize=True))


def in_language(response: Template, settings: Settings, language: str) -> Template:
    """`response` rendered in `language` rather than the request's (a poster for an
    organisation whose people read French, printed by a Dutch-speaking admin)."""
    catalog = i18n.translations(settings.frontend_dir / "locales", language)
    response.context.update(i18n.gettext_callables(catalog), language=language)
    return response


# --- staff pages --------------------------------------------------------------------------

ADMIN = [requires(Role.BUREAU_ADMIN)]


class IntakeLinkPages(Controller):
    path = "/organisations/{organisation_id:uuid}/intake-links"
    guards = [requires(*STAFF_ROLES)]
    include_in_schema = False

    @get("/", name="intake_links")
    async def list_page(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        done: FromQuery[str] = "",
    ) -> Template:
        return await _list_page(request, organisation_id, notice=done if done in NOTICES else None)

    @post("/", name="intake_link_create", guards=ADMIN)
    async def create(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Response[Any]:
        ctx = current_context(request)
        await intake_links.overview(ctx, organisation_id)  # not-found before the form is read
        data = await request.form()
        form = {
            "procedure": form_text(data, "procedure", 40),
            "anonymity": form_text(data, "anonymity", 40),
        }
        try:
            await intake_links.create_link(
                ctx,
                organisation_id=organisation_id,
                procedure=form["procedure"],
                anonymity=form["anonymity"],
            )
        except Invalid as exc:
            return await _list_page(request, organisation_id, form=form, errors=exc.fields)
        except Conflict as exc:
            return await _list_page(request, organisation_id, form=form, errors={"form": exc.code})
        return _done(organisation_id, "created")

    @post("/{link_id:uuid}/enable", name="intake_link_enable", guards=ADMIN)
    async def enable(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        link_id: FromPath[UUID],
    ) -> Response[Any]:
        return await _change(request, organisation_id, link_id, "enabled")

    @post("/{link_id:uuid}/disable", name="intake_link_disable", guards=ADMIN)
    async def disable(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        link_id: FromPath[UUID],
    ) -> Response[Any]:
        return await _change(request, organisation_id, link_id, "disabled")

    @post("/{link_id:uuid}/anonymity", name="intake_link_anonymity", guards=ADMIN)
    async def anonymity(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        link_id: FromPath[UUID],
    ) -> Response[Any]:
        return await _change(request, organisation_id, link_id, "anonymity")

    @get("/{link_id:uuid}/rotate", name="intake_link_rotate_confirm", guards=ADMIN)
    async def rotate_page(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        link_id: FromPath[UUID],
    ) -> Template:
        ctx = current_context(request)
        organisation, link = await intake_links.access_link(ctx, organisation_id, link_id)
        return page(
            request,
            "intake_links/rotate.html",
            organisation=organisation,
            link=link,
            url=reporter_url(app_settings(request), link.token) if link.token else "",
        )

    @post("/{link_id:uuid}/rotate", name="intake_link_rotate", guards=ADMIN)
    async def rotate(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        link_id: FromPath[UUID],
    ) -> Response[Any]:
        return await _change(request, organisation_id, link_id, "rotated")

    @get("/{link_id:uuid}/poster", name="intake_link_poster")
    async def poster(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        link_id: FromPath[UUID],
        language: FromQuery[str] = "",
    ) -> Template:
        return await _printable(request, organisation_id, link_id, language, "poster")

    @get("/{link_id:uuid}/card", name="intake_link_card")
    async def card(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        link_id: FromPath[UUID],
        language: FromQuery[str] = "",
    ) -> Template:
        return await _printable(request, organisation_id, link_id, language, "card")


def _done(organisation_id: UUID, notice: str) -> Redirect:
    return Redirect(
        path=f"/organisations/{organisation_id}/intake-links?done={notice}", status_code=303
    )


async def _change(
    request: Request[Any, Any, Any], organisation_id: UUID, link_id: UUID, notice: str
) -> Response[Any]:
    ctx = current_context(request)
    await intake_links.access_link(ctx, organisation_id, link_id)  # before the form is read
    try:
        if notice == "enabled":
            await intake_links.enable_link(ctx, organisation_id=organisation_id, link_id=link_id)
        elif notice == "disabled":
            await intake_links.disable_link(ctx, organisation_id=organisation_id, link_id=link_id)
        elif notice == "rotated":
            await intake_links.rotate_link(ctx, organisation_id=organisation_id, link_id=link_id)
        else:
            data = await request.form()
            await intake_links.set_anonymity(
                ctx,
                organisation_id=organisation_id,
                link_id=link_id,
                anonymity=form_text(data, "anonymity", 40),
            )
    except (Invalid, Conflict) as exc:
        fields = getattr(exc, "fields", {}) or {"form": exc.code}
        errors = {"form": next(iter(fields.values()))}
        return await _list_page(request, organisation_id, errors=errors)
    return _done(organisation_id, notice)


async def _list_page(
    request: Request[Any, Any, Any],
    organisation_id: UUID,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> Template:
    ctx = current_context(request)
    found = await intake_links.overview(ctx, organisation_id)
    settings = app_settings(request)
    return page(
        request,
        "intake_links/list.html",
        status_code=400 if errors else 200,
        organisation=found.organisation,
        links=found.links,
        urls={link.id: reporter_url(settings, link.token) for link in found.links if link.token},
        procedures=found.procedures,
        has_counsellor=found.has_counsellor,
        anonymity_modes=ANONYMITY_MODES,
        is_admin=ctx.bureau_admin,
        form=form or {"procedure": "", "anonymity": AnonymityMode.REPORTER_CHOOSES.value},
        errors=errors or {},
        notice=notice,
    )


async def _printable(
    request: Request[Any, Any, Any],
    organisation_id: UUID,
    link_id: UUID,
    language: str,
    kind: str,
) -> Template:
    ctx = current_context(request)
    organisation, link = await intake_links.access_link(ctx, organisation_id, link_id)
    settings = app_settings(request)
    if language not in LANGUAGES:
        language = intake_links.first_language(organisation) or settings.default_language
    if not link.live or link.token is None:
        return page(
            request,
            "intake_links/not_live.html",
            status_code=409,
            organisation=organisation,
            link=link,
        )
    url = reporter_url(settings, link.token)
    catalog = i18n.translations(settings.frontend_dir / "locales", language)
    response = page(
        request,
        f"intake_links/{kind}.html",
        organisation=organisation,
        link=link,
        url=url,
        qr=qr_svg(url, catalog.gettext("QR code of the intake link")),
        languages=LANGUAGES,
        copies=CARD_COPIES,
    )
    return in_language(response, settings, language)


ROUTES: list[Any] = [IntakeLinkPages]
