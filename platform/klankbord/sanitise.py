"""Best-effort removal of metadata from reporters' attachments, into a sanitised copy.

A photo's EXIF can hold the GPS position of the reporter's home and the phone's owner name;
an Office file or PDF names its author, last editor and company. Counsellors and, later,
an accused party may see attachments, so we strip what the file format says about its maker
before anyone reads it. The page tells the reporter this is best effort: content (a name in
the text, a tracked change, a comment's author in a Word file) is not touched, and formats
we cannot rewrite come back with `stripped=False` so the caller keeps the bytes and says so.

Dispatch is on the MIME type `klankbord.filetypes.sniff` returned, never on a file name.
- Images (JPEG, PNG, WebP, GIF) are re-encoded from pixels, after applying the EXIF
  orientation so a photo is not shown rotated. EXIF (with GPS), XMP, IPTC, comments and text
  chunks do not survive; the ICC colour profile is kept (colours, not people). Animated GIF,
  PNG and WebP keep their frames and timing, as RGBA frames (files may grow). WebP comes
  back lossy at quality 95 even when it was lossless. HEIC/HEIF: Pillow reads it only with
  a plugin we do not ship, so it is not stripped.
- PDF: rewritten by pypdf without the document information dictionary and XMP streams.
  Encrypted PDFs cannot be rewritten without the password: not stripped.
- OOXML (DOCX/XLSX/PPTX) and ODF (ODT/ODS): a new ZIP in which the property parts are
  replaced by empty ones and custom properties dropped; every other part keeps its content
  byte for byte. Nothing referenced from outside the ZIP is ever followed.
- Text and audio: not stripped (audio tags are out of scope).

Limits bound what a hostile file can make us allocate: a byte limit on the input, a pixel
limit checked from the image header before any pixel is decoded, and for ZIP containers an
entry-count limit and a limit on the declared uncompressed total (zipfile never inflates an
entry past its declared size).
"""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pypdf
from PIL import Image, ImageOps, ImageSequence, PngImagePlugin, UnidentifiedImageError
from pypdf.errors import PyPdfError
from pypdf.generic import NameObject

from klankbord.errors import Invalid

MAX_BYTES = 100 * 1024 * 1024
MAX_PIXELS = 64_000_000  # frames x width x height; a 48-megapixel phone photo passes
MAX_ZIP_ENTRIES = 5_000
MAX_ZIP_UNPACKED = 512 * 1024 * 1024

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
_IMAGE_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/gif": "GIF",
}
# Image.info keys that describe how to draw the pixels, not who made them.
_KEEP_INFO = ("transparency", "background", "icc_profile", "duration", "loop")

EMPTY_CORE = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    b"<cp:coreProperties"
    b' xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
    b' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
    b' xmlns:dcmitype="http://purl.org/dc/dcmitype/"'
    b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
)
EMPTY_APP = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    b"<Properties"
    b' xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"'
    b' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"/>'
)
EMPTY_META = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
    b' office:version="1.2"><office:meta/></office:document-meta>'
)
_CUSTOM_OVERRIDE = re.compile(rb"<Override\b[^>]*PartName=[\"']/docProps/custom\.xml[\"'][^>]*/>")
_CUSTOM_REL = re.compile(rb"<Relationship\b[^>]*Target=[\"']/?docProps/custom\.xml[\"'][^>]*/>")
_PartRewriter = Callable[[str, bytes], tuple[bytes | None, str | None]]
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # entry times tell when someone last saved the file


class AttachmentRefused(Invalid):
    """The attachment is past a limit, looks built to exhaust memory, or cannot be read as
    the type it was sniffed as. Nothing of it should be stored."""

    code = "attachment_refused"


@dataclass(frozen=True)
class Sanitised:
    """`data` is the copy to store; `stripped` is False when we had no way to strip this type
    (`data` is then the input, unchanged); `removed` names what was found and removed, as codes
    only, never values."""

    data: bytes
    stripped: bool
    removed: tuple[str, ...] = ()


def sanitise(
    data: bytes, mime: str, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS
) -> Sanitised:
    """A sanitised copy of `data`, of the sniffed type `mime`. Raises `AttachmentRefused`."""
    if len(data) > max_bytes:
        raise AttachmentRefused(code="attachment_too_large")
    if mime in _IMAGE_FORMATS:
        return _image(data, _IMAGE_FORMATS[mime], max_pixels)
    if mime == "application/pdf":
        return _pdf(data)
    if mime in (DOCX, XLSX, PPTX):
        return _zip(data, _ooxml_part)
    if mime in (ODT, ODS):
        return _zip(data, _odf_part)
    return Sanitised(data, stripped=False)


async def sanitise_off_loop(
    data: bytes, mime: str, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS
) -> Sanitised:
    """`sanitise` in a worker thread: re-encoding a photo takes long enough to stall every
    other request on the event loop."""
    return await asyncio.to_thread(sanitise, data, mime, max_bytes=max_bytes, max_pixels=max_pixels)


def _image(data: bytes, fmt: str, max_pixels: int) -> Sanitised:
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as image:
            width, height = image.size
            if width * height > max_pixels:  # before counting: that seeks, and may decode
                raise AttachmentRefused(code="attachment_too_many_pixels")
            frames = getattr(image, "n_frames", 1)
            if width * height * frames > max_pixels:
                raise AttachmentRefused(code="attachment_too_many_pixels")
            removed = _image_metadata(image)
            # A multi-picture JPEG (MPO) keeps only its main picture.
            animated = frames > 1 and fmt != "JPEG"
            out = _animation(image, fmt) if animated else _still(image, fmt)
    except Image.DecompressionBombError as error:
        raise AttachmentRefused(code="attachment_too_many_pixels") from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise AttachmentRefused(code="attachment_unreadable") from error
    return Sanitised(out, stripped=True, removed=removed)


