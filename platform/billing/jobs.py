"""The billing job: the Stripe outbox, then the extra hours of ended periods.

Both are idempotent and safe in several processes (see `outbox` and `hours`). Without any
bureau connected to Stripe there is nothing to do and no call is made.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from billing import accounts, hours, outbox, subscriptions
from klankbord.secretbox import SecretBox
from klankbord.settings import Settings


def operations(settings: Settings, box: SecretBox) -> dict[str, outbox.Operation]:
    async def sync(row: dict[str, object]) -> None:
        organisation = row["organisation"]
        if organisation is not None:
            await subscriptions.sync_organisation(settings, box, UUID(str(organisation)))

    return {subscriptions.SYNC: sync}


async def run_key(settings: Settings, box: SecretBox, dedupe_key: str) -> str | None:
    """Carry out the due outbox row with this key now (after a page or a webhook)."""
    return await outbox.run_one(
        operations(settings, box), now=datetime.now(UTC), dedupe_key=dedupe_key
    )


async def sync_now(settings: Settings, box: SecretBox, organisation_id: UUID) -> str | None:
    return await run_key(settings, box, subscriptions.sync_key(organisation_id))


async def run(settings: Settings) -> str:
    if not await accounts.any_connected():
        return "no bureau has Stripe connected"
    box = SecretBox(settings.server_key)
    done = await outbox.run_due(operations(settings, box))
    invoiced = await hours.invoice_ended_periods(settings, box)
    return (
        f"{done['done']} synced, {done['waiting']} waiting, {done['refused']} refused;"
        f" {invoiced['periods']} periods, {invoiced['items']} hour items,"
        f" {invoiced['waiting']} waiting"
    )
