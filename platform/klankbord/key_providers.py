"""Key-encryption-key providers and the AES-256-GCM layout (the crypto half of `keys`).

`LocalKeyProvider`: a ring of KEK files under the data dir (the current `kek-local.key` plus
`kek-<fingerprint>.key` for every KEK rotated from). `KmsKeyProvider`: AWS KMS Encrypt/Decrypt
with the organisation id as encryption context; the KEK never leaves KMS. Both take the stored
key id when unwrapping, so rows wrapped by an older KEK still open. `seal`/`open_sealed` use
the same AES-GCM layout for content under a data key. `klankbord.keys` chooses the provider and
keeps the data keys in the database; this module touches no table.

Key material is never logged, never put in an exception message, never audited.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from klankbord.errors import Conflict

KEY_BYTES = 32
NONCE_BYTES = 12
WRAP_VERSION = b"\x01"
SEAL_VERSION = b"\x01"
LOCAL_KEK_FILE = "kek-local.key"


class KeyMaterialInvalid(Exception):
    """A wrapped key or sealed value was altered, belongs to another context, or to another
    key. Carries no detail (a message could end up in a log)."""


class KeyProvider(Protocol):
    """Wraps data keys with a key-encryption key that never leaves the provider."""

    @property
    def key_id(self) -> str:
        """Which KEK wraps: stored with every wrapped key (no secret in it)."""
        ...

    def wrap(self, data_key: bytes, *, context: str) -> bytes: ...

    def unwrap(self, wrapped: bytes, *, context: str, key_id: str | None = None) -> bytes:
        """`key_id`: the one stored with the wrapped key, which picks the KEK (None: the
        current one)."""
        ...


# --- AES-256-GCM, one layout for wrapped keys and sealed content --------------------------


def _encrypt(key: bytes, version: bytes, plaintext: bytes, context: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return version + nonce + AESGCM(key).encrypt(nonce, plaintext, context.encode())


def _decrypt(key: bytes, version: bytes, sealed: bytes, context: str) -> bytes:
    if sealed[:1] != version or len(sealed) < 1 + NONCE_BYTES + 16:
        raise KeyMaterialInvalid()
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, context.encode())
    except InvalidTag:
        raise KeyMaterialInvalid() from None


def seal(key: bytes, plaintext: bytes, *, context: str) -> bytes:
    """`plaintext` sealed under a data key; `context` (the organisation id, or something more
    precise such as "<organisation id>:report:<case id>") must be given again to open it."""
    if len(key) != KEY_BYTES:
        raise ValueError("a data key has 32 bytes")
    return _encrypt(key, SEAL_VERSION, plaintext, context)


def open_sealed(key: bytes, sealed: bytes, *, context: str) -> bytes:
    if len(key) != KEY_BYTES:
        raise ValueError("a data key has 32 bytes")
    return _decrypt(key, SEAL_VERSION, sealed, context)


# --- the local provider -------------------------------------------------------------------

_ARCHIVED = re.compile(r"kek-[0-9a-f]{16}\.key")
_FINGERPRINT = re.compile(r"[0-9a-f]{16}")


def _fingerprint(kek: bytes) -> str:
    return hashlib.sha256(b"klankbord kek id\x00" + kek).hexdigest()[:16]


def _write_once(path: Path, content: bytes) -> bool:
    """`content` at `path` (mode 0600) unless a file is already there: whether it was written.
    A private temporary file is hard-linked to the final name, which fails if another process
    got there first; nothing is ever overwritten."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        temporary.unlink(missing_ok=True)


