"""Annual reports: what is counted, the draft → review → final workflow, who may read and
write, the frozen figures of a final report, the comparison with last year as published,
and the bureau-wide figures per sector."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from casework import annual_figures, annual_reports
from casework.annual_model import FigureState, ReportStatus, TableKey
from casework.tables import AnnualReport, Case, CaseCategory, TimeEntry
from casework.time_entries import local_today
from klankbord.errors import Conflict, Invalid, NotFound, PermissionDenied
from klankbord.tables import AuditEvent
from klankbord.tenancy import system_context, tenant_transaction
from tests.support.world import REPORT_YEAR

pytestmark = pytest.mark.usefixtures("rollback")

YEAR = 2025
IN_YEAR = datetime(2025, 6, 1, 10, tzinfo=UTC)
NEW_YEAR_EVE = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)  # 1 January 2026 in Amsterdam


async def add_year_cases(
    world: Any,
    key: str,
    count: int,
    *,
    received_at: datetime = IN_YEAR,
    procedure: str = "unwanted_behaviour",
    **values: Any,
) -> list[UUID]:
    """`count` cases of organisation `key` received at `received_at`, as rows."""
    ids = [uuid4() for _ in range(count)]
    async with tenant_transaction(system_context("test-cases")):
        await Case.insert(
            *[
                Case(
                    id=case_id,
                    organisation=world.organisations[key],
                    bureau=world.bureau_of(key),
                    procedure=procedure,
                    receipt_lookup=secrets.token_hex(16),
                    receipt_verifier="-",
                    submission=secrets.token_hex(16),
                    reference=f"2025-Y{secrets.token_hex(3).upper()}",
                    received_at=received_at,
                    **values,
                )
                for case_id in ids
            ]
        )
    return ids


async def categorise(
    world: Any, key: str, case_ids: list[UUID], *codes: str, received_at: datetime = IN_YEAR
) -> None:
    """As `workflow.set_categories` writes them: with the case's received date."""
    async with tenant_transaction(system_context("test-categories")):
        await CaseCategory.insert(
            *[
                CaseCategory(
                    case=case_id,
                    organisation=world.organisations[key],
                    bureau=world.bureau_of(key),
                    code=code,
                    received_at=received_at,
                )
                for case_id in case_ids
                for code in codes
            ]
        )


async def log_time(world: Any, key: str, case_id: UUID, *, minutes: int, activity: str) -> None:
    async with tenant_transaction(system_context("test-time")):
        await TimeEntry.insert(
            TimeEntry(
                case=case_id,
                organisation=world.organisations[key],
                bureau=world.bureau_of(key),
                staff_user=world.users[f"counsellor_{key}"],
                minutes=minutes,
                activity=activity,
                spent_on=date(YEAR, 3, 2),
            )
        )


def _rows(figures: Any, key: TableKey) -> dict[str, Any]:
    return {row.code: row.current for row in figures.table(key).rows}


async def _counts(world: Any, key: str, year: int = YEAR) -> annual_figures.Counts:
    ctx = world.ctx(f"counsellor_{key}")
    async with tenant_transaction(ctx):
        return await annual_figures.count_year(
            ctx, year=year, organisation_id=world.organisations[key]
        )


async def test_count_year_counts_cases_breakdowns_contacts_and_hours(world):
    employees = await add_year_cases(world, "A1", 4, reporter_role="employee")
    managers = await add_year_cases(
        world,
        "A1",
        3,
        procedure="integrity",
        reporter_role="manager",
        channel="phone",
        status="closed",
        outcome="referral",
    )
    await add_year_cases(world, "A1", 2, received_at=NEW_YEAR_EVE)  # counts in 2026
    await add_year_cases(world, "A2", 5)  # another organisation
    await categorise(world, "A1", employees[:2], "bullying", "intimidation")
    await categorise(world, "A1", managers, "fraud")
    await log_time(world, "A1", employees[0], minutes=90, activity="conversation")
    await log_time(world, "A1", employees[0], minutes=30, activity="phone_call")
    await log_time(world, "A1", employees[1], minutes=45, activity="preparation")

    counts = await _counts(world, "A1")

    assert counts.cases == 7
    assert counts.contacts == 2  # preparation is time, not a contact
    assert counts.minutes == 165
    assert dict(counts.table(TableKey.PROCEDURE)) == {
        "unwanted_behaviour": 4,
        "integrity": 3,
        "rehabilitation": 0,
    }
    assert dict(counts.table(TableKey.ROLE)) == {"employee": 4, "manager": 3, "": 0}
    assert dict(counts.table(TableKey.CHANNEL)) == {"online": 4, "phone": 3, "walk_in": 0}
    outcomes = dict(counts.table(TableKey.OUTCOME))
    assert outcomes["referral"] == 3
    assert outcomes[""] == 4  # still open
    assert sum(outcomes.values()) == 7
    categories = dict(counts.table(TableKey.CATEGORY))
    assert (categories["bullying"], categories["intimidation"], categories["fraud"]) == (2, 2, 3)
    assert list(categories)[-1] == "other"
    assert (await _counts(world, "A1", 2026)).cases >= 2


