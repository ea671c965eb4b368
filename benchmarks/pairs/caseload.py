"""caseload-*: a counsellor's caseload page over a million cases, against a bare list of 50.

Target: `GET /cases` on `klankbord serve` as a counsellor who serves 20 of the bureau's 1,000
organisations (1,000 cases each): the session lookup, `casework.cases.caseload` (page, COUNT,
facets, organisation names) and `cases/list.html`. Anchor: the least a page of 50 cases can
cost in this stack: a raw-asyncpg transaction (RLS settings, one SELECT of 50 rows ordered
by the deadline) and a bare Jinja table, under uvicorn with the same flags. `-page50`: page
50, reached by following `next_cursor` 49 times, against page 1 of the same app (keyset
pagination should make them cost the same). PostgreSQL only: a million rows are generated
inside PostgreSQL (`seed.seed_caseload`); SQLite has no such bulk path here.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from jinja2 import Environment as Jinja

from benchmarks.backends import Backend, opened
from benchmarks.harness import Aim, Environment, Pair, Round, Side
from benchmarks.load import Request, choose_generator, load
from benchmarks.measure import Measurement
from benchmarks.seed import SeededCaseload, seed_caseload
from benchmarks.server import _stop, _wait_until_healthy, free_port, serve
from casework import cases
from klankbord import i18n
from klankbord.auth import SESSION_COOKIE
from klankbord.settings import REPO_ROOT
from klankbord.templating import make_environment
from klankbord.tenancy import tenant_transaction
from tenants.accounts import start_session
from tenants.choices import Procedure

ORGANISATIONS, CASES_PER_ORGANISATION, SERVED = 1000, 1000, 20
PAGES = 50
RATIO_AIM, P99_LIMIT_MS, PAGE_RATIO_AIM, RENDER_AIM_US = 0.60, 100.0, 1.2, 200.0
CASE_LINK = re.compile(r'href="/cases/([0-9a-f-]{36})"')
NEXT_LINK = re.compile(r'href="(/cases\?[^"]*after=[^"]+)"')
# As `klankbord serve` runs uvicorn: no access log, no server header, no proxy headers.
UVICORN_FLAGS = (
    "--no-access-log",
    "--no-server-header",
    "--no-proxy-headers",
    "--log-level=warning",
)

ANCHOR_RLS = (
    "SELECT set_config('app.scope', 'tenant', true), set_config('app.bureau_id', $1, true),"
    " set_config('app.bureau_admin', 'off', true), set_config('app.organisation_ids', $2, true)"
)
ANCHOR_SQL = """
SELECT c.id, c.reference, o.name AS organisation_name, c.procedure, c.status,
  c.received_at, c.next_due_at
FROM case_file c JOIN organisation o ON o.id = c.organisation
WHERE c.organisation = ANY($1::uuid[]) AND c.next_due_at IS NOT NULL
ORDER BY c.next_due_at, c.id LIMIT 50
"""
ANCHOR_PAGE = Jinja(autoescape=True).from_string(
    "<!doctype html><title>Cases</title><table>{% for r in rows %}<tr>"
    '<th><a href="/cases/{{ r.id }}">{{ r.reference }}</a></th><td>{{ r.organisation_name }}'
    "</td><td>{{ r.procedure }}</td><td>{{ r.status }}</td><td>{{ r.next_due_at }}</td>"
    "<td>{{ r.received_at }}</td></tr>{% endfor %}</table>"
)


class _Anchor:
    """A bare ASGI app: one route, one pool, no framework."""

    def __init__(self) -> None:
        self.dsn = os.environ["BENCH_ANCHOR_DSN"]
        self.pool_size = int(os.environ["BENCH_ANCHOR_POOL"])
        self.bureau = os.environ["BENCH_ANCHOR_BUREAU"]
        self.organisations = os.environ["BENCH_ANCHOR_ORGANISATIONS"]
        self.pool: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.pool = await asyncpg.create_pool(
                        self.dsn, min_size=self.pool_size, max_size=self.pool_size
                    )
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.pool.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b"ok"
        if scope["path"] != "/healthz":
            async with self.pool.acquire() as connection, connection.transaction():
                await connection.execute(ANCHOR_RLS, self.bureau, self.organisations)
                rows = await connection.fetch(ANCHOR_SQL, self.organisations.split(","))
            body = ANCHOR_PAGE.render(rows=rows).encode()
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def anchor_app() -> _Anchor:
    """uvicorn's `--factory` entry point; the subprocess gets its settings in the environment."""
    return _Anchor()


