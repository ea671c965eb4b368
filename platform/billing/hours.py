"""Extra counsellor hours as Stripe invoice items, once per organisation and period.

At the end of each period of its plan (calendar months, or years for a yearly plan), an
organisation that pays for itself is billed for the time the counsellors logged on its cases
beyond the plan's included hours. The period's figures are recorded first (one row per
organisation and period, a unique index: a rerun or a second process records nothing twice),
then the invoice item is made under an idempotency key derived from that row, and its id
stored; a Stripe failure leaves the row without an item id, and the next run makes it (the
same key, so never twice). Stripe puts pending items on the customer's next invoice.

The item's description holds only the period and hours: never a case, a name or a category.
Periods count from `billed_from` (the day the subscription started), so time before it is
never billed. A bureau that absorbs the cost has no subscription: nothing is invoiced, and
its usage overview reads `usage`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from piccolo.query.functions.aggregate import Sum

from billing import accounts, stripe_gateway
from billing.subscriptions import connection
from billing.tables import HoursInvoiced, OrganisationBilling, Plan
from casework.tables import TimeEntry
from casework.time_entries import local_today
from klankbord.secretbox import SecretBox
from klankbord.settings import Settings
from klankbord.tenancy import TenantContext, system_context, tenant_transaction
from tenants.access import access_organisation


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # exclusive


def period_of(day: date, interval: str) -> Period:
    if interval == "year":
        return Period(date(day.year, 1, 1), date(day.year + 1, 1, 1))
    following = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return Period(date(day.year, day.month, 1), following)


def ended_periods(billed_from: date, interval: str, today: date) -> list[Period]:
    """The periods from the one holding `billed_from` up to the last that ended by `today`."""
    periods: list[Period] = []
    period = period_of(billed_from, interval)
    while period.end <= today:
        periods.append(period)
        period = period_of(period.end, interval)
    return periods


def extra_amount(extra_minutes: int, extra_hour_cents: int) -> int:
    """Cents for the extra minutes, rounded half up to a cent."""
    return (extra_minutes * extra_hour_cents + 30) // 60


def description(period: Period, *, used_minutes: int, included_minutes: int) -> str:
    """Counts and the period only (the customer reads it on the invoice)."""
    last = date.fromordinal(period.end.toordinal() - 1)
    return (
        f"Extra counsellor hours {period.start:%d-%m-%Y} to {last:%d-%m-%Y}:"
        f" {used_minutes / 60:.1f} h used, {included_minutes / 60:.1f} h included"
    )


async def used_minutes(ctx: TenantContext, organisation_id: UUID, period: Period) -> int:
    async with tenant_transaction(ctx):
        rows = await TimeEntry.select(Sum(TimeEntry.minutes, alias="minutes")).where(
            TimeEntry.organisation == organisation_id,
            TimeEntry.spent_on >= period.start,
            TimeEntry.spent_on < period.end,
        )
    return int((rows[0]["minutes"] if rows else 0) or 0)


async def invoice_ended_periods(
    settings: Settings, box: SecretBox, *, today: date | None = None
) -> dict[str, int]:
    """Record and invoice every ended period of every subscribed organisation."""
    day = today or local_today()
    ctx = system_context("billing-hours")
    counts = {"periods": 0, "items": 0, "waiting": 0}
    async with tenant_transaction(ctx):
        billed = await OrganisationBilling.select(
            OrganisationBilling.organisation,
            OrganisationBilling.bureau,
            OrganisationBilling.stripe_customer_id,
            OrganisationBilling.billed_from,
            OrganisationBilling.plan,
            OrganisationBilling.organisation.headcount.as_alias("headcount"),
        ).where(
            OrganisationBilling.payer == "organisation",
            OrganisationBilling.stripe_subscription_id != "",
            OrganisationBilling.billed_from.is_not_null(),
        )
        due = await _due(billed, day)
    # One system transaction (one audit event) when nothing is due, which is nearly always.
    for row in (row for row in billed if row["organisation"] in due):
        try:
            made = await _invoice_organisation(settings, box, ctx, row, day)
        except stripe_gateway.StripeUnavailable:
            counts["waiting"] += 1
            continue
        counts["periods"] += made[0]
        counts["items"] += made[1]
    return counts


async def _due(billed: list[dict[str, Any]], day: date) -> set[Any]:
    """The organisations with an ended period not yet recorded, or recorded with an amount
    but no invoice item yet (inside the caller's transaction: two queries)."""
    if not billed:
        return set()
    bureaus = {row["bureau"] for row in billed}
    plans: dict[Any, list[accounts.PlanView]] = {}
    for plan_row in await Plan.select().where(Plan.bureau.is_in(list(bureaus))):
        plans.setdefault(plan_row["bureau"], []).append(accounts.plan_view(plan_row))
    settled = {
        (row["organisation"], row["period_start"])
        for row in await HoursInvoiced.select(
            HoursInvoiced.organisation,
            HoursInvoiced.period_start,
            HoursInvoiced.stripe_item_id,
            HoursInvoiced.amount_cents,
        ).where(HoursInvoiced.organisation.is_in([row["organisation"] for row in billed]))
        if row["stripe_item_id"] or not row["amount_cents"]
    }
    due: set[Any] = set()
    for row in billed:
        bands = sorted(plans.get(row["bureau"], []), key=lambda plan: plan.min_headcount)
        chosen = next((plan for plan in bands if plan.id == row["plan"]), None)
        plan = chosen or accounts.plan_for(bands, row["headcount"])
        if plan is None:
            continue
        periods = ended_periods(row["billed_from"], plan.interval, day)
        if any((row["organisation"], period.start) not in settled for period in periods):
            due.add(row["organisation"])
    return due


async def _invoice_organisation(
    settings: Settings, box: SecretBox, ctx: TenantContext, row: dict[str, Any], day: date
) -> tuple[int, int]:
    bureau_id = UUID(str(row["bureau"]))
    organisation_id = UUID(str(row["organisation"]))
    keys = await accounts.stripe_keys(ctx, box, bureau_id)
    plans = await accounts.plans(ctx, bureau_id)
    async with tenant_transaction(ctx):
        organisation = await access_organisation(ctx, organisation_id)
    # The chosen plan, else the band of the headcount (as `subscriptions.sync_organisation`).
    chosen = next((plan for plan in plans if plan.id == row["plan"]), None)
    plan = chosen or accounts.plan_for(plans, organisation["headcount"])
    if keys is None or plan is None:
        return 0, 0
    periods = made = 0
    for period in ended_periods(row["billed_from"], plan.interval, day):
        counted = Period(max(period.start, row["billed_from"]), period.end)
        recorded = await _record(ctx, organisation_id, bureau_id, period, counted, plan)
        periods += recorded is not None and recorded["new"]
        if recorded is None or recorded["stripe_item_id"] or not recorded["amount_cents"]:
            continue
        item_id = await stripe_gateway.add_invoice_item(
            connection(settings, keys.secret_key),
            customer_id=row["stripe_customer_id"],
            amount_cents=recorded["amount_cents"],
            currency=keys.currency,
            description=description(
                period,
                used_minutes=recorded["used_minutes"],
                included_minutes=recorded["included_minutes"],
            ),
            idempotency_key=f"hours:{recorded['id']}",
        )
        async with tenant_transaction(ctx):
            await HoursInvoiced.update({HoursInvoiced.stripe_item_id: item_id}).where(
                HoursInvoiced.id == recorded["id"]
            )
        made += 1
    return periods, made


async def _record(
    ctx: TenantContext,
    organisation_id: UUID,
    bureau_id: UUID,
    period: Period,
    counted: Period,
    plan: accounts.PlanView,
) -> dict[str, Any] | None:
    """The period's row, made now if new (`new` says which); `counted` is the part of the
    period from `billed_from` on."""
    async with tenant_transaction(ctx):
        existing = (
            await HoursInvoiced.select()
            .where(
                HoursInvoiced.organisation == organisation_id,
                HoursInvoiced.period_start == period.start,
            )
            .first()
        )
        if existing is not None:
            return {**existing, "new": False}
        used = await used_minutes(ctx, organisation_id, counted)
        extra = max(0, used - plan.included_minutes)
        row = HoursInvoiced(
            id=uuid4(),
            organisation=organisation_id,
            bureau=bureau_id,
            period_start=period.start,
            period_end=period.end,
            used_minutes=used,
            included_minutes=plan.included_minutes,
            extra_minutes=extra,
            amount_cents=extra_amount(extra, plan.extra_hour_cents),
        )
        await HoursInvoiced.insert(row)
        return {**row.to_dict(), "stripe_item_id": "", "new": True}
