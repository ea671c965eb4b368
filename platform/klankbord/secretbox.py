"""Small secrets at rest under the server key: TOTP secrets, OIDC client secrets.

`SecretBox.seal` encrypts with AES-256-GCM under a key derived (HKDF-SHA256) from
`KLANKBORD_SECRET_KEY`; the `context` (for example "totp:<staff user id>") is authenticated
data, so a sealed value copied into another row or purpose does not open. `keyed_hash` is an
HMAC-SHA256 under a second derived key: a lookup value for things that must never be stored
in clear (receipt codes, addresses for rate limits).

Case content is not sealed here: it uses per-organisation data keys (envelope encryption).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"
NONCE_BYTES = 12
MIN_SECRET_KEY = 32


class SealedValueInvalid(Exception):
    """A sealed value was altered, belongs to another context, or to another server key."""


def _derive(secret_key: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode()
    )


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        if len(secret_key) < MIN_SECRET_KEY:
            raise ValueError(f"the server key needs {MIN_SECRET_KEY}+ characters")
        self._aead = AESGCM(_derive(secret_key, b"klankbord secretbox v1"))
        self._hash_key = _derive(secret_key, b"klankbord keyed hash v1")

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return base64.urlsafe_b64encode(VERSION + nonce + sealed).decode()

    def open(self, token: str, *, context: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(token.encode())
        except ValueError:
            raise SealedValueInvalid() from None
        if raw[:1] != VERSION or len(raw) < 1 + NONCE_BYTES + 16:
            raise SealedValueInvalid()
        nonce, sealed = raw[1 : 1 + NONCE_BYTES], raw[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, context.encode()).decode()
        except InvalidTag:
            raise SealedValueInvalid() from None

    def keyed_hash(self, purpose: str, value: str) -> str:
        """Hex HMAC of `value`, separated by `purpose` so one lookup never matches another."""
        message = purpose.encode() + b"\x00" + value.encode()
        return hmac.new(self._hash_key, message, hashlib.sha256).hexdigest()
