"""Billing over HTTP: the bureau's Stripe connection and plans, an organisation's billing
(plan, who pays, state, invoices), and the Stripe webhook endpoint.

Pages are thin: the services decide who may see what (`accounts`: the bureau admin only;
`subscriptions`: the admin, and the organisation's contact read-only; another tenant's
organisation is 404). Saving an organisation's billing syncs Stripe right after the commit;
when Stripe cannot be reached the page says so, and the outbox keeps trying. The webhook
endpoint takes no session and no CSRF token: its Stripe signature is the check; it answers
before the queued sync runs (a background task after the response).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from billing import accounts, jobs, platform, stripe_gateway, subscriptions, webhooks
from klankbord.app_state import app_settings, secret_box
from klankbord.auth import current_context, requires
from klankbord.errors import Invalid
from klankbord.forms import form_text, see_other
from klankbord.templating import page
from klankbord.tenancy import Role

INVOICE_TIMEOUT_SECONDS = 5.0


def _int(text: str) -> int:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 9 else -1


def _cents(text: str) -> int:
    """ "45", "45.5", "45,50" (euros) → cents; -1 when it is no amount."""
    text = text.strip().replace(",", ".")
    whole, _, fraction = text.partition(".")
    if not whole.isdigit() or len(whole) > 7 or (fraction and not fraction.isdigit()):
        return -1
    return int(whole) * 100 + int((fraction + "00")[:2] or 0)


class BureauBillingPages(Controller):
    path = "/bureau/billing"
    guards = [requires(Role.BUREAU_ADMIN)]
    include_in_schema = False

    @get("/", name="bureau_billing")
    async def overview(self, request: Request[Any, Any, Any]) -> Template:
        return await _bureau_page(request)

    @post("/stripe", name="bureau_billing_stripe")
    async def connect(self, request: Request[Any, Any, Any]) -> Any:
        form = await request.form()
        trial = form_text(form, "trial_days", 4, strip=True)
        try:
            await accounts.connect(
                current_context(request),
                secret_box(request),
                secret_key=form_text(form, "secret_key", 300, strip=True),
                webhook_secret=form_text(form, "webhook_secret", 300, strip=True),
                trial_days=_int(trial),
            )
        except Invalid as invalid:
            return await _bureau_page(
                request, errors=invalid.fields, values={"trial_days": trial}, status_code=422
            )
        return see_other("/bureau/billing#stripe")

    @post("/plans/{plan_id:uuid}", name="bureau_billing_plan")
    async def plan(self, request: Request[Any, Any, Any], plan_id: FromPath[UUID]) -> Any:
        form = await request.form()
        try:
            await accounts.update_plan(
                current_context(request),
                plan_id=plan_id,
                amount_cents=_cents(form_text(form, "amount", 20)),
                interval=form_text(form, "interval", 8, strip=True),
                included_hours=_int(form_text(form, "included_hours", 8)),
                extra_hour_cents=_cents(form_text(form, "extra_hour", 20)),
            )
        except Invalid as invalid:
            errors = {f"{key}-{plan_id}": code for key, code in invalid.fields.items()}
            return await _bureau_page(request, errors=errors, status_code=422)
        return see_other("/bureau/billing#plans")


async def _bureau_page(
    request: Request[Any, Any, Any],
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    ctx = current_context(request)
    account = await accounts.account(ctx)
    bureau_id = accounts.require_admin(ctx)
    plans = await accounts.plans(ctx, bureau_id, create_defaults=True)
    return page(
        request,
        "billing/bureau.html",
        account=account,
        subscription=await platform.bureau_status(ctx),
        plans=plans,
        webhook_url=f"{app_settings(request).base_url}/billing/webhooks/{bureau_id}",
        errors=errors or {},
        values=values or {"trial_days": str(account.trial_days)},
        status_code=status_code,
    )


class OrganisationBillingPages(Controller):
    path = "/organisations/{organisation_id:uuid}/billing"
    guards = [requires(Role.BUREAU_ADMIN, Role.ORGANISATION_CONTACT)]
    include_in_schema = False

    @get("/", name="organisation_billing")
    async def overview(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        stripe: FromQuery[str] = "",
    ) -> Template:
        return await _organisation_page(request, organisation_id, notice=stripe)

    @post("/", name="organisation_billing_save")
    async def save(self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]) -> Any:
        form = await request.form()
        plan = form_text(form, "plan", 40, strip=True)
        try:
            plan_id = UUID(plan) if plan else None
        except ValueError:
            plan_id = UUID(int=0)  # refused as an unknown plan
        try:
            await subscriptions.configure(
                current_context(request),
                organisation_id=organisation_id,
                payer=form_text(form, "payer", 20, strip=True),
                collection=form_text(form, "collection", 20, strip=True),
                plan_id=plan_id,
            )
        except Invalid as invalid:
            return await _organisation_page(
                request, organisation_id, errors=invalid.fields, status_code=422
            )
        result = await jobs.sync_now(app_settings(request), secret_box(request), organisation_id)
        notice = "" if result in (None, "done") else result
        suffix = f"?stripe={notice}" if notice else ""
        return see_other(f"/organisations/{organisation_id}/billing{suffix}")


async def _organisation_page(
    request: Request[Any, Any, Any],
    organisation_id: UUID,
    *,
    notice: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    view = await subscriptions.billing_view(current_context(request), organisation_id)
    invoices = await _invoices(request, view)
    return page(
        request,
        "billing/organisation.html",
        billing=view,
        usage=await subscriptions.usage(current_context(request), organisation_id, view),
        invoices=invoices,
        notice=notice if notice in ("waiting", "refused") else "",
        errors=errors or {},
        status_code=status_code,
    )


async def _invoices(
    request: Request[Any, Any, Any], view: subscriptions.BillingView
) -> list[stripe_gateway.Invoice] | None:
    """The latest invoices, read from Stripe; None when Stripe cannot say now."""
    if not view.connected or not view.customer_id:
        return []
    keys = await accounts.stripe_keys(current_context(request), secret_box(request), view.bureau_id)
    if keys is None:
        return []
    settings = app_settings(request)
    conn = subscriptions.connection(settings, keys.secret_key, timeout=INVOICE_TIMEOUT_SECONDS)
    try:
        return await stripe_gateway.list_invoices(conn, view.customer_id)
    except stripe_gateway.StripeGatewayError:
        return None


@post(
    "/billing/webhooks/{bureau_id:uuid}",
    name="billing_webhook",
    include_in_schema=False,
    status_code=200,
)
async def bureau_webhook(
    request: Request[Any, Any, Any], bureau_id: FromPath[UUID]
) -> Response[Any]:
    payload = await request.body()
    received = await webhooks.receive(
        secret_box(request),
        bureau_id=bureau_id,
        payload=payload,
        signature=request.headers.get("stripe-signature", ""),
    )
    return webhook_answer(request, received)


def webhook_answer(request: Request[Any, Any, Any], received: webhooks.Received) -> Response[Any]:
    """A webhook's answer, at once; the sync it queued runs after it has been sent."""
    task = None
    if received.sync is not None:
        task = BackgroundTask(
            jobs.run_key, app_settings(request), secret_box(request), received.sync
        )
    return Response(
        {"received": True, "replay": not received.stored},
        background=task,
        headers={"Cache-Control": "no-store"},
    )


ROUTES: list[Any] = [BureauBillingPages, OrganisationBillingPages, bureau_webhook]