def _image_metadata(image: Image.Image) -> tuple[str, ...]:
    """What the file says about its maker. Called after the pixel check: reading a PNG's
    text chunks or EXIF may decode its pixels."""
    exif = image.getexif()
    found = []
    if exif or "exif" in image.info:
        found.append("exif")
    if exif.get_ifd(0x8825):  # the GPS IFD
        found.append("gps")
    if "xmp" in image.info or "XML:com.adobe.xmp" in image.info:
        found.append("xmp")
    if "photoshop" in image.info or "iptc" in image.info:
        found.append("iptc")
    if "comment" in image.info:
        found.append("comment")
    if isinstance(image, PngImagePlugin.PngImageFile) and image.text:
        found.append("text")  # tEXt/iTXt/zTXt chunks (reading them may decode the pixels)
    return tuple(found)


def _clean(frame: Image.Image, info: Mapping[str | tuple[int, int], Any]) -> Image.Image:
    """A copy of the pixels carrying only the drawing hints from `info`."""
    clean = frame.copy()
    clean.info = {key: info[key] for key in _KEEP_INFO if key in info}
    return clean


def _still(image: Image.Image, fmt: str) -> bytes:
    upright = ImageOps.exif_transpose(image) or image
    clean = _clean(upright, image.info)
    out = io.BytesIO()
    if fmt in ("JPEG", "WEBP"):
        clean.save(out, fmt, quality=95, icc_profile=clean.info.get("icc_profile"))
    else:
        clean.save(out, fmt)
    return out.getvalue()


def _animation(image: Image.Image, fmt: str) -> bytes:
    """Frames as RGBA (GIF frames may each carry their own palette), timing kept."""
    frames = [_clean(frame.convert("RGBA"), frame.info) for frame in ImageSequence.Iterator(image)]
    durations = [int(frame.info.get("duration", 100)) for frame in frames]
    out = io.BytesIO()
    extra: dict[str, object] = {}
    if fmt == "WEBP":
        extra["quality"] = 95
    elif fmt == "GIF":
        extra["disposal"] = 2  # each whole frame replaces the last
    if "loop" in image.info:  # absent: the animation plays once, and should still
        extra["loop"] = int(image.info["loop"])
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=durations, **extra)
    return out.getvalue()


def _pdf(data: bytes) -> Sanitised:
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            return Sanitised(data, stripped=False)
        removed = []
        if reader.metadata:
            removed.append("pdf_info")
        # Cut the references in the reader before cloning: the clone copies what is reachable,
        # and an object dropped from the writer afterwards would still be written, orphaned.
        reader.trailer.pop(NameObject("/Info"), None)
        xmp = NameObject("/Metadata")
        for holder in (reader.root_object, *reader.pages):
            if holder.pop(xmp, None) is not None and "pdf_xmp" not in removed:
                removed.append("pdf_xmp")
        writer = pypdf.PdfWriter(clone_from=reader)
        writer.metadata = None
        out = io.BytesIO()
        writer.write(out)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as error:
        raise AttachmentRefused(code="attachment_unreadable") from error
    return Sanitised(out.getvalue(), stripped=True, removed=tuple(removed))


def _ooxml_part(name: str, content: bytes) -> tuple[bytes | None, str | None]:
    """(new content or None to drop the part, removal code or None)."""
    if name == "docProps/core.xml":
        return EMPTY_CORE, "office_core" if content != EMPTY_CORE else None
    if name == "docProps/app.xml":
        return EMPTY_APP, "office_app" if content != EMPTY_APP else None
    if name == "docProps/custom.xml":
        return None, "office_custom"
    if name == "[Content_Types].xml":
        return _CUSTOM_OVERRIDE.sub(b"", content), None
    if name == "_rels/.rels":
        return _CUSTOM_REL.sub(b"", content), None
    return content, None


def _odf_part(name: str, content: bytes) -> tuple[bytes | None, str | None]:
    if name == "meta.xml":
        return EMPTY_META, "odf_meta" if content != EMPTY_META else None
    return content, None


def _zip(data: bytes, rewrite: _PartRewriter) -> Sanitised:
    """A new ZIP with the same entries in the same order and compression (ODF needs its
    `mimetype` first and stored), property parts rewritten, entry times reset."""
    removed: list[str] = []
    out = io.BytesIO()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as source:
            entries = source.infolist()
            _check_zip(entries)
            with zipfile.ZipFile(out, "w") as target:
                for entry in entries:
                    content, code = rewrite(entry.filename, source.read(entry))
                    if code:
                        removed.append(code)
                    if content is None:
                        continue
                    info = zipfile.ZipInfo(entry.filename, _ZIP_EPOCH)
                    info.compress_type = entry.compress_type
                    info.external_attr = 0o600 << 16
                    target.writestr(info, content)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError) as error:
        raise AttachmentRefused(code="attachment_unreadable") from error
    return Sanitised(out.getvalue(), stripped=True, removed=tuple(removed))


def _check_zip(entries: list[zipfile.ZipInfo]) -> None:
    """Refuse before inflating anything: sizes come from the central directory, and zipfile
    stops reading an entry at its declared size."""
    if len(entries) > MAX_ZIP_ENTRIES:
        raise AttachmentRefused(code="attachment_zip_bomb")
    if sum(entry.file_size for entry in entries) > MAX_ZIP_UNPACKED:
        raise AttachmentRefused(code="attachment_zip_bomb")
    names = [entry.filename for entry in entries]
    if len(set(names)) != len(names):
        raise AttachmentRefused(code="attachment_unreadable")  # which copy would Office read?
