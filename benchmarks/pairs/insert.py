"""insert: audited inserts through the data layer, SQLite against PostgreSQL, in process.

Each operation is what a write request does below the web layer: a tenant transaction around
`tenants.services.create_organisation`, which checks the bureau and the name, inserts the
organisation and its wrapped data key and appends to the bureau's hash-chained audit log.
(Intake links were the operation before they got their rules: one live link per procedure,
a counsellor first; they can no longer be inserted in a loop.) All writers share one chain, so both
databases serialise them (SQLite by its single writer, PostgreSQL by the chain's advisory
lock): the comparison is of how cheaply each side does one serialised write.
"""

from __future__ import annotations

import itertools
import secrets
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
        bureau_id = seeded.bureau_id
        run_id = secrets.token_hex(4)
        numbers = itertools.count()  # `index` restarts every round; names must not

        async def insert(index: int) -> None:
            async with tenant_transaction(ctx):
                await services.create_organisation(
                    ctx,
                    bureau_id=bureau_id,
                    name=f"Benchmark {run_id} {next(numbers)}",
                    headcount=120,
                    procedures=PROCEDURES,
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
    description="tenant_transaction + create_organisation (rows + an audit event)",
    unit="inserts/s",
    aim=Aim(
        text=f"SQLite p99 < {P99_LIMIT_MS:.0f} ms at 32 concurrent",
        check=lambda c: c.target.p99_ms < P99_LIMIT_MS,
    ),
    setup=setup,
    needs_postgres=True,
)
