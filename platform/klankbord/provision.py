"""PostgreSQL provisioning: a database, its owner role (runs migrations) and the app role.

The app role is neither owner, superuser nor BYPASSRLS, so row-level security binds it; it
gets data privileges through the owner's default privileges, and the audit tables' policies
keep it from changing history. `infra/db/roles.sql` is the same, for operators who run SQL.
Used by `klankbord db-provision` and by the test suite.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import asyncpg

from klankbord.errors import ConfigurationError

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Provisioning:
    admin_url: str  # a superuser (or CREATEROLE + CREATEDB) connection, used once
    database: str
    owner_role: str
    owner_password: str
    app_role: str
    app_password: str


def _ident(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ConfigurationError(f"not a safe identifier: {name!r}")
    return f'"{name}"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def _ensure_role(connection: asyncpg.Connection, role: str, password: str) -> None:
    exists = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
    verb = "ALTER" if exists else "CREATE"
    await connection.execute(
        f"{verb} ROLE {_ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"
        f" PASSWORD {_literal(password)}"
    )


async def provision(p: Provisioning) -> None:
    admin = await asyncpg.connect(p.admin_url)
    try:
        await _ensure_role(admin, p.owner_role, p.owner_password)
        await _ensure_role(admin, p.app_role, p.app_password)
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", p.database):
            await admin.execute(
                f"CREATE DATABASE {_ident(p.database)} OWNER {_ident(p.owner_role)}"
            )
        await admin.execute(f"REVOKE ALL ON DATABASE {_ident(p.database)} FROM PUBLIC")
        await admin.execute(
            f"GRANT CONNECT ON DATABASE {_ident(p.database)}"
            f" TO {_ident(p.owner_role)}, {_ident(p.app_role)}"
        )
    finally:
        await admin.close()

    # Inside the new database: the owner owns the schema; the app role only uses it.
    admin_db = await asyncpg.connect(_with_database(p.admin_url, p.database))
    try:
        owner, app = _ident(p.owner_role), _ident(p.app_role)
        for statement in (
            f"ALTER SCHEMA public OWNER TO {owner}",
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
            f"GRANT USAGE ON SCHEMA public TO {app}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
            f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
            f" GRANT USAGE, SELECT ON SEQUENCES TO {app}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
            f" GRANT EXECUTE ON FUNCTIONS TO {app}",
        ):
            await admin_db.execute(statement)
    finally:
        await admin_db.close()


def _with_database(url: str, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def url_for(base_url: str, role: str, password: str, database: str) -> str:
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(base_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(role)}:{quote(password)}@{host}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}"))


async def provision_from_env() -> None:
    env = os.environ
    try:
        await provision(
            Provisioning(
                admin_url=env["KLANKBORD_DB_ADMIN_URL"],
                database=env.get("KLANKBORD_DB_NAME", "klankbord"),
                owner_role=env.get("KLANKBORD_DB_OWNER_ROLE", "klankbord_owner"),
                owner_password=env["KLANKBORD_DB_OWNER_PASSWORD"],
                app_role=env.get("KLANKBORD_DB_APP_ROLE", "klankbord_app"),
                app_password=env["KLANKBORD_DB_APP_PASSWORD"],
            )
        )
    except KeyError as missing:
        raise ConfigurationError(f"{missing.args[0]} is required") from None
