"""A bureau that has not paid the platform: its staff see a banner, then (after the grace
period) staff pages close with a 402 page, while reporters and the other bureau notice
nothing, and without a platform key nothing is checked at all."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from billing.tables import BureauSubscription
from klankbord.tenancy import system_context, tenant_transaction
from klankbord.web import create_app

pytestmark = pytest.mark.usefixtures("rollback")


@pytest.fixture(scope="module")
def app(test_database: Any, engine: Any) -> Any:
    """The app of a platform that bills its bureaus (no Stripe call is made by a page)."""
    settings = dataclasses.replace(
        test_database.settings, stripe_platform_key="sk_test_platform", platform_grace_days=14
    )
    return create_app(settings, engine=engine)


async def _overdue(world: Any, bureau: str, days: float) -> None:
    async with tenant_transaction(system_context("test-standing")):
        await BureauSubscription.insert(
            BureauSubscription(
                id=uuid4(),
                bureau=world.bureaus[bureau],
                status="past_due",
                past_due_since=datetime.now(UTC) - timedelta(days=days),
            )
        )


async def test_standing_overdue_within_grace_warns_staff(world, sign_in):
    await _overdue(world, "A", 3)
    client = await sign_in("counsellor_A1")
    page = await client.get("/cases")
    assert page.status_code == 200
    assert "staff-banner" in page.text


async def test_standing_after_grace_closes_staff_pages_not_account_or_reporters(world, sign_in):
    await _overdue(world, "A", 20)
    client = await sign_in("counsellor_A1")
    closed = await client.get("/cases")
    assert closed.status_code == 402
    assert 'href="/bureau/billing"' not in closed.text  # a counsellor cannot pay
    account = await client.get("/account")
    assert account.status_code == 200 and "staff-banner" in account.text
    api = await client.get("/api/v1/cases")
    assert api.status_code == 402 and api.json() == {"error": "subscription_unpaid"}
    admin = await sign_in("admin_A")
    assert (await admin.get("/bureau/dashboard")).status_code == 402
    billing = await admin.get("/bureau/billing")
    assert billing.status_code == 200
    client.cookies.clear()
    intake = await client.get(f"/r/{world.intake_links['A1']}")
    assert intake.status_code == 200 and "staff-banner" not in intake.text


async def test_standing_of_one_bureau_leaves_the_other_alone(world, sign_in):
    await _overdue(world, "A", 20)
    client = await sign_in("counsellor_B1")
    page = await client.get("/cases")
    assert page.status_code == 200 and "staff-banner" not in page.text


async def test_standing_not_checked_without_platform_billing(world, sign_in, test_database, engine):
    await _overdue(world, "A", 20)
    plain = create_app(test_database.settings, engine=engine)
    import httpx

    from klankbord.auth import SESSION_COOKIE
    from tenants.accounts import start_session

    transport = httpx.ASGITransport(app=plain)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        http.cookies.set(SESSION_COOKIE, await start_session(world.users["counsellor_A1"]))
        page = await http.get("/cases")
    assert page.status_code == 200 and "staff-banner" not in page.text
