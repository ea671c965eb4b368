"""Single sign-on pages: the bureau admin's settings, the start and the provider's callback.

Thin: parse, one call to `tenants.sso`, render or redirect. The start sets a short-lived
HttpOnly cookie with a random value that binds the attempt to this browser; the callback
needs it back. Every failure of the callback shows the same page (status 400), never which
check failed. The client secret is never rendered, not even after a field error.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from klankbord.app_state import app_settings, secret_box
from klankbord.auth import SESSION_COOKIE, current_context, local_path, requires, session_policy
from klankbord.errors import Invalid, NotFound
from klankbord.settings import Settings
from klankbord.templating import page
from klankbord.tenancy import Role
from tenants import accounts, sso
from tenants.oidc_protocol import OidcError
from tenants.sign_in_routes import with_session_cookie

BINDING_COOKIE = "klankbord_sso"
BINDING_PATH = "/sign-in/sso"
BINDING_MAX_AGE = int(sso.LOGIN_LIFETIME.total_seconds())
SETTINGS_PATH = "/bureau/single-sign-on"


class ProviderForm(msgspec.Struct):
    issuer: str = ""
    client_id: str = ""
    client_secret: str = ""
    enabled: str = ""


Form = Body(media_type=RequestEncodingType.URL_ENCODED)


def _loopback(request: Request[Any, Any, Any]) -> bool:
    return sso.loopback_allowed(app_settings(request).environment)


def redirect_uri(settings: Settings) -> str:
    """The one address to register at every bureau's provider."""
    return f"{settings.base_url}/sign-in/sso/callback"


def sign_in_address(settings: Settings, provider_id: UUID) -> str:
    return f"{settings.base_url}/sign-in/sso/{provider_id}"


def _bureau_id(request: Request[Any, Any, Any]) -> UUID:
    ctx = current_context(request)
    if ctx.bureau_id is None:
        raise NotFound()
    return ctx.bureau_id


class SingleSignOnSettingsPages(Controller):
    path = SETTINGS_PATH
    guards = [requires(Role.BUREAU_ADMIN)]
    include_in_schema = False

    @get("/", name="sso_settings")
    async def settings_page(
        self, request: Request[Any, Any, Any], saved: FromQuery[int] = 0
    ) -> Template:
        current = await sso.provider_settings(current_context(request), _bureau_id(request))
        return self._render(
            request,
            current,
            issuer=current.issuer,
            client_id=current.client_id,
            enabled=current.enabled,
            errors={},
            saved=bool(saved),
        )

    @post("/", name="sso_settings_submit")
    async def save(
        self, request: Request[Any, Any, Any], data: Annotated[ProviderForm, Form]
    ) -> Response[Any]:
        ctx = current_context(request)
        bureau_id = _bureau_id(request)
        try:
            await sso.configure_provider(
                ctx,
                secret_box(request),
                bureau_id=bureau_id,
                issuer=data.issuer,
                client_id=data.client_id,
                client_secret=data.client_secret,
                enabled=bool(data.enabled),
                allow_insecure_loopback=_loopback(request),
            )
        except Invalid as invalid:
            current = await sso.provider_settings(ctx, bureau_id)
            return self._render(
                request,
                current,
                issuer=data.issuer[: sso.MAX_ISSUER + 100],
                client_id=data.client_id[: sso.MAX_CLIENT_ID + 100],
                enabled=bool(data.enabled),
                errors=invalid.fields,
                saved=False,
                status_code=422,
            )
        return Redirect(path=f"{SETTINGS_PATH}?saved=1", status_code=303)

    def _render(
        self,
        request: Request[Any, Any, Any],
        current: sso.ProviderSettings,
        *,
        status_code: int = 200,
        **form: Any,
    ) -> Template:
        settings = app_settings(request)
        address = sign_in_address(settings, current.provider_id) if current.provider_id else None
        return page(
            request,
            "sso/settings.html",
            status_code=status_code,
            bureau_name=current.bureau_name,
            secret_set=current.secret_set,
            sign_in_address=address,
            redirect_uri=redirect_uri(settings),
            **form,
        )


def _failed(request: Request[Any, Any, Any]) -> Response[Any]:
    response = page(request, "sso/failed.html", status_code=400)
    response.delete_cookie(BINDING_COOKIE, path=BINDING_PATH)
    return response


class SingleSignOnPages(Controller):
    path = "/sign-in/sso"
    include_in_schema = False

    @get("/{provider_id:uuid}", name="sso_start")
    async def start(
        self,
        request: Request[Any, Any, Any],
        provider_id: FromPath[UUID],
        next: FromQuery[str] = "/",  # noqa: A002
    ) -> Response[Any]:
        binding = secrets.token_urlsafe(32)
        try:
            url = await sso.start(
                secret_box(request),
                provider_id=provider_id,
                redirect_uri=redirect_uri(app_settings(request)),
                next_path=local_path(next),
                browser_binding=binding,
                allow_insecure_loopback=_loopback(request),
            )
        except OidcError:
            return _failed(request)  # the provider could not be reached or described itself
        response = Redirect(path=url, status_code=303)
        response.set_cookie(
            BINDING_COOKIE,
            binding,
            max_age=BINDING_MAX_AGE,
            httponly=True,
            secure=app_settings(request).cookies_secure,
            samesite="lax",  # the provider's redirect back is a top-level GET: it is sent
            path=BINDING_PATH,
        )
        return response

    @get("/callback", name="sso_callback")
    async def callback(self, request: Request[Any, Any, Any]) -> Response[Any]:
        query = request.query_params
        if any(len(values) != 1 for values in query.dict().values()):
            return _failed(request)  # a parameter twice: someone is playing with the URL
        try:
            token, next_path = await sso.finish(
                secret_box(request),
                callback_params=dict(query.items()),
                redirect_uri=redirect_uri(app_settings(request)),
                browser_binding=request.cookies.get(BINDING_COOKIE),
                policy=session_policy(app_settings(request)),
                allow_insecure_loopback=_loopback(request),
            )
        except sso.SsoRefused:
            return _failed(request)
        previous = request.cookies.get(SESSION_COOKIE)
        if previous:
            await accounts.end_session(previous)  # whoever was signed in here is not anymore
        response = Redirect(path=local_path(next_path), status_code=303)
        response.delete_cookie(BINDING_COOKIE, path=BINDING_PATH)
        return with_session_cookie(response, request, token)


ROUTES = [SingleSignOnSettingsPages, SingleSignOnPages]
