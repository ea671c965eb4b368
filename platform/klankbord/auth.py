"""Who is asking: the staff session cookie becomes a `TenantContext` on `scope["user"]`.

The middleware reads the session (any stage) into `scope["klankbord_session"]`; only a full
session (password and second factor done) also becomes a context on `scope["user"]`. The
lookups are short transactions of their own that end before the handler runs. Role guards
sit on routers; data checks stay in access.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from klankbord.errors import NotAuthenticated, PermissionDenied
from klankbord.settings import Settings
from klankbord.tenancy import Role, TenantContext

if TYPE_CHECKING:
    from tenants.accounts import Session, SessionPolicy

SESSION_COOKIE = "klankbord_session"
SESSION_SCOPE_KEY = "klankbord_session"


def session_policy(settings: Settings) -> SessionPolicy:
    from tenants.accounts import SessionPolicy

    return SessionPolicy(
        idle=timedelta(minutes=settings.session_idle_minutes),
        absolute=timedelta(hours=settings.session_absolute_hours),
    )


def session_middleware(app: ASGIApp) -> ASGIApp:
    from tenants.accounts import Stage, context_for_user, session_for_token

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and not scope["path"].startswith("/static/"):
            token = ASGIConnection(scope).cookies.get(SESSION_COOKIE)
            session = None
            if token:
                policy = session_policy(scope["app"].state.settings)
                session = await session_for_token(token, policy)
            scope[SESSION_SCOPE_KEY] = session  # type: ignore[literal-required]
            full = session is not None and session.stage is Stage.FULL
            scope["user"] = await context_for_user(session.staff_user_id) if full else None  # type: ignore[union-attr]
        await app(scope, receive, send)

    return middleware


def local_path(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this site, else `default`: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(character) < 0x20 for character in target):
        return default
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else default


def current_session(connection: ASGIConnection[Any, Any, Any, Any]) -> Session | None:
    return connection.scope.get(SESSION_SCOPE_KEY)  # type: ignore[return-value]


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


def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A guard for pages of any signed-in principal (their own account)."""
    current_context(connection)


STAFF_ROLES = (Role.BUREAU_ADMIN, Role.COUNSELLOR, Role.ORGANISATION_CONTACT)
