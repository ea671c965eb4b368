"""Attachments while a form streams in: staged encrypted, then sanitised.

A reporter's file never exists in clear text outside memory: `Stager.open_file` is the sink
factory for `klankbord.uploads.read_form`, and each file is sniffed from its first bytes,
counted, encrypted (`klankbord.streams`, bound to the organisation and blob id) and streamed
into the blob store (`klankbord.storage.blob_store(settings)`) as it arrives, through a small
bounded queue. A file that is too large, of a refused type, or that pushes the report over its
total is recorded with an error code and the rest of its bytes is dropped, without failing the
request: the form comes back with every word the reporter typed. `finish` then makes the
sanitised copy counsellors see; the original is kept only when the reporter asked for it and
the copy differs. Every failure path calls `Stager.discard()`: nothing stays half-stored.
The rows that make staged files part of a case are in `casework.attachments`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from uuid import UUID, uuid4

from klankbord.filetypes import SNIFF_BYTES, sniff
from klankbord.sanitise import AttachmentRefused, sanitise_off_loop
from klankbord.storage import BlobStore, TooLarge, blob_key
from klankbord.streams import attachment_context, ciphertext_size, decrypt_stream, encrypt_stream

QUEUE_CHUNKS = 4  # chunks between the request and the store: memory stays a few chunks
NAME = "attachment.name"


@dataclass
class StagedFile:
    """A file part as it was received; `error` is a code when it was refused (its bytes are
    then gone and `blob_id` is None)."""

    field: str
    name: str
    media_type: str | None = None
    size: int = 0
    blob_id: UUID | None = None
    error: str | None = None


@dataclass(frozen=True)
class ReadyFile:
    """A sanitised, stored attachment, ready for `save_attachments`."""

    field: str
    name: str
    media_type: str
    size: int
    blob_id: UUID
    original_blob_id: UUID | None
    stripped: bool


class Stager:
    """Stores the files of one form as they stream in (see the module docstring)."""

    def __init__(
        self,
        store: BlobStore,
        *,
        data_key: bytes,
        organisation_id: UUID,
        max_file_bytes: int,
        max_total_bytes: int,
    ) -> None:
        self.store = store
        self.data_key = data_key
        self.organisation_id = organisation_id
        self.max_file_bytes = max_file_bytes
        self.max_total_bytes = max_total_bytes
        self.files: list[StagedFile] = []
        self.written: set[UUID] = set()  # every blob begun, so `discard` misses none
        self.accepted_bytes = 0

    @property
    def errors(self) -> dict[str, str]:
        """Field name -> error code of its first refused file (for the form's error list)."""
        found: dict[str, str] = {}
        for staged in self.files:
            if staged.error:
                found.setdefault(staged.field, staged.error)
        return found

    def open_file(self, field: str, filename: str, content_type: str) -> _StagingSink:
        """The sink for `read_form`; the declared `content_type` is ignored (sniffed)."""
        staged = StagedFile(field=field, name=filename)
        self.files.append(staged)
        return _StagingSink(self, staged)

    async def put(self, blob_id: UUID, chunks: AsyncIterator[bytes], *, max_plain: int) -> None:
        self.written.add(blob_id)
        context = attachment_context(self.organisation_id, blob_id)
        encrypted = encrypt_stream(self.data_key, chunks, context=context)
        key = blob_key(self.organisation_id, blob_id)
        await self.store.put(key, encrypted, max_bytes=ciphertext_size(max_plain))

    async def read(self, blob_id: UUID) -> bytes:
        context = attachment_context(self.organisation_id, blob_id)
        stored = await self.store.get(blob_key(self.organisation_id, blob_id))
        return b"".join(
            [chunk async for chunk in decrypt_stream(self.data_key, stored, context=context)]
        )

    async def delete(self, blob_id: UUID) -> None:
        await self.store.delete(blob_key(self.organisation_id, blob_id))
        self.written.discard(blob_id)

    async def discard(self) -> None:
        """Delete every blob this stager wrote (validation failed, the database failed)."""
        await discard(self.store, list(self.written), organisation_id=self.organisation_id)
        self.written.clear()


class _Stopped(Exception):
    """Ends a refused file's upload: the store then removes what it had written."""


class _StagingSink:
    def __init__(self, stager: Stager, staged: StagedFile) -> None:
        self.stager = stager
        self.staged = staged
        self.head = bytearray()  # the first bytes, until there are enough to sniff
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_CHUNKS)
        self.task: asyncio.Task[None] | None = None
        self.refused = False
        self.stopping = False

    async def write(self, chunk: bytes) -> None:
        staged, stager = self.staged, self.stager
        staged.size += len(chunk)  # also once refused: the page may say how large it was
        if self.refused:
            return
        if staged.size > stager.max_file_bytes:
            await self.refuse("attachment_too_large")
        elif stager.accepted_bytes + staged.size > stager.max_total_bytes:
            await self.refuse("report_too_large")
        elif self.task is not None:
            await self.push(chunk)
        else:
            self.head += chunk
            if len(self.head) >= SNIFF_BYTES:
                await self.start(complete=False)

    async def start(self, *, complete: bool) -> None:
        head, self.head = bytes(self.head), bytearray()
        media_type = sniff(head[:SNIFF_BYTES], complete=complete)
        if media_type is None:
            await self.refuse("attachment_type_refused")
            return
        self.staged.media_type = media_type
        self.staged.blob_id = blob_id = uuid4()
        upload = self.stager.put(blob_id, self.drain(), max_plain=self.stager.max_file_bytes)
        self.task = asyncio.create_task(upload)
        await self.push(head)

    async def drain(self) -> AsyncIterator[bytes]:
        while (chunk := await self.queue.get()) is not None:
            if self.stopping:
                raise _Stopped()
            yield chunk
        if self.stopping:
            raise _Stopped()

    async def push(self, item: bytes | None) -> None:
        """Hand `item` to the upload, waiting while the queue is full; an upload that ended
        early raises its exception here."""
        task = self.task
        assert task is not None
        if not task.done() and await self.offer(task, item):
            return
        task.result()
        raise RuntimeError("the upload ended before its last chunk")

    async def offer(self, task: asyncio.Task[None], item: bytes | None) -> bool:
        """Whether `item` went into the queue before `task` ended."""
        if not self.queue.full():
            self.queue.put_nowait(item)
            return True
        putting = asyncio.ensure_future(self.queue.put(item))
        done, _ = await asyncio.wait({putting, task}, return_when=asyncio.FIRST_COMPLETED)
        if putting in done:
            return True
        putting.cancel()
        return False

    async def close(self) -> None:
        if self.refused:
            return
        if self.task is None:
            await self.start(complete=True)
            if self.task is None:
                return
        await self.push(None)
        try:
            await self.task
        except TooLarge:  # the store's own wall; the counts above should have caught it
            self.task = None
            await self.refuse("attachment_too_large")
            return
        self.task = None
        self.stager.accepted_bytes += self.staged.size

    async def refuse(self, code: str) -> None:
        self.refused, self.staged.error, self.head = True, code, bytearray()
        await self.stop(quiet=False)

    async def abort(self) -> None:
        """The request failed: stop quietly (the request's own error is the one to raise)."""
        self.refused = True
        await self.stop(quiet=True)

    async def stop(self, *, quiet: bool) -> None:
        """End the upload, if one is running, and make sure its blob is gone."""
        task, self.task = self.task, None
        blob_id, self.staged.blob_id = self.staged.blob_id, None
        error: BaseException | None = None
        if task is not None:
            self.stopping = True
            if not task.done():
                await self.offer(task, None)
            await asyncio.wait({task})
            error = None if task.cancelled() else task.exception()
        if blob_id is not None:
            await self.stager.delete(blob_id)
        if error is not None and not quiet and not isinstance(error, _Stopped | TooLarge):
            raise error


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def finish(stager: Stager, *, keep_originals: bool) -> list[ReadyFile]:
    """Sanitise each accepted file into a new blob, one file in memory at a time. A file the
    sanitiser refuses gets the error `attachment_unreadable` (the caller shows the form
    again, and discards)."""
    ready: list[ReadyFile] = []
    for staged in stager.files:
        if staged.error or staged.blob_id is None or staged.media_type is None:
            continue
        original = staged.blob_id
        try:
            clean = await sanitise_off_loop(
                await stager.read(original), staged.media_type, max_bytes=stager.max_file_bytes
            )
        except AttachmentRefused:
            staged.error, staged.blob_id = "attachment_unreadable", None
            await stager.delete(original)
            continue
        blob_id, kept = original, None
        if clean.stripped:
            blob_id = uuid4()
            await stager.put(blob_id, _one(clean.data), max_plain=len(clean.data))
            if keep_originals:
                kept = original
            else:
                await stager.delete(original)
        ready.append(
            ReadyFile(
                field=staged.field,
                name=staged.name,
                media_type=staged.media_type,
                size=len(clean.data),
                blob_id=blob_id,
                original_blob_id=kept,
                stripped=clean.stripped,
            )
        )
    return ready


async def discard(store: BlobStore, blob_ids: Iterable[UUID], *, organisation_id: UUID) -> None:
    """Delete these blobs of the organisation (missing ones are no error)."""
    for blob_id in blob_ids:
        await store.delete(blob_key(organisation_id, blob_id))