async def test_count_year_of_another_tenant_sees_none_of_its_cases(world):
    await add_year_cases(world, "B1", 6)
    ctx = world.ctx("counsellor_A1")
    async with tenant_transaction(ctx):
        counts = await annual_figures.count_year(
            ctx, year=YEAR, organisation_id=world.organisations["B1"]
        )
    assert counts.cases == 0


async def _start(world: Any, user: str = "counsellor_A1", key: str = "A1") -> None:
    await annual_reports.start_report(
        world.ctx(user), organisation_id=world.organisations[key], year=YEAR
    )


async def test_report_workflow_draft_review_final_locks_the_figures(world):
    await add_year_cases(world, "A1", 5)
    ctx = world.ctx("counsellor_A1")
    organisation_id = world.organisations["A1"]
    await _start(world)
    await _start(world)  # a second start changes nothing
    await annual_reports.save_text(
        ctx,
        organisation_id=organisation_id,
        year=YEAR,
        narrative="Most questions came after the reorganisation.",
        preventive="Two workshops for team leaders.",
        k=4,
    )
    draft = await annual_reports.report_view(ctx, organisation_id, YEAR)
    assert draft.status is ReportStatus.DRAFT and draft.may_edit and draft.k == 4
    assert draft.figures.cases.current.value == 5
    assert draft.narrative == "Most questions came after the reorganisation."

    with pytest.raises(Conflict):
        await annual_reports.finalise(ctx, organisation_id=organisation_id, year=YEAR)
    await annual_reports.submit_for_review(ctx, organisation_id=organisation_id, year=YEAR)
    await annual_reports.finalise(ctx, organisation_id=organisation_id, year=YEAR)
    await add_year_cases(world, "A1", 3)  # late registrations do not change a final report

    final = await annual_reports.report_view(ctx, organisation_id, YEAR)
    assert final.status is ReportStatus.FINAL and not final.may_edit
    assert final.figures == draft.figures
    assert final.finalised_on == local_today()
    with pytest.raises(Conflict):
        await annual_reports.save_text(
            ctx, organisation_id=organisation_id, year=YEAR, narrative="", preventive="", k=3
        )
    async with tenant_transaction(system_context("test-read")):
        row = await AnnualReport.select().where(AnnualReport.id == final.id).first()
        actions = await AuditEvent.select(AuditEvent.action, AuditEvent.detail).where(
            AuditEvent.subject_id == str(final.id)
        )
    assert "reorganisation" not in row["narrative"]  # sealed
    assert [item["action"] for item in actions] == [
        "annual_report.started",
        "annual_report.saved",
        "annual_report.submitted",
        "annual_report.finalised",
    ]
    assert all("reorganisation" not in str(item["detail"]) for item in actions)


async def test_report_of_running_year_cannot_be_final(world):
    ctx = world.ctx("counsellor_A1")
    organisation_id = world.organisations["A1"]
    year = local_today().year
    await annual_reports.start_report(ctx, organisation_id=organisation_id, year=year)
    await annual_reports.submit_for_review(ctx, organisation_id=organisation_id, year=year)
    with pytest.raises(Conflict) as refused:
        await annual_reports.finalise(ctx, organisation_id=organisation_id, year=year)
    assert refused.value.code == "year_not_ended"
    with pytest.raises(Invalid):
        await annual_reports.start_report(ctx, organisation_id=organisation_id, year=year + 1)


