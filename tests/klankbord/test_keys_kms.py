"""Data keys wrapped by AWS KMS (moto's server), the local key ring, and rotating the
key-encryption key: re-wrapped rows, unchanged data keys, resumable after a failure."""

from __future__ import annotations

import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from klankbord import keys
from klankbord.errors import Conflict
from klankbord.keys import KeyMaterialInvalid, KmsKeyProvider, LocalKeyProvider
from klankbord.settings import Settings
from klankbord.tenancy import system_context, tenant_transaction
from tenants.tables import OrganisationKey
from tests.support.moto import CREDENTIALS, REGION

DATA_KEY = bytes(range(32))


def kms_provider(moto: Any, key_id: str | None = None) -> KmsKeyProvider:
    client = moto.client("kms")
    return KmsKeyProvider(client, key_id or client.create_key()["KeyMetadata"]["KeyId"])


@pytest.fixture
def session_ring(tmp_path: Path) -> LocalKeyProvider:
    """A copy of the session's KEK folder: rotations here leave the session's key alone."""
    session = keys.current_key_provider()
    assert isinstance(session, LocalKeyProvider)
    session.key_id  # noqa: B018 (creates the file if no test did yet)
    shutil.copytree(session.path.parent, tmp_path / "keys")
    return LocalKeyProvider(tmp_path / "keys" / session.path.name)


@pytest.fixture
def provider_in_use() -> Iterator[None]:
    """Whatever a test makes the process's provider is put back afterwards."""
    previous = keys.current_key_provider()
    yield
    keys.use_key_provider(previous)


async def all_rows() -> dict[UUID, dict[str, Any]]:
    async with tenant_transaction(system_context("test")):
        rows = await OrganisationKey.select()
    return {row["organisation"]: row for row in rows}


async def unwrapped(provider: keys.KeyProvider) -> dict[UUID, bytes]:
    """Every organisation's data key, opened through `data_key` with `provider`."""
    ctx = system_context("test")
    async with tenant_transaction(ctx):
        return {
            organisation: await keys.data_key(ctx, organisation_id=organisation, provider=provider)
            for organisation in await all_rows()
        }


# --- the KMS provider ---------------------------------------------------------------------


def test_kms_provider_wrap_unwrap_round_trip(moto):
    provider = kms_provider(moto)
    context = str(uuid4())

    wrapped = provider.wrap(DATA_KEY, context=context)

    assert DATA_KEY not in wrapped
    assert provider.unwrap(wrapped, context=context) == DATA_KEY
    assert provider.unwrap(wrapped, context=context, key_id=provider.key_id) == DATA_KEY
    assert provider.key_id.startswith(f"arn:aws:kms:{REGION}:")


def test_kms_provider_wrong_context_or_key_refused(moto):
    provider = kms_provider(moto)
    wrapped = provider.wrap(DATA_KEY, context="organisation-1")

    with pytest.raises(KeyMaterialInvalid) as refused:
        provider.unwrap(wrapped, context="organisation-2")
    assert str(refused.value) == "" and refused.value.__cause__ is None
    other = kms_provider(moto)
    with pytest.raises(KeyMaterialInvalid):
        provider.unwrap(wrapped, context="organisation-1", key_id=other.key_id)
    with pytest.raises(KeyMaterialInvalid):
        provider.unwrap(wrapped, context="organisation-1", key_id="local:0123456789abcdef")
    with pytest.raises(KeyMaterialInvalid):
        KmsKeyProvider(moto.client("kms"), "alias/missing").wrap(DATA_KEY, context="c")


def test_kms_provider_alias_key_id_is_arn(moto):
    client = moto.client("kms")
    metadata = client.create_key()["KeyMetadata"]
    client.create_alias(AliasName="alias/klankbord", TargetKeyId=metadata["KeyId"])

    provider = KmsKeyProvider(client, "alias/klankbord")

    assert provider.key_id == metadata["Arn"]
    assert "alias/klankbord" in repr(provider)


def test_key_provider_from_settings_kms(moto, monkeypatch):
    # Credentials come from the standard AWS environment, never from Klankbord's settings.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS["aws_secret_access_key"])
    key = moto.client("kms").create_key()["KeyMetadata"]
    settings = Settings(
        environment="test",
        key_provider="kms",
        kms_key_id=key["KeyId"],
        aws_region=REGION,
        aws_endpoint_url=moto.endpoint_url,
    )

    provider = keys.key_provider(settings)

    assert isinstance(provider, KmsKeyProvider)
    assert provider.key_id == key["Arn"]


