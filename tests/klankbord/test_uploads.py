"""The streaming multipart reader: hand-built bodies cut into chunks of every size, files
handed to sinks without buffering, file names cleaned, limits and malformed bodies refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest

from klankbord.errors import Invalid
from klankbord.uploads import FormLimits, clean_filename, read_form

BOUNDARY = "----klankbordBoundary7MA4YWxkTrZu0gW"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
CHUNK_SIZES = [1, 2, 7, 64, 1000, 4096, 65536, 1024 * 1024]


def text_part(name: str, value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + data


def file_part(name: str, filename: str, data: bytes, content_type: str | None = "") -> bytes:
    head = f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
    if content_type is not None:
        head += f"Content-Type: {content_type or 'application/octet-stream'}\r\n"
    return head.encode() + b"\r\n" + data


def body(*parts: bytes, boundary: str = BOUNDARY) -> bytes:
    delimiter = f"--{boundary}".encode()
    out = b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts)
    return out + delimiter + b"--\r\n"


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@dataclass
class Sink:
    field_name: str
    filename: str
    content_type: str
    data: bytearray = field(default_factory=bytearray)
    largest: int = 0
    closed: bool = False
    aborted: bool = False

    async def write(self, chunk: bytes) -> None:
        assert not self.closed and not self.aborted
        self.largest = max(self.largest, len(chunk))
        self.data += chunk

    async def close(self) -> None:
        self.closed = True

    async def abort(self) -> None:
        self.aborted = True


class Sinks(list[Sink]):
    def open(self, field_name: str, filename: str, content_type: str) -> Sink:
        sink = Sink(field_name, filename, content_type)
        self.append(sink)
        return sink


async def read(
    data: bytes, *, size: int = 4096, limits: FormLimits | None = None
) -> tuple[dict[str, list[str]], Sinks]:
    sinks = Sinks()
    fields = await read_form(chunked(data, size), CONTENT_TYPE, sinks.open, limits=limits)
    return fields, sinks


PDF = b"%PDF-1.7\r\n" + bytes(range(256)) * 40 + b"\r\n--not-the-boundary\r\n%%EOF"
PHOTO = b"\xff\xd8\xff\xe0" + b"\r\n" * 300 + bytes(range(256)) * 10
FORM = body(
    text_part("what", "Mijn leidinggevende schreeuwt.\r\nElke dag, sinds € maart."),
    file_part("files", "bewijs.pdf", PDF, "application/pdf"),
    text_part("shown", "q1"),
    file_part("files", "foto.jpg", PHOTO, "image/jpeg"),
    text_part("shown", "q2"),
    file_part("files", "", b""),
    text_part("empty", ""),
)


@pytest.mark.parametrize("size", CHUNK_SIZES)
async def test_read_form_any_chunk_size_same_fields_and_files(size: int) -> None:
    fields, sinks = await read(FORM, size=size)
    assert fields == {
        "what": ["Mijn leidinggevende schreeuwt.\r\nElke dag, sinds € maart."],
        "shown": ["q1", "q2"],
        "empty": [""],
    }
    assert [(s.field_name, s.filename, s.content_type) for s in sinks] == [
        ("files", "bewijs.pdf", "application/pdf"),
        ("files", "foto.jpg", "image/jpeg"),
    ]
    assert [bytes(s.data) for s in sinks] == [PDF, PHOTO]
    assert all(s.closed and not s.aborted for s in sinks)
    # At most the chunk plus the bytes held back in case they start the boundary.
    assert max(s.largest for s in sinks) <= size + len(BOUNDARY) + 4


async def test_read_form_empty_file_input_opens_no_sink() -> None:
    fields, sinks = await read(body(file_part("files", "", b""), text_part("a", "b")))
    assert sinks == []
    assert fields == {"a": ["b"]}


async def test_read_form_nameless_file_with_bytes_is_a_file() -> None:
    _, sinks = await read(body(file_part("files", "", b"some text")))
    assert [(s.filename, bytes(s.data), s.closed) for s in sinks] == [("", b"some text", True)]


async def test_read_form_declared_type_missing_defaults_to_octet_stream() -> None:
    _, sinks = await read(body(file_part("files", "a.txt", b"hello", content_type=None)))
    assert sinks[0].content_type == "application/octet-stream"


async def test_read_form_empty_named_file_is_opened_and_closed_empty() -> None:
    _, sinks = await read(body(file_part("files", "leeg.txt", b"")))
    assert [(s.filename, bytes(s.data), s.closed) for s in sinks] == [("leeg.txt", b"", True)]


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("C:\\Users\\Jan\\Documents\\klacht.pdf", "klacht.pdf"),
        ("../../etc/passwd", "passwd"),
        ("map\\sub/verslag.docx", "verslag.docx"),
        ("a%0Ab%0Dc.txt", "abc.txt"),
        ("factuur\u202efdp.exe", "factuurfdp.exe"),
        ("..", ""),
    ],
)
async def test_read_form_file_name_with_path_or_controls_cleaned(sent: str, expected: str) -> None:
    _, sinks = await read(body(file_part("files", sent, b"x")))
    assert [s.filename for s in sinks] == [expected]


def test_clean_filename_long_name_cut_to_limit_extension_kept() -> None:
    cleaned = clean_filename("x" * 300 + ".pdf")
    assert len(cleaned) == 200
    assert cleaned.endswith("x.pdf")
    assert clean_filename("y" * 300) == "y" * 200
    assert clean_filename("tab\there.txt") == "tabhere.txt"


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        (CONTENT_TYPE, b"this is not multipart at all"),
        (CONTENT_TYPE, body(text_part("a", "b"))[:-8]),  # the closing boundary cut off
        (CONTENT_TYPE, b"--" + BOUNDARY.encode() + b"\r\nBroken header line\r\n\r\nx\r\n"),
        (CONTENT_TYPE, b"--" + BOUNDARY.encode() + b"\r\nContent-Type: text/plain\r\n\r\nx"),
        (CONTENT_TYPE, body(text_part("a", b"\xff\xfe not utf-8"))),
        ("application/x-www-form-urlencoded", b"a=b"),
        ("multipart/form-data", body(text_part("a", "b"))),
        (CONTENT_TYPE, b""),
    ],
)
async def test_read_form_malformed_body_form_invalid(content_type: str, data: bytes) -> None:
    sinks = Sinks()
    with pytest.raises(Invalid) as raised:
        await read_form(chunked(data, 5), content_type, sinks.open)
    assert raised.value.code == "form_invalid"


async def test_read_form_body_ends_mid_file_sink_aborted() -> None:
    data = body(text_part("a", "b"), file_part("files", "x.pdf", PDF))
    sinks = Sinks()
    with pytest.raises(Invalid) as raised:
        await read_form(chunked(data[: len(data) // 2], 100), CONTENT_TYPE, sinks.open)
    assert raised.value.code == "form_invalid"
    assert [(s.aborted, s.closed) for s in sinks] == [(True, False)]


async def test_read_form_too_many_parts_form_too_large() -> None:
    data = body(*(text_part(f"f{i}", "x") for i in range(301)))
    with pytest.raises(Invalid) as raised:
        await read(data)
    assert raised.value.code == "form_too_large"
    fields, _ = await read(body(*(text_part(f"f{i}", "x") for i in range(300))))
    assert len(fields) == 300


async def test_read_form_text_field_over_limit_form_too_large() -> None:
    fields, _ = await read(body(text_part("what", "a" * 100_000)))
    assert len(fields["what"][0]) == 100_000
    with pytest.raises(Invalid) as raised:
        await read(body(text_part("what", "a" * 100_001)))
    assert raised.value.code == "form_too_large"


async def test_read_form_all_text_over_limit_form_too_large() -> None:
    parts = [text_part(f"q{i}", "a" * 99_000) for i in range(11)]
    with pytest.raises(Invalid) as raised:
        await read(body(*parts))
    assert raised.value.code == "form_too_large"
    fields, _ = await read(body(*parts), limits=FormLimits(text_bytes=2 * 1024 * 1024))
    assert len(fields) == 11


async def test_read_form_limit_reached_mid_form_open_sink_aborted() -> None:
    data = body(file_part("files", "x.pdf", PDF), text_part("what", "a" * 200))
    sinks = Sinks()
    # The text part comes after the file: the file was closed, nothing is open to abort.
    with pytest.raises(Invalid):
        await read_form(chunked(data, 64), CONTENT_TYPE, sinks.open, limits=FormLimits(100))
    assert [(s.closed, s.aborted) for s in sinks] == [(True, False)]


async def test_read_form_sink_failure_aborts_and_propagates() -> None:
    class Failing(Sink):
        async def write(self, chunk: bytes) -> None:
            raise OSError("disk full")

    opened: list[Failing] = []

    def open_file(field_name: str, filename: str, content_type: str) -> Failing:
        opened.append(Failing(field_name, filename, content_type))
        return opened[-1]

    with pytest.raises(OSError, match="disk full"):
        await read_form(chunked(FORM, 512), CONTENT_TYPE, open_file)
    assert opened[0].aborted


async def test_read_form_empty_chunks_and_epilogue_ignored() -> None:
    async def stream() -> AsyncIterator[bytes]:
        yield b""
        async for chunk in chunked(FORM, 333):
            yield chunk
            yield b""
        yield b"epilogue that no one reads"

    fields = await read_form(stream(), CONTENT_TYPE, Sinks().open)
    assert fields["shown"] == ["q1", "q2"]


def _large_body(total: int, chunk: int) -> Iterator[bytes]:
    yield b"--" + BOUNDARY.encode() + b"\r\n" + text_part("what", "tekst") + b"\r\n"
    yield b"--" + BOUNDARY.encode() + b"\r\n" + file_part("files", "groot.bin", b"")
    block = bytes(range(256)) * (chunk // 256)
    for _ in range(total // len(block)):
        yield block
    yield b"\r\n--" + BOUNDARY.encode() + b"--\r\n"


async def test_read_form_30_mb_file_streams_in_chunks_never_whole() -> None:
    class Counting(Sink):
        total = 0

        async def write(self, chunk: bytes) -> None:
            self.largest = max(self.largest, len(chunk))
            self.total += len(chunk)

    opened: list[Counting] = []

    def open_file(field_name: str, filename: str, content_type: str) -> Counting:
        opened.append(Counting(field_name, filename, content_type))
        return opened[-1]

    async def stream() -> AsyncIterator[bytes]:
        for piece in _large_body(30 * 1024 * 1024, 64 * 1024):
            yield piece

    fields = await read_form(stream(), CONTENT_TYPE, open_file)
    assert fields == {"what": ["tekst"]}
    assert opened[0].total == 30 * 1024 * 1024
    assert opened[0].largest <= 64 * 1024 + len(BOUNDARY) + 8
