"""list-50: a 50-row JSON list over HTTP, the app under uvicorn, SQLite against PostgreSQL.

`GET /api/v1/organisations` as a bureau admin: the session middleware's lookup (a lone query
and a short transaction) and the handler's tenant transaction with its 50-row select — every
staff page pays this. Target: the embedded SQLite default. Anchor: PostgreSQL as the app
role, row-level security on, as in production. The aim is about SQLite's tail latency,
because its one connection serialises every request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from benchmarks.backends import Backend, opened
from benchmarks.harness import Aim, Environment, Pair, Round, Side
from benchmarks.load import Request, choose_generator, load
from benchmarks.measure import Measurement
from benchmarks.seed import seed_bureau
from benchmarks.server import serve
from klankbord.auth import SESSION_COOKIE
from tenants.access import PAGE_SIZE
from tenants.accounts import start_session

PATH = "/api/v1/organisations"
P99_LIMIT_MS = 100.0


async def _check(request: Request) -> None:
    """One request first: a wrong session or an empty page would make fast nonsense."""
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        response = await http.get(request.url, headers=request.headers)
    if response.status_code != 200 or len(response.json()) != PAGE_SIZE:
        raise RuntimeError(f"GET {PATH} gave HTTP {response.status_code} and not {PAGE_SIZE} rows")


@asynccontextmanager
async def _served(backend: Backend, env: Environment, generator: str) -> AsyncIterator[Side]:
    async with opened(backend.engine()):
        seeded = await seed_bureau(f"list50-{backend.name}")
        token = await start_session(seeded.admin_id)
    async with serve(backend, env.workdir) as server:
        request = Request(
            url=f"{server.base_url}{PATH}", headers={"Cookie": f"{SESSION_COOKIE}={token}"}
        )
        await _check(request)

        async def run(spec: Round) -> Measurement:
            return await load(
                request, generator=generator, concurrency=spec.concurrency, seconds=spec.seconds
            )

        yield Side(
            label=f"{backend.label} under uvicorn",
            run=run,
            details={"generator": generator, "request": f"GET {PATH}"},
        )


@asynccontextmanager
async def setup(env: Environment) -> AsyncIterator[tuple[Side, Side]]:
    if env.postgres is None:
        raise RuntimeError("list-50 needs PostgreSQL")
    generator = choose_generator(env.options.generator)
    async with (
        _served(env.sqlite, env, generator) as target,
        _served(env.postgres, env, generator) as anchor,
    ):
        yield target, anchor


PAIR = Pair(
    name="list-50",
    description=f"GET {PATH} (50 rows, bureau admin) over HTTP: SQLite vs PostgreSQL+RLS",
    unit="requests/s",
    aim=Aim(
        text=f"SQLite p99 < {P99_LIMIT_MS:.0f} ms at 32 concurrent",
        check=lambda c: c.target.p99_ms < P99_LIMIT_MS,
    ),
    setup=setup,
    needs_postgres=True,
)