@asynccontextmanager
async def _serve_anchor(backend: Backend, seeded: SeededCaseload, env: Environment) -> Any:
    """The anchor under uvicorn, as `klankbord serve` runs the app (`klankbord.cli`)."""
    port = free_port()
    variables = dict(
        os.environ,
        BENCH_ANCHOR_DSN=backend.settings.database_url,
        BENCH_ANCHOR_POOL=str(backend.settings.database_pool_size),
        BENCH_ANCHOR_BUREAU=str(seeded.bureau_id),
        BENCH_ANCHOR_ORGANISATIONS=",".join(sorted(str(o) for o in seeded.organisation_ids)),
    )
    arguments = ["-m", "uvicorn", "--factory", f"{__name__}:anchor_app", *UVICORN_FLAGS]
    arguments += ["--host", "127.0.0.1", "--port", str(port)]
    log = env.workdir / f"anchor-caseload-{port}.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *arguments, cwd=REPO_ROOT, env=variables, stdout=output, stderr=output
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        await _wait_until_healthy(process, base_url, log)
        yield base_url
    finally:
        await _stop(process)


def _render_us(template: Any, context: dict[str, Any], *, batch: int = 300) -> float:
    """Median µs per render over five tight batches."""
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(batch):
            template.render(context)
        timings.append((time.perf_counter() - started) / batch * 1e6)
    return sorted(timings)[2]


async def _list_render_us(backend: Backend, seeded: SeededCaseload) -> float:
    """`cases/list.html` with a real page of 50 rows, the context `templating.page` builds."""
    ctx = seeded.counsellor_context()
    query = cases.CaseloadQuery()
    async with tenant_transaction(ctx):
        found = await cases.caseload(ctx, query)
    if len(found.rows) != cases.PAGE_SIZE:
        raise RuntimeError(f"the caseload has {len(found.rows)} rows, not {cases.PAGE_SIZE}")
    settings = backend.settings
    catalog = i18n.translations(settings.frontend_dir / "locales", "nl")
    context = {
        **i18n.gettext_callables(catalog),
        "language": "nl",
        "request_path": "/cases",
        "reporter_page": False,
        "language_href": lambda code: f"/language?lang={code}&next=/cases",
        "principal": ctx,
        "csrf_input": lambda: "",
        "caseload": found,
        "query": query,
        "procedures": [p.value for p in Procedure],
        "statuses": cases.STATUSES,
        "filters": "",
    }
    return _render_us(make_environment(settings).get_template("cases/list.html"), context)


