"""An organisation's subscription against localstripe: made on the first sync (customer,
Stripe Plan, subscription with the bureau's trial), read back, left alone when nothing
changed, replaced on a new price or band, cancelled when the bureau pays, left ended when
Stripe ended it; nothing in Stripe without a connection; Stripe down → waiting in the outbox
with nothing half-made, done on a later run.

The helpers at the top are shared by the other billing test modules."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from billing import accounts, jobs, outbox, stripe_gateway, subscriptions
from billing.tables import BillingOutbox, OrganisationBilling, Plan
from casework.time_entries import local_today
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.secretbox import SecretBox
from klankbord.settings import Settings
from klankbord.tenancy import system_context, tenant_transaction
from tests.billing.conftest import StripeApi
from tests.support.smtp import free_port

pytestmark = pytest.mark.usefixtures("rollback")

SECRET = "whsec_" + "w" * 24


def with_stripe(settings: Settings, base_url: str) -> Settings:
    """The app's settings with Stripe at `base_url` (localstripe lacks `send_invoice`)."""
    return dataclasses.replace(settings, stripe_api_base=base_url, stripe_send_invoice=False)


def stripe_down(settings: Settings) -> Settings:
    """Stripe at a loopback port nothing listens on."""
    return with_stripe(settings, f"http://127.0.0.1:{free_port()}")


async def connect(
    world: Any, box: SecretBox, api: StripeApi, bureau: str = "A", trial_days: int = 14
) -> None:
    await accounts.connect(
        world.ctx(f"admin_{bureau}"),
        box,
        secret_key=api.api_key,
        webhook_secret=SECRET,
        trial_days=trial_days,
    )


async def configure(
    world: Any, key: str = "A1", *, payer: str = "organisation", plan_id: UUID | None = None
) -> None:
    await subscriptions.configure(
        world.ctx(f"admin_{key[0]}"),
        organisation_id=world.organisations[key],
        payer=payer,
        collection="send_invoice",
        plan_id=plan_id,
    )


async def billing_row(organisation_id: UUID) -> dict[str, Any]:
    async with tenant_transaction(system_context("test-read")):
        row = (
            await OrganisationBilling.select()
            .where(OrganisationBilling.organisation == organisation_id)
            .first()
        )
    assert row is not None
    return row


async def set_billing(organisation_id: UUID, **values: Any) -> None:
    columns = {getattr(OrganisationBilling, name): value for name, value in values.items()}
    async with tenant_transaction(system_context("test-write")):
        await OrganisationBilling.update(columns).where(
            OrganisationBilling.organisation == organisation_id
        )


async def outbox_row(organisation_id: UUID) -> dict[str, Any]:
    async with tenant_transaction(system_context("test-read")):
        row = (
            await BillingOutbox.select()
            .where(BillingOutbox.dedupe_key == subscriptions.sync_key(organisation_id))
            .first()
        )
    assert row is not None
    return row


async def stripe_get(api: StripeApi, path: str, **params: Any) -> Any:
    """Read localstripe directly (what Stripe holds, not what we stored)."""
    async with httpx.AsyncClient(base_url=api.base_url, auth=(api.api_key, "")) as client:
        response = await client.get(path, params=params)
    response.raise_for_status()
    return response.json()


async def stripe_count(api: StripeApi, path: str, **params: Any) -> int:
    listing = await stripe_get(api, path, limit=100, **params)
    assert not listing["has_more"]
    return len(listing["data"])


async def subscriptions_of(api: StripeApi, customer_id: str) -> dict[str, str]:
    """Every subscription of the customer, ended ones too: id → status."""
    listing = await stripe_get(api, "/v1/subscriptions", customer=customer_id, status="all")
    return {sub["id"]: sub["status"] for sub in listing["data"]}


