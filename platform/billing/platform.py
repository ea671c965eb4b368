"""What the platform bills each bureau: one subscription per bureau on the platform's own
Stripe account, one unit per active client organisation.

An organisation counts once it is onboarded and while it is active. The tenants code knows
nothing of this: `reconcile` (run by the billing job: every tick in development, on the cron
in production) counts the active organisations of every bureau in one query, compares the
count with the quantity last sent to Stripe and queues a `sync_bureau` for each difference.
Onboarding and offboarding so reach Stripe within one job run, without a call from the
request that changed them, and a failed call is retried by the outbox like any other.

`sync_bureau` brings Stripe in line: a customer, a Stripe Plan at the platform's price, a
subscription with the platform's trial for a bureau never billed, its quantity changed with
proration; then it reads the state back. A bureau whose last organisation leaves has its
subscription cancelled rather than kept at quantity 0: localstripe refuses a quantity of 0
(real Stripe allows it, but bills empty invoices every period), so both behave the same.
A later organisation starts a new subscription with what is left of the trial, if anything.

Invoices are sent for payment by transfer (B2B, no card to collect first); Stripe marks the
subscription `past_due` when one is not paid in time. From then on the bureau's staff are
warned, and after the grace period restricted (`standing`); reporters never notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from piccolo.query.functions.aggregate import Count

from billing import accounts, outbox, stripe_gateway, subscriptions
from billing.tables import BillingOutbox, BureauSubscription
from billing.webhooks import MAX_BODY, Received, WebhookInvalid, references, store_once
from klankbord.errors import NotFound
from klankbord.settings import Settings
from klankbord.tenancy import (
    TenantContext,
    bureau_reader_context,
    current_context,
    scoped,
    system_context,
    tenant_transaction,
)
from tenants.tables import Bureau, Organisation

SYNC = "sync_bureau"
ENDPOINT = "platform"
DAYS_UNTIL_DUE = 30
# A refused sync is not queued again by `reconcile` for this long (a wrong key, say).
REFUSED_PAUSE = timedelta(hours=1)


def sync_key(bureau_id: UUID) -> str:
    return f"{SYNC}:{bureau_id}"


def past_due_since(previous: datetime | None, status: str, now: datetime) -> datetime | None:
    """The first moment a payment was missing: kept while unpaid, cleared once paid. A
    subscription Stripe ended keeps it: ending does not pay what was owed."""
    if status in subscriptions.FAILED_STATES or (status == "canceled" and previous):
        return previous or now
    return None


async def _active_counts(bureau_id: UUID | None = None) -> dict[UUID, int]:
    query = Organisation.select(Organisation.bureau, Count(alias="active")).where(
        Organisation.active.eq(True), Organisation.onboarded_at.is_not_null()
    )
    if bureau_id is not None:
        query = query.where(Organisation.bureau == bureau_id)
    rows = await query.group_by(Organisation.bureau)
    return {UUID(str(row["bureau"])): int(row["active"]) for row in rows}


async def reconcile(settings: Settings, *, now: datetime | None = None) -> int:
    """Queue a sync for every bureau whose active organisations differ from what Stripe
    bills (or whose price changed); returns how many need one (pending ones included: the
    outbox keeps one row per bureau). A refused sync waits `REFUSED_PAUSE` before the next."""
    if not settings.stripe_platform_key:
        return 0
    moment = now or datetime.now(UTC)
    async with tenant_transaction(system_context("platform-billing")):
        counts = await _active_counts()
        billed = await BureauSubscription.select(
            BureauSubscription.bureau,
            BureauSubscription.quantity,
            BureauSubscription.stripe_plan_amount,
            BureauSubscription.stripe_subscription_id,
            BureauSubscription.status,
        )
        paused = await BillingOutbox.select(BillingOutbox.bureau).where(
            BillingOutbox.operation == SYNC,
            BillingOutbox.done_at > moment - REFUSED_PAUSE,
            BillingOutbox.last_error != "",
        )
        skip = {UUID(str(row["bureau"])) for row in paused}
        wanted = {bureau: count for bureau, count in counts.items() if count > 0}
        for row in billed:
            bureau = UUID(str(row["bureau"]))
            if row["stripe_subscription_id"] and row["status"] == "canceled":
                skip.add(bureau)  # ended by Stripe: stays ended (see `sync_bureau`)
                continue
            count = counts.get(bureau, 0)
            price_changed = count > 0 and row["stripe_plan_amount"] != settings.platform_price_cents
            if row["quantity"] != count or price_changed:
                wanted[bureau] = count
            else:
                wanted.pop(bureau, None)
        queued = [bureau for bureau in wanted if bureau not in skip]
        for bureau in queued:
            await outbox.enqueue(SYNC, dedupe_key=sync_key(bureau), bureau_id=bureau)
    return len(queued)


async def sync_bureau(settings: Settings, bureau_id: UUID) -> None:
    """Bring the platform's Stripe account in line with the bureau (module docstring).
    Raises `StripeUnavailable` / `StripeRefused` for the outbox; each Stripe object is
    recorded once made, and made under an idempotency key, so a retry makes nothing twice."""
    if not settings.stripe_platform_key:
        return
    ctx = system_context("platform-billing")
    async with tenant_transaction(ctx):
        bureau = await Bureau.select(Bureau.name).where(Bureau.id == bureau_id).first()
        if bureau is None:
            return
        row = await _row(bureau_id)
        count = (await _active_counts(bureau_id)).get(bureau_id, 0)
    conn = subscriptions.connection(settings, settings.stripe_platform_key)
    subscription_id: str = row["stripe_subscription_id"]
    if count == 0:
        if subscription_id:
            ended = await stripe_gateway.cancel_subscription(conn, subscription_id)
            await _save_state(
                ctx,
                row,
                ended,
                stripe_subscription_id="",
                quantity=0,
                generation=row["generation"] + 1,
            )
        return
    customer_id: str = row["stripe_customer_id"]
    if not customer_id:
        customer = await stripe_gateway.create_customer(
            conn,
            name=str(bureau["name"]),
            email="",
            metadata={"bureau": str(bureau_id)},
            idempotency_key=f"platform-customer:{bureau_id}",
        )
        customer_id = customer.id
        await _save(ctx, bureau_id, stripe_customer_id=customer_id)
    plan_id = await _plan(ctx, conn, settings, row)
    if subscription_id:
        current = await stripe_gateway.get_subscription(conn, subscription_id)
        if current.status == "canceled":
            # Ended by Stripe (unpaid too long, or by hand): no webhook or job restarts it.
            await _save_state(ctx, row, current)
            return
        if current.plan_id == plan_id:
            if current.quantity != count:
                current = await stripe_gateway.set_quantity(
                    conn, subscription_id, count, prorate=True
                )
            await _save_state(ctx, row, current, quantity=current.quantity)
            return
        # A new price: the old subscription ends now and a new one starts (Stripe could swap
        # the item in place with proration; localstripe cannot).
        await stripe_gateway.cancel_subscription(conn, subscription_id)
        row["generation"] += 1
        await _save(ctx, bureau_id, stripe_subscription_id="", generation=row["generation"])
    created = await stripe_gateway.create_subscription(
        conn,
        customer_id=customer_id,
        plan_id=plan_id,
        quantity=count,
        trial_end=_trial_end(row, settings.platform_trial_days),
        collection="send_invoice",
        days_until_due=DAYS_UNTIL_DUE,
        idempotency_key=f"platform-subscription:{bureau_id}:{row['generation']}:{plan_id}",
    )
    await _save_state(
        ctx, row, created, stripe_subscription_id=created.id, quantity=created.quantity
    )


async def _row(bureau_id: UUID) -> dict[str, Any]:
    """The bureau's row, made on its first sync (inside the caller's transaction)."""
    query = BureauSubscription.select().where(BureauSubscription.bureau == bureau_id)
    row: dict[str, Any] | None = await query.first()
    if row is None:
        await BureauSubscription.insert(BureauSubscription(id=uuid4(), bureau=bureau_id))
        row = await query.first()
    assert row is not None
    return row


def _trial_end(row: dict[str, Any], platform_trial_days: int) -> datetime | None:
    """The full trial for a bureau never billed; what is left of it for one that starts
    again (whole days, rounded up); nothing after that."""
    if row["status"] == "" and row["trial_end"] is None:
        return stripe_gateway.trial_end_for(platform_trial_days) if platform_trial_days else None
    return stripe_gateway.trial_left(row["trial_end"])


async def _plan(
    ctx: TenantContext,
    conn: stripe_gateway.Connection,
    settings: Settings,
    row: dict[str, Any],
) -> str:
    amount = settings.platform_price_cents
    if row["stripe_plan_id"] and row["stripe_plan_amount"] == amount:
        return str(row["stripe_plan_id"])
    plan_id = await stripe_gateway.create_plan(
        conn,
        product_name="Klankbord, per client organisation",
        amount_cents=amount,
        currency="eur",
        interval="month",
        idempotency_key=f"platform-plan:{row['bureau']}:{amount}",
    )
    await _save(ctx, row["bureau"], stripe_plan_id=plan_id, stripe_plan_amount=amount)
    return plan_id


async def _save(ctx: TenantContext, bureau_id: UUID, **values: Any) -> None:
    columns = {getattr(BureauSubscription, name): value for name, value in values.items()}
    columns[BureauSubscription.updated_at] = datetime.now(UTC)
    async with tenant_transaction(ctx):
        await BureauSubscription.update(columns).where(BureauSubscription.bureau == bureau_id)


async def _save_state(
    ctx: TenantContext,
    row: dict[str, Any],
    subscription: stripe_gateway.Subscription,
    **values: Any,
) -> None:
    await _save(
        ctx,
        row["bureau"],
        status=subscription.status,
        trial_end=subscription.trial_end,
        past_due_since=past_due_since(
            row["past_due_since"], subscription.status, datetime.now(UTC)
        ),
        **values,
    )


async def receive(settings: Settings, payload: bytes, signature: str) -> Received:
    """A platform webhook: verified, stored once by event id, the bureau's sync queued.
    `NotFound` when the platform bills no one; `WebhookInvalid` (400) changes nothing."""
    secret = settings.stripe_platform_webhook_secret
    if not settings.stripe_platform_key or not secret:
        raise NotFound()
    if len(payload) > MAX_BODY:
        raise WebhookInvalid(code="webhook_invalid")
    try:
        event = stripe_gateway.verify_event(payload, signature, secret)
    except stripe_gateway.SignatureInvalid:
        raise WebhookInvalid(code="webhook_invalid") from None
    subscription_id, customer_id = references(payload)
    async with tenant_transaction(system_context("platform-webhook")):
        if not await store_once(ENDPOINT, event):
            return Received(stored=False, sync=None)
        bureau_id = await _bureau_of(subscription_id, customer_id)
        if bureau_id is None:
            return Received(stored=True, sync=None)
        await outbox.enqueue(SYNC, dedupe_key=sync_key(bureau_id), bureau_id=bureau_id)
    return Received(stored=True, sync=sync_key(bureau_id))


async def _bureau_of(subscription_id: str, customer_id: str) -> UUID | None:
    if subscription_id:
        match = BureauSubscription.stripe_subscription_id == subscription_id
    elif customer_id:
        match = BureauSubscription.stripe_customer_id == customer_id
    else:
        return None
    row = await BureauSubscription.select(BureauSubscription.bureau).where(match).first()
    return None if row is None else UUID(str(row["bureau"]))


@dataclass(frozen=True)
class Standing:
    warned: bool  # a payment is missing: staff see a warning
    restricted: bool  # missing for longer than the grace: staff pages are restricted
    since: datetime | None


async def standing(bureau_id: UUID, *, now: datetime, grace_days: int) -> Standing:
    """Whether the bureau's staff are warned or restricted; one query, for every staff page.

    Inside an open tenant transaction it reads with that context. Otherwise it opens one for
    this bureau alone, not a system context: each system transaction writes an audit event
    (under the chain's lock), which a check on every page must not do."""
    query = BureauSubscription.select(BureauSubscription.past_due_since).where(
        BureauSubscription.bureau == bureau_id
    )
    if current_context() is not None:
        row = await query.first()
    else:
        ctx = bureau_reader_context(bureau_id, purpose="billing-standing")
        async with tenant_transaction(ctx):
            row = await query.first()
    since: datetime | None = row["past_due_since"] if row else None
    if since is None:
        return Standing(warned=False, restricted=False, since=None)
    overdue = now - since.astimezone(UTC) > timedelta(days=grace_days)
    return Standing(warned=True, restricted=overdue, since=since)


@dataclass(frozen=True)
class BureauStatus:
    status: str  # Stripe's subscription status
    quantity: int  # active organisations billed
    trial_end: datetime | None
    past_due_since: datetime | None


async def bureau_status(ctx: TenantContext) -> BureauStatus | None:
    """What the platform bills the admin's bureau; None while it bills nothing."""
    bureau_id = accounts.require_admin(ctx)
    async with tenant_transaction(ctx):
        row = (
            await scoped(BureauSubscription.select(), BureauSubscription, ctx)
            .where(BureauSubscription.bureau == bureau_id)
            .first()
        )
    if row is None:
        return None
    return BureauStatus(row["status"], row["quantity"], row["trial_end"], row["past_due_since"])
