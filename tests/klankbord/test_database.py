"""The embedded SQLite engine: one connection, serialised, durable settings."""

from __future__ import annotations

import asyncio
import sqlite3

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


async def test_sqlite_engine_concurrent_first_use_one_connection_one_lock(tmp_path):
    engine = database.make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    assert isinstance(engine, PersistentSQLiteEngine)
    try:
        shared = await asyncio.gather(*(engine.shared() for _ in range(32)))
        assert len({id(each) for each in shared}) == 1
        assert len({id(each.connection) for each in shared}) == 1
        assert len({id(each.lock) for each in shared}) == 1
        assert await engine.get_connection() is shared[0].connection
    finally:
        await database.close_engine(engine)


async def test_sqlite_engine_concurrent_first_transactions_serialised(tmp_path):
    """Transactions racing to open the connection still share one lock: all commit."""
    engine = database.make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    previous = database.current_engine()
    database.use_engine(engine)
    try:

        async def write(n: int) -> None:
            async with engine.transaction():
                await database.fetch("CREATE TABLE IF NOT EXISTS probe4 (n INTEGER)")
                await database.fetch("INSERT INTO probe4 VALUES ({})", n)

        await asyncio.gather(*(write(n) for n in range(20)))
        rows = await database.fetch("SELECT count(*) AS n, sum(n) AS total FROM probe4")
        assert (rows[0]["n"], rows[0]["total"]) == (20, sum(range(20)))
    finally:
        await database.close_engine(engine)
        database.use_engine(previous)


async def _outside_transaction(engine: PersistentSQLiteEngine) -> bool:
    """Whether the shared connection is outside any transaction once queued work has run."""
    shared = await engine.shared()
    async with shared.lock:
        await shared.connection.execute_fetchall("SELECT 1")  # runs after anything queued
        return not shared.connection.in_transaction


async def _usable_after(engine: PersistentSQLiteEngine, table: str) -> None:
    assert await _outside_transaction(engine)
    async with engine.transaction():  # a fresh BEGIN works, and the lock is free
        await database.fetch(f"INSERT INTO {table} VALUES (2)")
    rows = await database.fetch(f"SELECT n FROM {table}")
    assert [row["n"] for row in rows] == [2]
    assert await _outside_transaction(engine)


@pytest.mark.parametrize("where", ["begin", "body", "rollback"])
async def test_sqlite_transaction_cancelled_connection_usable_not_in_transaction(
    sqlite_engine, where
):
    table = f"probe_cancel_{where}"
    await database.fetch(f"CREATE TABLE {table} (n INTEGER)")
    inside = asyncio.Event()

    async def work() -> None:
        async with sqlite_engine.transaction():
            await database.fetch(f"INSERT INTO {table} VALUES (1)")
            inside.set()
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(work())
    if where == "begin":
        await asyncio.sleep(0)  # the task now waits for its BEGIN to run
        assert not inside.is_set()
    else:
        await inside.wait()
    task.cancel()
    if where == "rollback":
        await asyncio.sleep(0)  # the task now waits for its ROLLBACK; cancel that too
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _usable_after(sqlite_engine, table)


async def test_sqlite_transaction_failed_commit_rolled_back_and_released(sqlite_engine):
    """A deferred foreign key fails at COMMIT, which leaves SQLite's transaction open."""
    await database.fetch("CREATE TABLE probe_parent (id INTEGER PRIMARY KEY)")
    await database.fetch(
        "CREATE TABLE probe_child (parent INTEGER"
        " REFERENCES probe_parent (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    await database.fetch("CREATE TABLE probe_commit (n INTEGER)")
    with pytest.raises(sqlite3.IntegrityError):
        async with sqlite_engine.transaction():
            await database.fetch("INSERT INTO probe_commit VALUES (1)")
            await database.fetch("INSERT INTO probe_child VALUES (42)")
    await _usable_after(sqlite_engine, "probe_commit")


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
