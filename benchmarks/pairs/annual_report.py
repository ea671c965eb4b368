"""annual-report-*: a draft annual report over 10,000 cases, the service against raw SQL.

Target: `casework.annual_reports.report_view`, what the counsellor's report page calls. For a
draft it counts the year (`annual_figures.count_year`: three grouped queries, over cases,
categories by the received date they copy from their case, and time entries), looks for last year's
report, counts last year the same way, suppresses small counts and opens the sealed
narrative, all in one tenant transaction. Anchor: the same three aggregates for the year
alone, written by hand and sent through `klankbord.database.fetch` in a tenant transaction of
the same counsellor (so RLS applies on PostgreSQL), nothing else. The service therefore counts
about one and a half times the anchor's rows, plus its small queries; "at most 2x" is the aim.

One caller at a time (each side ignores `--concurrency`): a counsellor opens one report, and
with 32 callers the latency would be mostly queueing (see the README).

The organisation has 10,000 cases in the measured year and 5,000 in the year before (mixed
procedures, outcomes, reporter roles and channels; 1 or 2 categories on most cases; two time
entries each). Ten neighbour organisations in its bureau and ten in another bureau have 2,000
cases each over both years, so the tenant filter has rows to leave out.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from piccolo.table import Table

from benchmarks.backends import Backend, opened
from benchmarks.harness import Aim, Comparison, Environment, Pair, Round, Side
from benchmarks.measure import Measurement, closed_loop
from benchmarks.seed import _insert, seed_bureau
from casework import annual_figures, annual_reports
from casework.annual_model import TableKey
from casework.choices import CaseStatus, Channel, ReporterRole, TimeActivity
from casework.tables import Case, CaseCategory, TimeEntry
from casework.workflows import WORKFLOWS
from klankbord import database
from klankbord.tenancy import (
    Role,
    TenantContext,
    staff_context,
    system_context,
    tenant_transaction,
)
from tenants import services
from tenants.choices import MembershipRole, Procedure

YEAR = 2025
CASES, PREVIOUS_CASES = 10_000, 5_000
NEIGHBOURS, NEIGHBOUR_CASES = 10, 2_000  # per bureau: the measured one and another one
CONCURRENCY = 1
BOTH = (YEAR - 1, YEAR)  # the neighbours' cases are spread over both years
LATENCY_AIM_MS, RATIO_AIM = 1000.0, 0.5
NARRATIVE = "Most reports came from two departments; we advise a training for managers."

PROCEDURES = (
    (Procedure.UNWANTED_BEHAVIOUR,) * 6 + (Procedure.INTEGRITY,) * 3 + (Procedure.REHABILITATION,)
)
STATUSES = (CaseStatus.CLOSED,) * 6 + (CaseStatus.IN_PROGRESS,) * 3 + (CaseStatus.RECEIVED,)
ROLES = (ReporterRole.EMPLOYEE,) * 2 + (ReporterRole.MANAGER, ReporterRole.NOT_RECORDED)
CHANNELS = (Channel.ONLINE, Channel.ONLINE, Channel.PHONE, Channel.WALK_IN)
ACTIVITIES = tuple(TimeActivity)


@dataclass(frozen=True)
class Seeded:
    organisation_id: UUID
    ctx: TenantContext  # a counsellor of the organisation


def _cases(
    organisation: UUID, bureau: UUID, staff: UUID, count: int, years: tuple[int, ...]
) -> tuple[list[Table], list[Table], list[Table]]:
    """`count` cases spread over `years` (away from New Year, so no time zone decides the
    year), with their categories and two time entries each."""
    cases: list[Table] = []
    categories: list[Table] = []
    entries: list[Table] = []
    per_year = -(-count // len(years))
    for n in range(count):
        year = years[n % len(years)]
        received = datetime(year, 1, 2, 9, tzinfo=UTC) + timedelta(
            minutes=(n // len(years)) * 362 * 24 * 60 // per_year
        )
        procedure = PROCEDURES[n % len(PROCEDURES)]
        status = STATUSES[(n // 3) % len(STATUSES)]
        flow = WORKFLOWS[procedure]
        case = Case(
            organisation=organisation,
            bureau=bureau,
            procedure=procedure,
            channel=CHANNELS[(n // 7) % len(CHANNELS)],
            status=status,
            outcome=flow.outcomes[n % len(flow.outcomes)] if status is CaseStatus.CLOSED else "",
            reporter_role=ROLES[(n // 5) % len(ROLES)],
            received_at=received,
            reporter_active_at=received,
            receipt_lookup=uuid4().hex,
            receipt_verifier="x",
            submission=uuid4().hex,
        )
        cases.append(case)
        # One category on 6 cases in 10, two on 3 in 10, none on the rest.
        wanted = (1,) * 6 + (2,) * 3 + (0,)
        for offset in range(wanted[(n // 11) % len(wanted)]):
            code = flow.categories[(n + offset) % len(flow.categories)]
            categories.append(
                CaseCategory(
                    case=case.id,
                    organisation=organisation,
                    bureau=bureau,
                    code=code,
                    received_at=received,
                )
            )
        for offset in (0, 9):
            entries.append(
                TimeEntry(
                    case=case.id,
                    organisation=organisation,
                    bureau=bureau,
                    staff_user=staff,
                    minutes=15 + (n * 7 + offset) % 76,
                    activity=ACTIVITIES[(n + offset) % len(ACTIVITIES)],
                    spent_on=(received + timedelta(days=offset)).date(),
                )
            )
    return cases, categories, entries


async def _insert_cases(
    organisation: UUID, bureau: UUID, staff: UUID, count: int, years: tuple[int, ...] = BOTH
) -> None:
    cases, categories, entries = _cases(organisation, bureau, staff, count, years)
    await _insert(Case, cases)
    await _insert(CaseCategory, categories)
    await _insert(TimeEntry, entries)


async def _seed(backend: Backend) -> Seeded:
    """The measured organisation (made through the services: it needs a data key), its
    counsellor and its draft report with a narrative, among the neighbours' cases."""
    label = backend.name
    own = await seed_bureau(f"annual-{label}", organisations=NEIGHBOURS, neighbours=0)
    other = await seed_bureau(f"annual-{label}-other", organisations=NEIGHBOURS, neighbours=0)
    system = system_context("bench.seed")
    tag = secrets.token_hex(3)
    async with tenant_transaction(system):
        organisation_id = await services.create_organisation(
            system, bureau_id=own.bureau_id, name=f"Annual {label} {tag}", sector="care"
        )
        counsellor_id = await services.create_staff_user(
            system,
            bureau_id=own.bureau_id,
            email=f"counsellor.annual.{label}.{tag}@bench.example",
            display_name="Bench counsellor",
        )
        await services.add_membership(
            system,
            organisation_id=organisation_id,
            staff_user_id=counsellor_id,
            role=MembershipRole.COUNSELLOR,
        )
        for count, year in ((CASES, YEAR), (PREVIOUS_CASES, YEAR - 1)):
            await _insert_cases(organisation_id, own.bureau_id, counsellor_id, count, (year,))
        for bureau in (own, other):
            for neighbour in bureau.organisation_ids:
                await _insert_cases(neighbour, bureau.bureau_id, bureau.admin_id, NEIGHBOUR_CASES)
    ctx = staff_context(
        staff_user_id=counsellor_id,
        bureau_id=own.bureau_id,
        organisation_roles=[(organisation_id, Role.COUNSELLOR)],
    )
    await annual_reports.start_report(ctx, organisation_id=organisation_id, year=YEAR)
    await annual_reports.save_text(
        ctx, organisation_id=organisation_id, year=YEAR, narrative=NARRATIVE, preventive="", k=3
    )
    if backend.name == "postgres":
        await _analyze(backend)
    return Seeded(organisation_id, ctx)


