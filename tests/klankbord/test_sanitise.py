"""Metadata stripping of reporters' attachments: real files built here, read back after."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pypdf
import pytest
from PIL import Image, PngImagePlugin
from pypdf.generic import DecodedStreamObject, NameObject

from klankbord import sanitise as sanitise_module
from klankbord.filetypes import sniff
from klankbord.sanitise import (
    DOCX,
    ODT,
    AttachmentRefused,
    Sanitised,
    sanitise,
    sanitise_off_loop,
)

GPS_IFD = 0x8825
ARTIST = 0x013B
ORIENTATION = 0x0112


def _jpeg_with_exif() -> bytes:
    """A 40x20 photo, left half red, taken 'rotated' (orientation 6), with Artist and GPS."""
    image = Image.new("RGB", (40, 20), "blue")
    image.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[ARTIST] = "Jan Melder"
    exif[ORIENTATION] = 6
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 5.0, 0.0), 3: "E", 4: (4.0, 53.0, 0.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=95, comment=b"made on the office PC")
    return out.getvalue()


def test_sanitise_jpeg_with_gps_drops_exif_and_rotates_pixels() -> None:
    original = _jpeg_with_exif()
    with Image.open(io.BytesIO(original)) as before:
        assert before.getexif().get_ifd(GPS_IFD)  # the fixture really carries GPS

    result = sanitise(original, "image/jpeg")

    assert result.stripped
    assert {"exif", "gps", "comment"} <= set(result.removed)
    assert b"Jan Melder" not in result.data
    with Image.open(io.BytesIO(result.data)) as after:
        assert after.format == "JPEG"
        assert not after.getexif()
        assert "exif" not in after.info and "comment" not in after.info
        assert after.size == (20, 40)  # orientation 6 applied to the pixels
        top = after.convert("RGB").getpixel((10, 5))
        assert isinstance(top, tuple) and top[0] > 200 and top[2] < 60  # red half now on top


def test_sanitise_png_with_text_chunk_drops_it() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jan Melder")
    info.add_itxt("Comment", "secret", zip=True)
    exif = Image.Exif()
    exif[ARTIST] = "Jan Melder"
    out = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 128, 0, 128)).save(out, "PNG", pnginfo=info, exif=exif)

    result = sanitise(out.getvalue(), "image/png")

    assert result.stripped and {"text", "exif"} <= set(result.removed)
    assert b"Jan Melder" not in result.data
    with Image.open(io.BytesIO(result.data)) as after:
        assert isinstance(after, PngImagePlugin.PngImageFile)
        assert not after.text and not after.getexif()
        assert after.getpixel((3, 3)) == (0, 128, 0, 128)


def test_sanitise_animated_gif_keeps_frames_and_drops_comment() -> None:
    frames = [Image.new("RGB", (6, 6), colour) for colour in ("red", "lime", "blue")]
    out = io.BytesIO()
    frames[0].save(
        out, "GIF", save_all=True, append_images=frames[1:], duration=80, comment=b"Jan Melder"
    )

    result = sanitise(out.getvalue(), "image/gif")

    assert result.stripped and "comment" in result.removed
    assert b"Jan Melder" not in result.data
    with Image.open(io.BytesIO(result.data)) as after:
        assert getattr(after, "n_frames", 1) == 3


def test_sanitise_animated_png_keeps_frames() -> None:
    frames = [Image.new("RGBA", (6, 6), colour) for colour in ("red", "lime")]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], duration=50)

    result = sanitise(out.getvalue(), "image/png")

    with Image.open(io.BytesIO(result.data)) as after:
        assert getattr(after, "n_frames", 1) == 2


def test_sanitise_webp_with_exif_drops_it() -> None:
    exif = Image.Exif()
    exif[ARTIST] = "Jan Melder"
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(out, "WEBP", exif=exif, xmp=b"<x:xmpmeta/>")

    result = sanitise(out.getvalue(), "image/webp")

    assert result.stripped and {"exif", "xmp"} <= set(result.removed)
    assert b"Jan Melder" not in result.data and b"xmpmeta" not in result.data


def _png_claiming(width: int, height: int) -> bytes:
    """A valid tiny PNG whose header claims another size: a decompression bomb's header."""
    out = io.BytesIO()
    Image.new("L", (1, 1)).save(out, "PNG")
    data = bytearray(out.getvalue())
    ihdr = bytearray(data[12:29])  # type + 13 bytes of IHDR
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


@pytest.mark.parametrize("side", [9_000, 30_000, 100_000])
def test_sanitise_decompression_bomb_image_refused(side: int) -> None:
    with pytest.raises(AttachmentRefused) as refused:
        sanitise(_png_claiming(side, side), "image/png")
    assert refused.value.code == "attachment_too_many_pixels"


