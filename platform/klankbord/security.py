"""Security headers on every response, and request logging without addresses.

The CSP allows our own origin only: no inline script or style, no third-party asset, no
framing. Responses are `no-store` (pages carry case data) except versioned static files.
Logs never carry a client address, a query string or a path parameter: a reporter's intake
token or receipt code must not end up in a log file.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

from litestar.types import ASGIApp, Message, Receive, Scope, Send

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