@pytest.fixture
async def subscribed(world, box, stripe_api, settings) -> dict[str, Any]:
    """A1 pays for itself on its headcount band (50-249), synced once: its billing row."""
    await connect(world, box, stripe_api)
    await band(world, "50-249")  # the admin's pages make the default bands
    await configure(world)
    assert await jobs.sync_now(settings, box, world.organisations["A1"]) == "done"
    return await billing_row(world.organisations["A1"])


async def band(world: Any, name: str) -> accounts.PlanView:
    plans = await accounts.plans(world.ctx("admin_A"), world.bureaus["A"], create_defaults=True)
    return next(plan for plan in plans if plan.name == name)


async def stripe_plan_of(plan_id: UUID) -> str:
    async with tenant_transaction(system_context("test-read")):
        row = await Plan.select(Plan.stripe_plan_id).where(Plan.id == plan_id).first()
    assert row is not None
    return str(row["stripe_plan_id"])


async def test_sync_organisation_pays_makes_customer_plan_and_trial_subscription(
    world, stripe_api, subscribed
):
    row = subscribed
    assert row["stripe_customer_id"].startswith("cus_")
    assert row["stripe_subscription_id"].startswith("sub_")
    assert row["billed_from"] == local_today()
    customer = await stripe_get(stripe_api, f"/v1/customers/{row['stripe_customer_id']}")
    assert customer["metadata"] == {"organisation": str(world.organisations["A1"])}
    sub = await stripe_get(stripe_api, f"/v1/subscriptions/{row['stripe_subscription_id']}")
    assert sub["customer"] == row["stripe_customer_id"]
    [item] = sub["items"]["data"]
    middle = await band(world, "50-249")
    assert item["plan"]["id"] == await stripe_plan_of(middle.id)
    assert (item["plan"]["amount"], item["plan"]["interval"]) == (12_500, "month")
    # The trial is the bureau's (14 days); localstripe reports a trial as `incomplete`.
    assert row["trial_end"] is not None
    assert row["trial_end"] == stripe_gateway.trial_end_for(14)  # whole days, to midnight UTC
    assert row["status"] == sub["status"] == "incomplete"
    assert not row["payment_failed"]

    view = await subscriptions.billing_view(world.ctx("contact_A1"), world.organisations["A1"])
    assert (view.connected, view.status, view.plan, view.plan_chosen) == (
        True,
        "incomplete",
        middle,
        False,
    )
    assert not view.may_edit


async def test_sync_nothing_changed_makes_no_stripe_objects(
    world, box, stripe_api, settings, subscribed
):
    customers = await stripe_count(stripe_api, "/v1/customers")
    plans = await stripe_count(stripe_api, "/v1/plans")

    await subscriptions.sync_organisation(settings, box, world.organisations["A1"])
    await configure(world)  # saved again unchanged
    assert await jobs.sync_now(settings, box, world.organisations["A1"]) == "done"

    row = await billing_row(world.organisations["A1"])
    assert (row["stripe_customer_id"], row["stripe_subscription_id"]) == (
        subscribed["stripe_customer_id"],
        subscribed["stripe_subscription_id"],
    )
    assert await stripe_count(stripe_api, "/v1/customers") == customers
    assert await stripe_count(stripe_api, "/v1/plans") == plans
    assert await subscriptions_of(stripe_api, row["stripe_customer_id"]) == {
        row["stripe_subscription_id"]: "incomplete"
    }


async def test_sync_payer_bureau_cancels_subscription(world, box, stripe_api, settings, subscribed):
    await configure(world, payer="bureau")
    assert await jobs.sync_now(settings, box, world.organisations["A1"]) == "done"

    row = await billing_row(world.organisations["A1"])
    assert (row["payer"], row["stripe_subscription_id"], row["status"]) == (
        "bureau",
        "",
        "canceled",
    )
    assert await subscriptions_of(stripe_api, subscribed["stripe_customer_id"]) == {
        subscribed["stripe_subscription_id"]: "canceled"
    }
    # The months the bureau paid are never invoiced as hours, and the trial is not given twice.
    assert row["billed_from"] is None and row["trial_end"] == subscribed["trial_end"]
    await configure(world, payer="organisation")
    assert await jobs.sync_now(settings, box, world.organisations["A1"]) == "done"
    again = await billing_row(world.organisations["A1"])
    assert again["billed_from"] == local_today()
    assert again["trial_end"] == subscribed["trial_end"]  # the rest of the same trial


