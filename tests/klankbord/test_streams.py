"""Streamed attachment encryption: round trips at the segment boundaries, and every kind of
tampering (a changed byte, truncation, a dropped, swapped or appended segment, another
context or key) refused."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest

from klankbord import streams
from klankbord.streams import (
    CIPHERTEXT_SEGMENT,
    HEADER_BYTES,
    PLAINTEXT_SEGMENT,
    StreamInvalid,
    attachment_context,
    ciphertext_size,
    decrypt_stream,
    encrypt_stream,
)

KEY = bytes(range(32))
CONTEXT = attachment_context(uuid4(), uuid4())


async def _chunks(data: bytes, size: int = 10_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _encrypt(data: bytes, *, key: bytes = KEY, context: bytes = CONTEXT) -> bytes:
    return b"".join([c async for c in encrypt_stream(key, _chunks(data), context=context)])


async def _decrypt(sealed: bytes, *, key: bytes = KEY, context: bytes = CONTEXT) -> bytes:
    pieces = decrypt_stream(key, _chunks(sealed, 7_777), context=context)
    return b"".join([c async for c in pieces])


def _segments(sealed: bytes) -> tuple[bytes, list[bytes]]:
    body = sealed[HEADER_BYTES:]
    return sealed[:HEADER_BYTES], [
        body[i : i + CIPHERTEXT_SEGMENT] for i in range(0, len(body), CIPHERTEXT_SEGMENT)
    ]


@pytest.mark.parametrize(
    "size",
    [0, 1, PLAINTEXT_SEGMENT - 1, PLAINTEXT_SEGMENT, PLAINTEXT_SEGMENT + 1, 3 * PLAINTEXT_SEGMENT],
)
async def test_stream_round_trip_sizes_equal(size: int):
    data = os.urandom(size)
    sealed = await _encrypt(data)
    assert len(sealed) == ciphertext_size(size)
    if size >= 16:
        assert data[:16] not in sealed
    assert await _decrypt(sealed) == data


async def test_stream_many_segments_round_trip_equal():
    data = os.urandom(5 * PLAINTEXT_SEGMENT + 12_345)
    sealed = await _encrypt(data)
    _, segments = _segments(sealed)
    assert len(segments) == 6
    assert all(len(s) == CIPHERTEXT_SEGMENT for s in segments[:-1])
    assert await _decrypt(sealed) == data


async def test_stream_encrypting_twice_differs():
    data = b"same attachment"
    assert await _encrypt(data) != await _encrypt(data)


async def test_stream_decrypt_releases_only_verified_segments():
    data = os.urandom(3 * PLAINTEXT_SEGMENT)
    sealed = bytearray(await _encrypt(data))
    sealed[HEADER_BYTES + CIPHERTEXT_SEGMENT + 5] ^= 1  # inside the second segment
    released: list[bytes] = []
    with pytest.raises(StreamInvalid):
        async for piece in decrypt_stream(KEY, _chunks(bytes(sealed)), context=CONTEXT):
            released.append(piece)
    assert b"".join(released) == data[:PLAINTEXT_SEGMENT]


def _tamper_byte(sealed: bytes) -> bytes:
    changed = bytearray(sealed)
    changed[-20] ^= 0x01
    return bytes(changed)


def _tamper_header(sealed: bytes) -> bytes:
    changed = bytearray(sealed)
    changed[5] ^= 0x01  # the salt
    return bytes(changed)


def _truncate_last_segment(sealed: bytes) -> bytes:
    return sealed[:-1]


def _drop_last_segment(sealed: bytes) -> bytes:
    header, segments = _segments(sealed)
    return header + b"".join(segments[:-1])


def _drop_middle_segment(sealed: bytes) -> bytes:
    header, segments = _segments(sealed)
    return header + b"".join(segments[:1] + segments[2:])


def _swap_segments(sealed: bytes) -> bytes:
    header, segments = _segments(sealed)
    return header + b"".join([segments[1], segments[0], *segments[2:]])


def _append_segment(sealed: bytes) -> bytes:
    return sealed + _segments(sealed)[1][0]


def _header_only(sealed: bytes) -> bytes:
    return sealed[:HEADER_BYTES]


@pytest.mark.parametrize(
    "tamper",
    [
        _tamper_byte,
        _tamper_header,
        _truncate_last_segment,
        _drop_last_segment,
        _drop_middle_segment,
        _swap_segments,
        _append_segment,
        _header_only,
    ],
)
async def test_stream_tampered_fails(tamper):
    sealed = await _encrypt(os.urandom(3 * PLAINTEXT_SEGMENT + 100))
    with pytest.raises(StreamInvalid):
        await _decrypt(tamper(sealed))


async def test_stream_wrong_context_fails():
    organisation, blob = uuid4(), uuid4()
    sealed = await _encrypt(b"evidence", context=attachment_context(organisation, blob))
    with pytest.raises(StreamInvalid):
        await _decrypt(sealed, context=attachment_context(uuid4(), blob))
    with pytest.raises(StreamInvalid):
        await _decrypt(sealed, context=attachment_context(organisation, uuid4()))


async def test_stream_wrong_key_fails():
    sealed = await _encrypt(b"evidence")
    with pytest.raises(StreamInvalid):
        await _decrypt(sealed, key=bytes(32))


async def test_stream_empty_or_short_input_fails():
    with pytest.raises(StreamInvalid):
        await _decrypt(b"")
    with pytest.raises(StreamInvalid):
        await _decrypt(b"\x28" + bytes(10))


async def test_stream_key_of_wrong_length_refused():
    with pytest.raises(ValueError):
        await _encrypt(b"x", key=bytes(16))


def test_stream_ciphertext_size_counts_header_and_tags():
    assert ciphertext_size(0) == streams.HEADER_BYTES + streams.TAG_BYTES
    assert ciphertext_size(PLAINTEXT_SEGMENT) == HEADER_BYTES + CIPHERTEXT_SEGMENT
    assert ciphertext_size(PLAINTEXT_SEGMENT + 1) == HEADER_BYTES + CIPHERTEXT_SEGMENT + 17
