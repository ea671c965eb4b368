"""A bureau's Stripe webhooks: signed as Stripe signs them (t=…,v1=HMAC-SHA256 over
"t.body"), stored once by event id, a sync queued for the organisation the object belongs
to (of this bureau only); tampered or foreign signatures change nothing; events out of order
end in the state Stripe holds."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from uuid import UUID

import httpx
import pytest

from billing import accounts, jobs, subscriptions, webhooks
from billing.tables import BillingOutbox, WebhookEvent
from klankbord.errors import Invalid, NotFound
from klankbord.secretbox import SecretBox
from klankbord.tenancy import system_context, tenant_transaction
from tests.billing.test_subscriptions import (
    SECRET,
    band,
    billing_row,
    configure,
    connect,
    outbox_row,
    subscriptions_of,
)

pytestmark = pytest.mark.usefixtures("rollback")


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + payload, hashlib.sha256)
    return f"t={moment},v1={digest.hexdigest()}"


def event(
    event_type: str, obj: dict[str, Any], *, created: int | None = None, event_id: str = ""
) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_{secrets.token_hex(8)}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()) if created is None else created,
            "data": {"object": obj},
        }
    ).encode()


def subscription_event(row: dict[str, Any], event_type: str, status: str, **kw: Any) -> bytes:
    obj = {
        "id": row["stripe_subscription_id"],
        "object": "subscription",
        "customer": row["stripe_customer_id"],
        "status": status,
    }
    return event(event_type, obj, **kw)


async def stored_events() -> list[dict[str, Any]]:
    async with tenant_transaction(system_context("test-read")):
        rows: list[dict[str, Any]] = await WebhookEvent.select()
    return rows


async def outbox_rows() -> list[dict[str, Any]]:
    async with tenant_transaction(system_context("test-read")):
        rows: list[dict[str, Any]] = await BillingOutbox.select()
    return rows


@pytest.fixture
async def subscribed(world, box, stripe_api, settings) -> dict[str, Any]:
    """A1's billing row once synced (its sync in the outbox is done)."""
    await connect(world, box, stripe_api)
    await band(world, "50-249")
    await configure(world)
    assert await jobs.sync_now(settings, box, world.organisations["A1"]) == "done"
    return await billing_row(world.organisations["A1"])


async def receive(box: SecretBox, bureau_id: UUID, payload: bytes, secret: str = SECRET) -> Any:
    return await webhooks.receive(
        box, bureau_id=bureau_id, payload=payload, signature=sign(payload, secret)
    )


async def test_receive_valid_event_stored_once_and_sync_queued(world, box, subscribed):
    payload = subscription_event(subscribed, "customer.subscription.updated", "active")
    event_id = json.loads(payload)["id"]

    received = await receive(box, world.bureaus["A"], payload)

    assert received == webhooks.Received(
        stored=True, sync=subscriptions.sync_key(world.organisations["A1"])
    )
    [stored] = await stored_events()
    assert (stored["endpoint"], stored["event_id"], stored["event_type"]) == (
        str(world.bureaus["A"]),
        event_id,
        "customer.subscription.updated",
    )
    assert stored["object_id"] == subscribed["stripe_subscription_id"]
    queued = await outbox_row(world.organisations["A1"])
    assert (queued["done_at"], queued["attempts"]) == (None, 0)


async def test_receive_invoice_event_queues_sync_by_subscription(world, box, subscribed):
    payload = event(
        "invoice.payment_failed",
        {
            "id": "in_test",
            "object": "invoice",
            "customer": subscribed["stripe_customer_id"],
            "subscription": subscribed["stripe_subscription_id"],
        },
    )

    received = await receive(box, world.bureaus["A"], payload)

    assert received.sync == subscriptions.sync_key(world.organisations["A1"])


async def test_receive_same_event_again_stores_and_queues_nothing(world, box, settings, subscribed):
    payload = subscription_event(subscribed, "customer.subscription.updated", "active")
    await receive(box, world.bureaus["A"], payload)
    assert await jobs.run_key(settings, box, subscriptions.sync_key(world.organisations["A1"]))
    before = await outbox_rows()

    again = await receive(box, world.bureaus["A"], payload)

    assert again == webhooks.Received(stored=False, sync=None)
    assert len(await stored_events()) == 1
    assert await outbox_rows() == before
    assert (await outbox_row(world.organisations["A1"]))["done_at"] is not None


