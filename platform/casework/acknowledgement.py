"""Recording what the clocks wait for: acknowledgement (or why none), first contact, feedback.

Context first, keyword-only after; a counsellor of the case's organisation only
(`cases.access_case`: anyone else gets the same `NotFound` as for a missing case). Each verb
refuses a second recording, a moment in the future and a closed case with an `Invalid` whose
field code says which, stores the moment, recomputes `Case.next_due_at` and writes an audit
event with codes and dates only. Nothing here writes to the reporter: messages do that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from uuid import UUID

from casework import cases, clocks
from casework.choices import AcknowledgementException, CaseStatus
from casework.clock_settings import organisation_rules
from casework.tables import Case
from klankbord import audit
from klankbord.errors import Invalid
from klankbord.tenancy import TenantContext, scoped, tenant_transaction

STATE_FIELD = "clocks"  # errors about the case's state (the panel's id on the case page)
REASON_FIELD = "exception_reason"
DATE_FIELD = "first_contact_date"


def _refuse(code: str, field: str = STATE_FIELD) -> Invalid:
    return Invalid(code=code, fields={field: code})


async def _open_case(ctx: TenantContext, case_id: UUID) -> dict[str, Any]:
    case = await cases.access_case(ctx, case_id)
    if case["status"] == CaseStatus.CLOSED or case["closed_at"] is not None:
        raise _refuse("case_closed")
    return case


async def _store(
    ctx: TenantContext,
    case: dict[str, Any],
    changes: dict[Any, Any],
    *,
    action: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write `changes` and the recomputed `next_due_at`, and the audit event."""
    updated = {**case, **{column._meta.name: value for column, value in changes.items()}}
    rules, country = await organisation_rules(ctx, case["organisation"])
    changes[Case.next_due_at] = clocks.next_due(clocks.facts_from_row(updated, country), rules)
    await scoped(Case.update(changes), Case, ctx).where(Case.id == case["id"])
    await audit.record(
        ctx,
        action=action,
        organisation_id=case["organisation"],
        subject_type="case",
        subject_id=case["id"],
        detail=detail or {},
    )


def _started(case: dict[str, Any]) -> dict[Any, Any]:
    """A case past its acknowledgement (or its exception) is in progress."""
    return {Case.status: CaseStatus.IN_PROGRESS} if case["status"] == CaseStatus.RECEIVED else {}


async def acknowledge(ctx: TenantContext, *, case_id: UUID, now: datetime | None = None) -> None:
    """The reporter's receipt was acknowledged (the message itself is sent elsewhere)."""
    now = now or datetime.now(UTC)
    async with tenant_transaction(ctx):
        case = await _open_case(ctx, case_id)
        if case["acknowledged_at"] is not None:
            raise _refuse("already_acknowledged")
        if case["acknowledgement_exception"]:
            raise _refuse("acknowledgement_excepted")
        changes = {Case.acknowledged_at: now, **_started(case)}
        await _store(ctx, case, changes, action="case.acknowledged")


async def record_acknowledgement_exception(
    ctx: TenantContext, *, case_id: UUID, reason: str
) -> None:
    """No acknowledgement will be sent, for a reason the law accepts (a code, no free text)."""
    async with tenant_transaction(ctx):
        case = await _open_case(ctx, case_id)
        if case["acknowledged_at"] is not None:
            raise _refuse("already_acknowledged")
        if case["acknowledgement_exception"]:
            raise _refuse("acknowledgement_excepted")
        try:
            chosen = AcknowledgementException(reason)
        except ValueError:
            chosen = AcknowledgementException.NONE
        if chosen is AcknowledgementException.NONE:
            raise _refuse("reason_required" if not reason else "reason_unknown", REASON_FIELD)
        changes = {Case.acknowledgement_exception: chosen.value, **_started(case)}
        await _store(
            ctx, case, changes, action="case.acknowledgement_exception", detail={"reason": chosen}
        )


