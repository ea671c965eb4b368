"""insert: audited inserts through the data layer, SQLite against PostgreSQL, in process.

Each operation is what a write request does below the web layer: a tenant transaction around
`tenants.services.create_intake_link`, which checks the organisation, inserts the link and
appends to the bureau's hash-chained audit log. All writers share one chain, so both
databases serialise them (SQLite by its single writer, PostgreSQL by the chain's advisory
lock): the comparison is of how cheaply each side does one serialised write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from benchmarks.backends import Backend, opened
from benchmarks.harness import Aim, Environment, Pair, Round, Side
from benchmarks.measure import Measurement, closed_loop
from benchmarks.seed import seed_bureau
from klankbord import database
from klankbord.tenancy import tenant_transaction
from tenants import services
from tenants.choices import Procedure

P99_LIMIT_MS = 100.0
PROCEDURES = tuple(Procedure)


@asynccontextmanager
async def _inserting(backend: Backend) -> AsyncIterator[Side]:
    async with opened(backend.engine()) as engine:
        seeded = await seed_bureau(f"insert-{backend.name}")
        ctx = seeded.admin_context()
        organisations = seeded.organisation_ids

        async def insert(index: int) -> None:
            async with tenant_transaction(ctx):
                await services.create_intake_link(
                    ctx,
                    organisation_id=organisations[index % len(organisations)],
                    procedure=PROCEDURES[index % len(PROCEDURES)],
                )

        async def run(spec: Round) -> Measurement:
            database.use_engine(engine)  # both sides' engines are open; bind this one
            return await closed_loop(insert, concurrency=spec.concurrency, seconds=spec.seconds)

        yield Side(label=f"{backend.label}, in process", run=run)


@asynccontextmanager
async def setup(env: Environment) -> AsyncIterator[tuple[Side, Side]]:
    if env.postgres is None:
        raise RuntimeError("insert needs PostgreSQL")
    async with _inserting(env.sqlite) as target, _inserting(env.postgres) as anchor:
        yield target, anchor


PAIR = Pair(
    name="insert",
    description="tenant_transaction + create_intake_link (a row + an audit event)",
    unit="inserts/s",
    aim=Aim(
        text=f"SQLite p99 < {P99_LIMIT_MS:.0f} ms at 32 concurrent",
        check=lambda c: c.target.p99_ms < P99_LIMIT_MS,
    ),
    setup=setup,
    needs_postgres=True,
)
