"""Receipt codes: the reporter's only key back to the mailbox of their case.

A reporter is never an account. At intake they are shown a code once (100 random bits in
Crockford base32, easy to read aloud and to copy from paper); the case stores only two values
made from it: `lookup_key`, a keyed hash (HMAC under the server secret) that finds the case
without the code being stored, and `verifier`, an argon2id hash that proves the code. A stolen
database without the server secret gives neither a way to find a case by code nor a code.

Verification answers the same, after the same work, for a wrong code, an unknown code and
input that is no code at all, so a visitor learns nothing about which cases exist. The argon2
work runs in a small thread pool behind a semaphore, and attempts are counted per intake link
and overall (no client address: reporter paths never see or store one).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from uuid import UUID

from argon2.exceptions import InvalidHashError, VerificationError

from klankbord import ratelimit
from klankbord.passwords import HASHER
from klankbord.secretbox import SecretBox

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
CODE_LENGTH = 20  # 20 symbols x 5 bits = 100 bits, above the 80 the requirements ask
GROUP = 4
LOOKUP_PURPOSE = "receipt-code"
# Crockford decoding: letters that look like digits are read as those digits.
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
_SEPARATORS = re.compile(r"[\s.\-]+")
# A typed code is at most the code with separators and some slack; longer input is refused
# before any work, so a request cannot make the server scan megabytes.
_MAX_TYPED = 64

# At most this many receipt verifications run at once: about half the cores (at least one,
# at most four), so a flood of mailbox sign-ins leaves CPU for every other request.
VERIFY_CONCURRENCY = max(1, min(4, (os.cpu_count() or 2) // 2))

WINDOW_SECONDS = 15 * 60
LINK_LIMIT = 20
OVERALL_LIMIT = 600
"""Mailbox sign-in attempts per 15 minutes: `LINK_LIMIT` per intake link, `OVERALL_LIMIT` in all.

Guessing a 100-bit code is hopeless at any rate, so these limits do not protect the codes: they
protect the CPU and the argon2 pool. 20 per link is far above what the reporters of one
organisation sign in (or mistype) in a quarter hour, so only a flood meets it. 600 overall is
under one verification a second on average, a small part of one core, while a pool that is
kept busy would do about 40 a second per worker: a flood spread over many links is stopped
long before it holds the pool. During such a flood real reporters wait too (the answer says
how long), which is the price of keeping staff work and intake responsive.
"""


@dataclass(frozen=True)
class IssuedCode:
    """A new receipt code: `code` is shown to the reporter once; the case stores the rest."""

    code: str = field(repr=False)  # never in logs or tracebacks
    lookup_key: str
    verifier: str


def normalise(text: str) -> str | None:
    """The code as stored (20 symbols, upper case), or None when `text` cannot be a code.

    Reporters copy codes by hand: case, spaces, hyphens and dots do not matter, and I, L and O
    are read as 1, 1 and 0 (Crockford). Anything else, or a wrong length, is refused.
    """
    # Only ASCII: upper-casing other scripts can change the length ("ß" becomes "SS").
    if len(text) > _MAX_TYPED or not text.isascii():
        return None
    code = _SEPARATORS.sub("", text).upper().translate(_READ_AS)
    if len(code) != CODE_LENGTH or any(symbol not in ALPHABET for symbol in code):
        return None
    return code


def lookup_key(box: SecretBox, code: str) -> str:
    """The index under which a case is found by its (normalised) code."""
    return box.keyed_hash(LOOKUP_PURPOSE, code)


def new_receipt_code(box: SecretBox, seed: str | None = None) -> IssuedCode:
    """A fresh code and what the case keeps of it. Hashes with argon2 (~20 ms of CPU): from
    async code use `issue_receipt_code`, which does this off the event loop.

    With `seed` (a secret random value the caller holds, such as an intake form's submission
    id) the code is derived from it under the server key, so a retried submit shows the same
    code without the code ever being stored; the case must then keep only a keyed hash of
    the seed, never the seed itself."""
    shown = random_code() if seed is None else code_from_seed(box, seed)
    raw = shown.replace("-", "")
    return IssuedCode(code=shown, lookup_key=lookup_key(box, raw), verifier=HASHER.hash(raw))


def random_code() -> str:
    """20 symbols from `secrets`, shown in groups of four: "ABCD-EFGH-JKMN-PQRS-TVWX"."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, CODE_LENGTH, GROUP))


