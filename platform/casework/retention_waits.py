"""Retention waits for the annual report: a closed case stays while its year's report is open.

A case received in calendar year Y (Netherlands time) is counted in its organisation's annual
report for Y. While that report is a draft or in review its figures are counted afresh from
the cases, so purging a case would change a report still being written; once final, the
report stored its published figures and holds nothing. The wait ends at the latest with year
Y+1 (`wait_end`), so a forgotten draft cannot keep a counselling file for ever. No report for
Y: no wait.

`retention` marks a case row with `PENDING` (True while that report exists and is not final):
for the scan, one query for all its rows (`mark_pending`); for the purge, one small query
inside the purge's own transaction (`report_pending`), so a report made final since the scan
is seen. A marked row is due at `wait_end` at the earliest, also once that has passed: the
date, and so the warning's dedupe key, stays the same from the warning to the purge.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from casework.annual_figures import year_bounds
from casework.annual_model import ReportStatus
from casework.tables import AnnualReport
from casework.time_entries import local_date
from klankbord.tenancy import TenantContext, scoped

PENDING = "annual_report_pending"  # the key in a case row, and the refusal's code


def report_year(case_row: dict[str, Any]) -> int:
    """The year whose annual report counts the case: the year it was received."""
    return local_date(case_row["received_at"]).year


def wait_end(case_row: dict[str, Any]) -> datetime:
    """The latest an unfinished annual report holds the case: the end of the next year."""
    return year_bounds(report_year(case_row) + 1)[1].astimezone(UTC)


def holds(case_row: dict[str, Any], now: datetime) -> bool:
    """Whether a marked row's report still holds the case at `now` (its wait has not ended)."""
    return bool(case_row.get(PENDING)) and now < wait_end(case_row)


async def mark_pending(ctx: TenantContext, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with `PENDING`: one query for the unfinished reports of the rows' organisations
    and years, whatever the number of rows."""
    pending: set[tuple[str, int]] = set()
    if rows:
        found = (
            await scoped(
                AnnualReport.select(AnnualReport.organisation, AnnualReport.year),
                AnnualReport,
                ctx,
            )
            .where(AnnualReport.status != ReportStatus.FINAL)
            .where(AnnualReport.organisation.is_in(list({row["organisation"] for row in rows})))
            .where(AnnualReport.year.is_in(list({report_year(row) for row in rows})))
        )
        pending = {(str(report["organisation"]), int(report["year"])) for report in found}
    return [
        {**row, PENDING: (str(row["organisation"]), report_year(row)) in pending} for row in rows
    ]


async def report_pending(ctx: TenantContext, case_row: dict[str, Any]) -> bool:
    """Whether the organisation's report for the case's year exists and is not final, as the
    caller's transaction sees it."""
    found: bool = await scoped(AnnualReport.exists(), AnnualReport, ctx).where(
        (AnnualReport.organisation == case_row["organisation"])
        & (AnnualReport.year == report_year(case_row))
        & (AnnualReport.status != ReportStatus.FINAL)
    )
    return found
