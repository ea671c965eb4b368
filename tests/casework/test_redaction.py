"""Redaction: a masked passage is hidden on the case page and kept; a destroyed one is gone
from the sealed text for good; both audited without the passage."""

from __future__ import annotations

import pytest

from casework import cases, mailbox, redaction
from klankbord.errors import Invalid, NotFound
from klankbord.tables import AuditEvent
from klankbord.tenancy import system_context, tenant_transaction

TARGET = "answer:default:wrongdoing"


async def view(world):
    ctx = world.ctx("counsellor_A1")
    async with tenant_transaction(ctx):
        return await cases.case_view(ctx, world.case_ids["A1"])


async def test_mask_hides_then_lift_shows_again(world, rollback):
    ctx = world.ctx("counsellor_A1")
    await redaction.redact(
        ctx, case_id=world.case_ids["A1"], target=TARGET, passage="organisation A1", destroy=False
    )
    shown = await view(world)
    assert shown.answers[0]["answer"] == f"Report of {redaction.MASK}"
    await redaction.unmask(ctx, case_id=world.case_ids["A1"], redaction_id=shown.masks[0].id)
    assert (await view(world)).answers[0]["answer"] == "Report of organisation A1"


async def test_destroy_removes_for_good(world, rollback, test_database):
    ctx = world.ctx("counsellor_A1")
    message_id = await mailbox.reply_to_reporter(
        test_database.settings, ctx, case_id=world.case_ids["A1"], text="Call Jan at 06-1234."
    )
    await redaction.redact(
        ctx,
        case_id=world.case_ids["A1"],
        target=f"message:{message_id}",
        passage="06-1234",
        destroy=True,
    )
    shown = await view(world)
    assert shown.thread[-1].body == f"Call Jan at {redaction.REMOVED}."
    assert shown.masks == []
    async with tenant_transaction(system_context("test")):
        events = await AuditEvent.select(AuditEvent.detail).where(
            AuditEvent.action == "case.redacted"
        )
    assert events and "06-1234" not in str(events[-1]["detail"])


async def test_redact_refusals(world, rollback):
    ctx = world.ctx("counsellor_A1")
    with pytest.raises(Invalid):  # not in the text
        await redaction.redact(
            ctx, case_id=world.case_ids["A1"], target=TARGET, passage="nowhere", destroy=False
        )
    with pytest.raises(Invalid):
        await redaction.redact(
            ctx, case_id=world.case_ids["A1"], target="answer:nope", passage="x", destroy=False
        )
    with pytest.raises(NotFound):
        await redaction.redact(
            world.ctx("counsellor_B1"),
            case_id=world.case_ids["A1"],
            target=TARGET,
            passage="Report",
            destroy=True,
        )