async def test_data_key_kms_provider_created_and_unwrapped(moto, world, rollback, provider_in_use):
    provider = kms_provider(moto)
    keys.use_key_provider(provider)
    organisation_id, bureau_id = world.organisations["A1"], world.bureaus["A"]
    ctx = system_context("test")
    async with tenant_transaction(ctx):
        await keys.destroy_data_key(ctx, organisation_id=organisation_id)
        await keys.create_data_key(ctx, organisation_id=organisation_id, bureau_id=bureau_id)

    admin = world.ctx("admin_A")
    async with tenant_transaction(admin):
        key = await keys.data_key(admin, organisation_id=organisation_id)
    row = (await all_rows())[organisation_id]
    assert len(key) == 32 and row["key_id"] == provider.key_id
    sealed = keys.seal(key, b"melding", context=str(organisation_id))
    assert keys.open_sealed(key, sealed, context=str(organisation_id)) == b"melding"

    # The wrapped key moved to the sibling organisation does not open there.
    async with tenant_transaction(ctx):
        await OrganisationKey.update(
            {OrganisationKey.key_id: row["key_id"], OrganisationKey.wrapped_key: row["wrapped_key"]}
        ).where(OrganisationKey.organisation == world.organisations["A2"])
    with pytest.raises(KeyMaterialInvalid):
        async with tenant_transaction(admin):
            await keys.data_key(admin, organisation_id=world.organisations["A2"])


# --- the local key ring -------------------------------------------------------------------


def test_local_provider_rotate_keeps_old_kek_in_ring(tmp_path: Path):
    path = tmp_path / "keys" / "kek-local.key"
    provider = LocalKeyProvider(path)
    old_id = provider.key_id
    wrapped = provider.wrap(DATA_KEY, context="c")

    new_id = provider.rotate()

    assert new_id != old_id and provider.key_id == new_id
    fresh = LocalKeyProvider(path)  # another process, started after the rotation
    assert fresh.key_id == new_id
    assert fresh.unwrap(wrapped, context="c", key_id=old_id) == DATA_KEY
    with pytest.raises(KeyMaterialInvalid):
        fresh.unwrap(wrapped, context="c")  # the current KEK is the new one
    with pytest.raises(KeyMaterialInvalid):
        fresh.unwrap(wrapped, context="c", key_id="local:../../etc/x")
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == sorted(["kek-local.key", f"kek-{old_id[6:]}.key", f"kek-{new_id[6:]}.key"])
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in path.parent.iterdir())


def test_local_provider_started_before_rotation_reads_new_keys(tmp_path: Path):
    path = tmp_path / "kek-local.key"
    running = LocalKeyProvider(path)
    old_id = running.key_id
    rotating = LocalKeyProvider(path)
    new_id = rotating.rotate()

    wrapped = rotating.wrap(DATA_KEY, context="c")

    assert running.key_id == old_id  # it keeps wrapping with the KEK it started with
    assert running.unwrap(wrapped, context="c", key_id=new_id) == DATA_KEY


# --- rotation -----------------------------------------------------------------------------


async def test_rotate_kek_local_rewraps_rows_data_keys_unchanged(
    world, rollback, session_ring, provider_in_use
):
    before_rows = await all_rows()
    before_keys = await unwrapped(session_ring)
    organisation_id = world.organisations["A1"]
    sealed = keys.seal(before_keys[organisation_id], b"melding", context=str(organisation_id))
    old_id = session_ring.key_id

    rotation = await keys.rotate_kek(session_ring, batch_size=3)

    after_rows = await all_rows()
    assert rotation.key_id == session_ring.key_id != old_id
    assert (rotation.rewrapped, rotation.already_current, rotation.unreadable) == (
        len(before_rows),
        0,
        0,
    )
    assert {row["key_id"] for row in after_rows.values()} == {rotation.key_id}
    assert all(after_rows[o]["wrapped_key"] != before_rows[o]["wrapped_key"] for o in before_rows)
    keys.use_key_provider(LocalKeyProvider(session_ring.path))  # as after a restart
    after_keys = await unwrapped(keys.current_key_provider())
    assert after_keys == before_keys
    assert keys.open_sealed(after_keys[organisation_id], sealed, context=str(organisation_id))

    again = await keys.rotate_kek(session_ring, new_local_kek=False)
    assert (again.rewrapped, again.already_current) == (0, len(before_rows))
    assert await all_rows() == after_rows


