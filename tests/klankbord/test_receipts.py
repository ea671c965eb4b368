"""Receipt codes: random and readable, found by keyed hash, verified with the same work and
answer for wrong, unknown and garbage codes, bounded in CPU, and limited per link and overall."""

from __future__ import annotations

import asyncio
import re
import threading
import weakref
from uuid import uuid4

import pytest

from klankbord import receipts
from klankbord.secretbox import SecretBox
from klankbord.tables import RateLimit

KEY = "k" * 40
WINDOW = receipts.WINDOW_SECONDS
START = 1_800_000_000 - 1_800_000_000 % WINDOW
SHOWN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$")


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(KEY)


# --- codes --------------------------------------------------------------------------------


def test_receipt_code_many_samples_unique_grouped_in_alphabet(box):
    codes = [receipts.random_code() for _ in range(2000)]
    codes += [receipts.new_receipt_code(box).code for _ in range(5)]
    assert len(set(codes)) == len(codes)
    assert all(SHOWN.match(code) for code in codes)
    symbols = set("".join(codes).replace("-", ""))
    assert symbols <= set(receipts.ALPHABET)
    assert not symbols & set("ILOU")
    assert len(symbols) == 32  # 40,000 draws: every symbol of the alphabet is used


def test_receipt_code_entropy_at_least_80_bits():
    assert len(receipts.ALPHABET) == 32
    assert receipts.CODE_LENGTH * 5 >= 100  # log2(32) = 5 bits per symbol


def test_receipt_code_repr_hides_code(box):
    issued = receipts.new_receipt_code(box)
    assert issued.code not in repr(issued)
    assert issued.code.replace("-", "") not in repr(issued)


def test_receipt_code_stored_values_match_normalised_code(box):
    issued = receipts.new_receipt_code(box)
    code = issued.code.replace("-", "")
    assert issued.lookup_key == box.keyed_hash("receipt-code", code)
    assert issued.verifier.startswith("$argon2id$")
    assert receipts.argon2_verify(issued.verifier, code)


# --- normalise ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "ABCD-EFGH-JKMN-PQRS-TVWX",
        "abcd-efgh-jkmn-pqrs-tvwx",
        " abcd efgh jkmn pqrs tvwx ",
        "ABCD.EFGH.JKMN.PQRS.TVWX",
        "ABCDEFGHJKMNPQRSTVWX",
        "AbCd - EfGh\tJkMn--PqRs TvWx",
    ],
)
def test_normalise_case_and_separators_ignored(typed):
    assert receipts.normalise(typed) == "ABCDEFGHJKMNPQRSTVWX"


def test_normalise_i_l_o_read_as_digits():
    assert receipts.normalise("ilo0-ILO1-i1l0-oooo-2345") == "11001101111000002345"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "ABCD-EFGH-JKMN-PQRS-TVW",  # one short
        "ABCD-EFGH-JKMN-PQRS-TVWXY",  # one long
        "ABCD-EFGH-JKMN-PQRS-TVWU",  # U is not in Crockford's alphabet
        "ABCD-EFGH-JKMN-PQRS-TVW!",
        "ABCD_EFGH_JKMN_PQRS_TVWX",
        "ÄBCD-EFGH-JKMN-PQRS-TVWX",
        "ABCD-EFGH-JKMN-PQRS-TVW٣",  # a non-ASCII digit
        "ABCD-EFGH-JKMN-PQRS-TVß",  # upper-cases to "SS": the right length, still refused
        "A" * 20 + " " * 100,  # too long to be typed by hand
    ],
)
def test_normalise_wrong_length_or_foreign_characters_none(typed):
    assert receipts.normalise(typed) is None


# --- lookup key ---------------------------------------------------------------------------


def test_lookup_key_deterministic_and_separated_by_server_key(box):
    code = "ABCDEFGHJKMNPQRSTVWX"
    assert receipts.lookup_key(box, code) == receipts.lookup_key(SecretBox(KEY), code)
    assert receipts.lookup_key(box, code) != receipts.lookup_key(SecretBox("x" * 40), code)
    assert receipts.lookup_key(box, code) != receipts.lookup_key(box, "ABCDEFGHJKMNPQRSTVWY")
    assert code not in receipts.lookup_key(box, code)


async def test_issue_receipt_code_off_loop_gives_working_code(box):
    issued = await receipts.issue_receipt_code(box)
    assert SHOWN.match(issued.code)
    assert await receipts.verify(issued.code, issued.verifier)


# --- verify -------------------------------------------------------------------------------


def _counting() -> tuple[list[str], receipts.Verifier]:
    calls: list[str] = []

    def count(stored: str, code: str) -> bool:
        calls.append(stored)
        return receipts.argon2_verify(stored, code)

    return calls, count


async def test_verify_right_code_as_typed_by_hand_true(box):
    issued = receipts.new_receipt_code(box)
    typed = issued.code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert await receipts.verify(typed, issued.verifier)


async def test_verify_wrong_code_false_after_one_argon2(box):
    issued = receipts.new_receipt_code(box)
    other = receipts.new_receipt_code(box)
    calls, count = _counting()
    assert not await receipts.verify(other.code, issued.verifier, verifier=count)
    assert calls == [issued.verifier]


async def test_verify_unknown_code_false_after_one_argon2_on_dummy(box):
    issued = receipts.new_receipt_code(box)
    calls, count = _counting()
    assert not await receipts.verify(issued.code, None, verifier=count)
    assert calls == [receipts.DUMMY_VERIFIER]


