"""Changing rows behind the app's back (the way an attacker or a broken script would).

On PostgreSQL this is a superuser connection, which row-level security does not bind; on
SQLite there is no second wall, so the app's own engine outside any transaction is enough.
Changes made here are committed: tests that use it must undo them.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from klankbord import database


async def execute_as_superuser(test_database: Any, sql: str, *args: Any) -> None:
    """`sql` with `$1`-style placeholders (PostgreSQL) — translated to `?` for SQLite."""
    if test_database.is_postgres:
        connection = await asyncpg.connect(test_database.admin_url)
        try:
            await connection.execute(sql, *args)
        finally:
            await connection.close()
        return
    sqlite_sql = sql
    for index in range(len(args), 0, -1):
        sqlite_sql = sqlite_sql.replace(f"${index}", "{}")
    await database.fetch(sqlite_sql, *[_sqlite_value(a) for a in args])


def _sqlite_value(value: Any) -> Any:
    if value is None or isinstance(value, int | float | str | bytes):
        return value
    return str(value)
