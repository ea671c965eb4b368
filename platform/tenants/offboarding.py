"""Offboarding an organisation: export everything, then delete it for good.

The bureau admin only, in two steps. `export_organisation` builds a zip of every row of the
organisation in every tenant-owned table with an organisation column (found generically from
the Piccolo app registry and `tenant_owned`, so new casework tables are in it without a change
here; secret columns are left out), a manifest, and an `attachments/` folder; it records
`Organisation.export_made_at`. `delete_organisation` then needs that export, the organisation's
exact name and a confirmation; it deletes every row of the organisation (children before
parents, the order derived from the foreign keys), destroys the data key (so sealed content,
backups included, can no longer be read) and the organisation itself, in one transaction.
The organisation's attachment blobs (`storage.organisation_prefix`) go after that.

What stays: the bureau's hash-chained audit log (ids and codes, never content).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from piccolo.columns import Column, ForeignKey
from piccolo.table import Table

from klankbord import audit, database, keys, storage
from klankbord.errors import Invalid, PermissionDenied
from klankbord.settings import Settings
from klankbord.tenancy import TenantContext, scoped, table_scope, tenant_transaction
from tenants.access import access_organisation
from tenants.tables import IntakeLink, Membership, Organisation

EXPORT_FORMAT = "klankbord-organisation-export"
EXPORT_FORMAT_VERSION = 1
CONFIRM_NAME_LIMIT = 300


# --- which tables hold the organisation ---------------------------------------------------


def organisation_tables() -> list[tuple[type[Table], Column]]:
    """Every registered table declared with an organisation column, with that column."""
    found: list[tuple[type[Table], Column]] = []
    for table in database.all_tables():
        if getattr(table, "_klankbord_scope", None) is None:
            continue  # not tenant-owned: the audit log, sessions, Piccolo's migrations
        name = table_scope(table).organisation
        if name is not None:
            found.append((table, table._meta.get_column_by_name(name)))
    return sorted(found, key=lambda item: item[0]._meta.tablename)


def deletion_order() -> list[tuple[type[Table], Column]]:
    """`organisation_tables()`, children before parents: a table that references another one
    of them (a foreign key) comes first. Derived from the foreign keys, so a new table is
    placed without a change here; a cycle is a programming error."""
    tables = organisation_tables()
    by_table = dict(tables)
    parents: dict[type[Table], set[type[Table]]] = {table: set() for table in by_table}
    for table in by_table:
        for column in table._meta.foreign_key_columns:
            assert isinstance(column, ForeignKey)
            referenced = column._foreign_key_meta.resolved_references
            if referenced in by_table and referenced is not table:
                parents[table].add(referenced)
    ordered: list[type[Table]] = []
    remaining = set(by_table)
    while remaining:
        # Tables no remaining table references: nothing left points at their rows.
        free = sorted(
            (t for t in remaining if not any(t in parents[other] for other in remaining)),
            key=lambda t: t._meta.tablename,
        )
        if not free:
            raise RuntimeError("foreign keys between organisation tables form a cycle")
        ordered.extend(free)
        remaining -= set(free)
    return [(table, by_table[table]) for table in ordered]


def _exported_columns(table: type[Table]) -> list[Column]:
    return [column for column in table._meta.columns if not column._meta.secret]


# --- the page's facts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    organisation: dict[str, Any]
    intake_links: int
    memberships: int


async def _access(ctx: TenantContext, organisation_id: UUID) -> dict[str, Any]:
    """The organisation, for its bureau admin: another tenant's is not found, a counsellor or
    contact of this one may not."""
    organisation = await access_organisation(ctx, organisation_id)
    if not ctx.bureau_admin:
        raise PermissionDenied()
    return organisation


async def summary(ctx: TenantContext, *, organisation_id: UUID) -> Summary:
    async with tenant_transaction(ctx):
        organisation = await _access(ctx, organisation_id)
        links = await scoped(IntakeLink.count(), IntakeLink, ctx).where(
            IntakeLink.organisation == organisation_id
        )
        memberships = await scoped(Membership.count(), Membership, ctx).where(
            Membership.organisation == organisation_id
        )
    return Summary(organisation=organisation, intake_links=links, memberships=memberships)


# --- the export ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFile:
    """One file for the export's `attachments/` folder (name relative to it)."""

    name: str
    content: bytes


AttachmentSource = Callable[[TenantContext, UUID], AsyncIterator[ExportFile]]

ATTACHMENT_SOURCES: list[AttachmentSource] = []
"""The extension point for files: the reporter-intake issue registers a source here that
yields the organisation's attachments (opened with `keys.data_key`), e.g.
`ATTACHMENT_SOURCES.append(casework.attachments.export_files)`. Each source runs inside the
export's tenant transaction. Today there are none: the folder is empty."""


RowTransform = Callable[[dict[str, Any], bytes], dict[str, Any]]