async def _case_ids(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[str]:
    response = await http.get(url, headers=headers)
    ids = CASE_LINK.findall(response.text)
    if response.status_code != 200 or len(ids) != cases.PAGE_SIZE:
        raise RuntimeError(f"GET {url} gave HTTP {response.status_code} and {len(ids)} cases")
    return ids


async def _page_50(base_url: str, headers: dict[str, str]) -> str:
    """The address of page 50: the "Next page" link followed 49 times, as a counsellor would."""
    path, seen = "/cases", set()
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        for _ in range(PAGES - 1):
            response = await http.get(base_url + path, headers=headers)
            found = NEXT_LINK.search(response.text)
            seen.update(CASE_LINK.findall(response.text))
            if response.status_code != 200 or found is None:
                raise RuntimeError(f"GET {path} gave HTTP {response.status_code}, no next page")
            path = html.unescape(found[1])
        if seen & set(await _case_ids(http, base_url + path, headers)):
            raise RuntimeError("page 50 repeats cases of earlier pages")
    return base_url + path


_seeded: dict[str, SeededCaseload] = {}  # a million rows: seeded once per run


async def _seed(backend: Backend) -> SeededCaseload:
    owner_url = backend.settings.migration_database_url
    if owner_url is None:
        raise RuntimeError("seeding the caseload needs the owner role's address")
    if backend.name not in _seeded:
        _seeded[backend.name] = await seed_caseload(
            f"caseload-{backend.name}",
            owner_url=owner_url,
            organisations=ORGANISATIONS,
            cases_per_organisation=CASES_PER_ORGANISATION,
            served=SERVED,
        )
    return _seeded[backend.name]


def _side(label: str, request: Request, generator: str, details: dict[str, Any]) -> Side:
    async def run(spec: Round) -> Measurement:
        return await load(
            request, generator=generator, concurrency=spec.concurrency, seconds=spec.seconds
        )

    return Side(label=label, run=run, details={"generator": generator, **details})


def _pair(*, page_50: bool) -> Pair:
    @asynccontextmanager
    async def setup(env: Environment) -> AsyncIterator[tuple[Side, Side]]:
        backend = env.postgres
        if backend is None:
            raise RuntimeError("the caseload pairs need PostgreSQL")
        generator = choose_generator(env.options.generator)
        async with opened(backend.engine()):
            seeded = await _seed(backend)
            token = await start_session(seeded.counsellor_id)
            render_us = await _list_render_us(backend, seeded)
        scale = f"{ORGANISATIONS * CASES_PER_ORGANISATION:,} cases, counsellor of {SERVED} orgs"
        notes = {
            "data": scale,
            "cases/list.html render, 50 rows": f"{render_us:.0f} µs (aim <= {RENDER_AIM_US:.0f})",
        }
        headers = {"Cookie": f"{SESSION_COOKIE}={token}"}
        async with serve(backend, env.workdir) as server:
            page_1 = Request(f"{server.base_url}/cases", headers)
            async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
                first = await _case_ids(http, page_1.url, headers)
            app = f"{backend.label}: GET /cases under uvicorn"
            if page_50:
                url = await _page_50(server.base_url, headers)
                yield (
                    _side(f"{app}, page 50", Request(url, headers), generator, notes),
                    _side(f"{app}, page 1", page_1, generator, {}),
                )
                return
            async with _serve_anchor(backend, seeded, env) as anchor_url:
                async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
                    if await _case_ids(http, f"{anchor_url}/cases", {}) != first:
                        raise RuntimeError("the anchor and the caseload list different cases")
                anchor = Request(f"{anchor_url}/cases", {})
                anchor_us = _render_us(ANCHOR_PAGE, {"rows": await _anchor_rows(backend, seeded)})
                yield (
                    _side(f"{app}, page 1", page_1, generator, notes),
                    _side(
                        f"{backend.label}: raw asyncpg + bare Jinja, 50 rows, under uvicorn",
                        anchor,
                        generator,
                        {"anchor template render": f"{anchor_us:.0f} µs"},
                    ),
                )

    if page_50:
        return Pair(
            name="caseload-postgres-page50",
            description=f"GET /cases page {PAGES} (keyset cursor) vs page 1, counsellor, HTTP",
            unit="p50 ms",
            aim=Aim(
                text=f"page {PAGES} p50 <= {PAGE_RATIO_AIM} x page 1",
                check=lambda c: (c.ratio("p50_ms") or 99) <= PAGE_RATIO_AIM,
            ),
            setup=setup,
            needs_postgres=True,
        )
    return Pair(
        name="caseload-postgres",
        description="GET /cases (50 of 1,000,000 cases, counsellor of 20 orgs) vs raw list of 50",
        unit="requests/s",
        aim=Aim(
            text=f"ratio >= {RATIO_AIM:.2f}, p99 < {P99_LIMIT_MS:.0f} ms at 32 concurrent",
            check=lambda c: (
                (c.ratio("throughput") or 0) >= RATIO_AIM and c.target.p99_ms < P99_LIMIT_MS
            ),
        ),
        setup=setup,
        needs_postgres=True,
    )


async def _anchor_rows(backend: Backend, seeded: SeededCaseload) -> list[Any]:
    """The anchor's 50 rows, fetched once here, for timing its template alone."""
    connection = await asyncpg.connect(backend.settings.database_url)
    try:
        organisations = ",".join(sorted(str(o) for o in seeded.organisation_ids))
        async with connection.transaction():
            await connection.execute(ANCHOR_RLS, str(seeded.bureau_id), organisations)
            return list(await connection.fetch(ANCHOR_SQL, organisations.split(",")))
    finally:
        await connection.close()


PAIRS = (_pair(page_50=False), _pair(page_50=True))