async def test_sync_new_price_replaces_subscription_keeps_trial(
    world, box, stripe_api, settings, subscribed
):
    middle = await band(world, "50-249")
    old_stripe_plan = await stripe_plan_of(middle.id)
    await accounts.update_plan(
        world.ctx("admin_A"),
        plan_id=middle.id,
        amount_cents=13_900,
        interval="month",
        included_hours=6,
        extra_hour_cents=9_500,
    )
    await configure(world)
    assert await jobs.sync_now(settings, box, world.organisations["A1"]) == "done"

    row = await billing_row(world.organisations["A1"])
    new_stripe_plan = await stripe_plan_of(middle.id)
    assert new_stripe_plan != old_stripe_plan
    assert (await stripe_get(stripe_api, f"/v1/plans/{new_stripe_plan}"))["amount"] == 13_900
    assert row["stripe_subscription_id"] not in ("", subscribed["stripe_subscription_id"])
    assert await subscriptions_of(stripe_api, row["stripe_customer_id"]) == {
        subscribed["stripe_subscription_id"]: "canceled",
        row["stripe_subscription_id"]: "incomplete",
    }
    sub = await stripe_get(stripe_api, f"/v1/subscriptions/{row['stripe_subscription_id']}")
    assert sub["items"]["data"][0]["plan"]["id"] == new_stripe_plan
    # What was left of the trial goes along (whole days, rounded up), not a new one.
    assert timedelta(0) <= row["trial_end"] - subscribed["trial_end"] <= timedelta(days=1)
    assert row["billed_from"] == subscribed["billed_from"]


async def test_sync_other_band_chosen_replaces_subscription(
    world, box, stripe_api, settings, subscribed
):
    small = await band(world, "1-49")
    await configure(world, plan_id=small.id)
    assert await jobs.sync_now(settings, box, world.organisations["A1"]) == "done"

    row = await billing_row(world.organisations["A1"])
    sub = await stripe_get(stripe_api, f"/v1/subscriptions/{row['stripe_subscription_id']}")
    assert sub["items"]["data"][0]["plan"]["id"] == await stripe_plan_of(small.id)
    assert sub["items"]["data"][0]["plan"]["amount"] == 4_500
    statuses = await subscriptions_of(stripe_api, row["stripe_customer_id"])
    assert statuses[subscribed["stripe_subscription_id"]] == "canceled"
    assert len(statuses) == 2
    view = await subscriptions.billing_view(world.ctx("admin_A"), world.organisations["A1"])
    assert (view.plan, view.plan_chosen) == (small, True)


async def test_sync_ended_in_stripe_stays_ended_until_admin_saves(
    world, box, stripe_api, settings, subscribed
):
    old = subscribed["stripe_subscription_id"]
    async with httpx.AsyncClient(base_url=stripe_api.base_url, auth=(stripe_api.api_key, "")) as h:
        (await h.delete(f"/v1/subscriptions/{old}")).raise_for_status()

    await subscriptions.sync_organisation(settings, box, world.organisations["A1"])

    row = await billing_row(world.organisations["A1"])
    assert (row["stripe_subscription_id"], row["status"]) == (old, "canceled")
    assert await subscriptions_of(stripe_api, row["stripe_customer_id"]) == {old: "canceled"}

    await configure(world)
    assert await jobs.sync_now(settings, box, world.organisations["A1"]) == "done"

    row = await billing_row(world.organisations["A1"])
    assert row["stripe_subscription_id"] not in ("", old)
    assert row["status"] == "incomplete"
    assert len(await subscriptions_of(stripe_api, row["stripe_customer_id"])) == 2


