"""What the platform bills each bureau, against localstripe: the quantity follows onboarding
and offboarding (prorated) through `reconcile` and the outbox, with the platform's trial;
nothing queued when nothing changed; the last organisation leaving ends the subscription;
Stripe down leaves nothing half-made; the platform webhook stored once, tampered or
unconfigured refused; standing warns, then restricts after the grace; bureau B untouched."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from billing import jobs, outbox, platform, platform_routes, stripe_gateway
from billing.tables import BillingOutbox, BureauSubscription, WebhookEvent
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.secretbox import SecretBox
from klankbord.settings import Settings
from klankbord.tenancy import system_context, tenant_transaction
from klankbord.web import create_app
from tenants.tables import Organisation
from tests.billing.conftest import StripeApi
from tests.billing.test_subscriptions import stripe_down, stripe_get, with_stripe
from tests.billing.test_webhooks import event, sign, subscription_event
from tests.support.localstripe import LocalStripe

pytestmark = pytest.mark.usefixtures("rollback")

PLATFORM_SECRET = "whsec_" + "p" * 24
PLATFORM_KEY = "sk_test_platform_" + "k" * 16


def platform_settings(settings: Settings, base_url: str) -> Settings:
    return dataclasses.replace(
        with_stripe(settings, base_url),
        stripe_platform_key=PLATFORM_KEY,
        stripe_platform_webhook_secret=PLATFORM_SECRET,
    )


@pytest.fixture
def box(test_database: Any) -> SecretBox:
    return SecretBox(test_database.settings.server_key)


@pytest.fixture
def settings(test_database: Any, stripe_api: StripeApi) -> Settings:
    return platform_settings(test_database.settings, stripe_api.base_url)


@pytest.fixture
def platform_conn(stripe_api: StripeApi) -> stripe_gateway.Connection:
    return dataclasses.replace(stripe_api.connection(), api_key=PLATFORM_KEY)


async def set_organisations(world: Any, *keys: str, **values: Any) -> None:
    columns = {getattr(Organisation, name): value for name, value in values.items()}
    ids = [world.organisations[key] for key in keys]
    async with tenant_transaction(system_context("test-write")):
        await Organisation.update(columns).where(Organisation.id.is_in(ids))


async def bureau_row(bureau_id: UUID) -> dict[str, Any] | None:
    async with tenant_transaction(system_context("test-read")):
        row: dict[str, Any] | None = (
            await BureauSubscription.select().where(BureauSubscription.bureau == bureau_id).first()
        )
    return row


async def set_bureau_row(bureau_id: UUID, **values: Any) -> None:
    columns = {getattr(BureauSubscription, name): value for name, value in values.items()}
    async with tenant_transaction(system_context("test-write")):
        await BureauSubscription.update(columns).where(BureauSubscription.bureau == bureau_id)


async def outbox_keys() -> dict[str, Any]:
    async with tenant_transaction(system_context("test-read")):
        rows = await BillingOutbox.select(BillingOutbox.dedupe_key, BillingOutbox.done_at)
    return {row["dedupe_key"]: row["done_at"] for row in rows}


async def stored_events() -> list[dict[str, Any]]:
    async with tenant_transaction(system_context("test-read")):
        rows: list[dict[str, Any]] = await WebhookEvent.select()
    return rows


async def reconcile_and_run(settings: Settings, box: SecretBox) -> tuple[int, dict[str, int]]:
    queued = await platform.reconcile(settings)
    return queued, await outbox.run_due(jobs.operations(settings, box))


@pytest.fixture
async def subscribed(world, box, settings) -> dict[str, Any]:
    """Bureau A with A1 and A2 onboarded, synced once: its row."""
    await set_organisations(world, "A1", "A2", onboarded_at=datetime.now(UTC))
    assert await reconcile_and_run(settings, box) == (1, {"done": 1, "waiting": 0, "refused": 0})
    row = await bureau_row(world.bureaus["A"])
    assert row is not None
    return row


async def test_reconcile_onboarded_organisations_subscription_with_quantity_and_trial(
    world, stripe_api, platform_conn, subscribed
):
    row = subscribed
    assert row["stripe_subscription_id"].startswith("sub_")
    assert (row["quantity"], row["stripe_plan_amount"]) == (2, 2500)
    sub = await stripe_gateway.get_subscription(platform_conn, row["stripe_subscription_id"])
    assert (sub.quantity, sub.plan_id, sub.customer_id) == (
        2,
        row["stripe_plan_id"],
        row["stripe_customer_id"],
    )
    assert sub.trial_end is not None and row["trial_end"] == sub.trial_end
    assert sub.trial_end == stripe_gateway.trial_end_for(30)  # whole days, to midnight UTC
    customer = await stripe_get(stripe_api, f"/v1/customers/{row['stripe_customer_id']}")
    assert customer["metadata"] == {"bureau": str(world.bureaus["A"])}
    assert row["past_due_since"] is None
    # Bureau B has no onboarded organisation: nothing billed, nothing queued.
    assert await bureau_row(world.bureaus["B"]) is None
    assert platform.sync_key(world.bureaus["B"]) not in await outbox_keys()


async def test_reconcile_offboarded_organisation_quantity_down_prorated(
    world, box, settings, platform_conn, subscribed, monkeypatch
):
    calls: list[tuple[int, bool]] = []
    set_quantity = stripe_gateway.set_quantity

    async def recording(conn: Any, subscription_id: str, quantity: int, *, prorate: bool) -> Any:
        calls.append((quantity, prorate))
        return await set_quantity(conn, subscription_id, quantity, prorate=prorate)

    monkeypatch.setattr(stripe_gateway, "set_quantity", recording)
    await set_organisations(world, "A2", active=False)

    assert await reconcile_and_run(settings, box) == (1, {"done": 1, "waiting": 0, "refused": 0})

    assert calls == [(1, True)]
    row = await bureau_row(world.bureaus["A"])
    assert row is not None
    assert (row["stripe_subscription_id"], row["quantity"]) == (
        subscribed["stripe_subscription_id"],
        1,
    )
    sub = await stripe_gateway.get_subscription(platform_conn, row["stripe_subscription_id"])
    assert sub.quantity == 1


async def test_reconcile_nothing_changed_queues_nothing(world, settings, subscribed):
    before = await outbox_keys()

    assert await platform.reconcile(settings) == 0

    assert await outbox_keys() == before


async def test_reconcile_without_platform_key_queues_nothing(world, test_database):
    await set_organisations(world, "A1", onboarded_at=datetime.now(UTC))

    assert await platform.reconcile(test_database.settings) == 0

    assert await outbox_keys() == {}


async def test_sync_bureau_last_organisation_leaves_cancels_then_restarts_with_trial_left(
    world, box, settings, stripe_api, subscribed
):
    await set_organisations(world, "A1", "A2", active=False)
    await reconcile_and_run(settings, box)

    ended = await bureau_row(world.bureaus["A"])
    assert ended is not None
    assert (ended["stripe_subscription_id"], ended["quantity"], ended["status"]) == (
        "",
        0,
        "canceled",
    )
    assert await platform.reconcile(settings) == 0

    await set_organisations(world, "A1", active=True)
    await reconcile_and_run(settings, box)

    again = await bureau_row(world.bureaus["A"])
    assert again is not None
    assert again["stripe_subscription_id"] not in ("", subscribed["stripe_subscription_id"])
    assert again["quantity"] == 1
    # What was left of the trial, not a new one.
    assert timedelta(0) <= again["trial_end"] - subscribed["trial_end"] <= timedelta(days=1)
    listing = await stripe_get(
        stripe_api, "/v1/subscriptions", customer=again["stripe_customer_id"], status="all"
    )
    assert {sub["id"]: sub["status"] for sub in listing["data"]} == {
        subscribed["stripe_subscription_id"]: "canceled",
        again["stripe_subscription_id"]: again["status"],
    }


async def test_sync_bureau_new_price_new_plan_and_subscription(
    world, box, settings, platform_conn, subscribed
):
    dearer = dataclasses.replace(settings, platform_price_cents=3000)

    assert await reconcile_and_run(dearer, box) == (1, {"done": 1, "waiting": 0, "refused": 0})

    row = await bureau_row(world.bureaus["A"])
    assert row is not None
    assert row["stripe_plan_id"] != subscribed["stripe_plan_id"]
    assert row["stripe_subscription_id"] != subscribed["stripe_subscription_id"]
    sub = await stripe_gateway.get_subscription(platform_conn, row["stripe_subscription_id"])
    assert (sub.plan_id, sub.quantity) == (row["stripe_plan_id"], 2)
    old = await stripe_gateway.get_subscription(platform_conn, subscribed["stripe_subscription_id"])
    assert old.status == "canceled"


async def test_sync_bureau_stripe_down_waits_without_half_made_state_then_completes(
    world, box, settings, test_database
):
    down = platform_settings(
        test_database.settings, stripe_down(test_database.settings).stripe_api_base
    )
    await set_organisations(world, "A1", onboarded_at=datetime.now(UTC))

    assert await reconcile_and_run(down, box) == (1, {"done": 0, "waiting": 1, "refused": 0})

    row = await bureau_row(world.bureaus["A"])
    assert row is not None
    assert (row["stripe_customer_id"], row["stripe_subscription_id"], row["quantity"]) == (
        "",
        "",
        0,
    )
    assert await platform.reconcile(down) == 1  # still pending: the same outbox row
    assert len(await outbox_keys()) == 1

    later = datetime.now(UTC) + timedelta(minutes=2)
    assert await outbox.run_due(jobs.operations(settings, box), now=later) == {
        "done": 1,
        "waiting": 0,
        "refused": 0,
    }
    row = await bureau_row(world.bureaus["A"])
    assert row is not None
    assert row["stripe_subscription_id"].startswith("sub_") and row["quantity"] == 1


async def test_job_run_platform_key_only_reconciles_and_syncs(world, settings):
    await set_organisations(world, "A1", onboarded_at=datetime.now(UTC))

    summary = await jobs.run(settings)

    assert summary.startswith("1 bureaus queued, 1 synced, 0 waiting, 0 refused")
    row = await bureau_row(world.bureaus["A"])
    assert row is not None and row["quantity"] == 1


def payment_failed(row: dict[str, Any]) -> bytes:
    return event(
        "invoice.payment_failed",
        {
            "id": "in_platform",
            "object": "invoice",
            "customer": row["stripe_customer_id"],
            "subscription": row["stripe_subscription_id"],
        },
    )


async def test_receive_valid_event_stored_once_and_sync_queued(world, settings, subscribed):
    payload = payment_failed(subscribed)

    received = await platform.receive(settings, payload, sign(payload, PLATFORM_SECRET))

    key = platform.sync_key(world.bureaus["A"])
    assert received == platform.Received(stored=True, sync=key)
    [stored] = await stored_events()
    assert (stored["endpoint"], stored["event_id"], stored["event_type"]) == (
        "platform",
        json.loads(payload)["id"],
        "invoice.payment_failed",
    )
    assert (await outbox_keys())[key] is None  # queued, not done

    before = await outbox_keys()
    again = await platform.receive(settings, payload, sign(payload, PLATFORM_SECRET))

    assert again == platform.Received(stored=False, sync=None)
    assert len(await stored_events()) == 1
    assert await outbox_keys() == before


async def test_receive_unknown_subscription_stored_without_sync(settings, subscribed):
    payload = subscription_event(
        {"stripe_subscription_id": "sub_elsewhere", "stripe_customer_id": "cus_elsewhere"},
        "customer.subscription.updated",
        "active",
    )
    before = await outbox_keys()

    received = await platform.receive(settings, payload, sign(payload, PLATFORM_SECRET))

    assert received == platform.Received(stored=True, sync=None)
    assert await outbox_keys() == before


@pytest.mark.parametrize("how", ["tampered", "bureau_secret", "unsigned"])
async def test_receive_bad_signature_raises_invalid_and_changes_nothing(settings, subscribed, how):
    payload = payment_failed(subscribed)
    signature = sign(payload, PLATFORM_SECRET)
    if how == "tampered":
        payload = payload.replace(b"payment_failed", b"payment_succeeded")
    elif how == "bureau_secret":
        signature = sign(payload, "whsec_" + "w" * 24)
    else:
        signature = ""
    before = await outbox_keys()

    with pytest.raises(Invalid) as caught:
        await platform.receive(settings, payload, signature)

    assert caught.value.status == 400
    assert await stored_events() == []
    assert await outbox_keys() == before


async def test_receive_platform_not_configured_raises_not_found(test_database):
    payload = event("invoice.paid", {"id": "in_x", "object": "invoice"})
    unkeyed = dataclasses.replace(
        test_database.settings, stripe_platform_webhook_secret=PLATFORM_SECRET
    )

    with pytest.raises(NotFound):
        await platform.receive(unkeyed, payload, sign(payload, PLATFORM_SECRET))

    assert await stored_events() == []


@pytest.fixture(scope="module")
def app(test_database: Any, engine: Any, localstripe_server: LocalStripe) -> Any:
    """The app with the platform billing on localstripe; the platform webhook registered here
    when the app does not list it (yet)."""
    app = create_app(
        platform_settings(test_database.settings, localstripe_server.base_url), engine=engine
    )
    if "/billing/webhooks/platform" not in {route.path for route in app.routes}:
        app.register(platform_routes.platform_webhook)
    return app


async def test_platform_webhook_endpoint_valid_replay_bad_and_unconfigured(
    world, client, app, test_database, subscribed
):
    payload = payment_failed(subscribed)
    url = "/billing/webhooks/platform"

    def post(body: bytes, signature: str) -> Any:
        # No session, no CSRF cookie or field: the signature is the check.
        return client.post(url, content=body, headers={"stripe-signature": signature})

    first = await post(payload, sign(payload, PLATFORM_SECRET))
    synced = (await outbox_keys())[platform.sync_key(world.bureaus["A"])]
    replay = await post(payload, sign(payload, PLATFORM_SECRET))
    tampered = await post(
        payload.replace(b"in_platform", b"in_other"), sign(payload, PLATFORM_SECRET)
    )
    configured = app.state.settings
    app.state.settings = test_database.settings
    try:
        unconfigured = await post(payload, sign(payload, PLATFORM_SECRET))
    finally:
        app.state.settings = configured

    assert (first.status_code, first.json()) == (200, {"received": True, "replay": False})
    assert first.headers["cache-control"] == "no-store"
    assert synced is not None  # the queued sync ran after the answer
    assert (replay.status_code, replay.json()) == (200, {"received": True, "replay": True})
    assert tampered.status_code == 400
    assert unconfigured.status_code == 404
    assert len(await stored_events()) == 1


@pytest.mark.parametrize(
    ("days_ago", "warned", "restricted"),
    [(None, False, False), (3, True, False), (14.5, True, True)],
)
async def test_standing_past_due_warns_then_restricts_after_grace(
    world, subscribed, days_ago, warned, restricted
):
    now = datetime.now(UTC)
    since = None if days_ago is None else now - timedelta(days=days_ago)
    await set_bureau_row(world.bureaus["A"], past_due_since=since)

    got = await platform.standing(world.bureaus["A"], now=now, grace_days=14)

    assert (got.warned, got.restricted) == (warned, restricted)
    assert got.since == since
    other = await platform.standing(world.bureaus["B"], now=now, grace_days=14)
    assert other == platform.Standing(warned=False, restricted=False, since=None)


async def test_standing_inside_staff_transaction_reads_own_bureau(world, subscribed):
    now = datetime.now(UTC)
    await set_bureau_row(world.bureaus["A"], past_due_since=now - timedelta(days=20))

    async with tenant_transaction(world.ctx("counsellor_A1")):
        got = await platform.standing(world.bureaus["A"], now=now, grace_days=14)

    assert got.restricted


def test_past_due_since_kept_while_unpaid_cleared_once_paid():
    now = datetime.now(UTC)
    first = now - timedelta(days=5)
    assert platform.past_due_since(None, "past_due", now) == now
    assert platform.past_due_since(first, "unpaid", now) == first
    assert platform.past_due_since(first, "canceled", now) == first
    assert platform.past_due_since(None, "canceled", now) is None
    assert platform.past_due_since(first, "active", now) is None
    assert platform.past_due_since(first, "trialing", now) is None


async def test_bureau_status_admin_sees_own_bureau_only(world, subscribed):
    status = await platform.bureau_status(world.ctx("admin_A"))

    assert status == platform.BureauStatus(
        status=subscribed["status"],
        quantity=2,
        trial_end=subscribed["trial_end"],
        past_due_since=None,
    )
    assert await platform.bureau_status(world.ctx("admin_B")) is None
    with pytest.raises(PermissionDenied):
        await platform.bureau_status(world.ctx("counsellor_A1"))
