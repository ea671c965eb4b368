"""Per-organisation data keys: the local key-encryption key file, wrapping, sealing, and the
keys stored per organisation (created with it, read in its tenant only, destroyed for good)."""

from __future__ import annotations

import base64
import stat
import threading
from pathlib import Path
from uuid import uuid4

import pytest

from klankbord import keys
from klankbord.errors import Conflict, NotFound
from klankbord.keys import KeyMaterialInvalid, LocalKeyProvider
from klankbord.settings import Settings
from klankbord.tenancy import system_context, tenant_transaction
from tenants.tables import OrganisationKey

DATA_KEY = bytes(range(32))


def test_local_provider_wrap_unwrap_round_trip(tmp_path: Path):
    provider = LocalKeyProvider(tmp_path / "kek.key")
    context = str(uuid4())

    wrapped = provider.wrap(DATA_KEY, context=context)

    assert DATA_KEY not in wrapped
    assert provider.unwrap(wrapped, context=context) == DATA_KEY
    assert provider.wrap(DATA_KEY, context=context) != wrapped  # a fresh nonce each time


def test_local_provider_wrong_context_refused(tmp_path: Path):
    provider = LocalKeyProvider(tmp_path / "kek.key")
    wrapped = provider.wrap(DATA_KEY, context=str(uuid4()))

    with pytest.raises(KeyMaterialInvalid):
        provider.unwrap(wrapped, context=str(uuid4()))


def test_local_provider_tampered_or_foreign_kek_refused(tmp_path: Path):
    provider = LocalKeyProvider(tmp_path / "kek.key")
    wrapped = bytearray(provider.wrap(DATA_KEY, context="c"))
    wrapped[-1] ^= 1
    with pytest.raises(KeyMaterialInvalid):
        provider.unwrap(bytes(wrapped), context="c")

    other = LocalKeyProvider(tmp_path / "other.key")
    with pytest.raises(KeyMaterialInvalid):
        other.unwrap(provider.wrap(DATA_KEY, context="c"), context="c")
    assert other.key_id != provider.key_id


def test_local_provider_key_file_created_mode_0600(tmp_path: Path):
    path = tmp_path / "keys" / "kek-local.key"
    assert not path.exists()

    provider = LocalKeyProvider(path)
    provider.wrap(DATA_KEY, context="c")

    assert path.stat().st_size == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["kek-local.key"]  # no temporary left
    assert str(path) in repr(provider) and path.read_bytes().hex() not in repr(provider)


def test_local_provider_second_instance_reads_same_kek(tmp_path: Path):
    path = tmp_path / "kek.key"
    first = LocalKeyProvider(path)
    wrapped = first.wrap(DATA_KEY, context="c")
    before = path.read_bytes()

    second = LocalKeyProvider(path)

    assert second.unwrap(wrapped, context="c") == DATA_KEY
    assert second.key_id == first.key_id and second.key_id.startswith("local:")
    assert path.read_bytes() == before  # never rewritten


