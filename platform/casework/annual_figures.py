"""Counting an annual report's figures: raw counts per year, then published figures.

What counts (REQUIREMENTS §6), per organisation (or all of a bureau's) and calendar year in
the Netherlands and Belgium:
- a **case**: a case file received in the year, whatever its channel;
- a **contact**: a contact moment the counsellors logged in the year (a conversation, a phone
  call or correspondence, from the time entries), whatever year its case came in;
- **hours**: all time logged in the year;
- breakdowns of the year's cases per procedure, route/outcome (an open case counts as
  "still open"), reporter role, channel, and for the bureau per sector: each case in exactly
  one row; per category a case counts under each of its categories, or none.

Counting costs three grouped queries per year (cases, categories, time), whatever the number
of cases. Every code of a breakdown is always listed, zero included, in a fixed order: the
suppression rules rely on the published codes being the same every year (`suppression`).
Counts never leave this module unsuppressed except as `Counts` for `publish`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from piccolo.query.functions.aggregate import Count, Sum

from casework import suppression
from casework.annual_model import Hours, PublishedFigures, Table, TableKey
from casework.choices import CaseStatus, Channel, ReporterRole, TimeActivity
from casework.tables import Case, CaseCategory, TimeEntry
from casework.time_entries import LOCAL_TIME
from casework.workflows import WORKFLOWS
from klankbord.tenancy import TenantContext, require_transaction, scoped
from tenants.choices import Procedure, Sector

CONTACT_ACTIVITIES = (
    TimeActivity.CONVERSATION,
    TimeActivity.PHONE_CALL,
    TimeActivity.CORRESPONDENCE,
)


def _unique(codes: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(codes))


OPEN = ""  # the outcome row of cases not closed (yet)
CODES: dict[TableKey, tuple[str, ...]] = {
    TableKey.PROCEDURE: tuple(Procedure),
    TableKey.CATEGORY: _unique(
        [code for flow in WORKFLOWS.values() for code in flow.categories if code != "other"]
        + ["other"]
    ),
    TableKey.OUTCOME: _unique(
        [*(code for flow in WORKFLOWS.values() for code in flow.outcomes), OPEN]
    ),
    TableKey.ROLE: (ReporterRole.EMPLOYEE, ReporterRole.MANAGER, ReporterRole.NOT_RECORDED),
    TableKey.CHANNEL: tuple(Channel),
    TableKey.SECTOR: (*(code for code in Sector), ""),
}
ORGANISATION_TABLES = (
    TableKey.PROCEDURE,
    TableKey.CATEGORY,
    TableKey.OUTCOME,
    TableKey.ROLE,
    TableKey.CHANNEL,
)
BUREAU_TABLES = (TableKey.SECTOR, *ORGANISATION_TABLES)


@dataclass
class Counts:
    """One year's raw counts. Never shown as they are: `publish` suppresses them."""

    cases: int = 0
    contacts: int = 0
    minutes: int = 0
    tables: dict[TableKey, Counter[str]] = field(default_factory=dict)

    def table(self, key: TableKey) -> list[tuple[str, int]]:
        counter = self.tables.get(key, Counter())
        return [(code, counter[code]) for code in CODES[key]]


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """The year's first moment and the next year's, local time (aware)."""
    return datetime(year, 1, 1, tzinfo=LOCAL_TIME), datetime(year + 1, 1, 1, tzinfo=LOCAL_TIME)


