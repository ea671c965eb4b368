"""Stripe webhooks of a bureau's account: verified, stored once, answered at once.

`/billing/webhooks/<bureau id>` is verified with that bureau's signing secret; an unknown
bureau, or one without Stripe connected, is 404 (nothing says whether the bureau exists).
A bad or old signature is refused (400) and changes nothing. A verified event is stored by
its id (a replay finds it stored and changes nothing) and, when it concerns a subscription
or an invoice of one of the bureau's organisations, queues that organisation's sync
(`subscriptions.sync_organisation`), which reads the subscription's current state from Stripe:
events that arrive out of order, or twice, end in the same state. The endpoint itself makes
no Stripe call, so it answers fast; the caller runs the queued sync after answering.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from billing import accounts, outbox
from billing.stripe_gateway import Event, SignatureInvalid, verify_event
from billing.subscriptions import SYNC, sync_key
from billing.tables import OrganisationBilling, WebhookEvent
from klankbord.errors import Invalid, NotFound
from klankbord.secretbox import SecretBox
from klankbord.tenancy import system_context, tenant_transaction

MAX_BODY = 512 * 1024  # Stripe's events are far smaller


class WebhookInvalid(Invalid):
    """Not signed with the bureau's secret, too old, or no event: 400, as the module says
    (`Invalid` alone would answer 422)."""

    status = 400


@dataclass(frozen=True)
class Received:
    stored: bool  # False: seen before (a replay)
    sync: str | None  # the outbox key of the sync it queued


def references(payload: bytes) -> tuple[str, str]:
    """The subscription and customer an event's object belongs to ("" when none)."""
    obj: dict[str, Any] = json.loads(payload)["data"]["object"]
    if obj.get("object") == "subscription":
        return str(obj.get("id") or ""), _id(obj.get("customer"))
    return _id(obj.get("subscription")), _id(obj.get("customer"))


def _id(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


async def receive(box: SecretBox, *, bureau_id: UUID, payload: bytes, signature: str) -> Received:
    ctx = system_context("billing-webhook")
    keys = await accounts.stripe_keys(ctx, box, bureau_id)
    if keys is None:
        raise NotFound()
    if len(payload) > MAX_BODY:
        raise WebhookInvalid(code="webhook_invalid")
    try:
        event = verify_event(payload, signature, keys.webhook_secret)
    except SignatureInvalid:
        raise WebhookInvalid(code="webhook_invalid") from None
    subscription_id, customer_id = references(payload)
    async with tenant_transaction(ctx):
        if not await store_once(str(bureau_id), event):
            return Received(stored=False, sync=None)
        organisation_id = await _organisation(bureau_id, subscription_id, customer_id)
        if organisation_id is None:
            return Received(stored=True, sync=None)
        key = sync_key(organisation_id)
        await outbox.enqueue(
            SYNC, dedupe_key=key, bureau_id=bureau_id, organisation_id=organisation_id
        )
    return Received(stored=True, sync=key)


async def store_once(endpoint: str, event: Event) -> bool:
    """Store a verified event by (endpoint, event id), in the caller's transaction; False when
    it was stored before: a replay, or the same event racing this one (the unique index
    decides, so exactly one of two concurrent deliveries goes on)."""
    stored = (
        await WebhookEvent.insert(
            WebhookEvent(
                id=uuid4(),
                endpoint=endpoint,
                event_id=event.id,
                event_type=event.type[:80],
                object_id=event.object_id[:255],
            )
        )
        .on_conflict(action="DO NOTHING")
        .returning(WebhookEvent.id)
    )
    return bool(stored)


async def _organisation(bureau_id: UUID, subscription_id: str, customer_id: str) -> UUID | None:
    if not subscription_id and not customer_id:
        return None
    query = OrganisationBilling.select(OrganisationBilling.organisation).where(
        OrganisationBilling.bureau == bureau_id
    )
    if subscription_id:
        query = query.where(OrganisationBilling.stripe_subscription_id == subscription_id)
    else:
        query = query.where(OrganisationBilling.stripe_customer_id == customer_id)
    row = await query.first()
    return None if row is None else UUID(str(row["organisation"]))
