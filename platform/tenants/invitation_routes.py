"""Staff invitations and password resets over HTTP.

Thin: parse the form, call `tenants.invitations`, render or redirect. The bureau admin's
staff page lists the bureau's staff and invites new ones. The link pages (`/invitation/…`,
`/password-reset/…`) are reached from a mail: the token is only ever in the path (never
logged: the request log prints route templates), and the responses send no referrer.

A link that cannot be used gets a page that says why and what to do: 410 when it expired
or was used, 404 when it is unknown. Telling these apart leaks nothing: only someone holding
a 256-bit token can ask, and that person received the mail anyway.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from klankbord.app_state import app_settings, secret_box
from klankbord.auth import current_context, requires
from klankbord.errors import Conflict, Invalid, NotFound
from klankbord.forms import form_text
from klankbord.settings import LANGUAGES
from klankbord.templating import page, request_language
from klankbord.tenancy import Role, tenant_transaction
from tenants import access, invitations
from tenants.accounts import TooManyAttempts
from tenants.invitations import LinkNotValid
from tenants.sign_in_routes import client_address, with_session_cookie


def _link_not_valid(request: Request[Any, Any, Any], kind: str, exc: LinkNotValid) -> Template:
    return page(
        request,
        "invitations/link_invalid.html",
        status_code=exc.status,
        kind=kind,
        state=exc.state.value,
    )


# --- the bureau admin's staff page ---------------------------------------------------------


class StaffPages(Controller):
    path = "/bureau/staff"
    guards = [requires(Role.BUREAU_ADMIN)]
    include_in_schema = False

    @get("/", name="bureau_staff")
    async def staff_page(
        self,
        request: Request[Any, Any, Any],
        invited: FromQuery[int] = 0,
        resent: FromQuery[int] = 0,
    ) -> Template:
        notice = "invited" if invited else "resent" if resent else None
        form = {
            "email": "",
            "display_name": "",
            "role": "",
            "organisations": [],
            "language": request_language(request),
        }
        return await _staff_page(request, form=form, errors={}, notice=notice)

    @post("/invite", name="bureau_staff_invite")
    async def invite(self, request: Request[Any, Any, Any]) -> Response[Any]:
        data = await request.form()
        email, display_name = form_text(data, "email", 300), form_text(data, "display_name", 300)
        role, language = form_text(data, "role", 40), form_text(data, "language", 5)
        chosen = [value for value in data.getall("organisations", []) if isinstance(value, str)]
        form: dict[str, Any] = {
            "email": email,
            "display_name": display_name,
            "role": role,
            "organisations": chosen,
            "language": language,
        }
        try:
            organisation_ids = [UUID(value) for value in chosen]
        except ValueError:
            raise NotFound() from None  # no organisation has such an id
        try:
            await invitations.invite_staff(
                current_context(request),
                app_settings(request),
                email=email,
                display_name=display_name,
                role=role,
                organisation_ids=organisation_ids,
                language=language,
            )
        except Invalid as exc:
            return await _staff_page(request, form=form, errors=exc.fields, status_code=400)
        except Conflict as exc:
            return await _staff_page(
                request, form=form, errors={"email": exc.code}, status_code=400
            )
        return Redirect(path="/bureau/staff?invited=1", status_code=303)

    @post("/resend", name="bureau_staff_resend")
    async def resend(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """The staff member's id travels in the form; another bureau's id is not found."""
        data = await request.form()
        try:
            staff_user_id = UUID(form_text(data, "staff_user_id", 40))
        except ValueError:
            raise NotFound() from None
        try:
            await invitations.resend_invitation(
                current_context(request), app_settings(request), staff_user_id=staff_user_id
            )
        except Conflict:
            # Accepted (or deactivated) in the meantime: the list shows the current state.
            return Redirect(path="/bureau/staff", status_code=303)
        return Redirect(path="/bureau/staff?resent=1", status_code=303)


async def _staff_page(
    request: Request[Any, Any, Any],
    *,
    form: dict[str, Any],
    errors: dict[str, str],
    notice: str | None = None,
    status_code: int = 200,
) -> Template:
    ctx = current_context(request)
    async with tenant_transaction(ctx):
        staff = await access.list_staff(ctx)
        organisations = await access.list_organisations(ctx)
    return page(
        request,
        "invitations/staff.html",
        status_code=status_code,
        staff=staff,
        organisations=organisations,
        form=form,
        errors=errors,
        notice=notice,
        languages=LANGUAGES,
    )


# --- accepting an invitation ---------------------------------------------------------------


class InvitationPages(Controller):
    path = "/invitation"
    include_in_schema = False

    @get("/{token:str}", name="invitation")
    async def accept_page(self, request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
        try:
            invitee = await invitations.invitee(token)
        except LinkNotValid as exc:
            return _link_not_valid(request, "invitation", exc)
        return _accept(request, token, invitee, errors={})

    @post("/{token:str}", name="invitation_accept")
    async def accept(self, request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
        data = await request.form()
        try:
            invitee = await invitations.invitee(token)
            session_token = await invitations.accept_invitation(
                secret_box(request),
                token,
                password=form_text(data, "password", 1000),
                confirmation=form_text(data, "confirmation", 1000),
                address=client_address(request),
            )
        except LinkNotValid as exc:
            return _link_not_valid(request, "invitation", exc)
        except Invalid as exc:
            return _accept(request, token, invitee, errors=exc.fields, status_code=400)
        except TooManyAttempts as exc:
            return _accept(
                request,
                token,
                invitee,
                errors={"form": "too_many_attempts"},
                minutes=exc.retry_after_minutes,
                status_code=429,
            )
        response = Redirect(path="/sign-in/enrol", status_code=303)
        return with_session_cookie(response, request, session_token)


def _accept(
    request: Request[Any, Any, Any],
    token: str,
    invitee: invitations.Invitee,
    *,
    errors: dict[str, str],
    minutes: int = 0,
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "invitations/accept.html",
        status_code=status_code,
        action=f"/invitation/{token}",
        invitee={"display_name": invitee.display_name, "email": invitee.email},
        errors=errors,
        minutes=minutes,
    )


# --- password reset ------------------------------------------------------------------------


class PasswordResetPages(Controller):
    path = "/password-reset"
    include_in_schema = False

    @get("/", name="password_reset")
    async def request_page(
        self,
        request: Request[Any, Any, Any],
        sent: FromQuery[int] = 0,
        done: FromQuery[int] = 0,
    ) -> Template:
        if sent:
            return page(request, "invitations/reset_sent.html")
        if done:
            return page(request, "invitations/reset_done.html")
        return page(request, "invitations/reset_request.html", email="", errors={}, minutes=0)

    @post("/", name="password_reset_request")
    async def request_reset(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Known, unknown or inactive address: the same redirect (no way to learn who has an
        account here). Only an empty field or too many requests get another answer."""
        data = await request.form()
        email = form_text(data, "email", 254)
        if not email.strip():
            return page(
                request,
                "invitations/reset_request.html",
                status_code=400,
                email=email,
                errors={"email": "required"},
                minutes=0,
            )
        try:
            await invitations.request_reset(
                secret_box(request),
                app_settings(request),
                email=email,
                address=client_address(request),
            )
        except TooManyAttempts as exc:
            return page(
                request,
                "invitations/reset_request.html",
                status_code=429,
                email=email,
                errors={"form": "too_many_attempts"},
                minutes=exc.retry_after_minutes,
            )
        return Redirect(path="/password-reset?sent=1", status_code=303)

    @get("/{token:str}", name="password_reset_form")
    async def reset_page(self, request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
        state = await invitations.reset_status(token)
        if state is not invitations.TokenState.VALID:
            return _link_not_valid(request, "reset", LinkNotValid(state))
        return _reset_form(request, token, errors={})

    @post("/{token:str}", name="password_reset_submit")
    async def reset(self, request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
        data = await request.form()
        try:
            await invitations.reset_password(
                secret_box(request),
                token,
                password=form_text(data, "password", 1000),
                confirmation=form_text(data, "confirmation", 1000),
            )
        except LinkNotValid as exc:
            return _link_not_valid(request, "reset", exc)
        except Invalid as exc:
            return _reset_form(request, token, errors=exc.fields, status_code=400)
        return Redirect(path="/password-reset?done=1", status_code=303)


def _reset_form(
    request: Request[Any, Any, Any], token: str, *, errors: dict[str, str], status_code: int = 200
) -> Template:
    return page(
        request,
        "invitations/reset_form.html",
        status_code=status_code,
        action=f"/password-reset/{token}",
        errors=errors,
    )


ROUTES = [StaffPages, InvitationPages, PasswordResetPages]