async def _analyze(backend: Backend) -> None:
    """Planner statistics after the bulk load (only the tables' owner may ANALYZE)."""
    connection = await asyncpg.connect(backend.settings.migration_database_url)
    try:
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


# --- the anchor: the three aggregates, by hand --------------------------------------------

CASES_SQL = """
SELECT c.procedure, c.outcome, c.status, c.reporter_role, c.channel, o.sector,
  COUNT(*) AS cases
FROM case_file c JOIN organisation o ON o.id = c.organisation
WHERE c.organisation = {} AND c.received_at >= {} AND c.received_at < {}
GROUP BY c.procedure, c.outcome, c.status, c.reporter_role, c.channel, o.sector"""
CATEGORIES_SQL = """
SELECT cc.code, COUNT(*) AS cases
FROM case_category cc
WHERE cc.organisation = {} AND cc.received_at >= {} AND cc.received_at < {}
GROUP BY cc.code"""
TIME_SQL = """
SELECT activity, COUNT(*) AS entries, SUM(minutes) AS minutes
FROM time_entry
WHERE organisation = {} AND spent_on >= {} AND spent_on < {}
GROUP BY activity"""


async def _raw(seeded: Seeded) -> tuple[list[dict[str, Any]], ...]:
    start, end = annual_figures.year_bounds(YEAR)
    organisation = seeded.organisation_id
    async with tenant_transaction(seeded.ctx):
        cases = await database.fetch(CASES_SQL, organisation, start, end)
        categories = await database.fetch(CATEGORIES_SQL, organisation, start, end)
        time = await database.fetch(TIME_SQL, organisation, start.date(), end.date())
    if not cases or not categories or not time:
        raise RuntimeError("the raw annual aggregate found nothing")
    return cases, categories, time


