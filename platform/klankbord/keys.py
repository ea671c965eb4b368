"""Per-organisation data keys (envelope encryption).

Every organisation gets a random 256-bit data key when it is created. Its content (report
text, identity fields, messages, attachments) is sealed with that key (`seal`/`open_sealed`,
AES-256-GCM). The data key itself is stored only wrapped, in `OrganisationKey`, by the
key-encryption key (KEK) of a `KeyProvider`; the organisation id is the authenticated context
of both, so a wrapped key or a sealed value copied to another organisation does not open.
Destroying the wrapped key at offboarding makes every copy of the organisation's sealed content
unreadable, backups included.

Providers (chosen in `key_provider(settings)`, the only place that decides):
`LocalKeyProvider` keeps the KEK in a file under the data dir (the embedded default);
`KmsKeyProvider` leaves it in AWS KMS (Encrypt/Decrypt with the organisation id as encryption
context). The process's provider is set once (`use_key_provider`, at start-up); without that,
the first use takes the one the environment's settings describe. KMS is a network call and
boto3 blocks, so provider calls run in a worker thread unless the provider is `blocking =
False` (the local file).

Several KEKs: every wrapped key is stored with the id of the KEK that wrapped it, and
unwrapping picks the KEK by that id: the local provider keeps a ring of every KEK it rotated
from (`kek-<fingerprint>.key` next to the current `kek-local.key`), KMS is simply told which
key to decrypt with. `rotate_kek` (`klankbord keys rotate`) re-wraps the data keys under the
current KEK without touching sealed content; `retire_old_keks` deletes old local KEKs once
nothing in the database needs them (backups still may: the operator decides).

Key material is never logged, never put in an exception message, never audited.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from klankbord.errors import Conflict, NotFound
from klankbord.tenancy import (
    TenantContext,
    check_may_write,
    require_transaction,
    scoped,
    system_context,
    tenant_transaction,
)

if TYPE_CHECKING:
    from klankbord.settings import Settings

KEY_BYTES = 32
NONCE_BYTES = 12
WRAP_VERSION = b"\x01"
SEAL_VERSION = b"\x01"
LOCAL_KEK_FILE = "kek-local.key"
T = TypeVar("T")


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


# --- which provider -----------------------------------------------------------------------


def key_provider(settings: Settings) -> KeyProvider:
    """The provider `settings` describe: the one place that chooses."""
    if settings.key_provider == "kms":
        client = kms_client(region=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
        return KmsKeyProvider(client, settings.kms_key_id)
    return local_key_provider(settings)


def local_key_provider(settings: Settings) -> LocalKeyProvider:
    return LocalKeyProvider(settings.data_dir / "keys" / LOCAL_KEK_FILE)


async def _off_loop(provider: KeyProvider, call: Callable[[], T]) -> T:
    """Run a provider call; in a worker thread unless the provider says it never blocks
    (KMS is a network round trip; an unknown provider is assumed to block)."""
    if getattr(provider, "blocking", True):
        return await asyncio.to_thread(call)
    return call()


_provider: KeyProvider | None = None


def use_key_provider(provider: KeyProvider | None) -> KeyProvider | None:
    """Make `provider` the process's provider (start-up, tests); returns the one it replaces,
    so a command run inside another process (the CLI in tests) can put it back."""
    global _provider
    previous, _provider = _provider, provider
    return previous


def current_key_provider() -> KeyProvider:
    if _provider is None:
        from klankbord.settings import Settings

        use_key_provider(key_provider(Settings.from_env()))
    assert _provider is not None
    return _provider


# --- data keys in the database ------------------------------------------------------------
# `tenants.tables` is imported inside the functions: the kernel must not import a feature app
# at import time (tenants imports the kernel).


def _context(organisation_id: UUID) -> str:
    return str(organisation_id)


async def create_data_key(
    ctx: TenantContext,
    *,
    organisation_id: UUID,
    bureau_id: UUID,
    provider: KeyProvider | None = None,
) -> None:
    """A new data key for the organisation, stored wrapped, inside the caller's transaction.
    One per organisation (a second raises `Conflict`). Not audited on its own: the caller's
    event (`organisation.created`) covers it."""
    from tenants.tables import OrganisationKey

    require_transaction(ctx)
    check_may_write(ctx, bureau_id=bureau_id, organisation_id=organisation_id)
    if await OrganisationKey.exists().where(OrganisationKey.organisation == organisation_id):
        raise Conflict(code="data_key_exists")
    chosen = provider or current_key_provider()
    context = _context(organisation_id)

    def wrap() -> tuple[bytes, str]:
        return chosen.wrap(secrets.token_bytes(KEY_BYTES), context=context), chosen.key_id

    wrapped, key_id = await _off_loop(chosen, wrap)
    await OrganisationKey(
        organisation=organisation_id,
        bureau=bureau_id,
        key_id=key_id,
        wrapped_key=base64.b64encode(wrapped).decode(),
    ).save()


async def data_key(
    ctx: TenantContext, *, organisation_id: UUID, provider: KeyProvider | None = None
) -> bytes:
    """The organisation's data key, unwrapped. `NotFound` when the organisation has none (it
    was destroyed, or the organisation is not the context's)."""
    from tenants.tables import OrganisationKey

    require_transaction(ctx)
    query = scoped(
        OrganisationKey.select(OrganisationKey.key_id, OrganisationKey.wrapped_key),
        OrganisationKey,
        ctx,
    )
    row = await query.where(OrganisationKey.organisation == organisation_id).first()
    if row is None:
        raise NotFound()
    chosen = provider or current_key_provider()
    wrapped = base64.b64decode(row["wrapped_key"])
    return await _off_loop(
        chosen,
        lambda: chosen.unwrap(wrapped, context=_context(organisation_id), key_id=row["key_id"]),
    )


