"""Attempt limits that hold across app processes: counters in the database.

A fixed window per key: the first `limit` attempts in a window pass, later ones are refused
until the window ends, which is the lockout and also when it lifts. Keys are keyed hashes
(see `SecretBox.keyed_hash`) of what is counted: an account, an address, an intake link.
One statement counts and answers, so two processes never both take the last attempt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from klankbord.tables import RateLimit

_HIT = (
    "INSERT INTO rate_limit (key, window_start, attempts) VALUES ({}, {}, 1) "
    "ON CONFLICT (key) DO UPDATE SET "
    "attempts = CASE WHEN rate_limit.window_start = excluded.window_start "
    "THEN rate_limit.attempts + 1 ELSE 1 END, "
    "window_start = excluded.window_start "
    "RETURNING attempts"
)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int  # seconds until the window ends (0 when allowed)

    @property
    def retry_after_minutes(self) -> int:
        return max(1, -(-self.retry_after // 60))


async def hit(key: str, *, limit: int, window: int, now: float | None = None) -> Decision:
    """Count one attempt under `key`; refused once more than `limit` fall in one window."""
    moment = int(time.time() if now is None else now)
    window_start = moment - moment % window
    [row] = await RateLimit.raw(_HIT, key, window_start)
    if row["attempts"] <= limit:
        return Decision(allowed=True, retry_after=0)
    return Decision(allowed=False, retry_after=window_start + window - moment)


async def clear(key: str) -> None:
    """Forget the attempts under `key` (after a successful sign-in, say)."""
    await RateLimit.delete().where(RateLimit.key == key)


async def purge(*, now: float | None = None, keep_seconds: int = 24 * 3600) -> int:
    """Forget counters whose window began more than `keep_seconds` ago (every window in use
    is far shorter); returns how many went."""
    moment = int(time.time() if now is None else now)
    gone = (
        await RateLimit.delete()
        .where(RateLimit.window_start < moment - keep_seconds)
        .returning(RateLimit.key)
    )
    return len(gone)