async def count_year(
    ctx: TenantContext,
    *,
    year: int,
    organisation_id: UUID | None = None,
    bureau_id: UUID | None = None,
) -> Counts:
    """The counts of one organisation, or with `bureau_id` of all the bureau's organisations
    (the caller has checked access; RLS and `scoped` keep the rows to `ctx`'s anyway)."""
    require_transaction(ctx)
    if (organisation_id is None) == (bureau_id is None):
        raise ValueError("count one organisation or one bureau")
    start, end = year_bounds(year)
    counts = Counts()
    cases: Any = scoped(
        Case.select(
            Case.procedure,
            Case.outcome,
            Case.status,
            Case.reporter_role,
            Case.channel,
            Case.organisation.sector.as_alias("sector"),
            Count(alias="cases"),
        ),
        Case,
        ctx,
    ).where(Case.received_at >= start, Case.received_at < end)
    categories: Any = scoped(
        CaseCategory.select(CaseCategory.code, Count(alias="cases")), CaseCategory, ctx
    ).where(CaseCategory.received_at >= start, CaseCategory.received_at < end)
    time: Any = scoped(
        TimeEntry.select(
            TimeEntry.activity, Count(alias="entries"), Sum(TimeEntry.minutes, alias="minutes")
        ),
        TimeEntry,
        ctx,
    ).where(TimeEntry.spent_on >= start.date(), TimeEntry.spent_on < end.date())
    if organisation_id is not None:
        cases = cases.where(Case.organisation == organisation_id)
        categories = categories.where(CaseCategory.organisation == organisation_id)
        time = time.where(TimeEntry.organisation == organisation_id)
    else:
        cases = cases.where(Case.bureau == bureau_id)
        categories = categories.where(CaseCategory.bureau == bureau_id)
        time = time.where(TimeEntry.bureau == bureau_id)
    case_rows = await cases.group_by(
        Case.procedure,
        Case.outcome,
        Case.status,
        Case.reporter_role,
        Case.channel,
        Case.organisation.sector,
    )
    tables = {key: Counter[str]() for key in BUREAU_TABLES}
    for row in case_rows:
        number = int(row["cases"])
        counts.cases += number
        outcome = row["outcome"] if row["status"] == CaseStatus.CLOSED else OPEN
        tables[TableKey.PROCEDURE][row["procedure"]] += number
        tables[TableKey.OUTCOME][outcome] += number
        tables[TableKey.ROLE][row["reporter_role"]] += number
        tables[TableKey.CHANNEL][row["channel"]] += number
        tables[TableKey.SECTOR][row["sector"] or ""] += number
    for row in await categories.group_by(CaseCategory.code):
        tables[TableKey.CATEGORY][row["code"]] += int(row["cases"])
    for row in await time.group_by(TimeEntry.activity):
        counts.minutes += int(row["minutes"] or 0)
        if row["activity"] in CONTACT_ACTIVITIES:
            counts.contacts += int(row["entries"])
    counts.tables = tables
    return counts


def _table(
    key: TableKey, current: Counts, previous: Counts | None, published: Table | None, k: int
) -> Table:
    build = suppression.multi_table if key is TableKey.CATEGORY else suppression.additive_table
    if published is not None:  # the previous year as its final report published it
        return suppression.compare(build(key, current.table(key), k=k), published)
    return build(
        key, current.table(key), k=k, previous=None if previous is None else previous.table(key)
    )


def publish(
    current: Counts,
    *,
    year: int,
    k: int,
    tables: tuple[TableKey, ...] = ORGANISATION_TABLES,
    previous: Counts | None = None,
    previous_published: PublishedFigures | None = None,
) -> PublishedFigures:
    """The figures as they may be shown: small counts suppressed (`suppression`), next to the
    previous year: its final report's published figures when there is one (so last year
    reads exactly as it was published), else its counts, suppressed the same way."""
    suppression.check_k(k)
    if previous_published is not None:
        cases = suppression.compare_single(
            suppression.single(current.cases, k=k), previous_published.cases
        )
        contacts = suppression.compare_single(
            suppression.single(current.contacts, k=k), previous_published.contacts
        )
        previous_hours: float | None = previous_published.hours.current
    else:
        cases = suppression.single(
            current.cases, k=k, previous=None if previous is None else previous.cases
        )
        contacts = suppression.single(
            current.contacts, k=k, previous=None if previous is None else previous.contacts
        )
        previous_hours = None if previous is None else _hours(previous.minutes)
    published_tables = {
        table.key: table for table in (previous_published.tables if previous_published else ())
    }
    return PublishedFigures(
        year=year,
        k=k,
        cases=cases,
        contacts=contacts,
        hours=Hours(current=_hours(current.minutes), previous=previous_hours),
        tables=tuple(
            _table(key, current, previous, published_tables.get(key), k) for key in tables
        ),
    )


def _hours(minutes: int) -> float:
    return round(minutes / 60, 1)
