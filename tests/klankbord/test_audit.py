"""The hash-chained audit log: appends chain, and verify finds every kind of tampering."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from uuid import UUID

import pytest

from klankbord import audit
from klankbord.tables import AuditEvent
from klankbord.tenancy import system_context, tenant_transaction
from tenants import services
from tests.support.raw import execute_as_superuser


async def _events(chain: str) -> list[dict]:
    async with tenant_transaction(system_context("test-read")):
        return await AuditEvent.select().where(AuditEvent.chain == chain).order_by(AuditEvent.seq)


async def _verify() -> list[audit.ChainProblem]:
    ctx = system_context("test-verify")
    async with tenant_transaction(ctx):
        _, problems = await audit.verify(ctx)
    return problems


async def _fresh_bureau(name: str) -> UUID:
    """A committed bureau with a short chain of its own (3 events)."""
    ctx = system_context("test-setup")
    async with tenant_transaction(ctx):
        bureau_id = await services.create_bureau(ctx, name=name)
        for index in range(3):
            await audit.record(ctx, action=f"test.event{index}", bureau_id=bureau_id)
    return bureau_id


async def test_audit_record_successive_events_link_to_previous(rollback, world):
    ctx = world.ctx("admin_A")
    async with tenant_transaction(ctx):
        hashes = [await audit.record(ctx, action="test.ping", detail={"n": n}) for n in range(3)]
    events = await _events(str(world.bureaus["A"]))
    tail = events[-3:]
    assert [e["hash"] for e in tail] == hashes
    assert tail[1]["prev_hash"] == tail[0]["hash"]
    assert tail[2]["prev_hash"] == tail[1]["hash"]
    assert [e["seq"] for e in tail] == [tail[0]["seq"], tail[0]["seq"] + 1, tail[0]["seq"] + 2]
    assert all(e["actor"] == f"staff:{world.users['admin_A']}" for e in tail)
    assert await _verify() == []


async def test_audit_record_foreign_chain_refused(rollback, world):
    ctx = world.ctx("admin_A")
    async with tenant_transaction(ctx):
        with pytest.raises(PermissionError):
            await audit.record(ctx, action="test.forged", bureau_id=world.bureaus["B"])


async def test_audit_record_concurrent_appends_keep_one_gapless_chain(engine, world):
    bureau_id = await _fresh_bureau("Bureau concurrent audit")

    async def append(n: int) -> None:
        ctx = system_context("test-concurrency")
        async with tenant_transaction(ctx):
            await audit.record(ctx, action="test.concurrent", bureau_id=bureau_id, detail={"n": n})

    await asyncio.gather(*(append(n) for n in range(20)))
    events = await _events(str(bureau_id))
    assert [e["seq"] for e in events] == list(range(1, 24))
    assert await _verify() == []


def _cli_verify(test_database) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KLANKBORD_DATABASE_URL": test_database.settings.database_url,
        "KLANKBORD_ENV": "test",
    }
    return subprocess.run(
        [sys.executable, "-m", "klankbord", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_audit_verify_edited_event_reported_by_verify_and_cli(engine, world, test_database):
    bureau_id = await _fresh_bureau("Bureau edited audit")
    victim = (await _events(str(bureau_id)))[1]
    await execute_as_superuser(
        test_database,
        "UPDATE audit_event SET action = $1 WHERE id = $2",
        "test.other",
        victim["id"],
    )
    try:
        problems = await _verify()
        assert [(p.chain, p.seq, p.problem) for p in problems] == [
            (str(bureau_id), victim["seq"], "content changed")
        ]
        result = await asyncio.to_thread(_cli_verify, test_database)
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"BROKEN chain={bureau_id} seq={victim['seq']}" in result.stdout
    finally:
        await execute_as_superuser(
            test_database,
            "UPDATE audit_event SET action = $1 WHERE id = $2",
            victim["action"],
            victim["id"],
        )
    assert await _verify() == []
    result = await asyncio.to_thread(_cli_verify, test_database)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_audit_verify_deleted_middle_event_reported(engine, world, test_database):
    bureau_id = await _fresh_bureau("Bureau deleted audit")
    events = await _events(str(bureau_id))
    await execute_as_superuser(
        test_database, "DELETE FROM audit_event WHERE id = $1", events[1]["id"]
    )
    try:
        problems = {(p.seq, p.problem) for p in await _verify() if p.chain == str(bureau_id)}
        assert (2, "missing or reordered event") in problems
        assert (3, "broken link to previous") in problems
    finally:
        await _reinsert(test_database, events[1])
    assert await _verify() == []


async def test_audit_verify_deleted_newest_event_reported(engine, world, test_database):
    bureau_id = await _fresh_bureau("Bureau truncated audit")
    events = await _events(str(bureau_id))
    newest = events[-1]
    await execute_as_superuser(test_database, "DELETE FROM audit_event WHERE id = $1", newest["id"])
    try:
        problems = [(p.chain, p.problem) for p in await _verify()]
        assert problems == [(str(bureau_id), "newest events missing")]
    finally:
        await _reinsert(test_database, newest)
    assert await _verify() == []


async def _reinsert(test_database, event: dict) -> None:
    await execute_as_superuser(
        test_database,
        "INSERT INTO audit_event (id, chain, seq, occurred_at, bureau, organisation, actor, action,"
        " subject_type, subject_id, detail, prev_hash, hash)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        event["id"],
        event["chain"],
        event["seq"],
        event["occurred_at"] if test_database.is_postgres else event["occurred_at"].isoformat(),
        event["bureau"],
        event["organisation"],
        event["actor"],
        event["action"],
        event["subject_type"],
        event["subject_id"],
        event["detail"],
        event["prev_hash"],
        event["hash"],
    )