async def _check(seeded: Seeded) -> None:
    """The service and the anchor must count the same before anything is measured."""
    organisation = seeded.organisation_id
    view = await annual_reports.report_view(seeded.ctx, organisation, YEAR)
    cases = view.figures.cases
    previous = cases.previous.value if cases.previous else None
    if (cases.current.value, previous, view.narrative) != (CASES, PREVIOUS_CASES, NARRATIVE):
        raise RuntimeError(f"the report shows {cases} and {view.narrative!r}")
    async with tenant_transaction(seeded.ctx):
        counts = await annual_figures.count_year(
            seeded.ctx, year=YEAR, organisation_id=organisation
        )
    raw_cases, raw_categories, raw_time = await _raw(seeded)
    raw = (
        sum(int(row["cases"]) for row in raw_cases),
        Counter({row["code"]: int(row["cases"]) for row in raw_categories}),
        sum(int(row["minutes"]) for row in raw_time),
    )
    served = (counts.cases, +counts.tables[TableKey.CATEGORY], counts.minutes)
    if raw != served or counts.cases != CASES:
        raise RuntimeError(f"service and raw SQL disagree: {served} vs {raw}")


def _side(label: str, engine: Any, operation: Callable[[], Awaitable[object]]) -> Side:
    async def once(_: int) -> None:
        await operation()

    async def run(spec: Round) -> Measurement:
        database.use_engine(engine)  # the other database's engine is open in this process too
        return await closed_loop(once, concurrency=CONCURRENCY, seconds=spec.seconds)

    return Side(label, run, {"concurrency": CONCURRENCY, "cases": CASES})


def _meets(comparison: Comparison) -> bool:
    fast = comparison.target.p50_ms < LATENCY_AIM_MS
    return fast and (comparison.ratio("throughput") or 0) >= RATIO_AIM


def _pair(backend_name: str) -> Pair:
    @asynccontextmanager
    async def setup(env: Environment) -> AsyncIterator[tuple[Side, Side]]:
        backend = env.sqlite if backend_name == "sqlite" else env.postgres
        if backend is None:
            raise RuntimeError("this pair needs PostgreSQL")
        async with opened(backend.engine()) as engine:
            seeded = await _seed(backend)
            await _check(seeded)

            async def service() -> object:
                return await annual_reports.report_view(seeded.ctx, seeded.organisation_id, YEAR)

            yield (
                _side(f"{backend.label}: annual_reports.report_view, in process", engine, service),
                _side(
                    f"{backend.label}: the year's three aggregates in raw SQL, in process",
                    engine,
                    lambda: _raw(seeded),
                ),
            )

    return Pair(
        name=f"annual-report-{backend_name}",
        description=(
            f"a draft annual report, {CASES:,} cases in the year, {backend_name}, one caller:"
            " report_view vs the year's raw aggregates"
        ),
        unit="p50 ms",
        aim=Aim(
            text=f"p50 < {LATENCY_AIM_MS:g} ms and throughput >= {RATIO_AIM} x raw SQL",
            check=_meets,
        ),
        setup=setup,
        needs_postgres=backend_name == "postgres",
    )


PAIRS = (_pair("sqlite"), _pair("postgres"))
