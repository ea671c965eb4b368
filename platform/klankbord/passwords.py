"""argon2id password hashing, off the event loop.

One hash costs ~22 ms of CPU (19 MiB, t=2, the OWASP minimum) and releases the GIL, so it runs
in a small bounded thread pool: a flood of sign-ins queues there instead of stalling every
other request on the event loop.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool(), _hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """False for a wrong password and for a missing hash alike (no account enumeration)."""
    loop = asyncio.get_running_loop()
    stored = password_hash or _dummy_hash()
    try:
        ok = await loop.run_in_executor(_pool(), _hasher.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return False
    return bool(ok) and password_hash is not None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verifying against a fixed hash makes an unknown account take as long as a known one.
    return _hasher.hash("klankbord-no-such-account")
