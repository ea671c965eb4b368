"""Blob stores, local and S3 (moto's server): streamed round trips, the size limit leaving
nothing behind, multipart uploads one part at a time, per-organisation deletion, and keys that
can never name a path of someone else's choosing."""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from klankbord import storage
from klankbord.errors import ConfigurationError
from klankbord.settings import Settings
from klankbord.storage import PART_BYTES, BlobNotFound, LocalBlobStore, S3BlobStore, TooLarge
from tests.support.moto import CREDENTIALS

MB = 1024 * 1024
LIMIT = 25 * MB
BUCKET = "klankbord-attachments"


class Source:
    """Bytes generated on the fly (never held whole), counting what has been handed out."""

    def __init__(self, total: int, chunk: int = 256 * 1024) -> None:
        self.total, self.chunk, self.yielded = total, chunk, 0

    def pattern(self, start: int, size: int) -> bytes:
        return bytes((start + i) % 251 for i in range(size))

    async def chunks(self) -> AsyncIterator[bytes]:
        while self.yielded < self.total:
            size = min(self.chunk, self.total - self.yielded)
            piece = self.pattern(self.yielded, size)
            self.yielded += size
            yield piece


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _read(store: Any, key: str) -> bytes:
    return b"".join([chunk async for chunk in await store.get(key)])


@pytest.fixture
def local(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "files")


@pytest.fixture
def s3(moto: Any) -> S3BlobStore:
    client = moto.client("s3")
    client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    return S3BlobStore(client, BUCKET)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _left_in_bucket(store: S3BlobStore) -> tuple[list[Any], list[Any]]:
    objects = store.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    uploads = store.client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    return objects, uploads


# --- both stores ------------------------------------------------------------------------------


async def test_store_round_trip_equal(store):
    key = storage.blob_key(uuid4(), uuid4())
    assert await store.put(key, _one(b"sealed bytes"), max_bytes=LIMIT) == 12
    assert await _read(store, key) == b"sealed bytes"
    await store.delete(key)
    with pytest.raises(BlobNotFound):
        await store.get(key)
    await store.delete(key)  # already gone: no error


async def test_store_missing_key_not_found(store):
    with pytest.raises(BlobNotFound):
        await store.get(storage.blob_key(uuid4(), uuid4()))


async def test_store_delete_prefix_only_that_organisation(store):
    mine, theirs = uuid4(), uuid4()
    keys = [storage.blob_key(mine, uuid4()) for _ in range(3)]
    other = storage.blob_key(theirs, uuid4())
    for key in [*keys, other]:
        await store.put(key, _one(b"x"), max_bytes=LIMIT)
    assert await store.delete_prefix(storage.organisation_prefix(mine)) == 3
    for key in keys:
        with pytest.raises(BlobNotFound):
            await store.get(key)
    assert await _read(store, other) == b"x"
    assert await store.delete_prefix(storage.organisation_prefix(mine)) == 0


@pytest.mark.parametrize(
    "key",
    [
        "../etc/passwd",
        "/etc/passwd",
        "organisations/../../etc/passwd",
        f"organisations/{uuid4()}/../{uuid4()}",
        f"/organisations/{uuid4()}/{uuid4()}",
        f"organisations/{uuid4()}/{uuid4()}/extra",
        f"organisations/{uuid4()}/report.pdf",
        f"organisations/{str(uuid4()).upper()}/{uuid4()}",
        "",
    ],
)
async def test_store_key_not_made_by_blob_key_refused(store, key: str):
    with pytest.raises(ValueError):
        await store.put(key, _one(b"x"), max_bytes=LIMIT)
    with pytest.raises(ValueError):
        await store.get(key)
    with pytest.raises(ValueError):
        await store.delete(key)


@pytest.mark.parametrize("prefix", ["", "organisations/", "../", f"organisations/{uuid4()}"])
async def test_store_delete_prefix_not_an_organisation_refused(store, prefix: str):
    with pytest.raises(ValueError):
        await store.delete_prefix(prefix)


# --- the limit --------------------------------------------------------------------------------


async def test_local_store_over_limit_refused_nothing_left(local: LocalBlobStore):
    source = Source(LIMIT + 1)
    with pytest.raises(TooLarge):
        await local.put(storage.blob_key(uuid4(), uuid4()), source.chunks(), max_bytes=LIMIT)
    assert _files(local.root) == []


async def test_local_store_exactly_at_limit_kept(local: LocalBlobStore):
    key = storage.blob_key(uuid4(), uuid4())
    assert await local.put(key, Source(LIMIT).chunks(), max_bytes=LIMIT) == LIMIT
    [path] = _files(local.root)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.relative_to(local.root).parts == tuple(key.split("/"))


async def test_s3_store_over_limit_refused_nothing_left(s3: S3BlobStore):
    source = Source(LIMIT + 1)
    with pytest.raises(TooLarge):
        await s3.put(storage.blob_key(uuid4(), uuid4()), source.chunks(), max_bytes=LIMIT)
    assert source.yielded == LIMIT + 1  # the multipart upload had begun before the limit
    assert _left_in_bucket(s3) == ([], [])