def test_sanitise_image_past_pixel_limit_refused() -> None:
    out = io.BytesIO()
    Image.new("RGB", (100, 100)).save(out, "PNG")
    with pytest.raises(AttachmentRefused):
        sanitise(out.getvalue(), "image/png", max_pixels=9_999)


def test_sanitise_animation_past_pixel_limit_by_frames_refused() -> None:
    frames = [Image.new("RGB", (10, 10), colour) for colour in ("red", "lime", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(AttachmentRefused):
        sanitise(out.getvalue(), "image/gif", max_pixels=299)


def test_sanitise_input_past_byte_limit_refused() -> None:
    with pytest.raises(AttachmentRefused) as refused:
        sanitise(b"x" * 11, "text/plain", max_bytes=10)
    assert refused.value.code == "attachment_too_large"


def test_sanitise_corrupt_image_refused() -> None:
    with pytest.raises(AttachmentRefused) as refused:
        sanitise(b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg")
    assert refused.value.code == "attachment_unreadable"


def _pdf(pages: int = 2, password: str | None = None) -> bytes:
    writer = pypdf.PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Author": "Jan Melder", "/Creator": "Word on LAPTOP-JAN"})
    xmp = DecodedStreamObject()
    xmp.set_data(b"<x:xmpmeta><dc:creator>Jan Melder XMP</dc:creator></x:xmpmeta>")
    xmp.update({NameObject("/Type"): NameObject("/Metadata")})
    writer.root_object[NameObject("/Metadata")] = writer._add_object(xmp)
    if password:
        writer.encrypt(password, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_sanitise_pdf_with_author_and_xmp_drops_both_keeps_pages() -> None:
    original = _pdf(pages=3)
    assert b"Jan Melder XMP" in original

    result = sanitise(original, "application/pdf")

    assert result.stripped
    assert set(result.removed) == {"pdf_info", "pdf_xmp"}
    assert b"Jan Melder" not in result.data
    reader = pypdf.PdfReader(io.BytesIO(result.data))
    assert len(reader.pages) == 3
    assert not reader.metadata
    assert "/Metadata" not in reader.trailer["/Root"]


def test_sanitise_encrypted_pdf_not_stripped() -> None:
    original = _pdf(password="geheim")
    result = sanitise(original, "application/pdf")
    assert result == Sanitised(original, stripped=False)


XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
OX = "http://schemas.openxmlformats.org/"
OXT = "application/vnd.openxmlformats-"
REL = f"{OX}officeDocument/2006/relationships/"
CONTENT_TYPES = (
    f'{XML}<Types xmlns="{OX}package/2006/content-types">'
    f'<Default Extension="rels" ContentType="{OXT}package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml"'
    f' ContentType="{OXT}officedocument.wordprocessingml.document.main+xml"/>'
    '<Override PartName="/docProps/core.xml"'
    f' ContentType="{OXT}package.core-properties+xml"/>'
    '<Override PartName="/docProps/app.xml"'
    f' ContentType="{OXT}officedocument.extended-properties+xml"/>'
    "<Override ContentType='application/vnd.openxmlformats-officedocument.custom-properties+xml'"
    " PartName='/docProps/custom.xml' />"  # other quotes, other order
    "</Types>"
).encode()
RELS = (
    f'{XML}<Relationships xmlns="{OX}package/2006/relationships">'
    f'<Relationship Id="rId3" Type="{REL}extended-properties" Target="docProps/app.xml"/>'
    f'<Relationship Id="rId2" Type="{OX}package/2006/relationships/metadata/core-properties"'
    ' Target="docProps/core.xml"/>'
    f'<Relationship Id="rId1" Type="{REL}officeDocument" Target="word/document.xml"/>'
    f'<Relationship Id="rId4" Type="{REL}custom-properties" Target="docProps/custom.xml"/>'
    "</Relationships>"
).encode()
DOCUMENT = (
    f'{XML}<w:document xmlns:w="{OX}wordprocessingml/2006/main">'
    "<w:body><w:p><w:r><w:t>Wat er gebeurde.</w:t></w:r></w:p></w:body></w:document>"
).encode()
CORE = (
    f'{XML}<cp:coreProperties xmlns:cp="{OX}package/2006/metadata/core-properties"'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/">'
    "<dc:creator>Jan Melder</dc:creator><cp:lastModifiedBy>Piet Collega</cp:lastModifiedBy>"
    "<dcterms:created>2026-01-02T03:04:05Z</dcterms:created></cp:coreProperties>"
).encode()
APP = (
    f'{XML}<Properties xmlns="{OX}officeDocument/2006/extended-properties">'
    "<Company>Acme BV</Company><Manager>De Baas</Manager><TotalTime>42</TotalTime></Properties>"
).encode()
CUSTOM = b'<?xml version="1.0"?><Properties><property name="Dept">Inkoop</property></Properties>'


def _docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in (
            ("[Content_Types].xml", CONTENT_TYPES),
            ("_rels/.rels", RELS),
            ("word/document.xml", DOCUMENT),
            ("docProps/core.xml", CORE),
            ("docProps/app.xml", APP),
            ("docProps/custom.xml", CUSTOM),
        ):
            archive.writestr(name, content)
    return out.getvalue()


def test_sanitise_docx_drops_properties_keeps_document() -> None:
    original = _docx()
    assert sniff(original) == DOCX

    result = sanitise(original, DOCX)

    assert result.stripped
    assert set(result.removed) == {"office_core", "office_app", "office_custom"}
    assert sniff(result.data) == DOCX
    with zipfile.ZipFile(io.BytesIO(result.data)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert "docProps/custom.xml" not in names
        assert archive.read("word/document.xml") == DOCUMENT
        whole = b"".join(archive.read(name) for name in names)
        types = archive.read("[Content_Types].xml")
        rels = archive.read("_rels/.rels")
    for secret in (b"Jan Melder", b"Piet Collega", b"Acme BV", b"De Baas", b"Inkoop", b"2026-"):
        assert secret not in whole
    assert b"custom" not in types and b"custom" not in rels
    assert b"/word/document.xml" in types and b"docProps/core.xml" in rels
    # every part the content types name still exists
    for part in (b"/word/document.xml", b"/docProps/core.xml", b"/docProps/app.xml"):
        assert part in types and part[1:].decode() in names


def _odt(meta: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", ODT.encode(), compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", b"<office:document-content>tekst</office:document-content>")
        archive.writestr("meta.xml", meta)
    return out.getvalue()


def test_sanitise_odt_empties_meta_keeps_mimetype_first() -> None:
    meta = (
        b"<office:document-meta><office:meta><meta:initial-creator>Jan Melder"
        b"</meta:initial-creator><dc:creator>Piet</dc:creator><dc:date>2026-01-01</dc:date>"
        b"<meta:user-defined meta:name='x'>Inkoop</meta:user-defined></office:meta>"
        b"</office:document-meta>"
    )

    result = sanitise(_odt(meta), ODT)

    assert result.stripped and result.removed == ("odf_meta",)
    assert sniff(result.data) == ODT
    with zipfile.ZipFile(io.BytesIO(result.data)) as archive:
        assert archive.infolist()[0].filename == "mimetype"
        assert archive.infolist()[0].compress_type == zipfile.ZIP_STORED
        meta_after = archive.read("meta.xml")
    for secret in (b"Jan Melder", b"Piet", b"2026", b"Inkoop"):
        assert secret not in meta_after


def test_sanitise_zip_with_huge_declared_size_refused() -> None:
    data = bytearray(_docx())
    central = data.rfind(b"PK\x01\x02")  # the last central directory entry
    data[central + 24 : central + 28] = struct.pack("<I", 0xFFFF_FFF0)  # uncompressed size
    with pytest.raises(AttachmentRefused) as refused:
        sanitise(bytes(data), DOCX)
    assert refused.value.code == "attachment_zip_bomb"


def test_sanitise_zip_with_too_many_entries_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sanitise_module, "MAX_ZIP_ENTRIES", 5)
    with pytest.raises(AttachmentRefused) as refused:
        sanitise(_docx(), DOCX)  # six entries
    assert refused.value.code == "attachment_zip_bomb"


def test_sanitise_zip_entry_larger_than_declared_refused() -> None:
    """A lying local size cannot make us inflate more than the central directory said."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", ODT.encode(), compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", b"a" * 1_000_000)
    data = bytearray(out.getvalue())
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = struct.pack("<I", 10)
    with pytest.raises(AttachmentRefused) as refused:
        sanitise(bytes(data), ODT)
    assert refused.value.code == "attachment_unreadable"


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (b"Gewoon tekst.\n", "text/plain"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00heicmif1", "image/heic"),
        (b"whatever", "application/x-unknown"),
    ],
)
def test_sanitise_type_without_stripper_returns_data_unchanged(data: bytes, mime: str) -> None:
    assert sanitise(data, mime) == Sanitised(data, stripped=False)


async def test_sanitise_off_loop_gives_same_result() -> None:
    original = _jpeg_with_exif()
    result = await sanitise_off_loop(original, "image/jpeg")
    assert result.stripped and "gps" in result.removed
