"""Who is asking: the staff session cookie becomes a `TenantContext` on `scope["user"]`.

The lookup is a short read transaction of its own that ends before the handler runs (the
handler's services open their own). Role guards sit on routers; data checks stay in access.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from klankbord.errors import NotAuthenticated, PermissionDenied
from klankbord.tenancy import Role, TenantContext

SESSION_COOKIE = "klankbord_session"


def session_middleware(app: ASGIApp) -> ASGIApp:
    from tenants.services import context_for_session

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and not scope["path"].startswith("/static/"):
            token = ASGIConnection(scope).cookies.get(SESSION_COOKIE)
            scope["user"] = await context_for_session(token) if token else None
        await app(scope, receive, send)

    return middleware


def current_context(connection: ASGIConnection[Any, Any, Any, Any]) -> TenantContext:
    ctx = connection.scope.get("user")
    if not isinstance(ctx, TenantContext):
        raise NotAuthenticated()
    return ctx


def requires(
    *roles: Role,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    """A router guard: the principal must hold one of `roles` somewhere."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        ctx = current_context(connection)
        if not ctx.roles & set(roles):
            raise PermissionDenied()

    return guard


STAFF_ROLES = (Role.BUREAU_ADMIN, Role.COUNSELLOR, Role.ORGANISATION_CONTACT)
