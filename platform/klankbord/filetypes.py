"""Which attachments we accept, judged by their first bytes, never by name or declared type.

Reporters upload evidence that counsellors open on their own machines, so only an allow-list
of formats passes: documents (PDF, DOCX/XLSX/PPTX, ODT/ODS, plain text), photos (PNG, JPEG,
GIF, WebP, HEIC) and voice memos (MP3, M4A, WAV). Everything else is refused: executables,
scripts, HTML and SVG (both can carry script that runs when opened in a browser), plain or
other archives, macro-enabled Office files. The returned MIME type is the one to serve.

Office files are ZIP containers: OOXML is recognised by its `[Content_Types].xml` (first
entry, as Office writes it) naming the main part of a document, workbook or presentation;
ODF by its first entry `mimetype`, stored uncompressed as the ODF standard requires. Only
the local file headers within the sniffed bytes are read; nothing is extracted.
"""

from __future__ import annotations

import codecs
import re
import struct
import zlib
from collections.abc import AsyncIterator

SNIFF_BYTES = 64 * 1024
MAX_CONTENT_TYPES = 256 * 1024

_OOXML = {
    b"wordprocessingml.document.main+xml": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    ),
    b"spreadsheetml.sheet.main+xml": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ),
    b"presentationml.presentation.main+xml": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    ),
}
_ODF = {
    b"application/vnd.oasis.opendocument.text",
    b"application/vnd.oasis.opendocument.spreadsheet",
}
_HEIF_BRANDS = {b"heic": "image/heic", b"heix": "image/heic", b"mif1": "image/heif"}
_MARKUP = re.compile(rb"<\s*(!doctype|html|svg|script|\?xml|iframe|body|head)\b", re.IGNORECASE)


def sniff(first_bytes: bytes, *, complete: bool = False) -> str | None:
    """The MIME type of an allowed format, else None. `complete`: `first_bytes` is the whole
    file (a text file may then not end in the middle of a character)."""
    head = first_bytes
    for magic, mime in (
        (b"%PDF-", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"ID3", "audio/mpeg"),
    ):
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp":
        return _iso_media(head)
    if head[:4] == b"PK\x03\x04":
        return _zip_container(head)
    if _mpeg_audio_frame(head):
        return "audio/mpeg"
    return _plain_text(head, complete=complete)


def _iso_media(head: bytes) -> str | None:
    """HEIC/HEIF photos and M4A audio share the ISO base media `ftyp` box."""
    size = struct.unpack(">I", head[:4])[0]
    if size < 16 or size > len(head):
        return None
    brands = [head[8:12]] + [head[i : i + 4] for i in range(16, size - 3, 4)]
    for brand in brands:
        if brand in _HEIF_BRANDS:
            return _HEIF_BRANDS[brand]
    if b"M4A " in brands:
        return "audio/mp4"
    return None  # video and everything else in an ISO container


def _mpeg_audio_frame(head: bytes) -> bool:
    """An MP3 without an ID3 tag starts with an MPEG audio layer III frame header."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 0x3, (head[1] >> 1) & 0x3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0x3
    return version != 1 and layer == 1 and bitrate not in (0, 15) and rate != 3


def _zip_entries(head: bytes) -> list[tuple[str, int, bytes]]:
    """(name, method, data) of the local file headers that fit in `head`."""
    entries: list[tuple[str, int, bytes]] = []
    offset = 0
    while head[offset : offset + 4] == b"PK\x03\x04" and offset + 30 <= len(head):
        flags, method = struct.unpack("<HH", head[offset + 6 : offset + 10])
        compressed = struct.unpack("<I", head[offset + 18 : offset + 22])[0]
        name_len, extra_len = struct.unpack("<HH", head[offset + 26 : offset + 30])
        start = offset + 30 + name_len + extra_len
        name = head[offset + 30 : offset + 30 + name_len].decode("utf-8", "replace")
        if flags & 0x8 and compressed == 0:
            # Sizes follow the data (a streamed ZIP): a deflated entry ends itself, but the
            # next header cannot be found without inflating.
            entries.append((name, method, head[start:]))
            break
        entries.append((name, method, head[start : start + compressed]))
        offset = start + compressed
    return entries


def _zip_container(head: bytes) -> str | None:
    entries = _zip_entries(head)
    if not entries:
        return None
    name, method, data = entries[0]
    if name == "mimetype" and method == 0:
        return data.decode("ascii") if data in _ODF else None
    names = {entry[0] for entry in entries}
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        return None  # macros
    if name != "[Content_Types].xml":
        return None  # a plain ZIP, or an Office file we cannot vouch for
    types = _inflate(method, data)
    if types is None:
        return None
    found = {mime for marker, mime in _OOXML.items() if marker in types}
    return found.pop() if len(found) == 1 else None


def _inflate(method: int, data: bytes) -> bytes | None:
    if method == 0:
        return data
    if method != 8:
        return None
    try:
        return zlib.decompressobj(-15).decompress(data, MAX_CONTENT_TYPES)
    except zlib.error:
        return None


def _plain_text(head: bytes, *, complete: bool) -> str | None:
    if not head or b"\x00" in head or head.startswith(b"#!"):
        return None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        return None
    if _MARKUP.search(head):
        return None  # HTML, SVG, XML: a browser would run what they carry
    return "text/plain"


async def sniff_stream(
    chunks: AsyncIterator[bytes], *, sample_bytes: int = SNIFF_BYTES
) -> tuple[str | None, AsyncIterator[bytes]]:
    """Read up to `sample_bytes` of the stream, judge them, and hand back a stream that still
    yields every byte (the sample first, then the rest)."""
    head: list[bytes] = []
    size = 0
    exhausted = True
    async for chunk in chunks:
        head.append(chunk)
        size += len(chunk)
        if size >= sample_bytes:
            exhausted = False
            break
    sample = b"".join(head)
    mime = sniff(sample[:sample_bytes], complete=exhausted)

    async def replay() -> AsyncIterator[bytes]:
        if sample:
            yield sample
        if not exhausted:
            async for chunk in chunks:
                yield chunk

    return mime, replay()
