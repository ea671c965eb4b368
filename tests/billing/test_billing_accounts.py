"""A bureau's Stripe connection and plans: keys checked before anything is stored, stored
sealed, kept when the form leaves them blank; default bands for the admin; plan changes
checked; other staff refused and another bureau's plan not found."""

from __future__ import annotations

from typing import Any

import pytest

from billing import accounts
from billing.tables import BillingAccount, Plan
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.secretbox import SecretBox
from klankbord.tenancy import system_context, tenant_transaction

pytestmark = pytest.mark.usefixtures("rollback")

KEY = "sk_test_" + "k" * 24
SECRET = "whsec_" + "s" * 24


@pytest.fixture
def box(test_database: Any) -> SecretBox:
    return SecretBox(test_database.settings.server_key)


async def stored_accounts() -> list[dict[str, Any]]:
    async with tenant_transaction(system_context("test-read")):
        rows: list[dict[str, Any]] = await BillingAccount.select()
    return rows


@pytest.mark.parametrize(
    ("secret_key", "webhook_secret", "trial_days", "fields"),
    [
        ("pk_test_publishable", SECRET, 30, {"secret_key": "stripe_key_invalid"}),
        ("sk_test_" + "x" * 300, SECRET, 30, {"secret_key": "stripe_key_invalid"}),
        (KEY, "secret", 30, {"webhook_secret": "webhook_secret_invalid"}),
        ("", SECRET, 30, {"secret_key": "stripe_key_required"}),
        (KEY, "", 30, {"webhook_secret": "webhook_secret_required"}),
        (KEY, SECRET, 366, {"trial_days": "trial_days_invalid"}),
        (KEY, SECRET, -1, {"trial_days": "trial_days_invalid"}),
    ],
)
async def test_connect_bad_input_raises_invalid_and_stores_nothing(
    world, box, secret_key, webhook_secret, trial_days, fields
):
    with pytest.raises(Invalid) as caught:
        await accounts.connect(
            world.ctx("admin_A"),
            box,
            secret_key=secret_key,
            webhook_secret=webhook_secret,
            trial_days=trial_days,
        )

    assert caught.value.fields == fields
    assert await stored_accounts() == []
    assert not await accounts.is_connected(world.ctx("admin_A"), world.bureaus["A"])


async def test_connect_valid_keys_stored_sealed(world, box):
    await accounts.connect(
        world.ctx("admin_A"), box, secret_key=KEY, webhook_secret=SECRET, trial_days=14
    )

    [row] = await stored_accounts()
    assert row["bureau"] == world.bureaus["A"]
    assert not any(KEY in str(value) or SECRET in str(value) for value in row.values())
    keys = await accounts.stripe_keys(system_context("test-read"), box, world.bureaus["A"])
    assert keys == accounts.Keys(KEY, SECRET, "eur", 14)
    assert await accounts.account(world.ctx("admin_A")) == accounts.Account(True, "eur", 14)
    assert not await accounts.is_connected(world.ctx("admin_B"), world.bureaus["B"])


async def test_connect_blank_keys_keep_stored_ones(world, box):
    admin = world.ctx("admin_A")
    await accounts.connect(admin, box, secret_key=KEY, webhook_secret=SECRET, trial_days=14)
    await accounts.connect(admin, box, secret_key="", webhook_secret="", trial_days=7)
    newer = "whsec_" + "n" * 24
    keys = await accounts.stripe_keys(system_context("test-read"), box, world.bureaus["A"])
    assert keys == accounts.Keys(KEY, SECRET, "eur", 7)

    await accounts.connect(admin, box, secret_key="", webhook_secret=newer, trial_days=7)

    keys = await accounts.stripe_keys(system_context("test-read"), box, world.bureaus["A"])
    assert keys == accounts.Keys(KEY, newer, "eur", 7)
    assert len(await stored_accounts()) == 1


async def test_account_not_connected_shows_default_trial(world):
    assert await accounts.account(world.ctx("admin_A")) == accounts.Account(False, "eur", 30)


