"""Per-organisation data keys (envelope encryption).

Every organisation gets a random 256-bit data key when it is created. Its content (report
text, identity fields, messages, attachments) is sealed with that key (`seal`/`open_sealed`,
AES-256-GCM). The data key itself is stored only wrapped, in `OrganisationKey`, by the
key-encryption key (KEK) of a `KeyProvider`; the organisation id is the authenticated context
of both, so a wrapped key or a sealed value copied to another organisation does not open.
Destroying the wrapped key at offboarding makes every copy of the organisation's sealed content
unreadable, backups included.

Providers (`klankbord.key_providers`; chosen in `key_provider(settings)`, the only place):
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
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from klankbord.errors import Conflict, NotFound
from klankbord.key_providers import (
    KEY_BYTES,
    LOCAL_KEK_FILE,
    KeyMaterialInvalid,
    KeyProvider,
    KmsKeyProvider,
    LocalKeyProvider,
    kms_client,
    open_sealed,
    seal,
)
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

__all__ = [
    "KeyMaterialInvalid",
    "KeyProvider",
    "KmsKeyProvider",
    "LocalKeyProvider",
    "Rotation",
    "create_data_key",
    "current_key_provider",
    "data_key",
    "destroy_data_key",
    "key_provider",
    "open_sealed",
    "retire_old_keks",
    "rotate_kek",
    "seal",
    "use_key_provider",
]

T = TypeVar("T")


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
