"""The reminders job with a frozen `now`: the levels (counsellor, substitutes, bureau admins),
idempotence, nothing for closed cases or met deadlines, a Friday case over a holiday, and
mails without content."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from casework import clock_settings, reminders
from casework.tables import Case
from klankbord import jobs
from klankbord.settings import Settings
from klankbord.tables import MailOutbox
from klankbord.tenancy import system_context, tenant_transaction
from tenants import services
from tenants.choices import Assignment, MembershipRole
from tenants.tables import Membership
from tests.casework.test_clocks_services import local, make_case

pytestmark = pytest.mark.usefixtures("rollback")
SETTINGS = Settings(environment="test", base_url="https://klankbord.example")
RECEIVED = local(2026, 11, 4, 10, 0)  # a Wednesday; acknowledgement due 11 November 10:00


async def mails_for(case_id: UUID) -> list[dict[str, Any]]:
    rows = await MailOutbox.select().where(MailOutbox.dedupe_key.like(f"reminder:{case_id}:%"))
    return sorted(rows, key=lambda row: row["dedupe_key"])


def recipients(rows: list[dict[str, Any]]) -> set[str]:
    return {row["recipient"] for row in rows}


async def due_case(world: Any, **fields: Any) -> UUID:
    fields.setdefault("received_at", RECEIVED)
    fields.setdefault("next_due_at", local(2026, 11, 11, 10, 0))
    return await make_case(world, **fields)


async def add_counsellor(world: Any, name: str, assignment: Assignment) -> UUID:
    ctx = system_context("test")
    async with tenant_transaction(ctx):
        user_id = await services.create_staff_user(
            ctx,
            bureau_id=world.bureaus["A"],
            email=f"{name}@example.test",
            display_name=name,
            language="en",
        )
        await services.add_membership(
            ctx,
            organisation_id=world.organisations["A1"],
            staff_user_id=user_id,
            role=MembershipRole.COUNSELLOR,
        )
        await Membership.update({Membership.assignment: assignment}).where(
            Membership.staff_user == user_id
        )
    return user_id


async def test_reminder_before_warning_day_nothing(world):
    case_id = await due_case(world)
    await reminders.run(SETTINGS, now=local(2026, 11, 9, 9, 59))
    assert await mails_for(case_id) == []


async def test_reminder_warning_day_mails_primary_counsellor_without_content(world):
    case_id = await due_case(world)
    summary = await reminders.run(SETTINGS, now=local(2026, 11, 9, 10, 0))
    rows = await mails_for(case_id)
    assert recipients(rows) == {"counsellor.a1@example.test"}
    mail = rows[0]
    reference = (await Case.select(Case.reference).where(Case.id == case_id).first())["reference"]
    assert reference in mail["subject"] and reference in mail["body"]
    assert f"https://klankbord.example/cases/{case_id}" in mail["body"]
    assert "Report of organisation" not in mail["body"]
    assert mail["dedupe_key"].endswith(f":ack:202611110900:1:{world.users['counsellor_A1']}")
    assert summary.mails >= 1


async def test_reminder_run_twice_sends_nothing_twice(world):
    case_id = await due_case(world)
    now = local(2026, 11, 9, 12, 0)
    await reminders.run(SETTINGS, now=now)
    before = await MailOutbox.count()
    await reminders.run(SETTINGS, now=now + timedelta(hours=1))
    assert await MailOutbox.count() == before
    assert len(await mails_for(case_id)) == 1


async def test_reminder_breach_adds_substitutes_then_admins(world):
    substitute = await add_counsellor(world, "substitute.a1", Assignment.SUBSTITUTE)
    case_id = await due_case(world)
    await reminders.run(SETTINGS, now=local(2026, 11, 11, 10, 0))  # breached: level 2
    level_two = await mails_for(case_id)
    assert recipients(level_two) == {"counsellor.a1@example.test", "substitute.a1@example.test"}
    assert all(":2:" in row["dedupe_key"] for row in level_two)
    assert any(str(substitute) in row["dedupe_key"] for row in level_two)
    await reminders.run(SETTINGS, now=local(2026, 11, 13, 10, 0))  # two days on: level 3
    level_three = [row for row in await mails_for(case_id) if ":3:" in row["dedupe_key"]]
    assert recipients(level_three) == {"admin.a@example.test"}
    assert "/bureau/dashboard" in level_three[0]["body"]
    assert "admin.b@example.test" not in recipients(await mails_for(case_id))


async def test_reminder_chosen_counsellor_only_one_mailed(world):
    other = await add_counsellor(world, "other.a1", Assignment.PRIMARY)
    case_id = await due_case(world, counsellor=other)
    await reminders.run(SETTINGS, now=local(2026, 11, 9, 12, 0))
    assert recipients(await mails_for(case_id)) == {"other.a1@example.test"}


async def test_reminder_closed_case_or_met_deadline_nothing(world):
    closed = await due_case(world, status="closed", closed_at=local(2026, 11, 5))
    acknowledged = await due_case(world, acknowledged_at=local(2026, 11, 5, 9, 0))
    await reminders.run(SETTINGS, now=local(2026, 11, 12, 10, 0))
    assert await mails_for(closed) == []
    assert await mails_for(acknowledged) == []


async def test_reminder_friday_case_over_holiday_first_contact_on_due_day(world):
    await clock_settings.save_settings(
        world.ctx("admin_A"),
        organisation_id=world.organisations["A1"],
        form={
            **clock_settings.form_values(clock_settings.rules_from_row(None)),
            "holidays": "2026-12-07",
        },
    )
    case_id = await make_case(
        world,
        procedure="unwanted_behaviour",
        received_at=local(2026, 12, 4, 16, 0),  # Friday; Monday a holiday: due Wednesday
        next_due_at=local(2026, 12, 8, 16, 0),  # as intake stores it, without the holiday
    )
    await reminders.run(SETTINGS, now=local(2026, 12, 8, 18, 0))  # Tuesday
    assert [row for row in await mails_for(case_id) if ":fc:" in row["dedupe_key"]] == []
    await reminders.run(SETTINGS, now=local(2026, 12, 9, 8, 0))  # Wednesday, the due day
    contact = [row for row in await mails_for(case_id) if ":fc:" in row["dedupe_key"]]
    assert recipients(contact) == {"counsellor.a1@example.test"}
    assert ":fc:202612091500:1:" in contact[0]["dedupe_key"]


async def test_reminder_corrects_next_due_from_organisation_settings(world):
    await clock_settings.save_settings(
        world.ctx("admin_A"),
        organisation_id=world.organisations["A1"],
        form={
            **clock_settings.form_values(clock_settings.rules_from_row(None)),
            "acknowledge_days": "3",
            "acknowledge_warning_day": "1",
        },
    )
    case_id = await due_case(world)  # stored with the default 7 days, as intake does
    summary = await reminders.run(SETTINGS, now=local(2026, 11, 5, 10, 30))
    assert summary.corrected >= 1
    row = await Case.select(Case.next_due_at).where(Case.id == case_id).first()
    assert row["next_due_at"] == local(2026, 11, 7, 10, 0)
    assert recipients(await mails_for(case_id)) == {"counsellor.a1@example.test"}


async def test_reminder_stale_level_not_sent(world):
    case_id = await due_case(world)
    await reminders.run(SETTINGS, now=local(2026, 11, 28, 10, 0))  # level 3 began 15 days ago
    assert await mails_for(case_id) == []


async def test_reminder_case_far_ahead_not_read(world):
    far = await due_case(world, next_due_at=local(2027, 6, 1))
    near = await due_case(world)
    seen: list[UUID] = []
    original = reminders._Page.remind

    async def spy(self: Any, settings: Any, ctx: Any, row: dict[str, Any], now: Any) -> Any:
        seen.append(UUID(str(row["id"])))
        return await original(self, settings, ctx, row, now)

    reminders._Page.remind = spy  # type: ignore[method-assign]
    try:
        await reminders.run(SETTINGS, now=local(2026, 11, 9, 12, 0), batch=2)
    finally:
        reminders._Page.remind = original  # type: ignore[method-assign]
    assert near in seen and far not in seen
    assert len(seen) == len(set(seen))  # keyset pages: each case once


def test_reminders_job_registered():
    assert "reminders" in jobs.JOBS
    assert next(iter(jobs.JOBS)) == "mail"


async def test_reminder_belgian_first_conversation_on_its_due_day(world):
    from tests.casework.test_clocks_services import set_country

    await set_country(world, "A1", "BE")
    case_id = await make_case(
        world,
        procedure="unwanted_behaviour",
        received_at=local(2026, 12, 1, 9, 0),
        acknowledged_at=local(2026, 12, 1, 13, 0),
        next_due_at=local(2026, 12, 3, 9, 0),
    )
    await reminders.run(SETTINGS, now=local(2026, 12, 10, 23, 0))
    assert [row for row in await mails_for(case_id) if ":fv:" in row["dedupe_key"]] == []
    await reminders.run(SETTINGS, now=local(2026, 12, 11, 8, 0))
    conversation = [row for row in await mails_for(case_id) if ":fv:" in row["dedupe_key"]]
    assert recipients(conversation) == {"counsellor.a1@example.test"}
    assert ":fv:202612110800:1:" in conversation[0]["dedupe_key"]
    contact = [row for row in await mails_for(case_id) if ":fc:" in row["dedupe_key"]]
    assert "admin.a@example.test" in recipients(contact)  # 2 working days, long breached