@pytest.mark.parametrize("role", ["counsellor_A1", "contact_A1"])
async def test_accounts_other_staff_raise_permission_denied(world, box, role):
    ctx = world.ctx(role)
    with pytest.raises(PermissionDenied):
        await accounts.account(ctx)
    with pytest.raises(PermissionDenied):
        await accounts.connect(ctx, box, secret_key=KEY, webhook_secret=SECRET, trial_days=1)
    with pytest.raises(PermissionDenied):
        await accounts.plans(ctx, world.bureaus["A"], create_defaults=True)
    plan = (await accounts.plans(world.ctx("admin_A"), world.bureaus["A"], create_defaults=True))[0]
    with pytest.raises(PermissionDenied):
        await accounts.update_plan(
            ctx,
            plan_id=plan.id,
            amount_cents=1,
            interval="month",
            included_hours=1,
            extra_hour_cents=1,
        )
    assert await stored_accounts() == []


async def test_plans_admin_gets_default_bands_once(world):
    admin, bureau_id = world.ctx("admin_A"), world.bureaus["A"]
    assert await accounts.plans(admin, bureau_id) == []

    plans = await accounts.plans(admin, bureau_id, create_defaults=True)
    again = await accounts.plans(admin, bureau_id, create_defaults=True)

    assert again == plans
    assert [(p.min_headcount, p.max_headcount) for p in plans] == [
        (1, 49),
        (50, 249),
        (250, 999),
        (1000, 0),
    ]
    assert [p.name for p in plans] == ["1-49", "50-249", "250-999", "1000+"]
    assert accounts.plan_for(plans, 120) == plans[1]
    assert accounts.plan_for(plans, 5000) == plans[3]
    assert accounts.plan_for(plans, 0) is None
    assert await accounts.plans(world.ctx("admin_B"), world.bureaus["B"]) == []
    # Staff of the bureau read the plans (the organisation page shows its plan).
    assert await accounts.plans(world.ctx("contact_A1"), bureau_id) == plans


async def test_update_plan_valid_values_saved(world):
    admin = world.ctx("admin_A")
    plan = (await accounts.plans(admin, world.bureaus["A"], create_defaults=True))[0]

    await accounts.update_plan(
        admin,
        plan_id=plan.id,
        amount_cents=51_000,
        interval="year",
        included_hours=20,
        extra_hour_cents=8_000,
    )

    [changed] = [p for p in await accounts.plans(admin, world.bureaus["A"]) if p.id == plan.id]
    assert (changed.amount_cents, changed.interval) == (51_000, "year")
    assert (changed.included_minutes, changed.extra_hour_cents) == (20 * 60, 8_000)


@pytest.mark.parametrize(
    ("values", "fields"),
    [
        ({"amount_cents": -1}, {"amount": "amount_invalid"}),
        ({"amount_cents": 10_000_001}, {"amount": "amount_invalid"}),
        ({"interval": "week"}, {"interval": "interval_invalid"}),
        ({"included_hours": -1}, {"included_hours": "hours_invalid"}),
        ({"extra_hour_cents": -1}, {"extra_hour": "amount_invalid"}),
    ],
)
async def test_update_plan_bad_values_raise_invalid_and_keep_plan(world, values, fields):
    admin = world.ctx("admin_A")
    plan = (await accounts.plans(admin, world.bureaus["A"], create_defaults=True))[0]
    good = {"amount_cents": 100, "interval": "month", "included_hours": 1, "extra_hour_cents": 1}

    with pytest.raises(Invalid) as caught:
        await accounts.update_plan(admin, plan_id=plan.id, **{**good, **values})

    assert caught.value.fields == fields
    assert (await accounts.plans(admin, world.bureaus["A"]))[0] == plan


async def test_update_plan_other_bureaus_plan_raises_not_found(world):
    plan = (await accounts.plans(world.ctx("admin_A"), world.bureaus["A"], create_defaults=True))[0]

    with pytest.raises(NotFound):
        await accounts.update_plan(
            world.ctx("admin_B"),
            plan_id=plan.id,
            amount_cents=1,
            interval="month",
            included_hours=0,
            extra_hour_cents=0,
        )

    async with tenant_transaction(system_context("test-read")):
        row = await Plan.select(Plan.amount_cents).where(Plan.id == plan.id).first()
    assert row == {"amount_cents": plan.amount_cents}
