"""A bureau's billing settings: its own Stripe account (optional) and its plans.

Only the bureau admin reads or changes them (`PermissionDenied` for other staff, who know the
bureau). The Stripe secret key and the webhook signing secret are sealed with `SecretBox`
and never shown again: the form keeps them when left blank. Without a connected account the
plans still exist and are shown, and billing pages say "not connected"; nothing else depends
on Stripe.

Plans are bands of headcount. A new bureau gets four default bands (1-49, 50-249, 250-999,
1000+) to edit; an organisation's plan is the band of its headcount unless the admin
chooses another (`subscriptions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from billing.tables import BillingAccount, Plan
from klankbord import audit
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.secretbox import SecretBox
from klankbord.tenancy import (
    TenantContext,
    check_may_write,
    scoped,
    system_context,
    tenant_transaction,
)

INTERVALS = ("month", "year")
DEFAULT_BANDS = (  # (from, up to (0: no upper bound), cents per month, hours included)
    (1, 49, 4_500, 2),
    (50, 249, 12_500, 6),
    (250, 999, 32_500, 16),
    (1000, 0, 65_000, 32),
)
DEFAULT_EXTRA_HOUR_CENTS = 9_500
KEY_PREFIXES = ("sk_live_", "sk_test_", "rk_live_", "rk_test_")


@dataclass(frozen=True)
class Account:
    connected: bool
    currency: str
    trial_days: int


@dataclass(frozen=True)
class PlanView:
    id: UUID
    name: str
    min_headcount: int
    max_headcount: int  # 0: no upper bound
    amount_cents: int
    interval: str
    included_minutes: int
    extra_hour_cents: int

    def covers(self, headcount: int) -> bool:
        return headcount >= self.min_headcount and (
            self.max_headcount == 0 or headcount <= self.max_headcount
        )


def key_context(bureau_id: UUID) -> str:
    return f"stripe-key:{bureau_id}"


def webhook_context(bureau_id: UUID) -> str:
    return f"stripe-webhook:{bureau_id}"


def require_admin(ctx: TenantContext) -> UUID:
    if not ctx.bureau_admin or ctx.bureau_id is None:
        raise PermissionDenied()
    return ctx.bureau_id


async def account(ctx: TenantContext) -> Account:
    bureau_id = require_admin(ctx)
    async with tenant_transaction(ctx):
        row = await _account_row(ctx, bureau_id)
    if row is None:
        return Account(connected=False, currency="eur", trial_days=30)
    return Account(connected=True, currency=row["currency"], trial_days=row["trial_days"])


async def _account_row(ctx: TenantContext, bureau_id: UUID) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await scoped(BillingAccount.select(), BillingAccount, ctx)
        .where(BillingAccount.bureau == bureau_id)
        .first()
    )
    return row


@dataclass(frozen=True)
class Keys:
    secret_key: str
    webhook_secret: str
    currency: str
    trial_days: int


async def stripe_keys(ctx: TenantContext, box: SecretBox, bureau_id: UUID) -> Keys | None:
    """The bureau's opened keys, for the Stripe calls made on its behalf (any context that
    may read the bureau's rows: the admin's, or a job's system context)."""
    async with tenant_transaction(ctx):
        row = await _account_row(ctx, bureau_id)
    if row is None:
        return None
    return Keys(
        secret_key=box.open(row["secret_key_sealed"], context=key_context(bureau_id)),
        webhook_secret=box.open(row["webhook_secret_sealed"], context=webhook_context(bureau_id)),
        currency=row["currency"],
        trial_days=row["trial_days"],
    )


def check_keys(secret_key: str, webhook_secret: str, *, first: bool) -> dict[str, str]:
    """Field → error code. Stripe's formats: "sk_…"/"rk_…" keys and "whsec_…" secrets."""
    problems: list[tuple[str, str]] = []
    if secret_key and not (secret_key.startswith(KEY_PREFIXES) and len(secret_key) <= 255):
        problems.append(("secret_key", "stripe_key_invalid"))
    elif first and not secret_key:
        problems.append(("secret_key", "stripe_key_required"))
    if webhook_secret and not (webhook_secret.startswith("whsec_") and len(webhook_secret) <= 255):
        problems.append(("webhook_secret", "webhook_secret_invalid"))
    elif first and not webhook_secret:
        problems.append(("webhook_secret", "webhook_secret_required"))
    return dict(problems)


