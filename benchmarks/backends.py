"""The run's databases: a temporary SQLite file and a throwaway PostgreSQL database.

PostgreSQL is provisioned exactly as in production (`klankbord.provision`: an owner role that
runs the migrations and an app role that RLS binds, with random passwords) so that the
anchor pays for row-level security like the real thing; the database and both roles are
dropped at the end. No PostgreSQL answering is not an error: the PostgreSQL pairs are
skipped and say so.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from piccolo.engine.base import Engine

from klankbord import database
from klankbord.migrations import migrate
from klankbord.provision import Provisioning, provision, url_for
from klankbord.settings import Settings

ADMIN_URL_VARIABLE = "KLANKBORD_BENCH_ADMIN_URL"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECT_TIMEOUT = 3.0


@dataclass(frozen=True)
class Backend:
    name: str  # "sqlite" or "postgres"
    label: str  # for people: "SQLite (persistent engine)", "PostgreSQL 16 (app role, RLS)"
    settings: Settings  # database_url is the app's connection

    def engine(self) -> Engine[Any]:
        """A new engine as the app would build it (same pool size on PostgreSQL)."""
        return database.make_engine(
            self.settings.database_url, pool_size=self.settings.database_pool_size
        )

    def server_environment(self) -> dict[str, str]:
        """`KLANKBORD_*` variables for a `klankbord serve` on this database."""
        return {
            "KLANKBORD_ENV": "test",
            "KLANKBORD_DATABASE_URL": self.settings.database_url,
            "KLANKBORD_DATABASE_POOL_SIZE": str(self.settings.database_pool_size),
        }


@asynccontextmanager
async def opened(engine: Engine[Any]) -> AsyncIterator[Engine[Any]]:
    """`engine` bound as the process engine and open; closed afterwards."""
    database.use_engine(engine)
    await database.open_engine(engine)
    try:
        yield engine
    finally:
        await database.close_engine(engine)


@asynccontextmanager
async def sqlite_backend(directory: Path) -> AsyncIterator[Backend]:
    path = directory / "bench.sqlite3"
    settings = Settings(environment="test", database_url=f"sqlite:///{path}")
    await migrate(settings, quiet=True)
    yield Backend("sqlite", "SQLite (persistent engine)", settings)


async def _admin_connection(url: str) -> tuple[asyncpg.Connection | None, str]:
    try:
        connection = await asyncio.wait_for(asyncpg.connect(url), timeout=CONNECT_TIMEOUT)
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        return None, f"{type(error).__name__}: {error}"
    may = await connection.fetchrow(
        "SELECT rolsuper OR (rolcreaterole AND rolcreatedb) AS may FROM pg_roles"
        " WHERE rolname = current_user"
    )
    if not (may and may["may"]):
        await connection.close()
        return None, "the role may not create roles and databases"
    return connection, ""


@asynccontextmanager
async def postgres_backend() -> AsyncIterator[tuple[Backend | None, str]]:
    """A provisioned, migrated database, or (None, why not). Dropped, with its roles, after."""
    admin_url = os.environ.get(ADMIN_URL_VARIABLE, DEFAULT_ADMIN_URL)
    admin, why = await _admin_connection(admin_url)
    if admin is None:
        yield None, f"PostgreSQL at {_without_password(admin_url)} did not answer ({why})"
        return
    suffix = f"{os.getpid()}_{secrets.token_hex(3)}"
    name = f"klankbord_bench_{suffix}"
    owner, app = f"klankbord_bench_owner_{suffix}", f"klankbord_bench_app_{suffix}"
    owner_password, app_password = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    try:
        version = await admin.fetchval("SHOW server_version")
        await provision(
            Provisioning(
                admin_url=admin_url,
                database=name,
                owner_role=owner,
                owner_password=owner_password,
                app_role=app,
                app_password=app_password,
            )
        )
        settings = Settings(
            environment="test",
            database_url=url_for(admin_url, app, app_password, name),
            migration_database_url=url_for(admin_url, owner, owner_password, name),
        )
        await migrate(settings, quiet=True)
        major = str(version).split()[0]
        yield Backend("postgres", f"PostgreSQL {major} (app role, RLS)", settings), ""
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for role in (app, owner):
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
