"""Who may change a bureau's Stripe connection: its admin only, and only its own bureau (the
form carries no bureau id: the admin's own is used)."""

from __future__ import annotations

import pytest

from billing import accounts
from klankbord.errors import PermissionDenied
from klankbord.secretbox import SecretBox
from tests.support.forms import submit

pytestmark = pytest.mark.usefixtures("rollback")

KEY = "sk_test_" + "k" * 24
SECRET = "whsec_" + "s" * 24


@pytest.mark.parametrize("role", ["counsellor_A1", "contact_A1"])
async def test_connect_other_roles_refused(world, sign_in, role, test_database):
    client = await sign_in(role)
    assert (await client.get("/bureau/billing")).status_code == 403
    refused = await client.post(
        "/bureau/billing/stripe", data={"secret_key": KEY, "webhook_secret": SECRET}
    )
    assert refused.status_code in (403, 401)
    box = SecretBox(test_database.settings.server_key)
    with pytest.raises(PermissionDenied):
        await accounts.connect(
            world.ctx(role), box, secret_key=KEY, webhook_secret=SECRET, trial_days=30
        )
    assert not await accounts.is_connected(world.ctx("admin_A"), world.bureaus["A"])


async def test_connect_by_admin_touches_only_own_bureau(world, sign_in):
    client = await sign_in("admin_A")
    response = await submit(
        client,
        "/bureau/billing",
        "/bureau/billing/stripe",
        {"secret_key": KEY, "webhook_secret": SECRET, "trial_days": "14"},
    )
    assert response.status_code == 303
    assert await accounts.is_connected(world.ctx("admin_A"), world.bureaus["A"])
    assert not await accounts.is_connected(world.ctx("admin_B"), world.bureaus["B"])
    page = await client.get("/bureau/billing")
    assert KEY not in page.text and SECRET not in page.text
    assert f"/billing/webhooks/{world.bureaus['A']}" in page.text


async def test_dashboard_flags_failed_payment_of_own_organisation_only(world, sign_in):
    from uuid import uuid4

    from billing.tables import OrganisationBilling
    from klankbord.tenancy import system_context, tenant_transaction

    async with tenant_transaction(system_context("test-billing")):
        for key in ("A1", "B1"):
            await OrganisationBilling.insert(
                OrganisationBilling(
                    id=uuid4(),
                    organisation=world.organisations[key],
                    bureau=world.bureau_of(key),
                    status="past_due",
                    payment_failed=True,
                )
            )
    client = await sign_in("admin_A")
    page = await client.get("/bureau/dashboard")
    assert page.status_code == 200
    assert f'href="/organisations/{world.organisations["A1"]}/billing"' in page.text
    assert f'href="/organisations/{world.organisations["A2"]}/billing"' not in page.text
    assert str(world.organisations["B1"]) not in page.text


async def test_refused_sync_stays_visible_until_the_next_change(world, test_database, monkeypatch):
    """A 4xx from Stripe is settled (no retry fixes it) and recorded on the organisation, so
    its billing page keeps saying the change was not made; the next save clears it."""
    from billing import jobs, stripe_gateway, subscriptions

    organisation_id = world.organisations["A1"]
    await subscriptions.configure(
        world.ctx("admin_A"),
        organisation_id=organisation_id,
        payer="organisation",
        collection="send_invoice",
        plan_id=None,
    )

    async def refused(*_: object) -> None:
        raise stripe_gateway.StripeRefused("resource_missing", 404)

    monkeypatch.setattr(subscriptions, "sync_organisation", refused)
    box = SecretBox(test_database.settings.server_key)
    assert await jobs.sync_now(test_database.settings, box, organisation_id) == "refused"
    view = await subscriptions.billing_view(world.ctx("contact_A1"), organisation_id)
    assert view.sync_error == "stripe_resource_missing"
    await subscriptions.configure(
        world.ctx("admin_A"),
        organisation_id=organisation_id,
        payer="bureau",
        collection="send_invoice",
        plan_id=None,
    )
    view = await subscriptions.billing_view(world.ctx("admin_A"), organisation_id)
    assert view.sync_error == ""