ROW_TRANSFORMS: dict[str, RowTransform] = {}
"""The extension point for sealed columns: table name → a function that gets one exported row
and the organisation's data key and returns the row with its sealed values opened (the export
must hold readable content, not ciphertext). Registered by the app that owns the table (the
reporter-intake issue, for its casework tables); none today."""


@dataclass(frozen=True)
class Export:
    filename: str
    content: bytes
    counts: dict[str, int]


def _json_value(value: Any) -> Any:
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"not exportable: {type(value).__name__}")


def _json(value: Any) -> bytes:
    text = json.dumps(value, default=_json_value, ensure_ascii=False, indent=2, sort_keys=True)
    return text.encode()


async def export_organisation(ctx: TenantContext, *, organisation_id: UUID) -> Export:
    """Everything of the organisation as a zip, in memory; records `export_made_at`."""
    now = datetime.now(UTC)
    buffer = io.BytesIO()
    counts: dict[str, int] = {}
    async with tenant_transaction(ctx):
        organisation = await _access(ctx, organisation_id)
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for table, column in organisation_tables():
                query = scoped(table.select(*_exported_columns(table)), table, ctx)
                query = query.where(column == organisation_id)
                rows = await query.order_by(table._meta.primary_key)
                name = table._meta.tablename
                transform = ROW_TRANSFORMS.get(name)
                if transform is not None and rows:
                    key = await keys.data_key(ctx, organisation_id=organisation_id)
                    rows = [transform(row, key) for row in rows]
                counts[name] = len(rows)
                archive.writestr(f"tables/{name}.json", _json(rows))
            archive.writestr("attachments/", b"")
            attachments = 0
            for source in ATTACHMENT_SOURCES:
                async for file in source(ctx, organisation_id):
                    parts = file.name.split("/")
                    if file.name.startswith("/") or any(p in ("", ".", "..") for p in parts):
                        raise ValueError("an attachment name must be a plain relative path")
                    archive.writestr(f"attachments/{file.name}", file.content)
                    attachments += 1
            manifest = {
                "format": EXPORT_FORMAT,
                "format_version": EXPORT_FORMAT_VERSION,
                "organisation_id": organisation_id,
                "bureau_id": organisation["bureau"],
                "exported_at": now,
                "tables": counts,
                "attachments": attachments,
            }
            archive.writestr("manifest.json", _json(manifest))
        marked = scoped(Organisation.update({Organisation.export_made_at: now}), Organisation, ctx)
        await marked.where(Organisation.id == organisation_id)
        await audit.record(
            ctx,
            action="organisation.exported",
            bureau_id=organisation["bureau"],
            organisation_id=organisation_id,
            subject_type="organisation",
            subject_id=organisation_id,
            detail={"tables": counts, "attachments": attachments},
        )
    filename = f"klankbord-export-{organisation_id}-{now:%Y%m%d-%H%M%S}.zip"
    return Export(filename=filename, content=buffer.getvalue(), counts=counts)


# --- the deletion -------------------------------------------------------------------------


async def delete_organisation(
    ctx: TenantContext,
    settings: Settings,
    *,
    organisation_id: UUID,
    typed_name: str,
    confirmed: bool,
) -> dict[str, int]:
    """Delete the organisation for good; the rows deleted per table.

    Refused (`Invalid`, nothing changed) without an export, without the organisation's exact
    name (trimmed, case-sensitive) or without the confirmation. The access check comes first,
    so another tenant's organisation is not found whatever the form says.
    """
    counts: dict[str, int] = {}
    async with tenant_transaction(ctx):
        organisation = await _access(ctx, organisation_id)
        errors: dict[str, str] = {}
        if organisation["export_made_at"] is None:
            errors["export"] = "export_first"
        typed = typed_name.strip()
        if not typed:
            errors["name"] = "required"
        elif typed != organisation["name"]:
            errors["name"] = "mismatch"
        if not confirmed:
            errors["confirm"] = "required"
        if errors:
            raise Invalid(fields=errors)

        order = deletion_order()
        for table, column in order:
            query = scoped(table.count(), table, ctx).where(column == organisation_id)
            counts[table._meta.tablename] = await query
        # The key first: whatever else happens to copies of the data, it is unreadable now.
        keys_destroyed = await keys.destroy_data_key(ctx, organisation_id=organisation_id)
        for table, column in order:
            await scoped(table.delete(), table, ctx).where(column == organisation_id)
        await audit.record(
            ctx,
            action="organisation.deleted",
            bureau_id=organisation["bureau"],
            organisation_id=organisation_id,
            subject_type="organisation",
            subject_id=organisation_id,
            detail={"tables": counts, "data_key_destroyed": keys_destroyed},
        )
    # After the commit: a failed deletion must not have removed files already. The key is
    # gone, so a failure here leaves only unreadable ciphertext (retrying deletes the rest).
    await storage.blob_store(settings).delete_prefix(storage.organisation_prefix(organisation_id))
    return counts