async def test_retire_old_keks_only_when_asked_and_all_rewrapped(world, rollback, session_ring):
    folder = session_ring.path.parent
    old_id = session_ring.key_id
    session_ring.rotate()
    old_file = folder / f"kek-{old_id[6:]}.key"

    with pytest.raises(Conflict):  # rows are still wrapped under the old KEK
        await keys.retire_old_keks(session_ring)
    await keys.rotate_kek(session_ring, new_local_kek=False)
    assert old_file.exists()  # rotating alone deletes nothing

    assert await keys.retire_old_keks(session_ring) == 1

    assert not old_file.exists()
    assert (folder / "kek-local.key").exists()
    assert await unwrapped(LocalKeyProvider(session_ring.path)) == await unwrapped(session_ring)


async def test_rotate_kek_local_to_kms_then_new_kms_key(moto, world, rollback, session_ring):
    before_keys = await unwrapped(session_ring)
    first, second = kms_provider(moto), kms_provider(moto)

    moved = await keys.rotate_kek(first, previous=session_ring)
    rotated = await keys.rotate_kek(second)

    assert moved.rewrapped == len(before_keys) and moved.unreadable == 0
    assert (rotated.rewrapped, rotated.already_current) == (len(before_keys), 0)
    rows = await all_rows()
    assert {row["key_id"] for row in rows.values()} == {second.key_id}
    assert await unwrapped(second) == before_keys
    assert (await keys.rotate_kek(second)).rewrapped == 0
    assert await keys.retire_old_keks(second) == 0  # KMS keys are retired in KMS


async def test_rotate_kek_kms_foreign_rows_unreadable_left_alone(moto, world, rollback):
    rows = await all_rows()

    rotation = await keys.rotate_kek(kms_provider(moto))

    assert (rotation.rewrapped, rotation.unreadable) == (0, len(rows))
    assert await all_rows() == rows


class FailsOnce:
    """Wraps like `inner`, but the `fail_at`-th wrap raises (a crash mid-rotation)."""

    def __init__(self, inner: LocalKeyProvider, fail_at: int) -> None:
        self.inner, self.fail_at, self.wraps = inner, fail_at, 0

    @property
    def key_id(self) -> str:
        return self.inner.key_id

    def wrap(self, data_key: bytes, *, context: str) -> bytes:
        self.wraps += 1
        if self.wraps == self.fail_at:
            raise RuntimeError("crash")
        return self.inner.wrap(data_key, context=context)

    def unwrap(self, wrapped: bytes, *, context: str, key_id: str | None = None) -> bytes:
        return self.inner.unwrap(wrapped, context=context, key_id=key_id)


async def test_rotate_kek_failure_midway_resumes_to_same_state(world, rollback, session_ring):
    before_keys = await unwrapped(session_ring)
    total = len(before_keys)
    assert total >= 3
    new_id = session_ring.rotate()

    with pytest.raises(RuntimeError):
        await keys.rotate_kek(FailsOnce(session_ring, fail_at=3), new_local_kek=False, batch_size=2)

    halfway = await all_rows()
    assert sum(row["key_id"] == new_id for row in halfway.values()) == 2  # the first batch
    resumed = await keys.rotate_kek(session_ring, new_local_kek=False, batch_size=2)
    assert (resumed.rewrapped, resumed.already_current) == (total - 2, 2)
    assert {row["key_id"] for row in (await all_rows()).values()} == {new_id}
    assert await unwrapped(LocalKeyProvider(session_ring.path)) == before_keys


def test_local_provider_retire_after_rotation_elsewhere_refused(tmp_path: Path):
    path = tmp_path / "kek-local.key"
    stale = LocalKeyProvider(path)
    stale.rotate()
    newer = LocalKeyProvider(path).rotate()  # another process rotated once more

    with pytest.raises(Conflict):
        stale.retire()
    assert (tmp_path / f"kek-{newer[6:]}.key").exists()
