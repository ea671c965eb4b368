"""Extra counsellor hours: periods (months, years, over New Year), amounts rounded to the
cent, a description with counts and the period only; recorded once per ended period, an
invoice item only beyond the included hours, nothing twice on a rerun, and an item that
Stripe could not take made once on a later run."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import pytest

from billing import hours, jobs
from billing.hours import Period
from billing.tables import HoursInvoiced
from casework.tables import Case, CaseCategory, TimeEntry
from klankbord.tables import AuditEvent
from klankbord.tenancy import system_context, tenant_transaction
from tests.billing.conftest import StripeApi
from tests.billing.test_subscriptions import (
    band,
    billing_row,
    configure,
    connect,
    set_billing,
    stripe_down,
    stripe_get,
)

BILLED_FROM = date(2025, 9, 15)
TODAY = date(2025, 12, 1)  # September, October and November have ended
OCTOBER = Period(date(2025, 10, 1), date(2025, 11, 1))


@pytest.mark.parametrize(
    ("day", "interval", "period"),
    [
        (date(2026, 3, 15), "month", Period(date(2026, 3, 1), date(2026, 4, 1))),
        (date(2026, 3, 1), "month", Period(date(2026, 3, 1), date(2026, 4, 1))),
        (date(2026, 12, 31), "month", Period(date(2026, 12, 1), date(2027, 1, 1))),
        (date(2024, 2, 29), "month", Period(date(2024, 2, 1), date(2024, 3, 1))),
        (date(2026, 12, 31), "year", Period(date(2026, 1, 1), date(2027, 1, 1))),
        (date(2026, 1, 1), "year", Period(date(2026, 1, 1), date(2027, 1, 1))),
    ],
)
def test_period_of_day_gives_its_month_or_year(day, interval, period):
    assert hours.period_of(day, interval) == period


@pytest.mark.parametrize(
    ("billed_from", "interval", "today", "starts"),
    [
        (date(2025, 10, 15), "month", date(2025, 12, 1), [date(2025, 10, 1), date(2025, 11, 1)]),
        (date(2025, 10, 15), "month", date(2025, 11, 30), [date(2025, 10, 1)]),
        (date(2025, 12, 10), "month", date(2026, 2, 1), [date(2025, 12, 1), date(2026, 1, 1)]),
        (date(2025, 12, 10), "month", date(2025, 12, 31), []),
        (date(2024, 6, 1), "year", date(2026, 1, 1), [date(2024, 1, 1), date(2025, 1, 1)]),
        (date(2025, 6, 1), "year", date(2025, 12, 31), []),
    ],
)
def test_ended_periods_lists_those_ended_by_today(billed_from, interval, today, starts):
    periods = hours.ended_periods(billed_from, interval, today)

    assert [period.start for period in periods] == starts
    assert all(period == hours.period_of(period.start, interval) for period in periods)


@pytest.mark.parametrize(
    ("minutes", "cents_per_hour", "cents"),
    [
        (0, 9_500, 0),
        (60, 9_500, 9_500),
        (90, 9_500, 14_250),
        (1, 9_500, 158),  # 158.33
        (1, 9_530, 159),  # 158.83
        (1, 30, 1),  # 0.5: half up
        (1, 29, 0),  # 0.48
    ],
)
def test_extra_amount_rounds_half_up_to_the_cent(minutes, cents_per_hour, cents):
    assert hours.extra_amount(minutes, cents_per_hour) == cents


def test_description_month_counts_and_period_only():
    text = hours.description(OCTOBER, used_minutes=450, included_minutes=360)
    assert text == "Extra counsellor hours 01-10-2025 to 31-10-2025: 7.5 h used, 6.0 h included"


def test_description_year_ends_on_new_years_eve():
    year = Period(date(2025, 1, 1), date(2026, 1, 1))
    text = hours.description(year, used_minutes=125, included_minutes=0)
    assert text == "Extra counsellor hours 01-01-2025 to 31-12-2025: 2.1 h used, 0.0 h included"


# --- with time entries, against localstripe ---------------------------------------------


async def add_minutes(world: Any, key: str, spent_on: date, minutes: int) -> None:
    async with tenant_transaction(system_context("test-time")):
        await TimeEntry.insert(
            TimeEntry(
                id=uuid4(),
                case=world.case_ids[key],
                organisation=world.organisations[key],
                bureau=world.bureau_of(key),
                staff_user=world.users[f"counsellor_{key}"],
                minutes=minutes,
                activity="conversation",
                spent_on=spent_on,
            )
        )


async def recorded(world: Any, key: str = "A1") -> list[dict[str, Any]]:
    async with tenant_transaction(system_context("test-read")):
        rows: list[dict[str, Any]] = await (
            HoursInvoiced.select()
            .where(HoursInvoiced.organisation == world.organisations[key])
            .order_by(HoursInvoiced.period_start)
        )
    return rows


async def items_of(api: StripeApi, customer_id: str) -> list[dict[str, Any]]:
    listing = await stripe_get(api, "/v1/invoiceitems", customer=customer_id, limit=100)
    data: list[dict[str, Any]] = listing["data"]
    return data


@pytest.fixture
async def billed(world, box, stripe_api, settings, rollback) -> dict[str, Any]:
    """A1 subscribed on its band (6 h included, 95.00 per extra hour), billed from 15
    September 2025; logged: 600 min on 10 September (before that), 100 min on 20 September,
    450 min in October, none in November, 999 min on 1 December (not ended)."""
    await connect(world, box, stripe_api)
    await band(world, "50-249")
    await configure(world)
    assert await jobs.sync_now(settings, box, world.organisations["A1"]) == "done"
    await set_billing(world.organisations["A1"], billed_from=BILLED_FROM)
    await add_minutes(world, "A1", date(2025, 9, 10), 600)
    await add_minutes(world, "A1", date(2025, 9, 20), 100)
    await add_minutes(world, "A1", date(2025, 10, 1), 400)
    await add_minutes(world, "A1", date(2025, 10, 31), 50)
    await add_minutes(world, "A1", date(2025, 12, 1), 999)  # December has not ended
    return await billing_row(world.organisations["A1"])


async def test_invoice_ended_periods_records_each_and_bills_only_extra_hours(
    world, box, stripe_api, settings, billed
):
    counts = await hours.invoice_ended_periods(settings, box, today=TODAY)

    assert counts == {"periods": 3, "items": 1, "waiting": 0}
    rows = await recorded(world)
    assert [
        (r["period_start"], r["period_end"], r["used_minutes"], r["extra_minutes"]) for r in rows
    ] == [
        (date(2025, 9, 1), date(2025, 10, 1), 100, 0),
        (date(2025, 10, 1), date(2025, 11, 1), 450, 90),
        (date(2025, 11, 1), date(2025, 12, 1), 0, 0),
    ]
    assert [r["amount_cents"] for r in rows] == [0, 14_250, 0]
    assert {r["included_minutes"] for r in rows} == {360}
    [item] = await items_of(stripe_api, billed["stripe_customer_id"])
    assert rows[1]["stripe_item_id"] == item["id"]
    assert rows[0]["stripe_item_id"] == rows[2]["stripe_item_id"] == ""
    assert (item["amount"], item["currency"]) == (14_250, "eur")
    assert item["description"] == hours.description(OCTOBER, used_minutes=450, included_minutes=360)


async def test_invoice_description_names_no_organisation_case_or_category(
    world, box, stripe_api, settings, billed
):
    async with tenant_transaction(system_context("test-categories")):
        await CaseCategory.insert(
            CaseCategory(
                id=uuid4(),
                case=world.case_ids["A1"],
                organisation=world.organisations["A1"],
                bureau=world.bureaus["A"],
                code="fraud",
            )
        )
        case = await Case.select(Case.reference).where(Case.id == world.case_ids["A1"]).first()
    assert case is not None

    await hours.invoice_ended_periods(settings, box, today=TODAY)

    [item] = await items_of(stripe_api, billed["stripe_customer_id"])
    text = item["description"].lower()
    for secret_word in ("organisation", "a1", "fraud", "conversation", case["reference"].lower()):
        assert secret_word and secret_word not in text
    assert "7.5 h used" in text and "01-10-2025" in text


async def test_invoice_ended_periods_rerun_makes_nothing_new(
    world, box, stripe_api, settings, billed
):
    await hours.invoice_ended_periods(settings, box, today=TODAY)
    first = await recorded(world)

    counts = await hours.invoice_ended_periods(settings, box, today=TODAY)

    assert counts == {"periods": 0, "items": 0, "waiting": 0}
    assert await recorded(world) == first
    assert len(await items_of(stripe_api, billed["stripe_customer_id"])) == 1


async def test_invoice_ended_periods_nothing_due_one_system_transaction(
    world, box, stripe_api, settings, billed
):
    """The job runs every few minutes: when every period is settled it reads once (each
    system transaction writes an audit event, so an idle run must not open one per
    organisation and period)."""
    await hours.invoice_ended_periods(settings, box, today=TODAY)
    before = await _system_events()

    await hours.invoice_ended_periods(settings, box, today=TODAY)

    # One for the run, one for this count's own transaction.
    assert await _system_events() == before + 2


async def _system_events() -> int:
    async with tenant_transaction(system_context("test-count")):
        return int(await AuditEvent.count().where(AuditEvent.action == "system.context"))


async def test_invoice_ended_periods_stripe_down_item_made_once_later(
    world, box, stripe_api, settings, test_database, billed
):
    down = await hours.invoice_ended_periods(stripe_down(test_database.settings), box, today=TODAY)

    assert down == {"periods": 0, "items": 0, "waiting": 1}
    rows = await recorded(world)
    assert [r["amount_cents"] for r in rows] == [0, 14_250]  # stopped at the failed item
    assert rows[1]["stripe_item_id"] == ""
    assert await items_of(stripe_api, billed["stripe_customer_id"]) == []

    later = await hours.invoice_ended_periods(settings, box, today=TODAY)
    again = await hours.invoice_ended_periods(settings, box, today=TODAY)

    assert later == {"periods": 1, "items": 1, "waiting": 0}
    assert again == {"periods": 0, "items": 0, "waiting": 0}
    [item] = await items_of(stripe_api, billed["stripe_customer_id"])
    rows = await recorded(world)
    assert rows[1]["stripe_item_id"] == item["id"]
    assert len(rows) == 3


async def test_invoice_ended_periods_bureau_pays_records_nothing(world, box, settings, billed):
    await set_billing(world.organisations["A1"], payer="bureau")

    counts = await hours.invoice_ended_periods(settings, box, today=TODAY)

    assert counts == {"periods": 0, "items": 0, "waiting": 0}
    assert await recorded(world) == []


@pytest.mark.usefixtures("rollback")
async def test_invoice_ended_periods_not_subscribed_records_nothing(world, box, settings):
    await add_minutes(world, "A1", date(2025, 10, 1), 900)
    counts = await hours.invoice_ended_periods(settings, box, today=TODAY)
    assert counts == {"periods": 0, "items": 0, "waiting": 0}
    assert await recorded(world) == []
