"""The composition root: `create_app(settings)` wires routes, templates, middleware, errors."""

from __future__ import annotations

import logging
import traceback
from typing import Any
from urllib.parse import quote

from litestar import Litestar, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from piccolo.engine.base import Engine

from klankbord import database, jobs, keys, routes
from klankbord.auth import session_middleware
from klankbord.errors import DomainError, NotAuthenticated, NotFound, PermissionDenied
from klankbord.logs import configure_logging
from klankbord.secretbox import SecretBox
from klankbord.security import Csrf, security_headers_hook, timing_middleware
from klankbord.settings import Settings
from klankbord.templating import make_environment, page

log = logging.getLogger("klankbord.web")


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine[Any] | None = None,
    jobs_every: float | None = None,
) -> Litestar:
    """The web app. With `engine` (tests, benchmarks) the caller owns and binds the engine.

    With `jobs_every` the background jobs also run in this process, every so many seconds,
    for as long as the app lives (development: `klankbord serve` under `make run`).
    """
    settings = settings or Settings.from_env()
    configure_logging(settings)
    box = SecretBox(settings.server_key)
    # Reporter pages (/r/) check their own form tokens: they may set no cookie before a
    # mailbox sign-in, and their uploads are streamed, not read whole by a middleware.
    csrf = Csrf(
        bytes.fromhex(box.keyed_hash("csrf", "form tokens")),
        secure=settings.cookies_secure,
        # Reporter pages check their own form tokens; Stripe's webhooks carry a signature.
        exclude=("/r/", "/billing/webhooks/"),
    )
    owned = engine is None
    app_engine = engine or database.make_engine(
        settings.database_url, pool_size=settings.database_pool_size
    )
    ticker = jobs.Ticker(settings, every=jobs_every) if jobs_every else None

    async def startup(app: Litestar) -> None:
        database.use_engine(app_engine)
        if owned:  # like the engine: a caller that passes its own engine sets up keys too
            keys.use_key_provider(keys.key_provider(settings))
        if owned:
            await database.open_engine(app_engine)
        if ticker is not None:
            ticker.start()

    async def shutdown(app: Litestar) -> None:
        if ticker is not None:
            await ticker.stop()
        if owned:
            await database.close_engine(app_engine)

    from billing import platform_routes as platform_billing_routes
    from billing import routes as billing_routes
    from billing.standing import standing_hook
    from casework import (
        annual_report_routes,
        case_api,
        case_routes,
        clock_routes,
        consent_routes,
        handover_routes,
        intake_routes,
        mailbox_routes,
        question_routes,
        register_routes,
        time_routes,
        workflow_routes,
    )
    from casework.reporter_pages import LinkNotLive, not_live_page
    from tenants import (
        assignment_routes,
        bureau_routes,
        counsellor_routes,
        dashboard_routes,
        intake_link_routes,
        invitation_routes,
        logo_routes,
        offboarding_routes,
        onboarding_routes,
        procedure_text_routes,
        sign_in_routes,
        sso_routes,
    )
    from tenants import routes as tenant_routes

    app = Litestar(
        route_handlers=[
            *routes.ROUTES,
            *tenant_routes.ROUTES,
            *sign_in_routes.ROUTES,
            *invitation_routes.ROUTES,
            *sso_routes.ROUTES,
            *bureau_routes.ROUTES,
            *onboarding_routes.ROUTES,
            *assignment_routes.ROUTES,
            *intake_link_routes.ROUTES,
            *procedure_text_routes.ROUTES,
            *counsellor_routes.ROUTES,
            *dashboard_routes.ROUTES,
            *offboarding_routes.ROUTES,
            *logo_routes.ROUTES,
            *intake_routes.ROUTES,
            *mailbox_routes.ROUTES,
            *case_routes.ROUTES,
            *case_api.ROUTES,
            *workflow_routes.ROUTES,
            *consent_routes.ROUTES,
            *clock_routes.ROUTES,
            *handover_routes.ROUTES,
            *time_routes.ROUTES,
            *register_routes.ROUTES,
            *annual_report_routes.ROUTES,
            *billing_routes.ROUTES,
            *platform_billing_routes.ROUTES,
            *question_routes.ROUTES,
            create_static_files_router(
                path="/static", directories=[settings.frontend_dir / "static"], name="static"
            ),
        ],
        on_startup=[startup],
        on_shutdown=[shutdown],
        middleware=[timing_middleware, csrf.middleware, session_middleware],
        before_request=standing_hook,
        before_send=[csrf.set_cookie_hook(), security_headers_hook(hsts=settings.is_production)],
        template_config=TemplateConfig(
            engine=JinjaTemplateEngine.from_environment(make_environment(settings))
        ),
        openapi_config=OpenAPIConfig(
            title="Klankbord API",
            version="1",
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
        exception_handlers={
            LinkNotLive: lambda request, exc: not_live_page(request, exc.link),
            DomainError: domain_error,
            HTTPException: http_error,
            Exception: unexpected_error,
        },
        debug=False,
    )
    app.state.settings = settings
    app.state.secret_box = box
    app.state.csrf = csrf
    return app


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/") or request.url.path.startswith("/schema")


def _error(request: Request[Any, Any, Any], status: int, code: str) -> Response[Any]:
    if _wants_json(request):
        return Response({"error": code}, status_code=status)
    return page(request, "errors/error.html", status_code=status, status=status, code=code)


def domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    """The one mapping from domain errors to responses."""
    if isinstance(exc, NotAuthenticated):
        if not _wants_json(request) and request.method == "GET":
            # A page: to the sign-in, and back here afterwards.
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return Redirect(path=f"/sign-in?next={quote(target, safe='')}", status_code=303)
        return _error(request, 401, exc.code)
    if isinstance(exc, (NotFound, PermissionDenied)):
        return _error(request, exc.status, exc.code)
    if _wants_json(request):
        fields = getattr(exc, "fields", {})
        return Response({"error": exc.code, "fields": fields}, status_code=exc.status)
    return _error(request, exc.status, exc.code)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, NotFoundException):
        return _error(request, 404, "not_found")
    if isinstance(exc, NotAuthorizedException):
        return _error(request, 401, "not_authenticated")
    if exc.status_code >= 500:
        return unexpected_error(request, exc)
    code = "bad_request" if exc.status_code == 400 else f"http_{exc.status_code}"
    return _error(request, exc.status_code, code)


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The type and route only: an exception message may quote report text or a token.
    log.error(
        "unhandled %s on %s\n%s",
        type(exc).__name__,
        request.scope.get("path_template", "(unmatched)"),
        "".join(traceback.format_tb(exc.__traceback__)),
    )
    return _error(request, 500, "server_error")