def code_from_seed(box: SecretBox, seed: str) -> str:
    """100 bits of HMAC-SHA256(server key, seed) in the code's alphabet and grouping."""
    bits = int(box.keyed_hash("receipt-code-seed", seed), 16) >> (256 - 5 * CODE_LENGTH)
    symbols = [ALPHABET[(bits >> (5 * i)) & 31] for i in reversed(range(CODE_LENGTH))]
    raw = "".join(symbols)
    return "-".join(raw[i : i + GROUP] for i in range(0, CODE_LENGTH, GROUP))


async def issue_receipt_code(box: SecretBox, seed: str | None = None) -> IssuedCode:
    """`new_receipt_code` in the bounded argon2 pool."""
    async with _slots():
        return await asyncio.get_running_loop().run_in_executor(
            _pool(), new_receipt_code, box, seed
        )


def argon2_verify(stored_verifier: str, code: str) -> bool:
    """One argon2id verification; False for a mismatch or a damaged hash."""
    try:
        return bool(HASHER.verify(stored_verifier, code))
    except (VerificationError, InvalidHashError):
        return False


# Verified when there is nothing real to verify against, so that path costs the same work.
# Its input contains characters no normalised code has, so it never matches one.
DUMMY_VERIFIER = HASHER.hash("klankbord-no-such-receipt-code")
_NO_CODE = "-" * CODE_LENGTH  # what garbage input is checked as (never matches anything)
Verifier = Callable[[str, str], bool]


async def verify(
    typed: str,
    stored_verifier: str | None,
    *,
    verifier: Verifier = argon2_verify,
) -> bool:
    """Whether `typed` is the code behind `stored_verifier` (None: no case has that lookup key).

    Exactly one argon2 verification runs on every path: for an unknown code and for input that
    is no code at all it is made against `DUMMY_VERIFIER`, and the answer is False, so timing and
    answer are the same as for a wrong code. `box` is accepted for symmetry with the lookup
    (callers hold it anyway); `verifier` exists so tests can count or slow the work.
    """
    code = normalise(typed)
    if code is None or stored_verifier is None:
        against, candidate, real = DUMMY_VERIFIER, code or _NO_CODE, False
    else:
        against, candidate, real = stored_verifier, code, True
    async with _slots():
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(_pool(), verifier, against, candidate)
    return ok and real


async def mailbox_attempt(
    *, link_id: UUID, box: SecretBox, now: float | None = None
) -> ratelimit.Decision:
    """Count one mailbox sign-in through `link_id`, per link and overall, before verifying.

    Both counters always count (a refused attempt still uses up the window). Keys are keyed
    hashes, and no client address is involved: a reporter's address is never seen or stored.
    """
    decisions = [
        await ratelimit.hit(
            box.keyed_hash("mailbox:link", str(link_id)),
            limit=LINK_LIMIT,
            window=WINDOW_SECONDS,
            now=now,
        ),
        await ratelimit.hit(
            box.keyed_hash("mailbox:overall", "all"),
            limit=OVERALL_LIMIT,
            window=WINDOW_SECONDS,
            now=now,
        ),
    ]
    refused = [decision for decision in decisions if not decision.allowed]
    if not refused:
        return decisions[0]
    return max(refused, key=lambda decision: decision.retry_after)


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=VERIFY_CONCURRENCY, thread_name_prefix="receipts")


# One semaphore per event loop: an asyncio.Semaphore belongs to the loop it first waits in.
_loop_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _slots() -> asyncio.Semaphore:
    """The bound on verifications in flight, kept apart from the pool's size so that it holds
    whichever executor runs the work (should this pool ever be shared with password hashing,
    mailbox floods still take at most this many of its workers)."""
    loop = asyncio.get_running_loop()
    slots = _loop_slots.get(loop)
    if slots is None:
        slots = _loop_slots[loop] = asyncio.Semaphore(VERIFY_CONCURRENCY)
    return slots