@pytest.mark.parametrize("how", ["tampered", "wrong_secret", "old", "unsigned", "too_big"])
async def test_receive_bad_signature_raises_invalid_and_changes_nothing(
    world, box, subscribed, how
):
    payload = subscription_event(subscribed, "customer.subscription.deleted", "canceled")
    signature = sign(payload, SECRET)
    if how == "tampered":
        payload = payload.replace(b'"canceled"', b'"active"')
    elif how == "wrong_secret":
        signature = sign(payload, "whsec_" + "x" * 24)
    elif how == "old":
        signature = sign(payload, SECRET, int(time.time()) - 3600)
    elif how == "unsigned":
        signature = ""
    else:
        payload = payload[:-1] + b', "padding": "' + b"x" * webhooks.MAX_BODY + b'"}'
        signature = sign(payload, SECRET)
    before = await outbox_rows()

    with pytest.raises(Invalid) as caught:
        await webhooks.receive(
            box, bureau_id=world.bureaus["A"], payload=payload, signature=signature
        )

    assert caught.value.status == 400
    assert await stored_events() == []
    assert await outbox_rows() == before


async def test_receive_unknown_or_unconnected_bureau_raises_not_found(world, box, subscribed):
    payload = subscription_event(subscribed, "customer.subscription.updated", "active")
    for bureau_id in (UUID(int=7), world.bureaus["B"]):
        with pytest.raises(NotFound):
            await receive(box, bureau_id, payload)
    assert await stored_events() == []


async def test_receive_other_bureaus_subscription_touches_no_organisation(
    world, box, stripe_api, subscribed
):
    secret_b = "whsec_" + "b" * 24
    await connect(world, box, stripe_api, bureau="B")
    await webhooks_secret(world, box, "B", secret_b)
    before = await outbox_rows()
    payload = subscription_event(subscribed, "customer.subscription.deleted", "canceled")

    received = await receive(box, world.bureaus["B"], payload, secret=secret_b)

    assert received == webhooks.Received(stored=True, sync=None)
    assert await outbox_rows() == before
    [stored] = await stored_events()
    assert stored["endpoint"] == str(world.bureaus["B"])
    # Bureau A's secret does not open bureau B's endpoint, and vice versa.
    with pytest.raises(Invalid):
        await receive(box, world.bureaus["A"], payload, secret=secret_b)


async def webhooks_secret(world: Any, box: SecretBox, bureau: str, secret: str) -> None:
    await accounts.connect(
        world.ctx(f"admin_{bureau}"), box, secret_key="", webhook_secret=secret, trial_days=14
    )


async def test_receive_out_of_order_events_end_in_stripes_state(
    world, box, stripe_api, settings, subscribed
):
    subscription_id = subscribed["stripe_subscription_id"]
    key = subscriptions.sync_key(world.organisations["A1"])
    async with httpx.AsyncClient(base_url=stripe_api.base_url, auth=(stripe_api.api_key, "")) as h:
        (await h.delete(f"/v1/subscriptions/{subscription_id}")).raise_for_status()
    now = int(time.time())
    deleted = subscription_event(
        subscribed, "customer.subscription.deleted", "canceled", created=now
    )
    older = subscription_event(
        subscribed, "customer.subscription.updated", "active", created=now - 60
    )

    assert (await receive(box, world.bureaus["A"], deleted)).sync == key
    assert await jobs.run_key(settings, box, key) == "done"
    assert (await billing_row(world.organisations["A1"]))["status"] == "canceled"
    assert (await receive(box, world.bureaus["A"], older)).sync == key
    assert await jobs.run_key(settings, box, key) == "done"

    row = await billing_row(world.organisations["A1"])
    assert (row["stripe_subscription_id"], row["status"]) == (subscription_id, "canceled")
    assert await subscriptions_of(stripe_api, row["stripe_customer_id"]) == {
        subscription_id: "canceled"
    }
