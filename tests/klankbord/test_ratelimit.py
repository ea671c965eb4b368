"""Attempt limits: a lockout after the limit, lifted when the window ends, shared by processes."""

from __future__ import annotations

import asyncio

from klankbord import database, ratelimit

WINDOW = 900
START = 1_800_000_000 - 1_800_000_000 % WINDOW  # the start of a window


async def _hits(key: str, times: int, now: float) -> list[ratelimit.Decision]:
    return [await ratelimit.hit(key, limit=5, window=WINDOW, now=now) for _ in range(times)]


async def test_ratelimit_locks_after_limit_and_says_how_long(rollback):
    decisions = await _hits("account:a", 6, START + 60)
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert decisions[-1].retry_after == WINDOW - 60
    assert decisions[-1].retry_after_minutes == 14


async def test_ratelimit_lockout_lifts_when_window_ends(rollback):
    await _hits("account:a", 6, START + 10)
    assert not (
        await ratelimit.hit("account:a", limit=5, window=WINDOW, now=START + WINDOW - 1)
    ).allowed
    assert (await ratelimit.hit("account:a", limit=5, window=WINDOW, now=START + WINDOW)).allowed


async def test_ratelimit_keys_counted_apart(rollback):
    await _hits("account:a", 6, START)
    assert (await ratelimit.hit("account:b", limit=5, window=WINDOW, now=START)).allowed


async def test_ratelimit_clear_forgets(rollback):
    await _hits("account:a", 6, START)
    await ratelimit.clear("account:a")
    assert (await ratelimit.hit("account:a", limit=5, window=WINDOW, now=START)).allowed


async def test_ratelimit_concurrent_attempts_never_exceed_limit(engine):
    """Many tasks at once (each its own transaction): exactly `limit` pass."""
    database.use_engine(engine)
    key = f"concurrent:{START}"

    async def attempt() -> bool:
        async with engine.transaction():
            return (await ratelimit.hit(key, limit=5, window=WINDOW, now=START)).allowed

    try:
        results = await asyncio.gather(*(attempt() for _ in range(20)))
        assert sum(results) == 5
    finally:
        async with engine.transaction():
            await ratelimit.clear(key)
