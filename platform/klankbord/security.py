"""Security headers on every response, and request logging without addresses.

The CSP allows our own origin only: no inline script or style, no third-party asset, no
framing. Responses are `no-store` (pages carry case data) except versioned static files.
Logs never carry a client address, a query string or a path parameter: a reporter's intake
token or receipt code must not end up in a log file.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from typing import Any, cast

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from markupsafe import Markup

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "manifest-src 'self'",
    ]
)

BASE_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")

_BASE_NAMES = {name for name, _ in BASE_HEADERS}
STARTED = "klankbord.started"

log = logging.getLogger("klankbord.requests")


def security_headers_hook(*, hsts: bool) -> Any:
    """A `before_send` hook: it sees every response, unmatched routes and errors included
    (route middleware does not run for a request that matched no route)."""

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        static = scope["path"].startswith("/static/")
        headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _BASE_NAMES]
        headers += BASE_HEADERS
        if hsts:
            headers.append(HSTS)
        if not static:
            headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
            headers.append((b"cache-control", b"no-store"))
        message["headers"] = headers
        started = cast(dict[str, Any], scope).get(STARTED)
        elapsed = f"{(time.perf_counter() - started) * 1000:.1f}ms" if started else "-"
        log.info(
            "%s %s %s %s",
            scope.get("method", "-"),
            _route_template(scope),
            message["status"],
            elapsed,
        )

    return before_send


def timing_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        cast(dict[str, Any], scope)[STARTED] = time.perf_counter()
        await app(scope, receive, send)

    return middleware


def _route_template(scope: Scope) -> str:
    # The template (e.g. /r/{token}), never the path itself: it may hold a token.
    template = scope.get("path_template")
    return template if isinstance(template, str) else "(unmatched)"


# --- CSRF ---------------------------------------------------------------------------------
#
# Double submit with a signed token: a state-changing request must carry, in the form field
# `_csrf_token` or the `x-csrftoken` header, the value of the `klankbord_csrf` cookie, and
# that value must carry our HMAC (a cookie planted from elsewhere does not pass). The cookie
# is HttpOnly and set only when a page renders a form (`csrf_input()` in a template): a page
# without a form, a reporter's page among them, sets no cookie at all.

CSRF_COOKIE = "klankbord_csrf"
CSRF_FIELD = "_csrf_token"
CSRF_HEADER = "x-csrftoken"
_CSRF_NEW = "klankbord.csrf_new"
# A handler whose `opt` carries this key checks the pair itself (`Csrf.valid_pair`), after it
# has streamed its body: a multipart upload must not be read whole by a middleware.
CHECKED_IN_HANDLER = "csrf_checked_in_handler"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class Csrf:
    def __init__(self, secret: bytes, *, secure: bool, exclude: tuple[str, ...] = ()) -> None:
        self._secret = secret
        self._secure = secure
        self._exclude = exclude

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()

    def _valid(self, token: str | None) -> bool:
        if not token or len(token) != 128:
            return False
        return hmac.compare_digest(self._sign(token[:64]), token[64:])

    def token(self, scope: Scope) -> str:
        """The token for a form on this page; a new one (and its cookie) when none is valid."""
        state = cast(dict[str, Any], scope)
        current = ASGIConnection(scope).cookies.get(CSRF_COOKIE)
        if self._valid(current):
            return cast(str, current)
        if _CSRF_NEW not in state:
            state[_CSRF_NEW] = self.new_token()
        return cast(str, state[_CSRF_NEW])

    def new_token(self) -> str:
        nonce = secrets.token_hex(32)
        return nonce + self._sign(nonce)

    def input(self, scope: Scope) -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(
            CSRF_FIELD, self.token(scope)
        )

    def valid_pair(self, cookie: str | None, sent: str | None) -> bool:
        """Whether a request's cookie and the token it sent are one valid pair (for handlers
        that check CSRF themselves, see `CHECKED_IN_HANDLER`)."""
        return bool(cookie and sent and self._valid(cookie) and hmac.compare_digest(cookie, sent))

    def middleware(self, app: ASGIApp) -> ASGIApp:
        async def check(scope: Scope, receive: Receive, send: Send) -> None:
            handler = scope.get("route_handler")
            in_handler = bool(handler is not None and handler.opt.get(CHECKED_IN_HANDLER))
            if (
                scope["type"] == ScopeType.HTTP
                and scope.get("method", "GET") not in _SAFE_METHODS
                and not scope["path"].startswith(self._exclude)
                and not in_handler
            ):
                request: Request[Any, Any, Any] = Request(scope, receive)
                cookie = request.cookies.get(CSRF_COOKIE)
                sent = request.headers.get(CSRF_HEADER)
                if not sent and request.headers.get("content-type", "").startswith(_FORM_TYPES):
                    value = (await request.form()).get(CSRF_FIELD)
                    sent = value if isinstance(value, str) else None
                if not (
                    cookie and sent and self._valid(cookie) and hmac.compare_digest(cookie, sent)
                ):
                    raise PermissionDeniedException("csrf")
            await app(scope, receive, send)

        return check

    def set_cookie_hook(self) -> Any:
        """A `before_send` hook: the cookie for a token that a page handed out."""

        async def before_send(message: Message, scope: Scope) -> None:
            token = cast(dict[str, Any], scope).get(_CSRF_NEW)
            if message["type"] != "http.response.start" or token is None:
                return
            cookie = Cookie(
                key=CSRF_COOKIE,
                value=token,
                path="/",
                secure=self._secure,
                httponly=True,
                samesite="lax",
            )
            headers = list(message.get("headers", []))
            headers.append((b"set-cookie", cookie.to_header(header="").encode()))
            message["headers"] = headers

        return before_send
