"""The platform's own Stripe webhook: `POST /billing/webhooks/platform`.

Like a bureau's endpoint (`routes.bureau_webhook`) it takes no session and no CSRF token (the
path prefix is excluded from both; the Stripe signature is the check), answers at once with
whether the event was new, and runs the bureau's queued sync as a background task after the
answer, so Stripe never waits for a call back to Stripe. 400 for a bad signature; 404 while
the platform has no Stripe account configured.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from billing import platform
from billing.routes import webhook_answer
from klankbord.app_state import app_settings


@post(
    "/billing/webhooks/platform",
    name="billing_platform_webhook",
    include_in_schema=False,
    status_code=200,
)
async def platform_webhook(request: Request[Any, Any, Any]) -> Response[Any]:
    settings = app_settings(request)
    received = await platform.receive(
        settings, await request.body(), request.headers.get("stripe-signature", "")
    )
    return webhook_answer(request, received)


ROUTES: list[Any] = [platform_webhook]