async def connect(
    ctx: TenantContext,
    box: SecretBox,
    *,
    secret_key: str,
    webhook_secret: str,
    trial_days: int,
) -> None:
    """Store (or replace) the bureau's Stripe keys; a blank key keeps the stored one."""
    bureau_id = require_admin(ctx)
    async with tenant_transaction(ctx):
        row = await _account_row(ctx, bureau_id)
        errors = check_keys(secret_key, webhook_secret, first=row is None)
        if not 0 <= trial_days <= 365:
            errors["trial_days"] = "trial_days_invalid"
        if errors:
            raise Invalid(code=next(iter(errors.values())), fields=errors)
        sealed_key = box.seal(secret_key, context=key_context(bureau_id)) if secret_key else ""
        sealed_secret = (
            box.seal(webhook_secret, context=webhook_context(bureau_id)) if webhook_secret else ""
        )
        if row is None:
            check_may_write(ctx, bureau_id=bureau_id)
            await BillingAccount.insert(
                BillingAccount(
                    id=uuid4(),
                    bureau=bureau_id,
                    secret_key_sealed=sealed_key,
                    webhook_secret_sealed=sealed_secret,
                    trial_days=trial_days,
                )
            )
        else:
            values: dict[Any, Any] = {
                BillingAccount.trial_days: trial_days,
                BillingAccount.updated_at: datetime.now(UTC),
            }
            if sealed_key:
                values[BillingAccount.secret_key_sealed] = sealed_key
            if sealed_secret:
                values[BillingAccount.webhook_secret_sealed] = sealed_secret
            await scoped(BillingAccount.update(values), BillingAccount, ctx).where(
                BillingAccount.bureau == bureau_id
            )
        await audit.record(
            ctx,
            action="billing.connected",
            subject_type="bureau",
            subject_id=bureau_id,
            detail={"key_changed": bool(secret_key), "secret_changed": bool(webhook_secret)},
        )


async def any_connected() -> bool:
    """Whether any bureau has Stripe connected (else the billing job has nothing to do)."""
    ctx = system_context("billing-check")
    async with tenant_transaction(ctx):
        return bool(await BillingAccount.exists())


async def is_connected(ctx: TenantContext, bureau_id: UUID) -> bool:
    async with tenant_transaction(ctx):
        return await _account_row(ctx, bureau_id) is not None


async def plans(
    ctx: TenantContext, bureau_id: UUID, *, create_defaults: bool = False
) -> list[PlanView]:
    """The bureau's plans by band. With `create_defaults` (the admin's pages) a bureau
    without any gets the default bands first."""
    async with tenant_transaction(ctx):
        rows = await _plan_rows(ctx, bureau_id)
        if not rows and create_defaults:
            require_admin(ctx)
            check_may_write(ctx, bureau_id=bureau_id)
            await Plan.insert(
                *(
                    Plan(
                        id=uuid4(),
                        bureau=bureau_id,
                        name=f"{low}-{high}" if high else f"{low}+",
                        min_headcount=low,
                        max_headcount=high,
                        amount_cents=cents,
                        interval="month",
                        included_minutes=hours * 60,
                        extra_hour_cents=DEFAULT_EXTRA_HOUR_CENTS,
                    )
                    for low, high, cents, hours in DEFAULT_BANDS
                )
            )
            rows = await _plan_rows(ctx, bureau_id)
    return [plan_view(row) for row in rows]


async def _plan_rows(ctx: TenantContext, bureau_id: UUID) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await (
        scoped(Plan.select(), Plan, ctx)
        .where(Plan.bureau == bureau_id)
        .order_by(Plan.min_headcount)
    )
    return rows


def plan_view(row: dict[str, Any]) -> PlanView:
    return PlanView(
        id=row["id"],
        name=row["name"],
        min_headcount=row["min_headcount"],
        max_headcount=row["max_headcount"],
        amount_cents=row["amount_cents"],
        interval=row["interval"],
        included_minutes=row["included_minutes"],
        extra_hour_cents=row["extra_hour_cents"],
    )


def plan_for(plans_: list[PlanView], headcount: int) -> PlanView | None:
    return next((plan for plan in plans_ if plan.covers(headcount)), None)


async def update_plan(
    ctx: TenantContext,
    *,
    plan_id: UUID,
    amount_cents: int,
    interval: str,
    included_hours: int,
    extra_hour_cents: int,
) -> None:
    """A band's price, period and hours; subscriptions move to the new price from their next
    change (a new Stripe Plan is made when the amount differs from the one Stripe has)."""
    bureau_id = require_admin(ctx)
    async with tenant_transaction(ctx):
        found = (
            await scoped(Plan.select(Plan.id), Plan, ctx)
            .where(Plan.id == plan_id, Plan.bureau == bureau_id)
            .first()
        )
        if found is None:  # before the form: a foreign id says nothing about its fields
            raise NotFound()
        errors: dict[str, str] = {}
        if not 0 <= amount_cents <= 10_000_000:
            errors["amount"] = "amount_invalid"
        if interval not in INTERVALS:
            errors["interval"] = "interval_invalid"
        if not 0 <= included_hours <= 10_000:
            errors["included_hours"] = "hours_invalid"
        if not 0 <= extra_hour_cents <= 1_000_000:
            errors["extra_hour"] = "amount_invalid"
        if errors:
            raise Invalid(code=next(iter(errors.values())), fields=errors)
        await scoped(
            Plan.update(
                {
                    Plan.amount_cents: amount_cents,
                    Plan.interval: interval,
                    Plan.included_minutes: included_hours * 60,
                    Plan.extra_hour_cents: extra_hour_cents,
                    Plan.updated_at: datetime.now(UTC),
                }
            ),
            Plan,
            ctx,
        ).where(Plan.id == plan_id)
        await audit.record(
            ctx,
            action="billing.plan_changed",
            subject_type="billing_plan",
            subject_id=plan_id,
            detail={"amount_cents": amount_cents, "interval": interval},
        )
