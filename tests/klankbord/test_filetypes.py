"""Attachment types by content: a tiny real sample of each allowed format is recognised; renamed
executables, HTML, SVG, scripts, plain and macro-enabled ZIPs are refused."""

from __future__ import annotations

import io
import struct
import wave
import zipfile
import zlib
from collections.abc import AsyncIterator

import pytest

from klankbord.filetypes import sniff, sniff_stream

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/{part}" ContentType="application/{main}"/></Types>'
)


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def _jpeg() -> bytes:
    return (
        b"\xff\xd8\xff\xe0"
        + struct.pack(">H", 16)
        + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + b"\xff\xd9"
    )


def _gif() -> bytes:
    return b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


def _riff(form: bytes, body: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + form + body


def _webp() -> bytes:
    vp8l = b"\x2f\x00\x00\x00\x00"
    return _riff(b"WEBP", b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l + b"\x00")


def _wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 80)
    return buffer.getvalue()


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00\x00\x00\x08free"


def _mp3_frame() -> bytes:
    return b"\xff\xfb\x90\x64" + bytes(413)


def _id3_mp3() -> bytes:
    return b"ID3\x04\x00\x00\x00\x00\x00\x00" + _mp3_frame()


def _zip(entries: list[tuple[str, bytes]], *, stored: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            method = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=method)
    return buffer.getvalue()


def _ooxml(part: str, main: str, *extra: tuple[str, bytes]) -> bytes:
    types = CONTENT_TYPES.format(part=part, main=main).encode()
    return _zip(
        [
            ("[Content_Types].xml", types),
            ("_rels/.rels", b"<Relationships/>"),
            (part, b"<x/>"),
            *extra,
        ]
    )


def _odf(mime: str) -> bytes:
    return _zip(
        [("mimetype", mime.encode()), ("content.xml", b"<office:document-content/>")],
        stored=("mimetype",),
    )


DOCX = "vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "vnd.openxmlformats-officedocument.presentationml.presentation"

ALLOWED = [
    (_pdf(), "application/pdf"),
    (_png(), "image/png"),
    (_jpeg(), "image/jpeg"),
    (_gif(), "image/gif"),
    (_webp(), "image/webp"),
    (_ftyp(b"heic", b"mif1", b"heic"), "image/heic"),
    (_ftyp(b"mif1", b"mif1"), "image/heif"),
    ("Mijn leidinggevende zei op 3 maart: \u2018dat regel ik wel\u2019.\n".encode(), "text/plain"),
    (_ooxml("word/document.xml", DOCX + ".main+xml"), f"application/{DOCX}"),
    (_ooxml("xl/workbook.xml", XLSX + ".main+xml"), f"application/{XLSX}"),
    (_ooxml("ppt/presentation.xml", PPTX + ".main+xml"), f"application/{PPTX}"),
    (
        _odf("application/vnd.oasis.opendocument.text"),
        "application/vnd.oasis.opendocument.text",
    ),
    (
        _odf("application/vnd.oasis.opendocument.spreadsheet"),
        "application/vnd.oasis.opendocument.spreadsheet",
    ),
    (_id3_mp3(), "audio/mpeg"),
    (_mp3_frame(), "audio/mpeg"),
    (_ftyp(b"M4A ", b"M4A ", b"mp42", b"isom"), "audio/mp4"),
    (_wav(), "audio/wav"),
]


@pytest.mark.parametrize(("sample", "mime"), ALLOWED, ids=[m for _, m in ALLOWED])
def test_sniff_allowed_sample_recognised(sample: bytes, mime: str):
    assert sniff(sample, complete=True) == mime


REFUSED = {
    "windows_exe": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(48),
    "elf": b"\x7fELF\x02\x01\x01\x00" + bytes(56),
    "mach_o": b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + bytes(24),
    "html": b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
    "html_after_text": b"Please see\n<html><body>hi</body></html>",
    "svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>',
    "bare_svg": b'  <svg onload="alert(1)"/>',
    "shell_script": b"#!/bin/sh\nrm -rf ~\n",
    "text_with_nul": b"hello\x00world",
    "latin1_text": "caf\xe9".encode("latin-1"),
    "plain_zip": _zip([("notes.txt", b"hi"), ("evil.exe", b"MZ")]),
    "docm": _ooxml(
        "word/document.xml",
        "vnd.ms-word.document.macroEnabled.main+xml",
        ("word/vbaProject.bin", b"macro"),
    ),
    "odf_other": _odf("application/vnd.oasis.opendocument.graphics"),
    "mp4_video": _ftyp(b"isom", b"isom", b"avc1"),
    "gzip": b"\x1f\x8b\x08\x00" + bytes(20),
    "seven_zip": b"7z\xbc\xaf\x27\x1c" + bytes(20),
    "rar": b"Rar!\x1a\x07\x01\x00" + bytes(20),
    "empty": b"",
}


@pytest.mark.parametrize("name", REFUSED)
def test_sniff_refused_sample_none(name: str):
    assert sniff(REFUSED[name], complete=True) is None


def test_sniff_text_cut_mid_character_allowed_unless_complete():
    text = "één".encode()
    assert sniff(text[:1]) == "text/plain"
    assert sniff(text[:1], complete=True) is None


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("size", [1, 100, 70_000])
async def test_sniff_stream_type_and_every_byte(size: int):
    data = _pdf() + bytes(200_000)
    mime, stream = await sniff_stream(_chunks(data, size))
    assert mime == "application/pdf"
    assert b"".join([chunk async for chunk in stream]) == data


async def test_sniff_stream_short_text_complete():
    mime, stream = await sniff_stream(_chunks(b"short note", 3))
    assert mime == "text/plain"
    assert b"".join([chunk async for chunk in stream]) == b"short note"


async def test_sniff_stream_renamed_exe_refused():
    mime, _ = await sniff_stream(_chunks(REFUSED["windows_exe"] * 100, 512))
    assert mime is None


class _Unseekable(io.RawIOBase):
    """A pipe-like output: zipfile then streams entries with sizes after the data."""

    def __init__(self) -> None:
        self.out = io.BytesIO()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        return self.out.write(data)


def test_sniff_streamed_zip_docx_recognised():
    sink = _Unseekable()
    types = CONTENT_TYPES.format(part="word/document.xml", main=DOCX + ".main+xml").encode()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("word/document.xml", b"<x/>")
    sample = sink.out.getvalue()
    assert struct.unpack("<H", sample[6:8])[0] & 0x8  # sizes after the data
    assert sniff(sample, complete=True) == f"application/{DOCX}"
