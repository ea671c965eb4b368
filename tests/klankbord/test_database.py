"""The embedded SQLite engine: one connection, serialised, durable settings."""

from __future__ import annotations

import asyncio

import pytest

from klankbord import database
from klankbord.database import PersistentSQLiteEngine
from klankbord.migrations import migrate
from klankbord.settings import Settings

pytestmark = pytest.mark.usefixtures("engine")


@pytest.fixture
async def sqlite_engine(tmp_path):
    """A migrated SQLite database of its own, bound as the process engine for the test."""
    settings = Settings(environment="test", database_url=f"sqlite:///{tmp_path / 'own.sqlite3'}")
    previous = database.current_engine()
    await migrate(settings, quiet=True)
    engine = database.use_engine(database.make_engine(settings.database_url))
    await database.open_engine(engine)
    try:
        yield engine
    finally:
        await database.close_engine(engine)
        database.use_engine(previous)


async def test_sqlite_engine_pragmas_wal_normal_busy_timeout(sqlite_engine):
    assert isinstance(sqlite_engine, PersistentSQLiteEngine)
    assert (await database.fetch("PRAGMA journal_mode"))[0]["journal_mode"] == "wal"
    assert (await database.fetch("PRAGMA synchronous"))[0]["synchronous"] == 1  # NORMAL
    assert (await database.fetch("PRAGMA busy_timeout"))[0]["timeout"] == 5000
    assert (await database.fetch("PRAGMA foreign_keys"))[0]["foreign_keys"] == 1


async def test_sqlite_engine_one_connection_for_many_queries(sqlite_engine):
    first = await sqlite_engine.get_connection()
    await asyncio.gather(*(database.fetch("SELECT 1 AS ok") for _ in range(64)))
    assert await sqlite_engine.get_connection() is first


async def test_sqlite_transaction_isolated_until_commit(sqlite_engine):
    started, release = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with sqlite_engine.transaction():
            await database.fetch("CREATE TABLE probe (n INTEGER)")
            await database.fetch("INSERT INTO probe VALUES (1)")
            started.set()
            await release.wait()

    task = asyncio.create_task(writer())
    await started.wait()
    reader = asyncio.create_task(database.fetch("SELECT count(*) AS n FROM probe"))
    await asyncio.sleep(0.05)
    assert not reader.done()  # the lone query waits for the transaction, it doesn't join it
    release.set()
    await task
    assert (await reader)[0]["n"] == 1


async def test_sqlite_transaction_error_rolls_back_and_releases(sqlite_engine):
    await database.fetch("CREATE TABLE probe2 (n INTEGER)")
    with pytest.raises(ZeroDivisionError):
        async with sqlite_engine.transaction():
            await database.fetch("INSERT INTO probe2 VALUES (1)")
            _ = 1 / 0
    assert (await database.fetch("SELECT count(*) AS n FROM probe2"))[0]["n"] == 0
    async with sqlite_engine.transaction():  # the lock was released
        await database.fetch("INSERT INTO probe2 VALUES (2)")
    assert (await database.fetch("SELECT count(*) AS n FROM probe2"))[0]["n"] == 1


async def test_sqlite_concurrent_write_transactions_all_commit(sqlite_engine):
    await database.fetch("CREATE TABLE probe3 (n INTEGER)")

    async def write(n: int) -> None:
        async with sqlite_engine.transaction():
            await database.fetch("INSERT INTO probe3 VALUES ({})", n)

    await asyncio.gather(*(write(n) for n in range(50)))
    rows = await database.fetch("SELECT count(*) AS n, sum(n) AS total FROM probe3")
    assert rows[0]["n"] == 50
    assert rows[0]["total"] == sum(range(50))


async def test_sqlite_batch_refused(sqlite_engine):
    with pytest.raises(NotImplementedError):
        await sqlite_engine.batch(None)


async def test_ping_unreachable_database_false(engine):
    dead = database.make_engine("postgresql://nobody:x@127.0.0.1:1/nothing")
    database.use_engine(dead)
    try:
        assert await database.ping() is False
    finally:
        database.use_engine(engine)
    assert await database.ping() is True