class LocalKeyProvider:
    """The current KEK in a file (32 random bytes, mode 0600), created on first use, plus the
    key ring of its folder: `kek-<fingerprint>.key`, one per KEK ever rotated from or to.

    Creation is race-free (`_write_once`): when several processes start at once, the first
    file wins and everyone uses it. A file of the wrong size is refused, never overwritten.
    An instance keeps the KEK it first read for wrapping (so `key_id` always names the key
    the last `wrap` used); a rotation by another process shows in new instances, while
    unwrapping finds any KEK of the ring by the stored key id.
    """

    blocking = False  # a 32-byte file, read once: cheap enough for the event loop

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._kek: bytes | None = None
        self._ring: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"LocalKeyProvider({str(self.path)!r})"

    def _load(self) -> bytes:
        if self._kek is None:
            if not self.path.exists():
                _write_once(self.path, secrets.token_bytes(KEY_BYTES))
            kek = self.path.read_bytes()
            if len(kek) != KEY_BYTES:
                raise KeyMaterialInvalid()
            self._kek = kek
        return self._kek

    def _archived(self, fingerprint: str) -> Path:
        return self.path.with_name(f"kek-{fingerprint}.key")

    def _archive(self, kek: bytes) -> None:
        path = self._archived(_fingerprint(kek))
        if not _write_once(path, kek) and path.read_bytes() != kek:
            raise KeyMaterialInvalid()

    def _kek_for(self, key_id: str | None) -> bytes:
        current = self._load()
        if key_id is None or key_id == self.key_id:
            return current
        fingerprint = key_id.removeprefix("local:")
        if not key_id.startswith("local:") or not _FINGERPRINT.fullmatch(fingerprint):
            raise KeyMaterialInvalid()  # another provider's id, or not an id at all
        if fingerprint not in self._ring:
            path = self._archived(fingerprint)
            if not path.is_file():
                raise KeyMaterialInvalid()
            kek = path.read_bytes()
            if len(kek) != KEY_BYTES or _fingerprint(kek) != fingerprint:
                raise KeyMaterialInvalid()
            self._ring[fingerprint] = kek
        return self._ring[fingerprint]

    @property
    def key_id(self) -> str:
        return f"local:{_fingerprint(self._load())}"

    def wrap(self, data_key: bytes, *, context: str) -> bytes:
        return _encrypt(self._load(), WRAP_VERSION, data_key, context)

    def unwrap(self, wrapped: bytes, *, context: str, key_id: str | None = None) -> bytes:
        return _decrypt(self._kek_for(key_id), WRAP_VERSION, wrapped, context)

    def rotate(self) -> str:
        """Make a new current KEK; returns its key id. The old and the new KEK are both in
        the ring before the current file is replaced, so whatever happens to run at the same
        time (another rotation included), no KEK that ever wrapped a key is lost."""
        self._archive(self._load())
        new = secrets.token_bytes(KEY_BYTES)
        self._archive(new)
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.tmp")
        os.link(self._archived(_fingerprint(new)), temporary)
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self._kek = new
        return self.key_id

    def retire(self) -> int:
        """Delete the ring's KEKs other than the current one; how many. Refused (`Conflict`)
        when another process rotated since this instance read the current KEK: it would
        delete the KEK the other process is re-wrapping to."""
        keep = self._archived(_fingerprint(self._load())).name
        if self.path.read_bytes() != self._load():
            raise Conflict(code="kek_rotated_meanwhile")
        retired = 0
        for path in self.path.parent.iterdir():
            if _ARCHIVED.fullmatch(path.name) and path.name != keep:
                path.unlink(missing_ok=True)
                retired += 1
        self._ring.clear()
        return retired


# --- the AWS KMS provider -----------------------------------------------------------------

KMS_CONTEXT_KEY = "klankbord:organisation"
KMS_ARN_PREFIX = "arn:"


class KmsKeyProvider:
    """The KEK in AWS KMS (`KLANKBORD_KEY_PROVIDER=kms`): it never leaves KMS.

    Wrap is KMS Encrypt, unwrap KMS Decrypt, with the organisation id as encryption context
    (authenticated by KMS, recorded by CloudTrail), so a wrapped key copied to another
    organisation does not decrypt. The stored key id is the KMS key's ARN, passed to Decrypt:
    keys wrapped under an earlier KMS key keep working while that key exists in KMS.
    boto3 blocks, hence `blocking` (`keys` calls it from a worker thread). Credentials come
    from the standard AWS chain, never from settings. Every KMS or network error becomes
    `KeyMaterialInvalid` without detail (AWS messages name keys and principals).
    """

    blocking = True

    def __init__(self, client: Any, key_id: str) -> None:
        if not key_id:
            raise ValueError("a KMS key id is required")
        self._client = client
        self._configured = key_id
        self._arn: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KmsKeyProvider({self._configured!r})"

    @property
    def key_id(self) -> str:
        """The ARN of the configured key (an alias is resolved once, on first use)."""
        with self._lock:
            if self._arn is None:
                try:
                    metadata = self._client.describe_key(KeyId=self._configured)["KeyMetadata"]
                except (BotoCoreError, ClientError):
                    raise KeyMaterialInvalid() from None
                self._arn = str(metadata["Arn"])
            return self._arn

    def wrap(self, data_key: bytes, *, context: str) -> bytes:
        try:
            response = self._client.encrypt(
                KeyId=self.key_id,
                Plaintext=data_key,
                EncryptionContext={KMS_CONTEXT_KEY: context},
            )
        except (BotoCoreError, ClientError):
            raise KeyMaterialInvalid() from None
        return bytes(response["CiphertextBlob"])

    def unwrap(self, wrapped: bytes, *, context: str, key_id: str | None = None) -> bytes:
        """`key_id`: the ARN stored with the wrapped key (None: the configured key). Ids of
        another provider (`local:…`) are refused without asking KMS."""
        key_id = key_id or self.key_id
        if not key_id.startswith(KMS_ARN_PREFIX):
            raise KeyMaterialInvalid()
        try:
            response = self._client.decrypt(
                CiphertextBlob=wrapped,
                KeyId=key_id,
                EncryptionContext={KMS_CONTEXT_KEY: context},
            )
        except (BotoCoreError, ClientError):
            raise KeyMaterialInvalid() from None
        plaintext = bytes(response["Plaintext"])
        if len(plaintext) != KEY_BYTES:
            raise KeyMaterialInvalid()
        return plaintext


def kms_client(*, region: str, endpoint_url: str | None) -> Any:
    """A boto3 KMS client; `endpoint_url` only for KMS compatibles and tests (moto)."""
    import boto3  # type: ignore[import-untyped]

    return boto3.client("kms", region_name=region, endpoint_url=endpoint_url or None)
