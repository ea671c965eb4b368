"""sqlite-engine: our PersistentSQLiteEngine against Piccolo's stock SQLiteEngine.

Informative: it shows why the embedded default has its own engine. The operation is the
list-50 read in process (a tenant transaction around the 50-row organisation select) from 32
concurrent tasks on the same file. The stock engine opens a connection (and a thread) for
every transaction and query; ARCHITECTURE.md recorded a p99 of 1.45 s for it under 32
concurrent requests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine

from benchmarks.backends import opened
from benchmarks.harness import Aim, Environment, Pair, Round, Side
from benchmarks.measure import Measurement, closed_loop
from benchmarks.seed import SeededBureau, seed_bureau
from klankbord import database
from klankbord.database import BUSY_TIMEOUT_MS
from klankbord.tenancy import tenant_transaction
from tenants import access


def _side(label: str, engine: Engine[Any], seeded: SeededBureau) -> Side:
    ctx = seeded.admin_context()

    async def select(_: int) -> None:
        async with tenant_transaction(ctx):
            rows = await access.list_organisations(ctx)
        if len(rows) != access.PAGE_SIZE:
            raise RuntimeError(f"{len(rows)} rows, not {access.PAGE_SIZE}")

    async def run(spec: Round) -> Measurement:
        database.use_engine(engine)
        return await closed_loop(select, concurrency=spec.concurrency, seconds=spec.seconds)

    return Side(label=label, run=run)


@asynccontextmanager
async def setup(env: Environment) -> AsyncIterator[tuple[Side, Side]]:
    async with opened(env.sqlite.engine()) as persistent:
        seeded = await seed_bureau("sqlite-engine")
        stock = SQLiteEngine(
            path=str(env.sqlite.settings.sqlite_path), timeout=BUSY_TIMEOUT_MS / 1000
        )
        yield (
            _side("PersistentSQLiteEngine, in process", persistent, seeded),
            _side("Piccolo SQLiteEngine (stock), in process", stock, seeded),
        )


PAIR = Pair(
    name="sqlite-engine",
    description="list-50 select in process: PersistentSQLiteEngine vs stock SQLiteEngine",
    unit="p99 ms",
    aim=Aim(
        text="informative: p99 below the stock engine's",
        check=lambda c: c.target.p99_ms < c.anchor.p99_ms,
    ),
    setup=setup,
)