def contact_moment(day: date, *, received_at: datetime, now: datetime, country: str) -> datetime:
    """The stored moment of a contact on `day`: local noon, within [receipt, now]."""
    zone = clocks.zone_for(country)
    noon = datetime.combine(day, time(12, 0), tzinfo=zone).astimezone(UTC)
    return min(max(noon, received_at), now)


async def record_first_contact(
    ctx: TenantContext, *, case_id: UUID, at: date | None, now: datetime | None = None
) -> None:
    """The counsellor first spoke with the reporter on `at` (a local date)."""
    now = now or datetime.now(UTC)
    async with tenant_transaction(ctx):
        case = await _open_case(ctx, case_id)
        if case["first_contact_at"] is not None:
            raise _refuse("first_contact_recorded")
        if at is None:
            raise _refuse("date_required", DATE_FIELD)
        _, country = await organisation_rules(ctx, case["organisation"])
        zone = clocks.zone_for(country)
        if at > now.astimezone(zone).date():
            raise _refuse("date_in_future", DATE_FIELD)
        if at < case["received_at"].astimezone(zone).date():
            raise _refuse("date_before_receipt", DATE_FIELD)
        moment = contact_moment(at, received_at=case["received_at"], now=now, country=country)
        await _store(
            ctx,
            case,
            {Case.first_contact_at: moment},
            action="case.first_contact",
            detail={"date": at.isoformat()},
        )


async def record_feedback(
    ctx: TenantContext, *, case_id: UUID, now: datetime | None = None
) -> None:
    """The reporter was told what is being done with the report (the legal feedback)."""
    now = now or datetime.now(UTC)
    async with tenant_transaction(ctx):
        case = await _open_case(ctx, case_id)
        if case["feedback_at"] is not None:
            raise _refuse("feedback_recorded")
        await _store(ctx, case, {Case.feedback_at: now}, action="case.feedback")


async def refresh_next_due(ctx: TenantContext, case_id: UUID) -> datetime | None:
    """Recompute and store the case's `next_due_at` (none once closed): for callers that
    change what the clocks read, such as closing a case."""
    async with tenant_transaction(ctx):
        case = await cases.access_case(ctx, case_id)
        rules, country = await organisation_rules(ctx, case["organisation"])
        due = clocks.next_due(clocks.facts_from_row(case, country), rules)
        if due != case["next_due_at"]:
            await scoped(Case.update({Case.next_due_at: due}), Case, ctx).where(Case.id == case_id)
        return due


# --- what the case page shows --------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineView:
    clock: str
    due: datetime
    state: str
    met_at: datetime | None


@dataclass(frozen=True)
class ClockView:
    deadlines: list[DeadlineView]
    exception: str  # the recorded reason code, "" without one
    closed: bool
    can_acknowledge: bool
    can_record_first_contact: bool
    can_record_feedback: bool
    received_on: date  # local dates for the first-contact date field
    today: date


async def case_clocks(
    ctx: TenantContext, case: dict[str, Any], *, now: datetime | None = None
) -> ClockView:
    """The clocks of a case row that `cases.access_case` returned (inside its transaction)."""
    now = now or datetime.now(UTC)
    rules, country = await organisation_rules(ctx, case["organisation"])
    facts = clocks.facts_from_row(case, country)
    zone = clocks.zone_for(country)
    planned = clocks.schedule(facts, rules)
    open_case = not facts.closed
    return ClockView(
        deadlines=[
            DeadlineView(
                clock=deadline.clock.value,
                due=deadline.due,
                state=deadline.state(now, closed=facts.closed).value,
                met_at=deadline.met_at,
            )
            for deadline in planned
        ],
        exception=facts.acknowledgement_exception,
        closed=facts.closed,
        can_acknowledge=open_case
        and facts.acknowledged_at is None
        and not facts.acknowledgement_exception,
        can_record_first_contact=open_case
        and facts.first_contact_at is None
        and any(d.clock is clocks.Clock.FIRST_CONTACT for d in planned),
        can_record_feedback=open_case and facts.feedback_at is None,
        received_on=facts.received_at.astimezone(zone).date(),
        today=now.astimezone(zone).date(),
    )