async def test_report_invalid_text_or_k_changes_nothing(world):
    ctx = world.ctx("counsellor_A1")
    organisation_id = world.organisations["A1"]
    await _start(world)
    for k, narrative in ((1, "ok"), (11, "ok"), (3, "x" * 20_001)):
        with pytest.raises(Invalid):
            await annual_reports.save_text(
                ctx,
                organisation_id=organisation_id,
                year=YEAR,
                narrative=narrative,
                preventive="",
                k=k,
            )
    view = await annual_reports.report_view(ctx, organisation_id, YEAR)
    assert (view.k, view.narrative) == (3, "")


async def test_report_contact_reads_final_reports_only_and_writes_nothing(world):
    contact = world.ctx("contact_A1")
    organisation_id = world.organisations["A1"]
    await _start(world)
    assert [item.year for item in await annual_reports.list_reports(contact, organisation_id)] == [
        REPORT_YEAR
    ]
    with pytest.raises(NotFound):
        await annual_reports.report_view(contact, organisation_id, YEAR)
    with pytest.raises(PermissionDenied):
        await annual_reports.start_report(contact, organisation_id=organisation_id, year=2024)
    with pytest.raises(PermissionDenied):
        await annual_reports.submit_for_review(contact, organisation_id=organisation_id, year=YEAR)
    counsellor = world.ctx("counsellor_A1")
    await annual_reports.submit_for_review(counsellor, organisation_id=organisation_id, year=YEAR)
    await annual_reports.finalise(counsellor, organisation_id=organisation_id, year=YEAR)

    assert [item.year for item in await annual_reports.list_reports(contact, organisation_id)] == [
        YEAR,
        REPORT_YEAR,
    ]
    assert (await annual_reports.report_view(contact, organisation_id, YEAR)).status is (
        ReportStatus.FINAL
    )


@pytest.mark.parametrize("user", ["counsellor_A1", "contact_A1", "admin_A"])
async def test_report_of_another_tenant_is_not_found(world, user):
    other = world.organisations["B1"]
    await annual_reports.start_report(world.ctx("counsellor_B1"), organisation_id=other, year=YEAR)
    ctx = world.ctx(user)
    with pytest.raises(NotFound):
        await annual_reports.report_view(ctx, other, YEAR)
    with pytest.raises(NotFound):
        await annual_reports.list_reports(ctx, other)
    with pytest.raises(NotFound):
        await annual_reports.start_report(ctx, organisation_id=other, year=2024)


async def test_report_compares_with_last_year_as_it_was_published(world):
    organisation_id = world.organisations["A1"]
    ctx = world.ctx("admin_A")
    last = await add_year_cases(world, "A1", 4, received_at=datetime(2024, 5, 1, tzinfo=UTC))
    await annual_reports.start_report(ctx, organisation_id=organisation_id, year=2024)
    await annual_reports.submit_for_review(ctx, organisation_id=organisation_id, year=2024)
    await annual_reports.finalise(ctx, organisation_id=organisation_id, year=2024)
    async with tenant_transaction(system_context("test-purge")):  # as retention would
        await Case.delete().where(Case.id.is_in(last))
    await add_year_cases(world, "A1", 7)
    await annual_reports.start_report(ctx, organisation_id=organisation_id, year=YEAR)

    view = await annual_reports.report_view(ctx, organisation_id, YEAR)

    assert view.figures.cases.current.value == 7
    assert view.figures.cases.previous is not None
    assert view.figures.cases.previous.value == 4  # as published, not the purged count 0
    assert view.figures.cases.difference == 3
    published = await annual_reports.report_view(ctx, organisation_id, 2024)
    for table in view.figures.tables:
        before = {row.code: row.current for row in published.figures.table(table.key).rows}
        for row in table.rows:
            assert row.previous == before[row.code]
            if not (row.current.is_shown and row.previous.is_shown):
                assert row.difference is None
    procedure = {row.code: row for row in view.figures.table(TableKey.PROCEDURE).rows}
    assert procedure["integrity"].current.state is FigureState.SMALL
