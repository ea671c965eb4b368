"""The clock settings service: stored once per organisation, validated field by field, the
bureau admin's only; a change recomputes the open cases' `next_due_at`."""

from __future__ import annotations

from datetime import date

import pytest

from casework import clock_settings, clocks
from casework.tables import ClockSettings
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.tenancy import system_context, tenant_transaction
from tests.casework.test_clocks_services import case_row, local, make_case

pytestmark = pytest.mark.usefixtures("rollback")


FORM = {
    "acknowledge_days": "5",
    "acknowledge_warning_day": "3",
    "feedback_months": "2",
    "feedback_reminder_days": "10",
    "first_contact_working_days": "1",
    "first_conversation_days": "8",
    "holidays": "2026-12-25\n\n2026-12-24\n2026-12-25\n",
}


async def test_save_settings_stores_and_recomputes_open_cases(world):
    received = local(2026, 12, 1, 9, 0)
    case_id = await make_case(world, received_at=received, next_due_at=local(2026, 12, 8, 9, 0))
    rules = await clock_settings.save_settings(
        world.ctx("admin_A"), organisation_id=world.organisations["A1"], form=FORM
    )
    assert rules.acknowledge_days == 5
    assert rules.holidays == frozenset({date(2026, 12, 24), date(2026, 12, 25)})
    async with tenant_transaction(system_context("test")):
        stored = await ClockSettings.select().where(
            ClockSettings.organisation == world.organisations["A1"]
        )
    assert len(stored) == 1 and stored[0]["holidays"] == "2026-12-24,2026-12-25"
    assert (await case_row(case_id))["next_due_at"] == local(2026, 12, 6, 9, 0)
    # Saved again: the same row, updated.
    await clock_settings.save_settings(
        world.ctx("admin_A"),
        organisation_id=world.organisations["A1"],
        form={**FORM, "acknowledge_days": "9"},
    )
    async with tenant_transaction(system_context("test")):
        stored = await ClockSettings.select().where(
            ClockSettings.organisation == world.organisations["A1"]
        )
    assert len(stored) == 1 and stored[0]["acknowledge_days"] == 9


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"acknowledge_days": "0"}, {"acknowledge_days": "out_of_range"}),
        ({"acknowledge_days": "61"}, {"acknowledge_days": "out_of_range"}),
        ({"feedback_months": "x"}, {"feedback_months": "out_of_range"}),
        ({"feedback_reminder_days": ""}, {"feedback_reminder_days": "required"}),
        ({"acknowledge_warning_day": "5"}, {"acknowledge_warning_day": "warning_not_before_due"}),
        ({"holidays": "2026-12-25\n25-12-2026"}, {"holidays": "holiday_invalid"}),
        ({"first_contact_working_days": "-1"}, {"first_contact_working_days": "out_of_range"}),
    ],
)
async def test_save_settings_invalid_refused_nothing_stored(world, changes, errors):
    with pytest.raises(Invalid) as refused:
        await clock_settings.save_settings(
            world.ctx("admin_A"), organisation_id=world.organisations["A1"], form=FORM | changes
        )
    assert refused.value.fields == errors
    async with tenant_transaction(system_context("test")):
        assert await ClockSettings.count() == 0


@pytest.mark.parametrize(
    ("user", "error"),
    [
        ("counsellor_A1", PermissionDenied),
        ("contact_A1", PermissionDenied),
        ("admin_B", NotFound),
        ("counsellor_B1", NotFound),
    ],
)
async def test_save_settings_others_refused(world, user, error):
    with pytest.raises(error):
        await clock_settings.save_settings(
            world.ctx(user), organisation_id=world.organisations["A1"], form=FORM
        )


async def test_settings_view_defaults_then_own_rules(world):
    ctx = world.ctx("contact_A1")
    async with tenant_transaction(ctx):
        view = await clock_settings.settings_view(ctx, world.organisations["A1"])
    assert not view.custom and not view.may_edit and view.rules == clocks.DEFAULT_RULES
    await clock_settings.save_settings(
        world.ctx("admin_A"), organisation_id=world.organisations["A1"], form=FORM
    )
    async with tenant_transaction(ctx):
        view = await clock_settings.settings_view(ctx, world.organisations["A1"])
    assert view.custom and view.rules.first_conversation_days == 8