def test_local_provider_concurrent_first_use_one_kek(tmp_path: Path):
    path = tmp_path / "kek.key"
    providers = [LocalKeyProvider(path) for _ in range(8)]
    ids: list[str] = []
    threads = [threading.Thread(target=lambda p=p: ids.append(p.key_id)) for p in providers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(ids)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["kek.key"]


def test_local_provider_short_key_file_refused_not_overwritten(tmp_path: Path):
    path = tmp_path / "kek.key"
    path.write_bytes(b"short")

    with pytest.raises(KeyMaterialInvalid):
        LocalKeyProvider(path).wrap(DATA_KEY, context="c")
    assert path.read_bytes() == b"short"


def test_key_provider_from_settings_lives_in_data_dir(tmp_path: Path):
    provider = keys.key_provider(Settings(environment="test", data_dir=tmp_path))

    assert isinstance(provider, LocalKeyProvider)
    assert provider.path == tmp_path / "keys" / "kek-local.key"


def test_seal_open_round_trip_wrong_key_or_context_refused():
    sealed = keys.seal(DATA_KEY, b"Mijn leidinggevende intimideert mij.", context="org:case")

    assert b"leidinggevende" not in sealed
    assert keys.open_sealed(DATA_KEY, sealed, context="org:case") == (
        b"Mijn leidinggevende intimideert mij."
    )
    with pytest.raises(KeyMaterialInvalid):
        keys.open_sealed(DATA_KEY, sealed, context="org:other-case")
    with pytest.raises(KeyMaterialInvalid):
        keys.open_sealed(bytes(32), sealed, context="org:case")
    with pytest.raises(ValueError):
        keys.seal(b"too short", b"x", context="c")


# --- keys in the database -----------------------------------------------------------------


async def test_create_organisation_stores_wrapped_data_key(world, rollback):
    ctx = world.ctx("admin_A")
    organisation_id = world.organisations["A1"]
    async with tenant_transaction(ctx):
        key = await keys.data_key(ctx, organisation_id=organisation_id)
        row = (
            await OrganisationKey.select()
            .where(OrganisationKey.organisation == organisation_id)
            .first()
        )

    assert len(key) == 32
    assert row is not None and row["bureau"] == world.bureaus["A"]
    assert row["key_id"] == keys.current_key_provider().key_id
    assert key not in base64.b64decode(row["wrapped_key"])
    async with tenant_transaction(ctx):
        other = await keys.data_key(ctx, organisation_id=world.organisations["A2"])
    assert other != key  # one key per organisation


async def test_data_key_counsellor_own_organisation_only(world, rollback):
    counsellor = world.ctx("counsellor_A1")
    async with tenant_transaction(counsellor):
        assert len(await keys.data_key(counsellor, organisation_id=world.organisations["A1"])) == 32
    for foreign in ("A2", "B1"):
        with pytest.raises(NotFound):
            async with tenant_transaction(counsellor):
                await keys.data_key(counsellor, organisation_id=world.organisations[foreign])


async def test_data_key_admin_of_other_bureau_not_found(world, rollback):
    ctx = world.ctx("admin_B")
    with pytest.raises(NotFound):
        async with tenant_transaction(ctx):
            await keys.data_key(ctx, organisation_id=world.organisations["A1"])
    with pytest.raises(NotFound):
        async with tenant_transaction(ctx):
            await keys.data_key(ctx, organisation_id=uuid4())


async def test_create_data_key_second_time_conflict(world, rollback):
    ctx = system_context("test")
    with pytest.raises(Conflict):
        async with tenant_transaction(ctx):
            await keys.create_data_key(
                ctx, organisation_id=world.organisations["A1"], bureau_id=world.bureaus["A"]
            )


async def test_create_data_key_other_bureau_refused(world, rollback):
    ctx = world.ctx("admin_B")
    with pytest.raises(NotFound):
        async with tenant_transaction(ctx):
            await keys.create_data_key(
                ctx, organisation_id=world.organisations["A1"], bureau_id=world.bureaus["A"]
            )


async def test_destroy_data_key_sealed_content_unreadable(world, rollback):
    ctx = world.ctx("admin_A")
    organisation_id = world.organisations["A1"]
    async with tenant_transaction(ctx):
        key = await keys.data_key(ctx, organisation_id=organisation_id)
    sealed = keys.seal(key, b"report text", context=str(organisation_id))

    async with tenant_transaction(ctx):
        assert await keys.destroy_data_key(ctx, organisation_id=organisation_id) is True
        assert await keys.destroy_data_key(ctx, organisation_id=organisation_id) is False

    with pytest.raises(NotFound):
        async with tenant_transaction(ctx):
            await keys.data_key(ctx, organisation_id=organisation_id)
    async with tenant_transaction(system_context("test")):
        assert not await OrganisationKey.exists().where(
            OrganisationKey.organisation == organisation_id
        )
    assert sealed  # nothing left in the database can open it
    async with tenant_transaction(ctx):  # the sibling organisation keeps its key
        assert await keys.data_key(ctx, organisation_id=world.organisations["A2"])


async def test_destroy_data_key_other_bureau_nothing_destroyed(world, rollback):
    ctx = world.ctx("admin_B")
    async with tenant_transaction(ctx):
        destroyed = await keys.destroy_data_key(ctx, organisation_id=world.organisations["A1"])
    assert destroyed is False
    admin = world.ctx("admin_A")
    async with tenant_transaction(admin):
        assert await keys.data_key(admin, organisation_id=world.organisations["A1"])
