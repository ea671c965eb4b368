"""A bureau that has not paid the platform: its staff are warned, then restricted.

Runs before every request (`before_request` of the app), only when the platform bills bureaus
(`KLANKBORD_STRIPE_PLATFORM_KEY` set): for a signed-in staff member of a bureau whose
platform subscription is past due, staff pages carry a banner; once the grace period has
passed, staff pages answer 402 with a page that says what to do, except the account,
signing out, the language switch and the bureau's billing page. Reporters are never touched:
their pages, intake and mailbox, have no staff principal and are skipped first, and the
bureau's counsellors still get new-report mail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response

from billing import platform
from klankbord.app_state import app_settings
from klankbord.templating import page
from klankbord.tenancy import Scope, TenantContext

BANNER_KEY = "staff_banner"
ALWAYS_OPEN = ("/account", "/sign-out", "/language", "/bureau/billing", "/static/")
NEVER_CHECKED = ("/r/", "/static/", "/billing/webhooks/", "/healthz", "/readyz")


async def standing_hook(request: Request[Any, Any, Any]) -> Response[Any] | None:
    settings = app_settings(request)
    path = request.url.path
    if not settings.stripe_platform_key or path.startswith(NEVER_CHECKED):
        return None
    principal = request.scope.get("user")
    if not isinstance(principal, TenantContext) or principal.scope is not Scope.TENANT:
        return None
    if principal.bureau_id is None:
        return None
    standing = await platform.standing(
        principal.bureau_id, now=datetime.now(UTC), grace_days=settings.platform_grace_days
    )
    if not standing.warned:
        return None
    request.scope[BANNER_KEY] = standing  # type: ignore[literal-required]
    if standing.restricted and not path.startswith(ALWAYS_OPEN):
        if path.startswith("/api/"):
            return Response({"error": "subscription_unpaid"}, status_code=402)
        return page(
            request,
            "billing/restricted.html",
            status_code=402,
            standing=standing,
            is_admin=principal.bureau_admin,
        )
    return None
