"""Streamed authenticated encryption of attachment bytes under an organisation's data key.

Attachments reach 100 MB+, so they cannot be sealed in one AES-GCM call (that would hold the
whole object in memory, and one GCM message must stay far below 64 GiB anyway). We use the
STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online Authenticated-Encryption
and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015) in the shape of Tink's
AES-GCM-HKDF streaming AEAD:

* header: one byte with the header length (40), a random 32-byte salt, a random 7-byte
  nonce prefix;
* a per-object key: HKDF-SHA256(ikm=data key, salt=salt, info=label || context), where the
  context names the organisation and the blob, so a blob moved to another organisation or
  blob id derives another key and does not open;
* segments of 64 KiB ciphertext (65,520 plaintext bytes + a 16-byte tag), each sealed with
  AES-256-GCM under nonce = prefix || 32-bit big-endian segment counter || last-segment flag.

The counter in the nonce makes reordering, dropping or duplicating segments fail; the flag
makes truncation at a segment boundary and appending after the last segment fail. Unlike
Tink, the first segment is not shortened by the header (the header travels in front of it),
so every ciphertext segment but the last is exactly 64 KiB.

Decryption releases a segment's plaintext only after that segment's tag has verified, but it
does release earlier verified segments before a later one fails. A consumer MUST treat a
`StreamInvalid` raised mid-stream as a failure of the whole object (abort the download,
discard what was written), never as a shorter valid file.
"""

from __future__ import annotations

import os
import struct
from collections.abc import AsyncIterator
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
SALT_BYTES = 32
NONCE_PREFIX_BYTES = 7
HEADER_BYTES = 1 + SALT_BYTES + NONCE_PREFIX_BYTES
TAG_BYTES = 16
CIPHERTEXT_SEGMENT = 64 * 1024
PLAINTEXT_SEGMENT = CIPHERTEXT_SEGMENT - TAG_BYTES
MAX_SEGMENTS = 2**32
LABEL = b"klankbord attachment stream v1\x00"


class StreamInvalid(Exception):
    """The ciphertext was altered, truncated, reordered, extended, or belongs to another key
    or context. Carries no detail (a message could end up in a log)."""


def attachment_context(organisation_id: UUID, blob_id: UUID) -> bytes:
    """The context that binds an attachment's ciphertext to its organisation and blob."""
    return f"organisation:{UUID(str(organisation_id))}/blob:{UUID(str(blob_id))}".encode()


def ciphertext_size(plaintext_size: int) -> int:
    """How many bytes `encrypt_stream` produces for `plaintext_size` bytes (for size limits:
    a store's `max_bytes` counts ciphertext)."""
    segments = max(1, -(-plaintext_size // PLAINTEXT_SEGMENT))
    return HEADER_BYTES + plaintext_size + segments * TAG_BYTES


def _segment_key(data_key: bytes, salt: bytes, context: bytes) -> AESGCM:
    if len(data_key) != KEY_BYTES:
        raise ValueError("the data key must be 32 bytes")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=LABEL + context)
    return AESGCM(hkdf.derive(data_key))


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= MAX_SEGMENTS:
        raise StreamInvalid()
    return prefix + struct.pack(">I?", counter, last)


async def encrypt_stream(
    data_key: bytes, chunks: AsyncIterator[bytes], *, context: bytes
) -> AsyncIterator[bytes]:
    """The header, then sealed segments; holds at most one segment plus one input chunk."""
    salt = os.urandom(SALT_BYTES)
    prefix = os.urandom(NONCE_PREFIX_BYTES)
    aead = _segment_key(data_key, salt, context)
    yield bytes([HEADER_BYTES]) + salt + prefix
    buffer = bytearray()
    counter = 0
    async for chunk in chunks:
        buffer += chunk
        # A segment is known not to be the last only once a byte after it has arrived.
        while len(buffer) > PLAINTEXT_SEGMENT:
            segment = bytes(buffer[:PLAINTEXT_SEGMENT])
            del buffer[:PLAINTEXT_SEGMENT]
            yield aead.encrypt(_nonce(prefix, counter, False), segment, None)
            counter += 1
    yield aead.encrypt(_nonce(prefix, counter, True), bytes(buffer), None)


async def decrypt_stream(
    data_key: bytes, chunks: AsyncIterator[bytes], *, context: bytes
) -> AsyncIterator[bytes]:
    """Verified plaintext, segment by segment; `StreamInvalid` on any tampering (see the
    module docstring: a failure mid-stream fails the whole object)."""
    buffer = bytearray()
    aead: AESGCM | None = None
    prefix = b""
    counter = 0
    async for chunk in chunks:
        buffer += chunk
        if aead is None:
            if len(buffer) < HEADER_BYTES:
                continue
            if buffer[0] != HEADER_BYTES:
                raise StreamInvalid()
            salt = bytes(buffer[1 : 1 + SALT_BYTES])
            prefix = bytes(buffer[1 + SALT_BYTES : HEADER_BYTES])
            del buffer[:HEADER_BYTES]
            aead = _segment_key(data_key, salt, context)
        while len(buffer) > CIPHERTEXT_SEGMENT:
            segment = bytes(buffer[:CIPHERTEXT_SEGMENT])
            del buffer[:CIPHERTEXT_SEGMENT]
            yield _open(aead, _nonce(prefix, counter, False), segment)
            counter += 1
    if aead is None or len(buffer) < TAG_BYTES:
        raise StreamInvalid()
    yield _open(aead, _nonce(prefix, counter, True), bytes(buffer))


def _open(aead: AESGCM, nonce: bytes, segment: bytes) -> bytes:
    try:
        return aead.decrypt(nonce, segment, None)
    except InvalidTag:
        raise StreamInvalid() from None
