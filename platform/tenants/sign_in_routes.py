"""Sign-in pages: password, second factor, TOTP enrolment, sign-out, the own account.

Thin: parse the form, call `tenants.accounts`, render or redirect. Every form carries the
CSRF token; every refusal renders the same page with one generic message and the typed
e-mail address kept (never the password). The session cookie is HttpOnly, SameSite=Lax and,
outside local development and tests, Secure.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from klankbord.app_state import app_settings, secret_box
from klankbord.auth import (
    SESSION_COOKIE,
    current_context,
    current_session,
    local_path,
    session_policy,
    signed_in,
)
from klankbord.templating import page
from tenants import accounts
from tenants.accounts import SignInRefused, Stage, TooManyAttempts


class PasswordForm(msgspec.Struct):
    email: str = ""
    password: str = ""
    next: str = "/"


class CodeForm(msgspec.Struct):
    code: str = ""


Form = Body(media_type=RequestEncodingType.URL_ENCODED)


def client_address(request: Request[Any, Any, Any]) -> str:
    """For the attempt limits only (kept as a keyed hash, never logged)."""
    return request.client.host if request.client else ""


def with_session_cookie(
    response: Response[Any], request: Request[Any, Any, Any], token: str
) -> Response[Any]:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        secure=app_settings(request).cookies_secure,
        samesite="lax",
        path="/",
    )
    return response


def without_session_cookie(response: Response[Any]) -> Response[Any]:
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _after_stage(stage: Stage) -> str:
    return "/sign-in/enrol" if stage is Stage.NEEDS_ENROLMENT else "/sign-in/code"


def _refused(
    request: Request[Any, Any, Any], template: str, exc: Exception, **context: Any
) -> Template:
    if isinstance(exc, TooManyAttempts):
        return page(
            request,
            template,
            status_code=429,
            error="too_many_attempts",
            minutes=exc.retry_after_minutes,
            **context,
        )
    return page(request, template, status_code=400, error="sign_in_failed", minutes=0, **context)


class SignInPages(Controller):
    path = "/sign-in"
    include_in_schema = False

    @get("/", name="sign_in")
    async def sign_in_page(
        self,
        request: Request[Any, Any, Any],
        next: FromQuery[str] = "/",  # noqa: A002
        signed_out: FromQuery[int] = 0,
    ) -> Template | Redirect:
        target = local_path(next)
        if request.scope.get("user") is not None:
            return Redirect(path=target)
        session = current_session(request)
        if session is not None and session.stage is not Stage.FULL:
            return Redirect(path=_after_stage(session.stage))
        return page(
            request,
            "account/sign_in.html",
            email="",
            next=target,
            error=None,
            minutes=0,
            signed_out=bool(signed_out),
        )

    @post("/", name="sign_in_submit")
    async def sign_in(
        self, request: Request[Any, Any, Any], data: Annotated[PasswordForm, Form]
    ) -> Response[Any]:
        target = local_path(data.next)
        try:
            token, stage = await accounts.sign_in_with_password(
                secret_box(request),
                email=data.email,
                password=data.password,
                address=client_address(request),
                next_path=target,
                policy=session_policy(app_settings(request)),
            )
        except (SignInRefused, TooManyAttempts) as exc:
            return _refused(
                request,
                "account/sign_in.html",
                exc,
                email=data.email[:254],
                next=target,
                signed_out=False,
            )
        response = Redirect(path=_after_stage(stage), status_code=303)
        return with_session_cookie(response, request, token)

    @get("/code", name="sign_in_code")
    async def code_page(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        session = current_session(request)
        if session is None or session.stage is not Stage.PASSWORD_OK:
            return _restart(request)
        return page(request, "account/code.html", error=None, minutes=0)

    @post("/code", name="sign_in_code_submit")
    async def code(
        self, request: Request[Any, Any, Any], data: Annotated[CodeForm, Form]
    ) -> Response[Any]:
        session = current_session(request)
        if session is None or session.stage is not Stage.PASSWORD_OK:
            return _restart(request)
        try:
            token, used_recovery = await accounts.verify_second_factor(
                secret_box(request),
                session,
                code=data.code,
                address=client_address(request),
                policy=session_policy(app_settings(request)),
            )
        except (SignInRefused, TooManyAttempts) as exc:
            return _refused(request, "account/code.html", exc)
        target = "/account?recovery_code_used=1" if used_recovery else session.next_path
        return with_session_cookie(Redirect(path=target, status_code=303), request, token)

    @get("/enrol", name="sign_in_enrol")
    async def enrol_page(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        session = current_session(request)
        if session is None or session.stage is not Stage.NEEDS_ENROLMENT:
            return _restart(request)
        enrolment = await accounts.enrolment(secret_box(request), session)
        return page(request, "account/enrol.html", enrolment=enrolment, error=None, minutes=0)

    @post("/enrol", name="sign_in_enrol_submit")
    async def enrol(
        self, request: Request[Any, Any, Any], data: Annotated[CodeForm, Form]
    ) -> Response[Any]:
        session = current_session(request)
        if session is None or session.stage is not Stage.NEEDS_ENROLMENT:
            return _restart(request)
        try:
            token, codes = await accounts.confirm_enrolment(
                secret_box(request),
                session,
                code=data.code,
                address=client_address(request),
                policy=session_policy(app_settings(request)),
            )
        except (SignInRefused, TooManyAttempts) as exc:
            enrolment = await accounts.enrolment(secret_box(request), session)
            return _refused(request, "account/enrol.html", exc, enrolment=enrolment)
        # The codes are shown in this response only: never in a URL, never again.
        # This request still came with the half-done session: the page is for the signed-in.
        principal = await accounts.context_for_user(session.staff_user_id)
        response = page(
            request,
            "account/recovery_codes.html",
            codes=codes,
            next=session.next_path,
            principal=principal,
        )
        return with_session_cookie(response, request, token)


def _restart(request: Request[Any, Any, Any]) -> Redirect:
    """No sign-in in progress (expired, or already done): back to the start."""
    if request.scope.get("user") is not None:
        return Redirect(path="/", status_code=303)
    return Redirect(path="/sign-in", status_code=303)


class SignOutPages(Controller):
    path = "/sign-out"
    include_in_schema = False

    @get("/", name="sign_out")
    async def confirm(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        """A link can't sign anyone out (GET changes nothing): this asks to confirm."""
        if current_session(request) is None:
            return Redirect(path="/sign-in")
        return page(request, "account/sign_out.html")

    @post("/", name="sign_out_submit")
    async def sign_out(self, request: Request[Any, Any, Any]) -> Response[Any]:
        token = request.cookies.get(SESSION_COOKIE)
        ctx = request.scope.get("user")
        if token:
            if ctx is not None:
                await accounts.sign_out(current_context(request), token)
            else:
                await accounts.end_session(token)
        response = Redirect(path="/sign-in?signed_out=1", status_code=303)
        return without_session_cookie(response)


class AccountPages(Controller):
    path = "/account"
    guards = [signed_in]
    include_in_schema = False

    @get("/", name="account")
    async def account(
        self, request: Request[Any, Any, Any], recovery_code_used: FromQuery[int] = 0
    ) -> Template:
        ctx = current_context(request)
        left = await accounts.recovery_codes_left(ctx)
        return page(
            request,
            "account/account.html",
            codes_left=left,
            recovery_code_used=bool(recovery_code_used),
        )

    @post("/sign-out-everywhere", name="sign_out_everywhere")
    async def sign_out_everywhere(self, request: Request[Any, Any, Any]) -> Response[Any]:
        await accounts.sign_out_everywhere(current_context(request))
        response = Redirect(path="/sign-in?signed_out=1", status_code=303)
        return without_session_cookie(response)

    @post("/recovery-codes", name="recovery_codes_renew")
    async def renew_recovery_codes(self, request: Request[Any, Any, Any]) -> Template:
        codes = await accounts.new_recovery_codes(secret_box(request), current_context(request))
        return page(request, "account/recovery_codes.html", codes=codes, next="/account")


ROUTES = [SignInPages, SignOutPages, AccountPages]