async def test_s3_store_failing_source_aborts_upload(s3: S3BlobStore):
    async def broken() -> AsyncIterator[bytes]:
        async for chunk in Source(2 * PART_BYTES).chunks():
            yield chunk
        raise ConnectionResetError("the reporter went away")

    with pytest.raises(ConnectionResetError):
        await s3.put(storage.blob_key(uuid4(), uuid4()), broken(), max_bytes=LIMIT)
    assert _left_in_bucket(s3) == ([], [])


# --- S3 specifics -----------------------------------------------------------------------------


class CountingClient:
    """The real boto3 client, with each part's size and what the source had handed out by
    then recorded (instrumentation, not a fake)."""

    def __init__(self, client: Any, source: Source) -> None:
        self._client, self.source = client, source
        self.parts: list[tuple[int, int]] = []
        self.uploaded = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def upload_part(self, **kwargs: Any) -> Any:
        size = len(kwargs["Body"])
        self.parts.append((size, self.source.yielded - self.uploaded))
        self.uploaded += size
        return self._client.upload_part(**kwargs)


async def test_s3_store_30mb_multipart_one_part_in_memory(s3: S3BlobStore):
    source = Source(30 * MB)
    counting = CountingClient(s3.client, source)
    store = S3BlobStore(counting, BUCKET)
    key = storage.blob_key(uuid4(), uuid4())

    assert await store.put(key, source.chunks(), max_bytes=50 * MB) == 30 * MB

    sizes = [size for size, _ in counting.parts]
    assert sum(sizes) == 30 * MB and len(sizes) == 6
    assert all(size >= 5 * MB for size in sizes[:-1])
    # Bytes taken from the source but not yet uploaded: never more than a part plus a chunk.
    assert max(pending for _, pending in counting.parts) <= PART_BYTES + source.chunk
    head = s3.client.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] == 30 * MB
    assert head["ServerSideEncryption"] == "AES256"
    offset = 0
    async for chunk in await store.get(key):
        assert chunk == source.pattern(offset, len(chunk))
        offset += len(chunk)
    assert offset == 30 * MB


async def test_s3_store_small_object_single_put_encrypted(s3: S3BlobStore):
    key = storage.blob_key(uuid4(), uuid4())
    await s3.put(key, _one(b"small"), max_bytes=LIMIT)
    head = s3.client.head_object(Bucket=BUCKET, Key=key)
    assert head["ServerSideEncryption"] == "AES256"
    assert _left_in_bucket(s3)[1] == []


async def test_s3_store_kms_encryption_option_used(s3: S3BlobStore, moto: Any):
    kms_key = moto.client("kms").create_key()["KeyMetadata"]["KeyId"]
    store = S3BlobStore(s3.client, BUCKET, server_side_encryption="aws:kms", kms_key_id=kms_key)
    key = storage.blob_key(uuid4(), uuid4())
    await store.put(key, _one(b"small"), max_bytes=LIMIT)
    assert s3.client.head_object(Bucket=BUCKET, Key=key)["ServerSideEncryption"] == "aws:kms"


def test_s3_store_unknown_encryption_refused(s3: S3BlobStore):
    with pytest.raises(ConfigurationError):
        S3BlobStore(s3.client, BUCKET, server_side_encryption="none")


async def test_s3_store_delete_prefix_many_pages(s3: S3BlobStore, monkeypatch):
    monkeypatch.setattr(storage, "DELETE_PAGE", 2)
    mine = uuid4()
    for _ in range(5):
        await s3.put(storage.blob_key(mine, uuid4()), _one(b"x"), max_bytes=LIMIT)
    s3.client.create_multipart_upload(Bucket=BUCKET, Key=storage.blob_key(mine, uuid4()))
    assert await s3.delete_prefix(storage.organisation_prefix(mine)) == 5
    assert _left_in_bucket(s3) == ([], [])


# --- choosing a store -------------------------------------------------------------------------


def test_blob_store_local_under_data_dir(tmp_path: Path):
    settings = dataclasses.replace(Settings(environment="test"), data_dir=tmp_path)
    chosen = storage.blob_store(settings)
    assert isinstance(chosen, LocalBlobStore) and chosen.root == tmp_path / "files"


async def test_blob_store_s3_uses_settings(moto: Any, monkeypatch):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name.upper(), value)
    moto.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    settings = Settings(
        environment="test", blob_store="s3", s3_bucket=BUCKET, aws_endpoint_url=moto.endpoint_url
    )
    chosen = storage.blob_store(settings)
    assert isinstance(chosen, S3BlobStore)
    key = storage.blob_key(uuid4(), uuid4())
    await chosen.put(key, _one(b"through settings"), max_bytes=LIMIT)
    assert await _read(chosen, key) == b"through settings"


@pytest.mark.parametrize("changes", [{"blob_store": "s3"}, {"blob_store": "ftp"}])
def test_blob_store_incomplete_settings_refused(changes: dict[str, str]):
    settings = Settings(environment="test")
    for name, value in changes.items():  # past Settings' own checks: the store checks too
        object.__setattr__(settings, name, value)
    with pytest.raises(ConfigurationError):
        storage.blob_store(settings)


def test_blob_key_from_ids_only():
    organisation, blob = uuid4(), uuid4()
    assert storage.blob_key(organisation, blob) == f"organisations/{organisation}/{blob}"
    assert os.sep not in str(blob)