@pytest.mark.parametrize("typed", ["", "not a code", "x" * 10_000, "ABCD-EFGH-JKMN-PQRS-TVWU"])
async def test_verify_garbage_false_after_one_argon2_on_dummy(box, typed):
    issued = receipts.new_receipt_code(box)
    for stored in (issued.verifier, None):
        calls, count = _counting()
        assert not await receipts.verify(typed, stored, verifier=count)
        assert calls == [receipts.DUMMY_VERIFIER]


async def test_verify_dummy_path_false_even_when_verifier_says_yes(box):
    """Without a real verifier the answer is False whatever the work says."""
    assert not await receipts.verify("ABCD-EFGH-JKMN-PQRS-TVWX", None, verifier=lambda *_: True)
    assert not await receipts.verify("garbage", "$argon2id$x", verifier=lambda *_: True)


async def test_verify_damaged_stored_verifier_false(box):
    assert not await receipts.verify("ABCD-EFGH-JKMN-PQRS-TVWX", "$argon2id$damaged")


# --- the concurrency bound ----------------------------------------------------------------


@pytest.fixture(params=["default", 3])
def limit(request, monkeypatch):
    """The bound under test: the module's own, and 3 (this machine may give the default 1)."""
    if request.param != "default":
        monkeypatch.setattr(receipts, "VERIFY_CONCURRENCY", request.param)
    monkeypatch.setattr(receipts, "_loop_slots", weakref.WeakKeyDictionary())
    receipts._pool.cache_clear()
    yield receipts.VERIFY_CONCURRENCY
    receipts._pool.cache_clear()


class SlowVerifier:
    """Holds every verification until released, recording how many run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.running = self.most = self.calls = 0

    def __call__(self, stored: str, code: str) -> bool:
        with self.lock:
            self.running += 1
            self.calls += 1
            self.most = max(self.most, self.running)
        self.release.wait(timeout=10)
        with self.lock:
            self.running -= 1
        return False

    async def until_calls(self, calls: int) -> None:
        for _ in range(1000):
            if self.calls >= calls:
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"only {self.calls} verifications started")


async def test_verify_concurrency_never_above_limit(box, limit):
    slow = SlowVerifier()
    tasks = [
        asyncio.create_task(receipts.verify("ABCD-EFGH-JKMN-PQRS-TVWX", None, verifier=slow))
        for _ in range(3 * limit)
    ]
    try:
        await slow.until_calls(limit)
        for _ in range(20):  # let the loop run: nothing more may start while all are held
            await asyncio.sleep(0)
        assert slow.calls == limit
    finally:
        slow.release.set()
    assert await asyncio.gather(*tasks) == [False] * (3 * limit)
    assert slow.most == limit
    assert slow.calls == 3 * limit


async def test_verify_abandoned_while_waiting_never_runs(box, limit):
    slow = SlowVerifier()
    tasks = [
        asyncio.create_task(receipts.verify("ABCD-EFGH-JKMN-PQRS-TVWX", None, verifier=slow))
        for _ in range(3 * limit)
    ]
    try:
        await slow.until_calls(limit)
        for task in tasks[limit:]:
            task.cancel()
    finally:
        slow.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[:limit] == [False] * limit
    assert all(isinstance(result, asyncio.CancelledError) for result in results[limit:])
    assert slow.calls == limit


# --- attempt limits -----------------------------------------------------------------------


async def _attempts(box: SecretBox, link_id, times: int, now: float = START + 60):
    return [await receipts.mailbox_attempt(link_id=link_id, box=box, now=now) for _ in range(times)]


async def test_mailbox_attempt_per_link_limit_then_refused_with_wait(box, rollback):
    link = uuid4()
    decisions = await _attempts(box, link, receipts.LINK_LIMIT + 1)
    assert [d.allowed for d in decisions] == [True] * receipts.LINK_LIMIT + [False]
    assert decisions[-1].retry_after == WINDOW - 60
    assert decisions[-1].retry_after_minutes == 14


async def test_mailbox_attempt_other_link_still_allowed(box, rollback):
    await _attempts(box, uuid4(), receipts.LINK_LIMIT + 1)
    assert (await receipts.mailbox_attempt(link_id=uuid4(), box=box, now=START + 60)).allowed


async def test_mailbox_attempt_lockout_lifts_with_next_window(box, rollback):
    link = uuid4()
    await _attempts(box, link, receipts.LINK_LIMIT + 1)
    assert (await receipts.mailbox_attempt(link_id=link, box=box, now=START + WINDOW)).allowed


async def test_mailbox_attempt_overall_limit_across_links_refused(box, rollback):
    per_link = receipts.LINK_LIMIT
    links = -(-receipts.OVERALL_LIMIT // per_link)
    decisions = []
    for _ in range(links):
        decisions += await _attempts(box, uuid4(), per_link)
    assert sum(d.allowed for d in decisions) == receipts.OVERALL_LIMIT
    refused = await receipts.mailbox_attempt(link_id=uuid4(), box=box, now=START + 120)
    assert not refused.allowed
    assert refused.retry_after == WINDOW - 120


async def test_mailbox_attempt_keys_hide_link_and_differ_by_server_key(box, rollback):
    link = uuid4()
    await receipts.mailbox_attempt(link_id=link, box=box, now=START)
    await receipts.mailbox_attempt(link_id=link, box=SecretBox("x" * 40), now=START)
    keys = {row["key"] for row in await RateLimit.select(RateLimit.key)}
    assert not [key for key in keys if str(link) in key or link.hex in key]
    link_keys = {b.keyed_hash("mailbox:link", str(link)) for b in (box, SecretBox("x" * 40))}
    assert link_keys <= keys
    assert len(link_keys) == 2
