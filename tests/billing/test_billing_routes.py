"""Billing over HTTP: the bureau's page (admin only, "not connected", a refused key keeps what
was typed), an organisation's page (admin with the form, contact read-only, counsellor 403,
another bureau 404), saving with Stripe up and down, the webhook endpoint (no CSRF, 200 /
replay / 400 / 404), and intake links that keep working when a payment failed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from billing import accounts, jobs, subscriptions
from klankbord.secretbox import SecretBox
from klankbord.web import create_app
from tests.billing.test_subscriptions import (
    SECRET,
    band,
    billing_row,
    connect,
    outbox_row,
    set_billing,
    stripe_down,
    with_stripe,
)
from tests.billing.test_webhooks import sign, subscription_event
from tests.support.forms import submit
from tests.support.localstripe import LocalStripe

pytestmark = pytest.mark.usefixtures("rollback")

EN = {"accept-language": "en"}


@pytest.fixture(scope="module")
def app(test_database: Any, engine: Any, localstripe_server: LocalStripe) -> Any:
    """The app with Stripe at localstripe (the session's app talks to no Stripe)."""
    return create_app(
        with_stripe(test_database.settings, localstripe_server.base_url), engine=engine
    )


@pytest.fixture
def stripe_unreachable(app: Any, test_database: Any) -> Iterator[None]:
    up = app.state.settings
    app.state.settings = stripe_down(test_database.settings)
    yield
    app.state.settings = up


@pytest.fixture
def box(test_database: Any) -> SecretBox:
    return SecretBox(test_database.settings.server_key)


def organisation_page(world: Any, key: str = "A1") -> str:
    return f"/organisations/{world.organisations[key]}/billing"


async def test_bureau_billing_admin_sees_plans_and_not_connected(world, sign_in):
    client = await sign_in("admin_A")

    response = await client.get("/bureau/billing", headers=EN)

    assert response.status_code == 200
    assert "Billing is not connected" in response.text
    assert 'action="/bureau/billing/stripe"' in response.text
    plans = await accounts.plans(world.ctx("admin_A"), world.bureaus["A"])
    assert len(plans) == 4
    assert all(f'action="/bureau/billing/plans/{plan.id}"' in response.text for plan in plans)


@pytest.mark.parametrize("user", ["counsellor_A1", "contact_A1"])
async def test_bureau_billing_other_staff_get_403(world, sign_in, user):
    client = await sign_in(user)
    assert (await client.get("/bureau/billing")).status_code == 403


async def test_bureau_billing_connect_bad_key_422_keeps_trial_days(world, sign_in):
    client = await sign_in("admin_A")

    response = await submit(
        client,
        "/bureau/billing",
        "/bureau/billing/stripe",
        {"secret_key": "pk_live_not_secret", "webhook_secret": SECRET, "trial_days": "21"},
    )

    assert response.status_code == 422
    assert 'value="21"' in response.text
    assert "pk_live_not_secret" not in response.text
    assert not await accounts.is_connected(world.ctx("admin_A"), world.bureaus["A"])


async def test_organisation_billing_admin_gets_page_with_form(world, sign_in):
    client = await sign_in("admin_A")

    response = await client.get(organisation_page(world), headers=EN)

    assert response.status_code == 200
    assert f'action="{organisation_page(world)}"' in response.text
    assert "Billing is not connected" in response.text


async def test_organisation_billing_contact_reads_without_form(world, sign_in):
    client = await sign_in("contact_A1")

    response = await client.get(organisation_page(world), headers=EN)

    assert response.status_code == 200
    assert "<form" not in response.text.split('<main id="main"', 1)[1]
    assert (await client.get(organisation_page(world, "A2"))).status_code in (403, 404)


@pytest.mark.parametrize(("user", "status"), [("counsellor_A1", 403), ("admin_B", 404)])
async def test_organisation_billing_refused(world, sign_in, user, status):
    client = await sign_in(user)
    assert (await client.get(organisation_page(world))).status_code == status
    refused = await client.post(organisation_page(world), data={"payer": "bureau"})
    assert refused.status_code in (403, 404)  # the CSRF check may answer first


async def test_organisation_billing_save_syncs_and_redirects(world, sign_in, box, stripe_api):
    await connect(world, box, stripe_api)
    middle = await band(world, "50-249")
    client = await sign_in("admin_A")

    response = await submit(
        client,
        organisation_page(world),
        organisation_page(world),
        {"payer": "organisation", "collection": "charge", "plan": str(middle.id)},
    )

    assert response.status_code == 303
    assert response.headers["location"] == organisation_page(world)
    row = await billing_row(world.organisations["A1"])
    assert (row["collection"], row["plan"]) == ("charge", middle.id)
    assert row["stripe_subscription_id"].startswith("sub_")
    page = await client.get(organisation_page(world), headers=EN)
    assert page.status_code == 200 and "Billing is not connected" not in page.text


@pytest.mark.usefixtures("stripe_unreachable")
async def test_organisation_billing_save_stripe_down_redirects_waiting(
    world, sign_in, box, stripe_api
):
    await connect(world, box, stripe_api)
    await band(world, "50-249")
    client = await sign_in("admin_A")

    response = await submit(
        client,
        organisation_page(world),
        organisation_page(world),
        {"payer": "organisation", "collection": "send_invoice", "plan": ""},
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"{organisation_page(world)}?stripe=waiting"
    row = await billing_row(world.organisations["A1"])
    assert (row["payer"], row["stripe_customer_id"]) == ("organisation", "")
    assert (await outbox_row(world.organisations["A1"]))["last_error"] == "stripe_unavailable"
    notice = await client.get(response.headers["location"], headers=EN)
    assert "Stripe could not be reached" in notice.text


async def test_organisation_billing_save_bad_plan_422(world, sign_in):
    client = await sign_in("admin_A")
    response = await submit(
        client,
        organisation_page(world),
        organisation_page(world),
        {"payer": "organisation", "collection": "charge", "plan": "not-a-uuid"},
    )
    assert response.status_code == 422


async def test_webhook_endpoint_valid_replay_bad_and_unknown(world, client, app, box, stripe_api):
    await connect(world, box, stripe_api)
    await band(world, "50-249")
    await subscriptions.configure(
        world.ctx("admin_A"),
        organisation_id=world.organisations["A1"],
        payer="organisation",
        collection="charge",
        plan_id=None,
    )
    assert await jobs.sync_now(app.state.settings, box, world.organisations["A1"]) == "done"
    row = await billing_row(world.organisations["A1"])
    payload = subscription_event(row, "customer.subscription.updated", "active")
    url = f"/billing/webhooks/{world.bureaus['A']}"

    def post(body: bytes, signature: str, to: str = url) -> Any:
        # No session, no CSRF cookie or field: the signature is the check.
        return client.post(to, content=body, headers={"stripe-signature": signature})

    first = await post(payload, sign(payload, SECRET))
    synced = await outbox_row(world.organisations["A1"])
    replay = await post(payload, sign(payload, SECRET))
    tampered = await post(payload.replace(b"active", b"paused"), sign(payload, SECRET))
    unknown = await post(payload, sign(payload, SECRET), f"/billing/webhooks/{world.bureaus['B']}")

    assert (first.status_code, first.json()) == (200, {"received": True, "replay": False})
    assert first.headers["cache-control"] == "no-store"
    # The sync the event queued ran after the answer, reading the state from Stripe.
    assert (synced["attempts"], synced["last_error"]) == (1, "")
    assert synced["done_at"] is not None
    assert (replay.status_code, replay.json()) == (200, {"received": True, "replay": True})
    assert tampered.status_code == 400
    assert unknown.status_code == 404
    assert await outbox_row(world.organisations["A1"]) == synced


async def test_intake_link_opens_while_payment_failed(world, client, box, stripe_api):
    await connect(world, box, stripe_api)
    await subscriptions.configure(
        world.ctx("admin_A"),
        organisation_id=world.organisations["A1"],
        payer="organisation",
        collection="charge",
        plan_id=None,
    )
    await set_billing(world.organisations["A1"], status="past_due", payment_failed=True)

    response = await client.get(f"/r/{world.intake_links['A1']}", headers=EN)

    assert response.status_code == 200
    view = await subscriptions.billing_view(world.ctx("contact_A1"), world.organisations["A1"])
    assert view.payment_failed