async def test_sync_not_connected_does_nothing_and_configure_saves(
    world, box, stripe_api, settings
):
    customers = await stripe_count(stripe_api, "/v1/customers")
    small = await band(world, "1-49")

    await configure(world, plan_id=small.id)
    assert await jobs.sync_now(settings, box, world.organisations["A1"]) == "done"

    row = await billing_row(world.organisations["A1"])
    assert (row["payer"], row["collection"], row["plan"]) == (
        "organisation",
        "send_invoice",
        small.id,
    )
    assert (row["stripe_customer_id"], row["stripe_subscription_id"], row["status"]) == ("", "", "")
    assert await stripe_count(stripe_api, "/v1/customers") == customers
    view = await subscriptions.billing_view(world.ctx("admin_A"), world.organisations["A1"])
    assert not view.connected and view.plan == small


async def test_sync_stripe_down_waits_without_half_made_state_then_completes(
    world, box, stripe_api, settings, test_database
):
    await connect(world, box, stripe_api)
    await band(world, "50-249")
    await configure(world)
    before = datetime.now(UTC)

    result = await jobs.sync_now(
        stripe_down(test_database.settings), box, world.organisations["A1"]
    )

    assert result == "waiting"
    waiting = await outbox_row(world.organisations["A1"])
    assert (waiting["attempts"], waiting["last_error"], waiting["done_at"]) == (
        1,
        "stripe_unavailable",
        None,
    )
    assert waiting["next_attempt_at"] > before + timedelta(seconds=30)
    row = await billing_row(world.organisations["A1"])
    assert (row["stripe_customer_id"], row["stripe_subscription_id"], row["status"]) == ("", "", "")
    assert row["billed_from"] is None
    operations = jobs.operations(settings, box)
    assert await outbox.run_due(operations) == {"done": 0, "waiting": 0, "refused": 0}

    later = waiting["next_attempt_at"] + timedelta(seconds=1)
    assert await outbox.run_due(operations, now=later) == {"done": 1, "waiting": 0, "refused": 0}

    row = await billing_row(world.organisations["A1"])
    assert row["stripe_customer_id"].startswith("cus_")
    assert row["stripe_subscription_id"].startswith("sub_")
    assert (await outbox_row(world.organisations["A1"]))["done_at"] is not None
    assert await subscriptions_of(stripe_api, row["stripe_customer_id"]) == {
        row["stripe_subscription_id"]: "incomplete"
    }


async def test_configure_bad_choices_raise_invalid(world):
    other_bureaus_plan = (
        await accounts.plans(world.ctx("admin_B"), world.bureaus["B"], create_defaults=True)
    )[0]
    with pytest.raises(Invalid) as caught:
        await subscriptions.configure(
            world.ctx("admin_A"),
            organisation_id=world.organisations["A1"],
            payer="nobody",
            collection="cash",
            plan_id=other_bureaus_plan.id,
        )
    assert caught.value.fields == {
        "payer": "payer_invalid",
        "collection": "collection_invalid",
        "plan": "plan_invalid",
    }


@pytest.mark.parametrize(
    ("user", "error"),
    [("counsellor_A1", PermissionDenied), ("contact_A1", PermissionDenied), ("admin_B", NotFound)],
)
async def test_configure_not_the_bureau_admin_refused(world, user, error):
    with pytest.raises(error):
        await subscriptions.configure(
            world.ctx(user),
            organisation_id=world.organisations["A1"],
            payer="organisation",
            collection="charge",
            plan_id=None,
        )
    async with tenant_transaction(system_context("test-read")):
        assert not await OrganisationBilling.exists().where(
            OrganisationBilling.organisation == world.organisations["A1"]
        )
