"""How an organisation is billed, and keeping Stripe in line with it.

The bureau admin chooses who pays (the organisation, or the bureau absorbs it: then no
subscription, only the usage overview), how invoices are paid (sent for payment by transfer,
or charged) and the plan (by default the band of the organisation's headcount). Saving writes
our row and an outbox entry in one transaction, then tries the Stripe calls at once: when
Stripe is down the admin is told, nothing half-made is kept (each Stripe object is recorded
only once made, and made under an idempotency key), and the outbox tries again.

`sync_organisation` (the outbox operation) brings Stripe to what our row says: a customer, a
Stripe Plan for the plan's current price, a subscription (with the bureau's trial for a new
one), or none when the bureau pays; then it reads the subscription's state back. Webhooks
only ask for this sync (`webhooks`), so events arriving out of order cannot leave a stale
state: whatever arrives last, the state is read from Stripe.

Reading: the bureau admin and the organisation's contact see the plan, the state and the
invoices; counsellors are refused (403); another tenant's organisation is `NotFound`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, cast
from uuid import UUID, uuid4

from billing import accounts, outbox, stripe_gateway
from billing.accounts import PlanView
from billing.tables import OrganisationBilling, Plan
from casework.time_entries import local_today
from klankbord import audit
from klankbord.errors import Invalid, PermissionDenied
from klankbord.secretbox import SecretBox
from klankbord.settings import Settings
from klankbord.tenancy import (
    Role,
    TenantContext,
    check_may_write,
    scoped,
    system_context,
    tenant_transaction,
)
from tenants.access import access_organisation

PAYERS = ("organisation", "bureau")
COLLECTIONS = ("send_invoice", "charge")
# "incomplete" is a first payment still open (and what localstripe reports during a trial).
FAILED_STATES = frozenset({"past_due", "unpaid"})
DAYS_UNTIL_DUE = 30
SYNC = "sync_organisation"


def sync_key(organisation_id: UUID) -> str:
    return f"{SYNC}:{organisation_id}"


def connection(
    settings: Settings, secret_key: str, *, timeout: float = stripe_gateway.TIMEOUT_SECONDS
) -> stripe_gateway.Connection:
    """Calls on a bureau's account; the tests' localstripe lacks what the flag says."""
    return stripe_gateway.Connection(
        api_key=secret_key,
        base_url=settings.stripe_api_base or None,
        send_invoice_supported=settings.stripe_send_invoice,
        proration_behavior_supported=settings.stripe_send_invoice,
        timeout_seconds=timeout,
    )


@dataclass(frozen=True)
class BillingView:
    organisation_id: UUID
    bureau_id: UUID
    customer_id: str
    organisation_name: str
    headcount: int
    connected: bool
    payer: str
    collection: str
    plan: PlanView | None
    plan_chosen: bool  # False: the band of the headcount
    plans: list[PlanView]
    status: str
    payment_failed: bool
    trial_end: datetime | None
    sync_error: str
    may_edit: bool


def _may_read(ctx: TenantContext, organisation_id: UUID) -> bool:
    return ctx.bureau_admin or ctx.role_in(organisation_id) is Role.ORGANISATION_CONTACT


async def _row(ctx: TenantContext, organisation_id: UUID) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await scoped(OrganisationBilling.select(), OrganisationBilling, ctx)
        .where(OrganisationBilling.organisation == organisation_id)
        .first()
    )
    return row


async def billing_view(ctx: TenantContext, organisation_id: UUID) -> BillingView:
    async with tenant_transaction(ctx):
        organisation = await access_organisation(ctx, organisation_id)
        if not _may_read(ctx, organisation_id):
            raise PermissionDenied()
        row = await _row(ctx, organisation_id)
        bureau_id = organisation["bureau"]
        plans = await accounts.plans(ctx, bureau_id, create_defaults=ctx.bureau_admin)
        connected = await accounts.is_connected(ctx, bureau_id)
    chosen = None
    if row is not None and row["plan"] is not None:
        chosen = next((plan for plan in plans if plan.id == row["plan"]), None)
    return BillingView(
        organisation_id=organisation_id,
        bureau_id=bureau_id,
        customer_id=row["stripe_customer_id"] if row else "",
        organisation_name=organisation["name"],
        headcount=organisation["headcount"],
        connected=connected,
        payer=row["payer"] if row else "organisation",
        collection=row["collection"] if row else "send_invoice",
        plan=chosen or accounts.plan_for(plans, organisation["headcount"]),
        plan_chosen=chosen is not None,
        plans=plans,
        status=row["status"] if row else "",
        payment_failed=bool(row and row["payment_failed"]),
        trial_end=row["trial_end"] if row else None,
        sync_error=row["sync_error"] if row else "",
        may_edit=ctx.bureau_admin,
    )


async def configure(
    ctx: TenantContext,
    *,
    organisation_id: UUID,
    payer: str,
    collection: str,
    plan_id: UUID | None,
) -> None:
    """Save how the organisation is billed and queue the Stripe sync (bureau admin only)."""
    errors: dict[str, str] = {}
    if payer not in PAYERS:
        errors["payer"] = "payer_invalid"
    if collection not in COLLECTIONS:
        errors["collection"] = "collection_invalid"
    async with tenant_transaction(ctx):
        organisation = await access_organisation(ctx, organisation_id)
        bureau_id = accounts.require_admin(ctx)
        if plan_id is not None:
            plan = (
                await scoped(Plan.select(Plan.id), Plan, ctx)
                .where(Plan.id == plan_id, Plan.bureau == bureau_id)
                .first()
            )
            if plan is None:
                errors["plan"] = "plan_invalid"
        if errors:
            raise Invalid(code=next(iter(errors.values())), fields=errors)
        current = await _row(ctx, organisation_id)
        if current is None:
            check_may_write(ctx, bureau_id=bureau_id, organisation_id=organisation_id)
            await OrganisationBilling.insert(
                OrganisationBilling(
                    id=uuid4(),
                    organisation=organisation_id,
                    bureau=organisation["bureau"],
                    payer=payer,
                    collection=collection,
                    plan=plan_id,
                )
            )
        else:
            values: dict[Any, Any] = {
                OrganisationBilling.payer: payer,
                OrganisationBilling.collection: collection,
                OrganisationBilling.plan: plan_id,
                OrganisationBilling.generation: current["generation"] + 1,
                OrganisationBilling.sync_error: "",
                OrganisationBilling.updated_at: datetime.now(UTC),
            }
            if current["status"] == "canceled":
                # Saving again after Stripe ended the subscription starts a new one.
                values[OrganisationBilling.stripe_subscription_id] = ""
            await scoped(OrganisationBilling.update(values), OrganisationBilling, ctx).where(
                OrganisationBilling.organisation == organisation_id
            )
        await outbox.enqueue(
            SYNC,
            dedupe_key=sync_key(organisation_id),
            bureau_id=bureau_id,
            organisation_id=organisation_id,
        )
        await audit.record(
            ctx,
            action="billing.organisation_configured",
            organisation_id=organisation_id,
            subject_type="organisation",
            subject_id=organisation_id,
            detail={"payer": payer, "collection": collection, "plan": str(plan_id or "")},
        )


async def sync_organisation(settings: Settings, box: SecretBox, organisation_id: UUID) -> None:
    """Bring Stripe in line with the organisation's billing row (see the module docstring).
    Raises `StripeUnavailable` / `StripeRefused` for the outbox to settle."""
    ctx = system_context("billing-sync")
    async with tenant_transaction(ctx):
        row = await _row(ctx, organisation_id)
        organisation = await access_organisation(ctx, organisation_id)
    if row is None:
        return
    bureau_id = organisation["bureau"]
    keys = await accounts.stripe_keys(ctx, box, bureau_id)
    if keys is None:
        return  # not connected: nothing to do in Stripe
    conn = connection(settings, keys.secret_key)
    subscription_id = row["stripe_subscription_id"]
    if row["payer"] == "bureau":
        if subscription_id:
            await stripe_gateway.cancel_subscription(conn, subscription_id)
            # Hours count again from the day the organisation pays again, never for the time
            # the bureau paid (the trial used stays recorded in `trial_end`).
            await _save(
                ctx, organisation_id, stripe_subscription_id="", status="canceled", billed_from=None
            )
        return
    customer_id = row["stripe_customer_id"]
    if not customer_id:
        customer = await stripe_gateway.create_customer(
            conn,
            name=organisation["name"],
            email="",
            metadata={"organisation": str(organisation_id)},
            idempotency_key=f"customer:{organisation_id}",
        )
        customer_id = customer.id
        await _save(ctx, organisation_id, stripe_customer_id=customer_id)
    plans = await accounts.plans(ctx, bureau_id)
    chosen = next((plan for plan in plans if plan.id == row["plan"]), None)
    plan = chosen or accounts.plan_for(plans, organisation["headcount"])
    if plan is None:
        return
    stripe_plan = await _stripe_plan(ctx, conn, plan, keys.currency)
    if subscription_id:
        current = await stripe_gateway.get_subscription(conn, subscription_id)
        if current.status == "canceled" or current.plan_id == stripe_plan:
            # Ended in Stripe (unpaid, or by hand) stays ended: only the admin's next save
            # starts a new subscription (`configure`), never a webhook or a retry.
            await _save_state(ctx, organisation_id, current)
            return
        # A new price or band: the old subscription ends now, the new one starts (Stripe
        # can also swap the item in place with proration; localstripe cannot). Forgotten at
        # once, so a failure before the new one exists is retried, not taken for an end.
        await stripe_gateway.cancel_subscription(conn, subscription_id)
        await _save(ctx, organisation_id, stripe_subscription_id="")
    subscription = await stripe_gateway.create_subscription(
        conn,
        customer_id=customer_id,
        plan_id=stripe_plan,
        quantity=1,
        trial_end=_trial_end(row, keys.trial_days),
        collection="charge" if row["collection"] == "charge" else "send_invoice",
        days_until_due=DAYS_UNTIL_DUE,
        idempotency_key=f"subscription:{organisation_id}:{row['generation']}:{stripe_plan}",
    )
    await _save(
        ctx,
        organisation_id,
        stripe_subscription_id=subscription.id,
        billed_from=row["billed_from"] or local_today(),
    )
    await _save_state(ctx, organisation_id, subscription)


def _trial_end(row: dict[str, Any], bureau_trial_days: int) -> datetime | None:
    """The bureau's trial for an organisation never billed; what is left of its trial for
    one that moves to another plan or pays again; nothing after that."""
    if row["billed_from"] is None and row["trial_end"] is None:
        return stripe_gateway.trial_end_for(bureau_trial_days) if bureau_trial_days else None
    return stripe_gateway.trial_left(row["trial_end"])


async def _stripe_plan(
    ctx: TenantContext, conn: stripe_gateway.Connection, plan: PlanView, currency: str
) -> str:
    async with tenant_transaction(ctx):
        row = (
            await Plan.select(Plan.stripe_plan_id, Plan.stripe_plan_amount)
            .where(Plan.id == plan.id)
            .first()
        )
    if row and row["stripe_plan_id"] and row["stripe_plan_amount"] == plan.amount_cents:
        return str(row["stripe_plan_id"])
    stripe_plan = await stripe_gateway.create_plan(
        conn,
        product_name=f"Klankbord {plan.name}",
        amount_cents=plan.amount_cents,
        currency=currency,
        interval=cast(Literal["month", "year"], plan.interval),
        idempotency_key=f"plan:{plan.id}:{plan.amount_cents}:{plan.interval}",
    )
    async with tenant_transaction(ctx):
        await Plan.update(
            {Plan.stripe_plan_id: stripe_plan, Plan.stripe_plan_amount: plan.amount_cents}
        ).where(Plan.id == plan.id)
    return stripe_plan


async def _save(ctx: TenantContext, organisation_id: UUID, **values: Any) -> None:
    columns = {getattr(OrganisationBilling, name): value for name, value in values.items()}
    columns[OrganisationBilling.updated_at] = datetime.now(UTC)
    async with tenant_transaction(ctx):
        await OrganisationBilling.update(columns).where(
            OrganisationBilling.organisation == organisation_id
        )


async def _save_state(
    ctx: TenantContext, organisation_id: UUID, subscription: stripe_gateway.Subscription
) -> None:
    await _save(
        ctx,
        organisation_id,
        status=subscription.status,
        payment_failed=subscription.status in FAILED_STATES,
        trial_end=subscription.trial_end,
        sync_error="",
    )


async def record_sync_error(organisation_id: UUID, code: str) -> None:
    await _save(system_context("billing-sync"), organisation_id, sync_error=code[:40])


@dataclass(frozen=True)
class Usage:
    period_start: date
    period_end: date  # exclusive
    used_minutes: int
    included_minutes: int


async def usage(ctx: TenantContext, organisation_id: UUID, view: BillingView) -> Usage | None:
    """The counsellors' time in the plan's current period against the hours included (for
    the bureau too when it absorbs the cost); None without a plan."""
    from billing import hours  # it builds on this module

    if view.plan is None:
        return None
    period = hours.period_of(local_today(), view.plan.interval)
    used = await hours.used_minutes(ctx, organisation_id, period)
    return Usage(period.start, period.end, used, view.plan.included_minutes)


async def failed_payments(ctx: TenantContext, organisation_ids: list[UUID]) -> set[UUID]:
    """Which of these organisations have a failed payment (the dashboard's flag): one query,
    within what `ctx` may see."""
    if not organisation_ids:
        return set()
    async with tenant_transaction(ctx):
        rows = await scoped(
            OrganisationBilling.select(OrganisationBilling.organisation),
            OrganisationBilling,
            ctx,
        ).where(
            OrganisationBilling.organisation.is_in(organisation_ids),
            OrganisationBilling.payment_failed.eq(True),
        )
    return {UUID(str(row["organisation"])) for row in rows}
