"""argon2id password hashing, off the event loop.

One hash costs ~22 ms of CPU (19 MiB, t=2, the OWASP minimum) and releases the GIL, so it runs
in a small bounded thread pool: a flood of sign-ins queues there instead of stalling every
other request on the event loop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

# argon2id, 19 MiB, t=2 (OWASP minimum): staff passwords and reporters' receipt codes alike.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool(), HASHER.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """False for a wrong password and for a missing hash alike (no account enumeration)."""
    loop = asyncio.get_running_loop()
    stored = password_hash or _dummy_hash()
    try:
        ok = await loop.run_in_executor(_pool(), HASHER.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return False
    return bool(ok) and password_hash is not None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verifying against a fixed hash makes an unknown account take as long as a known one.
    return HASHER.hash("klankbord-no-such-account")


MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 takes any length; this bounds the work one request can ask for
MIN_REST_LETTERS = 6  # letters left once the user's own name and address are taken out
MIN_SCORE = 3  # zxcvbn: 0 (guessable in a few tries) .. 4; 3 resists offline guessing


def password_problem(password: str, personal_words: Sequence[str] = ()) -> str | None:
    """Why `password` may not be chosen, as a message key, or None when it is acceptable.

    zxcvbn knows common and leaked passwords, names, keyboard walks, dates and l33t; the
    user's own e-mail address and name are added so that "anna.devries2026" fails for Anna.
    """
    if len(password) < MIN_LENGTH:
        return "password.too_short"
    if len(password) > MAX_LENGTH:
        return "password.too_long"
    words = [part for word in personal_words for part in _parts(word)]
    # zxcvbn's cost grows with length; the first 100 characters decide well enough.
    if zxcvbn(password[:100], user_inputs=words)["score"] < MIN_SCORE:
        return "password.too_guessable"
    # zxcvbn weighs the user's own words lightly; what is left without them must still count.
    rest = password.lower()
    for word in sorted(words, key=len, reverse=True):
        rest = rest.replace(word, "")
    if words and len(re.sub(r"[\W_\d]", "", rest)) < MIN_REST_LETTERS:
        return "password.too_guessable"
    return None


def _parts(word: str) -> list[str]:
    """'anna.de-vries@example.org' -> the whole string and 'anna', 'de', 'vries', 'example'."""
    lowered = word.lower()
    pieces = [p for p in re.split(r"[^\w]+|_", lowered) if len(p) >= 3 and p not in ("org", "com")]
    return [lowered, *pieces]
