"""Per-organisation data keys (envelope encryption).

Every organisation gets a random 256-bit data key when it is created. Its content (report
text, identity fields, messages, attachments) is sealed with that key (`seal`/`open_sealed`,
AES-256-GCM). The data key itself is stored only wrapped, in `OrganisationKey`, by the
key-encryption key (KEK) of a `KeyProvider`; the organisation id is the authenticated context
of both, so a wrapped key or a sealed value copied to another organisation does not open.
Destroying the wrapped key at offboarding makes every copy of the organisation's sealed content
unreadable, backups included.

Providers: `LocalKeyProvider` keeps the KEK in a file under the data dir (the embedded
default). AWS KMS arrives with the reporter-intake issue: one more class with the same three
members, chosen in `key_provider(settings)`, the only place that decides. The process's
provider is set once (`use_key_provider`, at start-up); without that, the first use takes the
one the environment's settings describe.

Key material is never logged, never put in an exception message, never audited.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from klankbord.errors import Conflict, NotFound
from klankbord.tenancy import TenantContext, check_may_write, require_transaction, scoped

if TYPE_CHECKING:
    from klankbord.settings import Settings

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

    def unwrap(self, wrapped: bytes, *, context: str) -> bytes: ...


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


class LocalKeyProvider:
    """The KEK in a file (32 random bytes, mode 0600), created on first use.

    Creation is race-free: the key is written to a private temporary file that is then
    hard-linked to its final name, which fails if another process got there first (that
    process's key is then used). A file of the wrong size is refused, never overwritten.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._kek: bytes | None = None

    def __repr__(self) -> str:
        return f"LocalKeyProvider({str(self.path)!r})"

    def _load(self) -> bytes:
        if self._kek is None:
            if not self.path.exists():
                self._create()
            kek = self.path.read_bytes()
            if len(kek) != KEY_BYTES:
                raise KeyMaterialInvalid()
            self._kek = kek
        return self._kek

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(secrets.token_bytes(KEY_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
            # FileExistsError: another process created it first; theirs is used.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)

    @property
    def key_id(self) -> str:
        fingerprint = hashlib.sha256(b"klankbord kek id\x00" + self._load()).hexdigest()
        return f"local:{fingerprint[:16]}"

    def wrap(self, data_key: bytes, *, context: str) -> bytes:
        return _encrypt(self._load(), WRAP_VERSION, data_key, context)

    def unwrap(self, wrapped: bytes, *, context: str) -> bytes:
        return _decrypt(self._load(), WRAP_VERSION, wrapped, context)


# --- which provider -----------------------------------------------------------------------


def key_provider(settings: Settings) -> KeyProvider:
    """The provider `settings` describe: the one place that chooses (KMS goes here)."""
    return LocalKeyProvider(settings.data_dir / "keys" / LOCAL_KEK_FILE)


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
    provider = provider or current_key_provider()
    wrapped = provider.wrap(secrets.token_bytes(KEY_BYTES), context=_context(organisation_id))
    await OrganisationKey(
        organisation=organisation_id,
        bureau=bureau_id,
        key_id=provider.key_id,
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
    provider = provider or current_key_provider()
    if row["key_id"] != provider.key_id:
        raise KeyMaterialInvalid()  # wrapped by another KEK than this process has
    wrapped = base64.b64decode(row["wrapped_key"])
    return provider.unwrap(wrapped, context=_context(organisation_id))


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
