"""Where attachment bytes live: a local folder (the embedded default) or a private S3 bucket.

Everything stored here is already ciphertext (`klankbord.streams`); the store only has to
keep it, stream it back, and forget it. Objects are streamed both ways, so a 100 MB report
never sits in memory, and a write over its limit stops at the limit and leaves nothing behind
(no partial file, no unfinished multipart upload still holding the organisation's data).

Keys are made here from ids only (`blob_key`): `organisations/<organisation id>/<blob id>`.
A reporter's file name never reaches a path or an object key, and a key of any other shape is
refused, so path traversal is impossible by construction. One prefix per organisation lets
offboarding delete everything of an organisation at once (`organisation_prefix`).

The bucket is private and reporters download through the app: nothing here makes presigned
URLs. `blob_store(settings)` is the only place that decides which store runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Protocol
from uuid import UUID

from klankbord.errors import ConfigurationError, DomainError, NotFound
from klankbord.settings import Settings

READ_CHUNK = 256 * 1024
TEMP_PREFIX = ".partial-"
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_KEY = re.compile(rf"organisations/{_UUID}/{_UUID}")
_PREFIX = re.compile(rf"organisations/{_UUID}/")


class TooLarge(DomainError):
    """The object went past its limit; nothing of it was kept."""

    code = "too_large"
    status = 413


class BlobNotFound(NotFound):
    """No object under that key (deleted, or never written)."""


def blob_key(organisation_id: UUID, blob_id: UUID) -> str:
    return f"organisations/{UUID(str(organisation_id))}/{UUID(str(blob_id))}"


def organisation_prefix(organisation_id: UUID) -> str:
    return f"organisations/{UUID(str(organisation_id))}/"


def check_key(key: str) -> str:
    """`key` if it is one `blob_key` makes, else ValueError (never a path of someone's)."""
    if not _KEY.fullmatch(key):
        raise ValueError("not a blob key")
    return key


def check_prefix(prefix: str) -> str:
    if not _PREFIX.fullmatch(prefix):
        raise ValueError("not an organisation prefix")
    return prefix


class BlobStore(Protocol):
    async def put(self, key: str, chunks: AsyncIterator[bytes], *, max_bytes: int) -> int:
        """Store the stream under `key`; the bytes written. `TooLarge` past `max_bytes`."""
        ...

    async def get(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes as a stream (`BlobNotFound` raised here, before the first
        chunk, so a response can still be a 404)."""
        ...

    async def delete(self, key: str) -> None:
        """Forget the object; a missing one is not an error."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Forget every object under an organisation's prefix; how many there were."""
        ...


# --- a folder under the data dir ----------------------------------------------------------


class LocalBlobStore:
    """Files under `root` (`<data_dir>/files`), mode 0600. A write goes to a temporary file
    in the same folder, is fsynced and then renamed, so a reader never sees half a file and a
    crash leaves at most a `.partial-` file (removed with the organisation's folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    async def put(self, key: str, chunks: AsyncIterator[bytes], *, max_bytes: int) -> int:
        path = self._path(key)
        await asyncio.to_thread(path.parent.mkdir, mode=0o700, parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)  # mode 0600
        written = 0
        try:
            with os.fdopen(fd, "wb") as file:
                async for chunk in chunks:
                    written += len(chunk)
                    if written > max_bytes:
                        raise TooLarge()
                    await asyncio.to_thread(file.write, chunk)
                await asyncio.to_thread(_sync, file)
            await asyncio.to_thread(os.replace, temp_name, path)
        except BaseException:
            # Synchronously: a cancelled upload must not leave its partial file behind.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        await asyncio.to_thread(_sync_dir, path.parent)
        return written

    async def get(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise BlobNotFound() from None
        return _read_file(file)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def delete_prefix(self, prefix: str) -> int:
        folder = self.root.joinpath(*check_prefix(prefix).rstrip("/").split("/"))
        return await asyncio.to_thread(_remove_folder, folder)


def _sync(file: IO[bytes]) -> None:
    file.flush()
    os.fsync(file.fileno())


def _sync_dir(folder: Path) -> None:
    """Make the rename itself durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_folder(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    count = sum(1 for p in folder.iterdir() if not p.name.startswith(TEMP_PREFIX))
    shutil.rmtree(folder)
    return count


async def _read_file(file: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(file.read, READ_CHUNK):
            yield chunk
    finally:
        file.close()


# --- a private S3 bucket -------------------------------------------------------------------

PART_BYTES = 5 * 1024 * 1024  # S3's minimum for every part but the last
SERVER_SIDE_ENCRYPTION = ("AES256", "aws:kms")
DELETE_PAGE = 1000  # delete_objects takes at most this many keys


class S3BlobStore:
    """Objects in a private bucket through a boto3 S3 client (sync: every call runs in a
    thread). Small objects are one `put_object`; an object that fills a 5 MiB part goes up as
    a multipart upload, one part in memory at a time, aborted on any failure so no unfinished
    upload keeps bytes in the bucket. Server-side encryption is on for every object: AES256
    by default (the content is our ciphertext already), or aws:kms."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        server_side_encryption: str = "AES256",
        kms_key_id: str | None = None,
    ) -> None:
        if server_side_encryption not in SERVER_SIDE_ENCRYPTION:
            raise ConfigurationError("server-side encryption must be AES256 or aws:kms")
        self.client = client
        self.bucket = bucket
        self._sse: dict[str, str] = {"ServerSideEncryption": server_side_encryption}
        if server_side_encryption == "aws:kms" and kms_key_id:
            self._sse["SSEKMSKeyId"] = kms_key_id

    async def _call(self, name: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self.client, name), **kwargs)

    async def put(self, key: str, chunks: AsyncIterator[bytes], *, max_bytes: int) -> int:
        check_key(key)
        buffer = bytearray()
        written = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                written += len(chunk)
                if written > max_bytes:
                    raise TooLarge()
                buffer += chunk
                while len(buffer) >= PART_BYTES:
                    if upload_id is None:
                        started = await self._call(
                            "create_multipart_upload", Bucket=self.bucket, Key=key, **self._sse
                        )
                        upload_id = started["UploadId"]
                    body = bytes(buffer[:PART_BYTES])
                    del buffer[:PART_BYTES]
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, body))
            if upload_id is None:
                body = bytes(buffer)
                await self._call("put_object", Bucket=self.bucket, Key=key, Body=body, **self._sse)
                return written
            if buffer:
                parts.append(await self._upload_part(key, upload_id, len(parts) + 1, bytes(buffer)))
            await self._call(
                "complete_multipart_upload",
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            if upload_id is not None:
                await asyncio.shield(self._abort(key, upload_id))
            raise
        return written

    async def _upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> Any:
        done = await self._call(
            "upload_part",
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
        )
        return {"ETag": done["ETag"], "PartNumber": number}

    async def _abort(self, key: str, upload_id: str) -> None:
        await self._call("abort_multipart_upload", Bucket=self.bucket, Key=key, UploadId=upload_id)

    async def get(self, key: str) -> AsyncIterator[bytes]:
        check_key(key)
        try:
            found = await self._call("get_object", Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey:
            raise BlobNotFound() from None
        return _read_body(found["Body"])

    async def delete(self, key: str) -> None:
        await self._call("delete_object", Bucket=self.bucket, Key=check_key(key))

    async def delete_prefix(self, prefix: str) -> int:
        """Every object under the prefix, page by page; unfinished uploads are aborted too
        (they hold the organisation's bytes as well)."""
        check_prefix(prefix)
        deleted = 0
        token: dict[str, str] = {}
        while True:
            page = await self._call(
                "list_objects_v2", Bucket=self.bucket, Prefix=prefix, MaxKeys=DELETE_PAGE, **token
            )
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:
                done = await self._call(
                    "delete_objects",
                    Bucket=self.bucket,
                    Delete={"Objects": objects, "Quiet": True},
                )
                if done.get("Errors"):
                    raise RuntimeError("S3 refused to delete some objects")
                deleted += len(objects)
            if not page.get("IsTruncated"):
                break
            token = {"ContinuationToken": page["NextContinuationToken"]}
        markers: dict[str, str] = {}
        while True:
            uploads = await self._call(
                "list_multipart_uploads", Bucket=self.bucket, Prefix=prefix, **markers
            )
            for upload in uploads.get("Uploads", []):
                await self._abort(upload["Key"], upload["UploadId"])
            if not uploads.get("IsTruncated"):
                return deleted
            markers = {
                "KeyMarker": uploads["NextKeyMarker"],
                "UploadIdMarker": uploads["NextUploadIdMarker"],
            }


async def _read_body(body: Any) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(body.read, READ_CHUNK):
            yield chunk
    finally:
        body.close()


@lru_cache(maxsize=8)
def blob_store(settings: Settings) -> BlobStore:
    """The store the settings describe (the only place that decides). One per settings:
    a boto3 client is costly to make (and thread-safe to share)."""
    if settings.blob_store == "local":
        return LocalBlobStore(settings.data_dir / "files")
    if settings.blob_store == "s3":
        if not settings.s3_bucket:
            raise ConfigurationError("KLANKBORD_BLOB_STORE=s3 needs KLANKBORD_S3_BUCKET")
        import boto3  # type: ignore[import-untyped, unused-ignore]

        client = boto3.client(
            "s3", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url or None
        )
        return S3BlobStore(client, settings.s3_bucket)
    raise ConfigurationError("KLANKBORD_BLOB_STORE must be local or s3")