async def destroy_data_key(ctx: TenantContext, *, organisation_id: UUID) -> bool:
    """Delete the organisation's wrapped data key for good; whether there was one. Not
    audited on its own: the caller's event (`organisation.deleted`) covers it."""
    from tenants.tables import OrganisationKey

    require_transaction(ctx)
    where = OrganisationKey.organisation == organisation_id
    existed = await scoped(OrganisationKey.exists(), OrganisationKey, ctx).where(where)
    if existed:
        await scoped(OrganisationKey.delete(), OrganisationKey, ctx).where(where)
    return bool(existed)


# --- rotating the key-encryption key ------------------------------------------------------


@dataclass(frozen=True)
class Rotation:
    key_id: str  # the KEK every data key is wrapped with now (no secret)
    rewrapped: int
    already_current: int
    unreadable: int  # wrapped under a KEK neither provider has: still pending


async def rotate_kek(
    provider: KeyProvider | None = None,
    *,
    new_local_kek: bool = True,
    previous: KeyProvider | None = None,
    batch_size: int = 100,
) -> Rotation:
    """Re-wrap every data key that is not wrapped with the provider's current KEK.

    The data keys themselves do not change, so nothing sealed under them is re-encrypted:
    only the small wrapped keys are rewritten, `batch_size` at a time, each batch in its own
    system transaction. A row is only updated if it still has the key id it was read with.
    Running it again, or after a crash midway, re-wraps only what is left (ends in the same
    state); `unreadable` counts rows no KEK at hand opens, which stay as they are.

    Local provider: `new_local_kek` first makes a new current KEK (`LocalKeyProvider.rotate`;
    the old ones stay in the ring, see `retire_old_keks`); False only finishes a rotation.
    KMS: the operator points KLANKBORD_KMS_KEY_ID at the new key first; rows wrapped under
    any other key are re-wrapped to it. AWS's automatic rotation of a KMS key needs no re-wrap
    (the key's ARN stays, KMS keeps its older backing keys for Decrypt), so this is only for
    moving to another KMS key. `previous`: a second provider to unwrap with (the local one when
    moving from local keys to KMS).
    """
    from tenants.tables import OrganisationKey

    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    chosen = provider or current_key_provider()
    if new_local_kek and isinstance(chosen, LocalKeyProvider):
        chosen.rotate()
    current = await _off_loop(chosen, lambda: chosen.key_id)
    ctx = system_context("keys-rotate")
    async with tenant_transaction(ctx):
        already = await scoped(OrganisationKey.count(), OrganisationKey, ctx).where(
            OrganisationKey.key_id == current
        )
    rewrapped = unreadable = 0
    last: UUID | None = None
    while True:
        async with tenant_transaction(ctx):
            query = scoped(
                OrganisationKey.select(
                    OrganisationKey.id,
                    OrganisationKey.organisation,
                    OrganisationKey.key_id,
                    OrganisationKey.wrapped_key,
                ),
                OrganisationKey,
                ctx,
            ).where(OrganisationKey.key_id != current)
            if last is not None:
                query = query.where(OrganisationKey.id > last)
            rows = await query.order_by(OrganisationKey.id).limit(batch_size)
            for row in rows:
                last = row["id"]
                try:
                    wrapped = await _off_loop(chosen, partial(_rewrap, chosen, previous, row))
                except KeyMaterialInvalid:
                    unreadable += 1
                    continue
                # Only if nobody re-wrapped it meanwhile (another rotation running at once).
                updated = (
                    await OrganisationKey.update(
                        {OrganisationKey.key_id: current, OrganisationKey.wrapped_key: wrapped}
                    )
                    .where(
                        (OrganisationKey.id == row["id"])
                        & (OrganisationKey.key_id == row["key_id"])
                    )
                    .returning(OrganisationKey.id)
                )
                rewrapped += len(updated)
        if len(rows) < batch_size:
            return Rotation(current, rewrapped, already, unreadable)


def _rewrap(provider: KeyProvider, previous: KeyProvider | None, row: dict[str, Any]) -> str:
    context = _context(row["organisation"])
    wrapped = base64.b64decode(row["wrapped_key"])
    try:
        key = provider.unwrap(wrapped, context=context, key_id=row["key_id"])
    except KeyMaterialInvalid:
        if previous is None:
            raise
        key = previous.unwrap(wrapped, context=context, key_id=row["key_id"])
    rewrapped = provider.wrap(key, context=context)
    if provider.unwrap(rewrapped, context=context) != key:  # never store what doesn't open
        raise KeyMaterialInvalid()
    return base64.b64encode(rewrapped).decode()


async def retire_old_keks(provider: KeyProvider | None = None) -> int:
    """Delete the local ring's old KEKs once no data key in the database needs them; how many
    (0 for KMS: its keys are retired in KMS, by scheduling their deletion). Raises `Conflict`
    while some row is still wrapped under another KEK. Backups of the database made before
    the rotation still need the old KEKs: keep a copy of them as long as those backups."""
    from tenants.tables import OrganisationKey

    chosen = provider or current_key_provider()
    if not isinstance(chosen, LocalKeyProvider):
        return 0
    ctx = system_context("keys-retire")
    async with tenant_transaction(ctx):
        pending = await scoped(OrganisationKey.exists(), OrganisationKey, ctx).where(
            OrganisationKey.key_id != chosen.key_id
        )
    if pending:
        raise Conflict(code="keys_not_all_rewrapped")
    return chosen.retire()
