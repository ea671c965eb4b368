"""Kernel pages: start page, language choice, health and readiness."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Redirect, Response, Template
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from klankbord import database, i18n
from klankbord.auth import local_path
from klankbord.settings import LANGUAGES
from klankbord.templating import page


@get("/", name="home", include_in_schema=False)
async def home(request: Request[Any, Any, Any]) -> Template:
    return page(request, "home.html")


@get("/language", name="language", include_in_schema=False)
async def choose_language(
    request: Request[Any, Any, Any],
    lang: FromQuery[str],
    next: FromQuery[str] = "/",  # noqa: A002
) -> Redirect:
    """Remember the chosen language (a preference cookie, not a tracker) and go back."""
    response = Redirect(path=local_path(next))
    if lang in LANGUAGES:
        response.set_cookie(
            i18n.COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            httponly=True,
            secure=request.app.state.settings.cookies_secure,
            samesite="lax",
            path="/",
        )
    return response


@get("/healthz", name="healthz", include_in_schema=False)
async def healthz() -> Response[dict[str, str]]:
    """The process is up (liveness): no dependency is touched."""
    return Response({"status": "ok"})


@get("/readyz", name="readyz", include_in_schema=False)
async def readyz() -> Response[dict[str, str]]:
    """The database answers (readiness): a replica that can't reach it takes no traffic."""
    if await database.ping():
        return Response({"status": "ok"}, status_code=HTTP_200_OK)
    return Response({"status": "database unavailable"}, status_code=HTTP_503_SERVICE_UNAVAILABLE)


ROUTES = [home, choose_language, healthz, readyz]
