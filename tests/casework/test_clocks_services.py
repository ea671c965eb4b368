"""Recording acknowledgement, its exception, first contact and feedback: what is stored, the
recomputed `next_due_at`, the audit events, every refusal and other organisations' staff."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from casework import acknowledgement, clocks
from casework.tables import Case
from klankbord.errors import Invalid, NotFound
from klankbord.tables import AuditEvent
from klankbord.tenancy import system_context, tenant_transaction
from tenants.tables import Organisation

pytestmark = pytest.mark.usefixtures("rollback")
AMSTERDAM = clocks.zone_for("NL")


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=AMSTERDAM).astimezone(UTC)


async def make_case(world: Any, organisation: str = "A1", **fields: Any) -> UUID:
    """A case row as intake leaves it (no report: the clocks do not read one)."""
    case_id = uuid4()
    received = fields.pop("received_at", datetime.now(UTC))
    values: dict[str, Any] = {
        "id": case_id,
        "organisation": world.organisations[organisation],
        "bureau": world.bureau_of(organisation),
        "procedure": "integrity",
        "received_at": received,
        "reference": f"T-{secrets.token_hex(4).upper()}",
        "receipt_lookup": secrets.token_hex(16),
        "receipt_verifier": "none",
        "submission": secrets.token_hex(16),
        **fields,
    }
    async with tenant_transaction(system_context("test")):
        await Case.insert(Case(**values))
    return case_id


async def case_row(case_id: UUID) -> dict[str, Any]:
    async with tenant_transaction(system_context("test")):
        row = await Case.select().where(Case.id == case_id).first()
    assert row is not None
    return row


async def actions(case_id: UUID) -> list[str]:
    async with tenant_transaction(system_context("test")):
        rows = await AuditEvent.select(AuditEvent.action, AuditEvent.detail).where(
            AuditEvent.subject_id == str(case_id)
        )
    return [row["action"] for row in rows]


async def set_country(world: Any, organisation: str, country: str) -> None:
    async with tenant_transaction(system_context("test")):
        await Organisation.update({Organisation.country: country}).where(
            Organisation.id == world.organisations[organisation]
        )


async def test_acknowledge_stores_moment_moves_next_due_to_feedback(world):
    received = local(2026, 12, 1, 9, 0)
    case_id = await make_case(world, received_at=received, next_due_at=local(2026, 12, 8, 9, 0))
    moment = local(2026, 12, 3, 11, 0)
    await acknowledgement.acknowledge(world.ctx("counsellor_A1"), case_id=case_id, now=moment)
    row = await case_row(case_id)
    assert row["acknowledged_at"] == moment
    assert row["status"] == "in_progress"
    assert row["next_due_at"] == local(2027, 3, 3, 11, 0)
    assert "case.acknowledged" in await actions(case_id)


async def test_acknowledge_twice_refused(world):
    case_id = await make_case(world)
    ctx = world.ctx("counsellor_A1")
    await acknowledgement.acknowledge(ctx, case_id=case_id)
    with pytest.raises(Invalid) as refused:
        await acknowledgement.acknowledge(ctx, case_id=case_id)
    assert refused.value.fields == {"clocks": "already_acknowledged"}


async def test_acknowledge_closed_case_refused(world):
    case_id = await make_case(world, status="closed", closed_at=datetime.now(UTC))
    with pytest.raises(Invalid) as refused:
        await acknowledgement.acknowledge(world.ctx("counsellor_A1"), case_id=case_id)
    assert refused.value.fields == {"clocks": "case_closed"}
    assert (await case_row(case_id))["acknowledged_at"] is None


@pytest.mark.parametrize("user", ["counsellor_A2", "counsellor_B1", "admin_A", "contact_A1"])
async def test_clock_services_other_staff_not_found(world, user):
    case_id = await make_case(world)
    ctx = world.ctx(user)
    with pytest.raises(NotFound):
        await acknowledgement.acknowledge(ctx, case_id=case_id)
    with pytest.raises(NotFound):
        await acknowledgement.record_acknowledgement_exception(
            ctx, case_id=case_id, reason="reporter_declined"
        )
    with pytest.raises(NotFound):
        await acknowledgement.record_first_contact(ctx, case_id=case_id, at=date.today())
    with pytest.raises(NotFound):
        await acknowledgement.record_feedback(ctx, case_id=case_id)
    with pytest.raises(NotFound):
        await acknowledgement.refresh_next_due(ctx, case_id)
    row = await case_row(case_id)
    assert row["acknowledged_at"] is None and row["feedback_at"] is None
    assert row["acknowledgement_exception"] == "" and row["first_contact_at"] is None


async def test_exception_stores_reason_code_and_stops_acknowledgement_clock(world):
    received = local(2026, 12, 1, 9, 0)
    case_id = await make_case(world, received_at=received)
    ctx = world.ctx("counsellor_A1")
    await acknowledgement.record_acknowledgement_exception(
        ctx, case_id=case_id, reason="would_endanger_identity"
    )
    row = await case_row(case_id)
    assert row["acknowledgement_exception"] == "would_endanger_identity"
    assert row["next_due_at"] == local(2027, 3, 8, 9, 0)  # feedback: 3 months + 7 days
    assert "case.acknowledgement_exception" in await actions(case_id)
    with pytest.raises(Invalid) as refused:
        await acknowledgement.acknowledge(ctx, case_id=case_id)
    assert refused.value.fields == {"clocks": "acknowledgement_excepted"}
    with pytest.raises(Invalid) as twice:
        await acknowledgement.record_acknowledgement_exception(
            ctx, case_id=case_id, reason="reporter_declined"
        )
    assert twice.value.fields == {"clocks": "acknowledgement_excepted"}


@pytest.mark.parametrize(
    ("reason", "code"), [("", "reason_required"), ("too_busy", "reason_unknown")]
)
async def test_exception_without_known_reason_refused(world, reason, code):
    case_id = await make_case(world)
    with pytest.raises(Invalid) as refused:
        await acknowledgement.record_acknowledgement_exception(
            world.ctx("counsellor_A1"), case_id=case_id, reason=reason
        )
    assert refused.value.fields == {"exception_reason": code}


async def test_exception_after_acknowledgement_refused(world):
    case_id = await make_case(world)
    ctx = world.ctx("counsellor_A1")
    await acknowledgement.acknowledge(ctx, case_id=case_id)
    with pytest.raises(Invalid) as refused:
        await acknowledgement.record_acknowledgement_exception(
            ctx, case_id=case_id, reason="reporter_declined"
        )
    assert refused.value.fields == {"clocks": "already_acknowledged"}


async def test_first_contact_meets_clock_next_due_moves_to_acknowledgement(world):
    received = local(2026, 12, 4, 16, 0)  # Friday
    case_id = await make_case(world, received_at=received, procedure="unwanted_behaviour")
    now = local(2026, 12, 8, 10, 0)
    await acknowledgement.record_first_contact(
        world.ctx("counsellor_A1"), case_id=case_id, at=date(2026, 12, 7), now=now
    )
    row = await case_row(case_id)
    assert row["first_contact_at"] == local(2026, 12, 7, 12, 0)
    assert row["next_due_at"] == local(2026, 12, 11, 16, 0)
    assert "case.first_contact" in await actions(case_id)


@pytest.mark.parametrize(
    ("day", "code"),
    [
        (None, "date_required"),
        (date(2026, 12, 9), "date_in_future"),
        (date(2026, 12, 3), "date_before_receipt"),
    ],
)
async def test_first_contact_bad_date_refused(world, day, code):
    case_id = await make_case(world, received_at=local(2026, 12, 4, 16, 0))
    with pytest.raises(Invalid) as refused:
        await acknowledgement.record_first_contact(
            world.ctx("counsellor_A1"), case_id=case_id, at=day, now=local(2026, 12, 8, 10)
        )
    assert refused.value.fields == {"first_contact_date": code}
    assert (await case_row(case_id))["first_contact_at"] is None


async def test_first_contact_twice_refused(world):
    case_id = await make_case(world, received_at=local(2026, 12, 4, 16, 0))
    ctx = world.ctx("counsellor_A1")
    now = local(2026, 12, 8, 10)
    await acknowledgement.record_first_contact(ctx, case_id=case_id, at=date(2026, 12, 4), now=now)
    with pytest.raises(Invalid) as refused:
        await acknowledgement.record_first_contact(
            ctx, case_id=case_id, at=date(2026, 12, 5), now=now
        )
    assert refused.value.fields == {"clocks": "first_contact_recorded"}
    # Recorded on the day of receipt: never before the receipt itself.
    assert (await case_row(case_id))["first_contact_at"] == local(2026, 12, 4, 16, 0)


async def test_feedback_recorded_then_refused_twice_next_due_none_when_all_met(world):
    case_id = await make_case(world)
    ctx = world.ctx("counsellor_A1")
    await acknowledgement.acknowledge(ctx, case_id=case_id)
    await acknowledgement.record_feedback(ctx, case_id=case_id)
    row = await case_row(case_id)
    assert row["feedback_at"] is not None and row["next_due_at"] is None
    with pytest.raises(Invalid) as refused:
        await acknowledgement.record_feedback(ctx, case_id=case_id)
    assert refused.value.fields == {"clocks": "feedback_recorded"}
    assert "case.feedback" in await actions(case_id)


async def test_refresh_next_due_closed_case_none(world):
    case_id = await make_case(world, next_due_at=datetime.now(UTC) + timedelta(days=3))
    async with tenant_transaction(system_context("test")):
        await Case.update({Case.status: "closed", Case.closed_at: datetime.now(UTC)}).where(
            Case.id == case_id
        )
    assert await acknowledgement.refresh_next_due(world.ctx("counsellor_A1"), case_id) is None
    assert (await case_row(case_id))["next_due_at"] is None


async def test_case_clocks_view_states_and_actions(world):
    received = local(2026, 12, 4, 16, 0)
    case_id = await make_case(world, received_at=received, procedure="unwanted_behaviour")
    await set_country(world, "A1", "BE")
    ctx = world.ctx("counsellor_A1")
    async with tenant_transaction(ctx):
        from casework import cases

        row = await cases.access_case(ctx, case_id)
        view = await acknowledgement.case_clocks(ctx, row, now=local(2026, 12, 9, 17))
    states = {item.clock: item.state for item in view.deadlines}
    assert states == {
        "acknowledgement": "due_soon",
        "first_contact": "overdue",
        "first_conversation": "pending",
        "feedback": "pending",
    }
    assert view.can_acknowledge and view.can_record_first_contact and view.can_record_feedback
    assert view.received_on == date(2026, 12, 4) and view.today == date(2026, 12, 9)
