"""The billing job: what the platform bills each bureau brought in line, the Stripe outbox,
then the extra hours of ended periods.

All are idempotent and safe in several processes (see `outbox`, `platform` and `hours`).
Without any bureau connected to Stripe and without the platform's own key there is nothing
to do: no call is made and no key is unsealed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from billing import accounts, hours, outbox, platform, stripe_gateway, subscriptions
from klankbord.secretbox import SecretBox
from klankbord.settings import Settings


def operations(settings: Settings, box: SecretBox) -> dict[str, outbox.Operation]:
    async def sync(row: dict[str, object]) -> None:
        organisation = row["organisation"]
        if organisation is None:
            return
        organisation_id = UUID(str(organisation))
        try:
            await subscriptions.sync_organisation(settings, box, organisation_id)
        except stripe_gateway.StripeRefused as refused:
            # No retry fixes a refusal: the billing page keeps saying so until a change.
            await subscriptions.record_sync_error(organisation_id, f"stripe_{refused.code}")
            raise

    async def sync_bureau(row: dict[str, object]) -> None:
        bureau = row["bureau"]
        if bureau is not None:
            await platform.sync_bureau(settings, UUID(str(bureau)))

    return {subscriptions.SYNC: sync, platform.SYNC: sync_bureau}


async def run_key(settings: Settings, box: SecretBox, dedupe_key: str) -> str | None:
    """Carry out the due outbox row with this key now (after a page or a webhook)."""
    return await outbox.run_one(
        operations(settings, box), now=datetime.now(UTC), dedupe_key=dedupe_key
    )


async def sync_now(settings: Settings, box: SecretBox, organisation_id: UUID) -> str | None:
    return await run_key(settings, box, subscriptions.sync_key(organisation_id))


async def run(settings: Settings) -> str:
    platform_bills = bool(settings.stripe_platform_key)
    if not platform_bills and not await accounts.any_connected():
        return "no bureau has Stripe connected"
    box = SecretBox(settings.server_key)
    # Onboarding and offboarding reach Stripe here: the tenants code knows nothing of billing.
    queued = await platform.reconcile(settings) if platform_bills else 0
    done = await outbox.run_due(operations(settings, box))
    invoiced = await hours.invoice_ended_periods(settings, box)
    return (
        f"{queued} bureaus queued, {done['done']} synced, {done['waiting']} waiting,"
        f" {done['refused']} refused; {invoiced['periods']} periods,"
        f" {invoiced['items']} hour items, {invoiced['waiting']} waiting"
    )
