"""dashboard-*: the bureau dashboard over 10,000 organisations, service against raw SQL.

Target: `tenants.dashboard.dashboard_page`, the real service (a COUNT, the 50-row page
SELECT with its correlated subqueries, `case_counts`, the credential warnings), in process,
inside its own tenant transaction. Anchor: the same COUNT and page aggregate written by hand
and sent through `klankbord.database.fetch` in a tenant transaction (so RLS applies on
PostgreSQL too), without the credential warnings and without Piccolo. The ratio is what the
service costs on top of the bare aggregate.

Six pairs, three per database: page 1 sorted by name, a filtered page (sector, status and a
name fragment), and page 1 through `organisation_page` alone (`-rows`: the COUNT and page
SELECT without the credential warnings, like for like with the anchor). The measured bureau
has 10,000 organisations (counsellor memberships, intake links, some retired or disabled,
some inactive or onboarding organisations); a neighbour bureau has 2,000 more, so the
tenant filter has rows to leave out.
The data is seeded once per database and shared by that database's pairs.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from benchmarks.backends import Backend, opened
from benchmarks.harness import Aim, Environment, Pair, Round, Side
from benchmarks.measure import Measurement, closed_loop
from benchmarks.seed import _insert
from klankbord import database
from klankbord.tenancy import (
    TenantContext,
    staff_context,
    system_context,
    tenant_transaction,
)
from tenants import dashboard
from tenants.tables import Bureau, IntakeLink, Membership, Organisation, StaffUser

ORGANISATIONS = 10_000
NEIGHBOUR_ORGANISATIONS = 2_000
COUNSELLORS = 200
SECTORS = ("care", "education", "housing", "public", "financial", "business")
TODAY = date(2026, 11, 23)
RATIO_AIM = 0.5  # the service keeps at least half the bare aggregate's throughput

# The filtered page: care organisations with a live link whose name holds "1".
FILTER = {"sector": "care", "status": "live", "name": "1"}


@dataclass(frozen=True)
class Seeded:
    bureau_id: UUID
    admin_id: UUID

    def ctx(self) -> TenantContext:
        return staff_context(
            staff_user_id=self.admin_id, bureau_id=self.bureau_id, bureau_admin=True
        )


_seeded: dict[str, Seeded] = {}  # per database: the pairs of one database share the data


async def _seed_bureau(label: str, organisations: int) -> tuple[UUID, UUID]:
    tag = secrets.token_hex(3)
    bureau = Bureau(name=f"Bench dashboard {label} {tag}")
    admin = StaffUser(
        bureau=bureau.id,
        email=f"admin.dashboard.{label}.{tag}@bench.example",
        display_name="Bench dashboard admin",
        is_bureau_admin=True,
    )
    counsellors = [
        StaffUser(
            bureau=bureau.id,
            email=f"counsellor.{number}.{label}.{tag}@bench.example",
            display_name=f"Counsellor {number}",
        )
        for number in range(COUNSELLORS)
    ]
    now = datetime.now(UTC)
    rows = [
        Organisation(
            bureau=bureau.id,
            name=f"Organisation {number:05d}",
            country="BE" if number % 5 == 0 else "NL",
            sector=SECTORS[number % len(SECTORS)],
            headcount=20 + (number * 37) % 2000,
            active=number % 50 != 0,
            onboarded_at=None if number % 20 == 1 else now,
        )
        for number in range(organisations)
    ]
    memberships = []
    links = []
    for number, organisation in enumerate(rows):
        counsellor = counsellors[number % COUNSELLORS]
        if number % 10 != 3:  # every tenth has no counsellor
            memberships.append(
                Membership(
                    staff_user=counsellor.id,
                    organisation=organisation.id,
                    bureau=bureau.id,
                    role="counsellor",
                    assignment="primary" if number % 7 else "substitute",
                )
            )
        if number % 3 == 0:
            substitute = counsellors[(number + 1) % COUNSELLORS]
            memberships.append(
                Membership(
                    staff_user=substitute.id,
                    organisation=organisation.id,
                    bureau=bureau.id,
                    role="counsellor",
                    assignment="substitute",
                )
            )
        for procedure in ("integrity", "unwanted_behaviour"):
            links.append(
                IntakeLink(
                    organisation=organisation.id,
                    bureau=bureau.id,
                    procedure=procedure,
                    token=secrets.token_urlsafe(24),
                    active=number % 11 != 0,
                    retired_at=now if number % 13 == 0 else None,
                )
            )
    async with tenant_transaction(system_context("bench.seed")):
        await _insert(Bureau, [bureau])
        await _insert(StaffUser, [admin, *counsellors])
        await _insert(Organisation, rows)
        await _insert(Membership, memberships)
        await _insert(IntakeLink, links)
    return bureau.id, admin.id


async def _analyze(backend: Backend) -> None:
    """Fresh planner statistics, as autovacuum would give them after a bulk load (only the
    tables' owner may ANALYZE, so this connects as the owner role)."""
    connection = await asyncpg.connect(backend.settings.migration_database_url)
    try:
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def _seed(backend: Backend) -> Seeded:
    if backend.name not in _seeded:
        bureau_id, admin_id = await _seed_bureau(f"{backend.name}-own", ORGANISATIONS)
        await _seed_bureau(f"{backend.name}-neighbour", NEIGHBOUR_ORGANISATIONS)
        if backend.name == "postgres":
            await _analyze(backend)
        _seeded[backend.name] = Seeded(bureau_id, admin_id)
    return _seeded[backend.name]


# --- the anchor: the same aggregate, by hand ----------------------------------------------

_RAW_FROM = """
FROM organisation o
WHERE o.bureau = {}"""
_RAW_LIVE = (
    "EXISTS (SELECT 1 FROM intake_link l WHERE l.organisation = o.id"
    " AND l.active AND l.retired_at IS NULL)"
)
_RAW_FILTER = (
    " AND lower(o.name) LIKE {} AND o.sector = {}"
    f" AND o.active AND o.onboarded_at IS NOT NULL AND {_RAW_LIVE}"
)
_RAW_COLUMNS = f"""
SELECT o.id, o.name, o.country, o.sector, o.headcount, o.created_at,
  (SELECT COUNT(DISTINCT m.staff_user) FROM membership m
    WHERE m.organisation = o.id AND m.role = 'counsellor') AS counsellors,
  (SELECT COUNT(*) FROM membership m
    WHERE m.organisation = o.id AND m.role = 'counsellor' AND m.assignment = 'primary')
    AS primary_counsellors,
  (SELECT COUNT(*) FROM intake_link l
    WHERE l.organisation = o.id AND l.active AND l.retired_at IS NULL) AS live_links,
  CASE WHEN NOT o.active THEN 3 WHEN o.onboarded_at IS NULL THEN 0
    WHEN {_RAW_LIVE} THEN 1 ELSE 2 END AS status_rank"""
_RAW_ORDER = " ORDER BY lower(o.name), o.id LIMIT 50 OFFSET 0"


async def _raw_page(ctx: TenantContext, *, filtered: bool) -> int:
    """The bare aggregate: COUNT and the 50-row page, two statements in a tenant transaction."""
    args: list[Any] = [str(ctx.bureau_id)]
    where = _RAW_FROM
    if filtered:
        where += _RAW_FILTER
        args += [f"%{FILTER['name']}%", FILTER["sector"]]
    async with tenant_transaction(ctx):
        count = await database.fetch("SELECT COUNT(*) AS n" + where, *args)
        rows = await database.fetch(_RAW_COLUMNS + where + _RAW_ORDER, *args)
    if not count or not rows:
        raise RuntimeError("the raw dashboard query found nothing")
    return len(rows)


async def _service_page(ctx: TenantContext, *, filtered: bool) -> int:
    query = dashboard.parse_query(FILTER if filtered else {})
    page = await dashboard.dashboard_page(ctx, query, today=TODAY)
    if not page.rows:
        raise RuntimeError("the dashboard found nothing")
    return len(page.rows)


async def _service_rows(ctx: TenantContext, *, filtered: bool) -> int:
    """The organisations part only (no credential warnings): what the anchor also does."""
    query = dashboard.parse_query(FILTER if filtered else {})
    _, rows, _, _ = await dashboard.organisation_page(ctx, query)
    if not rows:
        raise RuntimeError("the dashboard found nothing")
    return len(rows)


async def _check(ctx: TenantContext, *, filtered: bool) -> None:
    """Both sides must show the same organisations before anything is measured."""
    query = dashboard.parse_query(FILTER if filtered else {})
    page = await dashboard.dashboard_page(ctx, query, today=TODAY)
    args: list[Any] = [str(ctx.bureau_id)]
    where = _RAW_FROM
    if filtered:
        where += _RAW_FILTER
        args += [f"%{FILTER['name']}%", FILTER["sector"]]
    async with tenant_transaction(ctx):
        raw = await database.fetch(_RAW_COLUMNS + where + _RAW_ORDER, *args)
        total = await database.fetch("SELECT COUNT(*) AS n" + where, *args)
    expected = ORGANISATIONS if not filtered else int(total[0]["n"])
    names = [row.name for row in page.rows]
    if page.total != expected or names != [row["name"] for row in raw] or len(names) != 50:
        raise RuntimeError(
            f"dashboard and raw SQL disagree: {page.total} vs {expected}, {names[:3]}"
        )


def _pair(backend_name: str, *, filtered: bool, warnings: bool = True) -> Pair:
    which = "filtered page" if filtered else "page 1 by name"
    if not warnings:
        which += ", organisations part only"
    measured = _service_page if warnings else _service_rows
    function = "dashboard_page" if warnings else "organisation_page"

    @asynccontextmanager
    async def setup(env: Environment) -> AsyncIterator[tuple[Side, Side]]:
        backend = env.sqlite if backend_name == "sqlite" else env.postgres
        if backend is None:
            raise RuntimeError("this pair needs PostgreSQL")
        async with opened(backend.engine()) as engine:
            seeded = await _seed(backend)
            ctx = seeded.ctx()
            await _check(ctx, filtered=filtered)

            async def service(_: int) -> None:
                await measured(ctx, filtered=filtered)

            async def raw(_: int) -> None:
                await _raw_page(ctx, filtered=filtered)

            def side(label: str, operation: Any) -> Side:
                async def run(spec: Round) -> Measurement:
                    database.use_engine(engine)
                    return await closed_loop(
                        operation, concurrency=spec.concurrency, seconds=spec.seconds
                    )

                return Side(label=label, run=run, details={"organisations": ORGANISATIONS})

            yield (
                side(f"{backend.label}: tenants.dashboard.{function}, in process", service),
                side(f"{backend.label}: COUNT + page aggregate in raw SQL, in process", raw),
            )

    suffix = ("-filtered" if filtered else "") + ("" if warnings else "-rows")
    return Pair(
        name=f"dashboard-{backend_name}{suffix}",
        description=(
            f"bureau dashboard, {which}, {ORGANISATIONS:,} organisations, {backend_name}:"
            " service vs raw SQL"
        ),
        unit="requests/s",
        aim=Aim(
            text=f"service throughput >= {RATIO_AIM} x raw SQL",
            check=lambda c: (c.ratio("throughput") or 0) >= RATIO_AIM,
        ),
        setup=setup,
        needs_postgres=backend_name == "postgres",
    )


PAIRS = (
    _pair("sqlite", filtered=False),
    _pair("sqlite", filtered=True),
    _pair("sqlite", filtered=False, warnings=False),
    _pair("postgres", filtered=False),
    _pair("postgres", filtered=True),
    _pair("postgres", filtered=False, warnings=False),
)
