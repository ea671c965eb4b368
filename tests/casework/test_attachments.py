"""Attachments end to end on both blob stores: files stream from a multipart body into
encrypted blobs, refusals keep the typed text and leave no blob, sanitising removes GPS, every
failure path can discard everything, and rows are listed and downloaded only in their own
organisation."""

from __future__ import annotations

import io
import os
import secrets
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from PIL import Image

from casework import attachments, sealing
from casework.attachments import ReadyFile, Stager
from casework.choices import Author
from casework.tables import Case
from klankbord.errors import Invalid, NotFound
from klankbord.storage import LocalBlobStore, S3BlobStore, blob_key
from klankbord.streams import attachment_context, decrypt_stream
from klankbord.tenancy import reporter_context, system_context, tenant_transaction
from klankbord.uploads import read_form
from tests.klankbord.test_uploads import BOUNDARY, CONTENT_TYPE, body, chunked, file_part, text_part
from tests.support.world import World

MB = 1024 * 1024
BUCKET = "klankbord-attachments"
GPS_IFD = 0x8825
ORGANISATION = uuid4()
TEXT = "Het gebeurde op 3 maart, bij de kopieermachine.\r\nIk durf het niet te zeggen."
PDF = b"%PDF-1.4\n" + b"1 0 obj\n<< >>\nendobj\n" * 50 + b"%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(1000)


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (40, 20), "blue")
    exif = Image.Exif()
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 5.0, 0.0), 3: "E", 4: (4.0, 53.0, 0.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


PHOTO = jpeg_with_gps()


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


def stored_blobs(store: Any) -> list[str]:
    """Every object (and unfinished S3 upload) left in the store."""
    if isinstance(store, LocalBlobStore):
        root = store.root
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    objects = store.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    uploads = store.client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    return sorted([o["Key"] for o in objects] + [u["Key"] for u in uploads])


def new_stager(store: Any, key: bytes | None = None, organisation: UUID = ORGANISATION) -> Stager:
    return Stager(
        store,
        data_key=key or os.urandom(32),
        organisation_id=organisation,
        max_file_bytes=25 * MB,
        max_total_bytes=40 * MB,
    )


async def stage(stager: Stager, data: bytes, size: int = 64 * 1024) -> dict[str, list[str]]:
    return await read_form(chunked(data, size), CONTENT_TYPE, stager.open_file)


async def plaintext(stager: Stager, blob_id: UUID) -> bytes:
    chunks = await stager.store.get(blob_key(stager.organisation_id, blob_id))
    context = attachment_context(stager.organisation_id, blob_id)
    return b"".join([c async for c in decrypt_stream(stager.data_key, chunks, context=context)])


async def test_stager_files_stored_encrypted_and_read_back(store: Any) -> None:
    stager = new_stager(store)
    photo = PHOTO
    fields = await stage(
        stager,
        body(
            text_part("what", TEXT),
            file_part("files", "verslag.pdf", PDF),
            file_part("files", "foto.jpg", photo, "application/pdf"),
            file_part("files", "", b""),
        ),
    )
    assert fields == {"what": [TEXT]}
    assert [(f.name, f.media_type, f.size, f.error) for f in stager.files] == [
        ("verslag.pdf", "application/pdf", len(PDF), None),
        ("foto.jpg", "image/jpeg", len(photo), None),  # sniffed, not as declared
    ]
    assert stager.errors == {}
    blobs = stored_blobs(store)
    assert len(blobs) == 2
    raw = [b"".join([c async for c in await store.get(key)]) for key in blobs]
    assert all(b"%PDF" not in data and b"JFIF" not in data for data in raw)
    for staged, expected in zip(stager.files, (PDF, photo), strict=True):
        assert staged.blob_id is not None
        assert await plaintext(stager, staged.blob_id) == expected


async def big_form(megabytes: int) -> AsyncIterator[bytes]:
    """Text, a PDF of `megabytes` MB in 64 KiB chunks (made on the fly), another file, text."""
    block = bytes(range(256)) * 256
    yield b"--" + BOUNDARY.encode() + b"\r\n" + text_part("what", TEXT) + b"\r\n"
    yield b"--" + BOUNDARY.encode() + b"\r\n" + file_part("files", "video.pdf", b"%PDF-1.7\n")
    for _ in range(megabytes * 16):
        yield block
    yield b"\r\n" + body(file_part("files", "kort.pdf", PDF), text_part("after", "nog"))


def counting_sinks(stager: Stager, largest: list[int]) -> Any:
    """`stager.open_file`, noting in `largest` the longest chunk any sink was given."""

    def open_file(field: str, filename: str, content_type: str) -> Any:
        sink = stager.open_file(field, filename, content_type)
        write = sink.write

        async def counting(chunk: bytes) -> None:
            largest.append(max(largest.pop(), len(chunk)))
            await write(chunk)

        sink.write = counting  # type: ignore[method-assign]
        return sink

    return open_file


async def test_stager_file_over_limit_refused_text_intact_memory_bounded(store: Any) -> None:
    """30 MB against 25 MB: refused, the rest dropped, the next file and every word kept;
    no chunk larger than the request's reaches the sink, and (local store, where no S3
    part buffer counts) the peak of traced memory stays a few chunks."""
    stager = new_stager(store)
    largest = [0]
    tracemalloc.start()
    try:
        fields = await read_form(big_form(30), CONTENT_TYPE, counting_sinks(stager, largest))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert fields == {"what": [TEXT], "after": ["nog"]}
    assert stager.errors == {"files": "attachment_too_large"}
    refused, accepted = stager.files
    assert (refused.error, refused.blob_id, refused.size) == (
        "attachment_too_large",
        None,
        30 * MB + 9,
    )
    assert accepted.error is None and accepted.blob_id is not None
    assert stored_blobs(store) == [f"organisations/{ORGANISATION}/{accepted.blob_id}"]
    assert largest[0] <= 64 * 1024 + 100
    if isinstance(store, LocalBlobStore):
        assert peak < 4 * MB


async def test_stager_exe_renamed_pdf_refused_type(store: Any) -> None:
    stager = new_stager(store)
    fields = await stage(
        stager, body(file_part("files", "factuur.pdf", EXE, "application/pdf"), text_part("a", "b"))
    )
    assert fields == {"a": ["b"]}
    assert stager.errors == {"files": "attachment_type_refused"}
    assert stager.files[0].blob_id is None
    assert stored_blobs(store) == []


async def test_stager_empty_named_file_refused_type(local: LocalBlobStore) -> None:
    stager = new_stager(local)
    await stage(stager, body(file_part("files", "leeg.pdf", b"")))
    assert stager.errors == {"files": "attachment_type_refused"}
    assert stored_blobs(local) == []


async def test_stager_files_over_report_total_last_refused(store: Any) -> None:
    stager = new_stager(store)
    stager.max_file_bytes, stager.max_total_bytes = 6 * MB, 10 * MB
    first = b"%PDF-1.7\n" + bytes(6 * MB - 100)
    second = b"%PDF-1.7\n" + bytes(5 * MB)
    await stage(
        stager,
        body(
            file_part("first", "a.pdf", first),
            file_part("second", "b.pdf", second),
            file_part("third", "c.pdf", PDF),
        ),
    )
    assert stager.errors == {"second": "report_too_large"}
    kept = [f.blob_id for f in stager.files if f.blob_id is not None]
    assert len(kept) == 2
    assert sorted(stored_blobs(store)) == sorted(
        f"organisations/{ORGANISATION}/{blob_id}" for blob_id in kept
    )


async def test_stager_body_broken_mid_file_aborts_and_discard_empties_store(store: Any) -> None:
    stager = new_stager(store)
    data = body(file_part("files", "a.pdf", PDF), file_part("files", "b.pdf", PDF + bytes(7 * MB)))
    with pytest.raises(Invalid) as raised:
        await stage(stager, data[: len(data) - MB])
    assert raised.value.code == "form_invalid"
    assert len(stored_blobs(store)) == 1  # the first file was complete; the second is gone
    await stager.discard()
    assert stored_blobs(store) == []


async def test_finish_jpeg_loses_gps_original_deleted(store: Any) -> None:
    stager = new_stager(store)
    photo = PHOTO
    await stage(stager, body(file_part("files", "foto.jpg", photo)))
    (ready,) = await attachments.finish(stager, keep_originals=False)
    assert ready.stripped and ready.original_blob_id is None
    assert ready.media_type == "image/jpeg" and ready.name == "foto.jpg"
    clean = await plaintext(stager, ready.blob_id)
    assert len(clean) == ready.size
    with Image.open(io.BytesIO(clean)) as image:
        assert not image.getexif().get_ifd(GPS_IFD)
        assert "exif" not in image.info
    assert stored_blobs(store) == [f"organisations/{ORGANISATION}/{ready.blob_id}"]


async def test_finish_keep_originals_keeps_untouched_file_and_discard_removes_all(
    store: Any,
) -> None:
    stager = new_stager(store)
    photo = PHOTO
    text = "gewoon tekst, één regel, niets te strippen".encode()
    await stage(
        stager,
        body(file_part("files", "foto.jpg", photo), file_part("notes", "notitie.txt", text)),
    )
    image, note = await attachments.finish(stager, keep_originals=True)
    assert image.original_blob_id is not None
    assert await plaintext(stager, image.original_blob_id) == photo
    assert (note.stripped, note.original_blob_id, note.media_type) == (False, None, "text/plain")
    assert await plaintext(stager, note.blob_id) == text
    assert len(stored_blobs(store)) == 3
    await stager.discard()
    assert stored_blobs(store) == []


async def test_finish_corrupt_jpeg_unreadable_blob_removed(local: LocalBlobStore) -> None:
    stager = new_stager(local)
    broken = b"\xff\xd8\xff\xe0" + os.urandom(5000)
    await stage(stager, body(file_part("files", "kapot.jpg", broken), text_part("a", "b")))
    assert await attachments.finish(stager, keep_originals=False) == []
    assert stager.errors == {"files": "attachment_unreadable"}
    assert stored_blobs(local) == []


@pytest.mark.parametrize("size", [1, 1000, MB])
async def test_stager_any_chunk_size_same_plaintext(local: LocalBlobStore, size: int) -> None:
    stager = new_stager(local)
    data = b"%PDF-1.7\n" + os.urandom(200_000)
    await stage(stager, body(file_part("files", "a.pdf", data)), size=size)
    assert stager.files[0].blob_id is not None
    assert await plaintext(stager, stager.files[0].blob_id) == data


# --- rows: save, list, download ---------------------------------------------------------------


async def new_case(world: World, organisation: str) -> UUID:
    case_id = uuid4()
    ctx = system_context("test")
    async with tenant_transaction(ctx):
        await Case.insert(
            Case(
                id=case_id,
                organisation=world.organisations[organisation],
                bureau=world.bureau_of(organisation),
                procedure="integrity",
                receipt_lookup=secrets.token_hex(32),
                receipt_verifier="x",
                submission=secrets.token_hex(16),
            )
        )
    return case_id


async def ready_files(
    store: Any, world: World, organisation: str
) -> tuple[Stager, list[ReadyFile]]:
    ctx = world.ctx(f"counsellor_{organisation}")
    organisation_id = world.organisations[organisation]
    async with tenant_transaction(ctx):
        opened = await sealing.sealer(ctx, organisation_id)
    stager = new_stager(store, opened.key, organisation_id)
    await stage(
        stager,
        body(
            file_part("files", "foto van de parkeerplaats.jpg", PHOTO),
            file_part("files", "verklaring.txt", "Zo ging het, één keer.\n".encode()),
        ),
    )
    return stager, await attachments.finish(stager, keep_originals=True)


async def test_save_list_download_round_trip(store: Any, world: World, rollback: None) -> None:
    case_id = await new_case(world, "A1")
    stager, files = await ready_files(store, world, "A1")
    ctx = world.ctx("counsellor_A1")
    async with tenant_transaction(ctx):
        opened = await sealing.sealer(ctx, world.organisations["A1"])
        ids = await attachments.save_attachments(
            ctx, opened, case_id=case_id, message_id=None, author=Author.COUNSELLOR, files=files
        )
        listed = await attachments.list_attachments(ctx, opened, case_id=case_id)
    assert [v.id for v in listed] == ids
    assert [(v.name, v.media_type, v.stripped, v.has_original) for v in listed] == [
        ("foto van de parkeerplaats.jpg", "image/jpeg", True, True),
        ("verklaring.txt", "text/plain", False, False),
    ]
    assert listed[0].author is Author.COUNSELLOR and listed[0].message_id is None

    photo = await attachments.open_download(ctx, store, case_id=case_id, attachment_id=ids[0])
    data = b"".join([chunk async for chunk in photo.chunks])
    assert (photo.name, photo.media_type, photo.size) == (listed[0].name, "image/jpeg", len(data))
    with Image.open(io.BytesIO(data)) as image:
        assert not image.getexif().get_ifd(GPS_IFD)
    original = await attachments.open_download(
        ctx, store, case_id=case_id, attachment_id=ids[0], original=True
    )
    assert b"".join([chunk async for chunk in original.chunks]) == PHOTO
    assert original.size is None
    text = await attachments.open_download(ctx, store, case_id=case_id, attachment_id=ids[1])
    assert text.media_type == "text/plain; charset=utf-8"
    assert b"".join([chunk async for chunk in text.chunks]) == "Zo ging het, één keer.\n".encode()
    with pytest.raises(NotFound):
        await attachments.open_download(
            ctx, store, case_id=case_id, attachment_id=ids[1], original=True
        )
    await stager.discard()


async def test_attachments_other_organisation_cannot_list_download_or_save(
    local: LocalBlobStore, world: World, rollback: None
) -> None:
    case_id = await new_case(world, "A1")
    _, files = await ready_files(local, world, "A1")
    ctx = world.ctx("counsellor_A1")
    async with tenant_transaction(ctx):
        opened = await sealing.sealer(ctx, world.organisations["A1"])
        ids = await attachments.save_attachments(
            ctx, opened, case_id=case_id, message_id=None, author=Author.COUNSELLOR, files=files
        )
    for other in ("counsellor_A2", "counsellor_B1", "contact_B1"):
        stranger = world.ctx(other)
        with pytest.raises(NotFound):
            await attachments.open_download(stranger, local, case_id=case_id, attachment_id=ids[0])
        async with tenant_transaction(stranger):
            assert await attachments.list_attachments(stranger, opened, case_id=case_id) == []
            with pytest.raises(NotFound):
                await attachments.save_attachments(
                    stranger,
                    opened,
                    case_id=case_id,
                    message_id=None,
                    author=Author.COUNSELLOR,
                    files=files,
                )
    with pytest.raises(NotFound):
        await attachments.open_download(ctx, local, case_id=case_id, attachment_id=uuid4())


async def test_save_attachments_reporter_of_the_case_lists_own_files(
    local: LocalBlobStore, world: World, rollback: None
) -> None:
    case_id = await new_case(world, "B1")
    _, files = await ready_files(local, world, "B1")
    reporter = reporter_context(
        bureau_id=world.bureau_of("B1"), organisation_id=world.organisations["B1"], case_id=case_id
    )
    async with tenant_transaction(reporter):
        opened = await sealing.sealer(reporter, world.organisations["B1"])
        with pytest.raises(NotFound):  # a reporter cannot add counsellor files
            await attachments.save_attachments(
                reporter,
                opened,
                case_id=case_id,
                message_id=None,
                author=Author.COUNSELLOR,
                files=files,
            )
        ids = await attachments.save_attachments(
            reporter, opened, case_id=case_id, message_id=None, author=Author.REPORTER, files=files
        )
        listed = await attachments.list_attachments(reporter, opened, case_id=case_id)
    assert [(v.id, v.author) for v in listed] == [(i, Author.REPORTER) for i in ids]
    download = await attachments.open_download(
        reporter, local, case_id=case_id, attachment_id=ids[1]
    )
    assert (
        b"".join([chunk async for chunk in download.chunks]) == "Zo ging het, één keer.\n".encode()
    )
