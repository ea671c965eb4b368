"""Reading a multipart/form-data request body as it streams in, files handed on unbuffered.

Litestar's own form parsing spools every uploaded file to a temporary file in clear text. A
reporter's attachment must never touch the disk unencrypted, so report forms are read here
instead: `read_form` feeds the request stream to `multipart.PushMultipartParser` (a push
parser that keeps at most one input chunk plus one part header) and passes each file's bytes
to a sink the caller opens (`OpenFile`), which encrypts them on their way to the blob store.
Nothing here holds a whole file, and nothing here writes to disk.

Text fields are collected whole (they are the form), within limits that keep a hostile body
from filling memory: a field, all text together, and the number of parts. Past a limit the
form is refused with `Invalid(code="form_too_large")`; a body that is not well-formed
multipart gives `Invalid(code="form_invalid")`. On either, and on any other failure, the sink
that is open is aborted; files already closed are the caller's to discard.

A file input the reporter left empty arrives as a part with filename "" and no bytes: that is
not a file and no sink is opened. File names are reduced to a base name without control or
bidirectional-override characters (a name like "invoice<U+202E>fdp.exe" shows as a PDF), at
most `MAX_FILENAME` characters with the extension kept.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from multipart import (  # type: ignore[import-untyped]
    MultipartError,
    MultipartSegment,
    ParserLimitReached,
    PushMultipartParser,
    parse_options_header,
)

from klankbord.errors import Invalid

FIELD_BYTES = 100_000
TEXT_BYTES = 1024 * 1024
MAX_PARTS = 300
MAX_FILENAME = 200
MAX_EXTENSION = 16
DEFAULT_FILE_TYPE = "application/octet-stream"
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_SEPARATORS = re.compile(r"[\\/]")


class FileSink(Protocol):
    """Where one uploaded file's bytes go, chunk by chunk, in order."""

    async def write(self, chunk: bytes) -> None: ...

    async def close(self) -> None:
        """The file ended normally."""
        ...

    async def abort(self) -> None:
        """The request failed midway: forget whatever was written."""
        ...


OpenFile = Callable[[str, str, str], FileSink]  # (field name, file name, declared type)


@dataclass(frozen=True)
class FormLimits:
    field_bytes: int = FIELD_BYTES
    text_bytes: int = TEXT_BYTES
    parts: int = MAX_PARTS


def clean_filename(raw: str) -> str:
    """The base name a client sent, safe to show: no folders from either kind of slash, no
    control or direction-override characters, NFC, at most `MAX_FILENAME` characters."""
    base = _SEPARATORS.split(unicodedata.normalize("NFC", raw))[-1]
    base = "".join(
        c for c in base if unicodedata.category(c) != "Cc" and c not in _BIDI_CONTROLS
    ).strip()
    if base in (".", ".."):
        return ""
    if len(base) <= MAX_FILENAME:
        return base
    stem, dot, extension = base.rpartition(".")
    if stem and dot and len(extension) <= MAX_EXTENSION:
        return stem[: MAX_FILENAME - len(extension) - 1].rstrip() + "." + extension
    return base[:MAX_FILENAME]


def form_boundary(content_type: str) -> str:
    kind, options = parse_options_header(content_type or "")
    boundary = options.get("boundary", "")
    if kind != "multipart/form-data" or not boundary or len(boundary) > 200:
        raise Invalid(code="form_invalid")
    return str(boundary)


async def read_form(
    chunks: AsyncIterator[bytes],
    content_type: str,
    open_file: OpenFile,
    *,
    limits: FormLimits | None = None,
) -> dict[str, list[str]]:
    """The text fields of the body (each name with its values in order); every file part
    went to a sink from `open_file` meanwhile. Raises `Invalid` (see the module docstring)."""
    reader = _Reader(open_file, limits or FormLimits())
    try:
        with PushMultipartParser(
            form_boundary(content_type), max_segment_count=reader.limits.parts
        ) as parser:
            async for chunk in chunks:
                if chunk:
                    for event in parser.parse(chunk):
                        await reader.on(event)
                if parser.closed:
                    break
    except ParserLimitReached:
        await reader.abort()
        raise Invalid(code="form_too_large") from None
    except (MultipartError, UnicodeDecodeError):
        await reader.abort()
        raise Invalid(code="form_invalid") from None
    except BaseException:
        await reader.abort()
        raise
    return dict(reader.fields)


class _Reader:
    """Turns the parser's events (a part's header, its body chunks, its end) into fields
    and sink calls."""

    def __init__(self, open_file: OpenFile, limits: FormLimits) -> None:
        self.open_file = open_file
        self.limits = limits
        self.fields: defaultdict[str, list[str]] = defaultdict(list)
        self.text_bytes = 0
        self.segment: MultipartSegment | None = None
        self.text: bytearray | None = None
        self.sink: FileSink | None = None
        self.filename = ""

    async def on(self, event: MultipartSegment | bytes | None) -> None:
        if isinstance(event, MultipartSegment):
            self.start(event)
        elif event:
            await self.body(event)
        else:
            await self.end()

    def start(self, segment: MultipartSegment) -> None:
        self.segment = segment
        if segment.filename is None:
            self.text = bytearray()
            return
        self.filename = clean_filename(segment.filename)
        if self.filename:
            self.open(segment)
        # A nameless file part opens its sink at its first byte: an empty input has none.

    def open(self, segment: MultipartSegment) -> None:
        declared = segment.content_type or DEFAULT_FILE_TYPE
        self.sink = self.open_file(segment.name or "", self.filename, declared)

    async def body(self, chunk: bytes) -> None:
        if self.segment is None:
            raise Invalid(code="form_invalid")
        if self.text is not None:
            self.text_bytes += len(chunk)
            if (
                len(self.text) + len(chunk) > self.limits.field_bytes
                or self.text_bytes > self.limits.text_bytes
            ):
                raise Invalid(code="form_too_large")
            self.text += chunk
            return
        if self.sink is None:
            self.open(self.segment)
        assert self.sink is not None
        await self.sink.write(chunk)

    async def end(self) -> None:
        if self.segment is None:
            raise Invalid(code="form_invalid")
        if self.text is not None:
            self.fields[self.segment.name or ""].append(self.text.decode("utf-8"))
        elif self.sink is not None:
            sink, self.sink = self.sink, None
            await sink.close()
        self.segment, self.text = None, None

    async def abort(self) -> None:
        sink, self.sink = self.sink, None
        if sink is not None:
            await sink.abort()
