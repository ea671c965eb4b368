"""Counting the SQL statements a block of code runs, on SQLite and on PostgreSQL.

Every Piccolo query and `klankbord.database.fetch` goes through the engine's
`run_querystring` (both our `PersistentSQLiteEngine` and Piccolo's `PostgresEngine`), so
`count_queries` wraps that method on the current engine instance for the duration of the
block. Transaction control (BEGIN, SAVEPOINT, COMMIT) is not counted: it does not grow with
the data.

    with count_queries() as queries:
        await client.get("/bureau/dashboard")
    assert queries.count == ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from klankbord import database


@dataclass
class QueryLog:
    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def __str__(self) -> str:
        return "\n".join(f"{n}: {s}" for n, s in enumerate(self.statements, 1))


@contextmanager
def count_queries(engine: Any = None) -> Iterator[QueryLog]:
    engine = engine or database.current_engine()
    log = QueryLog()
    original = engine.run_querystring  # the bound method of the class

    async def counting(querystring: Any, *args: Any, **kwargs: Any) -> Any:
        log.statements.append(str(querystring))
        return await original(querystring, *args, **kwargs)

    engine.run_querystring = counting
    try:
        yield log
    finally:
        del engine.run_querystring  # back to the class's method
