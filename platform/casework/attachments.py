"""Attachments of reports and messages as rows: saved with a case or message, listed and
downloaded. Staging (streaming, encrypting, sanitising) is in `casework.staging`, re-exported
here for the routes.

File names are sealed like other case content; only the media type (sniffed, never the one
the browser declared), the size and whether the copy was stripped stay in clear.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from casework import sealing
from casework.choices import Author
from casework.staging import ReadyFile, StagedFile, Stager, discard, finish
from casework.tables import Attachment, Case, Message
from klankbord.errors import NotFound
from klankbord.storage import BlobStore, blob_key
from klankbord.streams import attachment_context, decrypt_stream
from klankbord.tenancy import (
    Scope,
    TenantContext,
    check_may_write,
    require_transaction,
    scoped,
    tenant_transaction,
)

__all__ = [
    "AttachmentView",
    "Download",
    "ReadyFile",
    "StagedFile",
    "Stager",
    "discard",
    "finish",
    "list_attachments",
    "open_download",
    "save_attachments",
]

NAME = "attachment.name"


# --- rows -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttachmentView:
    id: UUID
    message_id: UUID | None
    name: str
    media_type: str
    size: int
    stripped: bool
    has_original: bool
    author: Author
    created_at: datetime


@dataclass(frozen=True)
class Download:
    """A decrypted attachment to stream. `size` is None for an original (only the copy's
    size is stored). The stream may raise `StreamInvalid` midway: abort the response then,
    never end it as if the file were shorter."""

    name: str
    media_type: str
    size: int | None
    chunks: AsyncIterator[bytes]


def _uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


async def save_attachments(
    ctx: TenantContext,
    sealer: sealing.Sealer,
    *,
    case_id: UUID,
    message_id: UUID | None,
    author: Author,
    files: Sequence[ReadyFile],
) -> list[UUID]:
    """Insert the attachment rows, inside the caller's transaction (the caller discards the
    blobs if that transaction fails). The case, and the message if any, must be the
    context's; a reporter can only add reporter files."""
    require_transaction(ctx)
    if not files:
        return []
    case = (
        await scoped(Case.select(Case.organisation, Case.bureau), Case, ctx)
        .where(Case.id == case_id)
        .first()
    )
    if case is None:
        raise NotFound()
    organisation_id, bureau_id = _uuid(case["organisation"]), _uuid(case["bureau"])
    check_may_write(ctx, bureau_id=bureau_id, organisation_id=organisation_id)
    if sealer.organisation_id != organisation_id:
        raise ValueError("the sealer is another organisation's")
    if ctx.scope is Scope.REPORTER and author is not Author.REPORTER:
        raise NotFound()
    if message_id is not None and not await scoped(Message.exists(), Message, ctx).where(
        (Message.id == message_id) & (Message.case == case_id)
    ):
        raise NotFound()
    ids = [uuid4() for _ in files]
    await Attachment.insert(
        *(
            Attachment(
                id=attachment_id,
                case=case_id,
                organisation=organisation_id,
                bureau=bureau_id,
                message=message_id,
                author=author,
                name=sealer.seal(NAME, attachment_id, ready.name),
                media_type=ready.media_type,
                size=ready.size,
                blob=ready.blob_id,
                original_blob=ready.original_blob_id,
                stripped=ready.stripped,
            )
            for attachment_id, ready in zip(ids, files, strict=True)
        )
    )
    return ids


async def list_attachments(
    ctx: TenantContext, sealer: sealing.Sealer, *, case_id: UUID
) -> list[AttachmentView]:
    """The case's attachments, oldest first, names opened (one query)."""
    require_transaction(ctx)
    rows = (
        await scoped(Attachment.select(), Attachment, ctx)
        .where(Attachment.case == case_id)
        .order_by(Attachment.created_at, Attachment.id)
    )
    return [
        AttachmentView(
            id=_uuid(row["id"]),
            message_id=None if row["message"] is None else _uuid(row["message"]),
            name=sealer.open(NAME, _uuid(row["id"]), row["name"]),
            media_type=row["media_type"],
            size=row["size"],
            stripped=bool(row["stripped"]),
            has_original=row["original_blob"] is not None,
            author=Author(row["author"]),
            created_at=row["created_at"],
        )
        for row in rows
    ]


async def open_download(
    ctx: TenantContext,
    store: BlobStore,
    *,
    case_id: UUID,
    attachment_id: UUID,
    original: bool = False,
) -> Download:
    """The attachment (its untouched original with `original`), decrypting as it streams.
    `NotFound` for a missing id, another organisation's, or no original kept.

    Routes send it as an attachment, never inline: `Content-Disposition: attachment` with the
    name as RFC 5987 `filename*=UTF-8''…`, and `X-Content-Type-Options: nosniff` (global), so
    a browser never renders a reporter's file in our origin. Text comes with
    `charset=utf-8`: its bytes were checked to be UTF-8 (`klankbord.filetypes`)."""
    async with tenant_transaction(ctx):
        row = (
            await scoped(Attachment.select(), Attachment, ctx)
            .where((Attachment.id == attachment_id) & (Attachment.case == case_id))
            .first()
        )
        if row is None or (original and row["original_blob"] is None):
            raise NotFound()
        organisation_id = _uuid(row["organisation"])
        opened = await sealing.sealer(ctx, organisation_id)
    blob_id = _uuid(row["original_blob"] if original else row["blob"])
    stored = await store.get(blob_key(organisation_id, blob_id))  # BlobNotFound: a NotFound
    media_type = row["media_type"]
    if media_type == "text/plain":
        media_type = "text/plain; charset=utf-8"
    return Download(
        name=opened.open(NAME, _uuid(row["id"]), row["name"]),
        media_type=media_type,
        size=None if original else row["size"],
        chunks=decrypt_stream(
            opened.key, stored, context=attachment_context(organisation_id, blob_id)
        ),
    )
