"""Stripe calls that must happen, kept until they did: the billing outbox.

A change that needs Stripe (an organisation's billing set up or changed, a webhook saying
something changed) writes an outbox row in its own transaction; the `billing` job, or the
request right after its commit, carries it out. While Stripe is unavailable a row waits
with backoff (1, 5, 30 minutes, then 2 and 12 hours) and is tried again; a refusal (a 4xx
from Stripe, which no retry fixes) is settled with its code, for the admin to see. Every
operation is idempotent (Stripe idempotency keys, and "already done" checks against our own
rows), so a retry or two processes claiming the same row create nothing twice.

The claim mirrors the mail outbox: attempts + 1 and a lease commit before the Stripe call, so
no transaction is held open across the network.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from billing.stripe_gateway import StripeRefused, StripeUnavailable
from billing.tables import BillingOutbox
from klankbord import database

log = logging.getLogger(__name__)

BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=12),
)
CLAIM_LEASE = timedelta(minutes=5)
BATCH = 50

Operation = Callable[[dict[str, Any]], Awaitable[None]]


async def enqueue(
    operation: str,
    *,
    dedupe_key: str,
    bureau_id: UUID | None = None,
    organisation_id: UUID | None = None,
) -> None:
    """Add a call to make, inside the caller's transaction. A pending row with the same key is
    the same work: nothing is added (a settled one is revived, as new work)."""
    existing = await BillingOutbox.select(BillingOutbox.id, BillingOutbox.done_at).where(
        BillingOutbox.dedupe_key == dedupe_key
    )
    now = datetime.now(UTC)
    if existing:
        if existing[0]["done_at"] is not None:
            await BillingOutbox.update(
                {
                    BillingOutbox.done_at: None,
                    BillingOutbox.attempts: 0,
                    BillingOutbox.next_attempt_at: now,
                    BillingOutbox.last_error: "",
                }
            ).where(BillingOutbox.id == existing[0]["id"])
        return
    await BillingOutbox.insert(
        BillingOutbox(
            id=uuid4(),
            bureau=bureau_id,
            organisation=organisation_id,
            operation=operation,
            dedupe_key=dedupe_key,
            next_attempt_at=now,
        )
    )


async def _claim(now: datetime, dedupe_key: str | None) -> dict[str, Any] | None:
    engine = database.current_engine()
    async with engine.transaction():
        query = BillingOutbox.select().where(
            BillingOutbox.done_at.is_null(), BillingOutbox.next_attempt_at <= now
        )
        if dedupe_key is not None:
            query = query.where(BillingOutbox.dedupe_key == dedupe_key)
        query = query.order_by(BillingOutbox.next_attempt_at).limit(1)
        if database.is_postgres(engine):
            query = query.lock_rows("UPDATE", skip_locked=True)
        rows = await query
        if not rows:
            return None
        row: dict[str, Any] = rows[0]
        await BillingOutbox.update(
            {
                BillingOutbox.attempts: row["attempts"] + 1,
                BillingOutbox.next_attempt_at: now + CLAIM_LEASE,
            }
        ).where(BillingOutbox.id == row["id"])
        row["attempts"] += 1
        return row


async def _settle(
    row: dict[str, Any], *, error: str = "", retry_at: datetime | None = None
) -> None:
    values: dict[Any, Any] = {BillingOutbox.last_error: error}
    if retry_at is None:
        values[BillingOutbox.done_at] = datetime.now(UTC)
    else:
        values[BillingOutbox.next_attempt_at] = retry_at
    async with database.current_engine().transaction():
        await BillingOutbox.update(values).where(BillingOutbox.id == row["id"])


async def run_one(
    operations: dict[str, Operation], *, now: datetime, dedupe_key: str | None = None
) -> str | None:
    """Claim and carry out one due row (or the due row with `dedupe_key`): "done", "waiting"
    (Stripe unavailable, retried later), "refused", or None when nothing was due."""
    row = await _claim(now, dedupe_key)
    if row is None:
        return None
    operation = operations.get(row["operation"])
    if operation is None:
        await _settle(row, error="unknown_operation")
        return "refused"
    try:
        await operation(row)
    except StripeUnavailable:
        delay = BACKOFF[min(row["attempts"], len(BACKOFF)) - 1]
        await _settle(row, error="stripe_unavailable", retry_at=now + delay)
        log.warning("billing %s: Stripe unavailable, attempt %d", row["operation"], row["attempts"])
        return "waiting"
    except StripeRefused as refused:
        await _settle(row, error=f"stripe_{refused.code}"[:40])
        log.error("billing %s: refused by Stripe (%s)", row["operation"], refused.code)
        return "refused"
    await _settle(row)
    return "done"


async def run_due(
    operations: dict[str, Operation], *, now: datetime | None = None
) -> dict[str, int]:
    """Everything due now (at most `BATCH` rows): counts per result."""
    moment = now or datetime.now(UTC)
    counts: dict[str, int] = {"done": 0, "waiting": 0, "refused": 0}
    for _ in range(BATCH):
        result = await run_one(operations, now=moment)
        if result is None:
            break
        counts[result] += 1
    return counts
