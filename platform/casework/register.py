"""An organisation's register of cases (REQUIREMENTS §6): one line per case with its
reference, date received, channel, procedure, categories, status, outcome and date closed.

Codes and dates only: no free text, no names, nothing sealed is read. The counsellors of the
organisation and the bureau admin may export it; an organisation contact is refused (403:
they know the organisation exists), anyone else gets the same `NotFound` as for an
organisation that does not exist.

Reading costs two queries per batch of `BATCH` cases (the cases, then the categories of those
cases), whatever the number of cases in a batch. The CSV is read in offset batches inside one
tenant transaction and sent after it has closed, as the dashboard export does (see
`tenants.dashboard`); its cells go through the dashboard's `csv_safe`. Dates are the dates in
the Netherlands and Belgium, as the case page shows them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from casework.tables import Case, CaseCategory
from casework.time_entries import local_date, local_today
from klankbord import audit
from klankbord.errors import PermissionDenied
from klankbord.tenancy import (
    Role,
    Scope,
    TenantContext,
    require_transaction,
    scoped,
    tenant_transaction,
)
from tenants.access import access_organisation
from tenants.dashboard import csv_safe

if TYPE_CHECKING:
    from casework.report_labels import Labels

BATCH = 1000
CATEGORY_SEPARATOR = "|"
CSV_HEADER = (
    "reference",
    "received_on",
    "channel",
    "procedure",
    "categories",
    "status",
    "outcome",
    "closed_on",
)


@dataclass(frozen=True)
class RegisterRow:
    reference: str
    received_on: date
    channel: str
    procedure: str
    categories: tuple[str, ...]
    status: str
    outcome: str
    closed_on: date | None


@dataclass(frozen=True)
class RegisterPdf:
    organisation_name: str
    rows: int
    content: bytes


@dataclass(frozen=True)
class RegisterExport:
    organisation_name: str  # for the file name
    rows: int
    chunks: list[bytes]


async def _access_register(ctx: TenantContext, organisation_id: UUID) -> dict[str, Any]:
    organisation = await access_organisation(ctx, organisation_id)
    if ctx.scope is Scope.SYSTEM or ctx.bureau_admin:
        return organisation
    if ctx.role_in(organisation_id) is not Role.COUNSELLOR:
        raise PermissionDenied()
    return organisation


async def _batch(
    ctx: TenantContext, organisation_id: UUID, *, limit: int, offset: int
) -> list[RegisterRow]:
    require_transaction(ctx)
    cases = (
        await scoped(
            Case.select(
                Case.id,
                Case.reference,
                Case.received_at,
                Case.channel,
                Case.procedure,
                Case.status,
                Case.outcome,
                Case.closed_at,
            ),
            Case,
            ctx,
        )
        .where(Case.organisation == organisation_id)
        .order_by(Case.received_at)
        .order_by(Case.id)
        .limit(limit)
        .offset(offset)
    )
    categories: dict[str, list[str]] = {}
    if cases:
        found = (
            await scoped(
                CaseCategory.select(CaseCategory.case, CaseCategory.code), CaseCategory, ctx
            )
            .where(CaseCategory.organisation == organisation_id)
            .where(CaseCategory.case.is_in([row["id"] for row in cases]))
            .order_by(CaseCategory.code)
        )
        for item in found:
            categories.setdefault(str(item["case"]), []).append(item["code"])
    return [
        RegisterRow(
            reference=row["reference"],
            received_on=local_date(row["received_at"]),
            channel=row["channel"],
            procedure=row["procedure"],
            categories=tuple(categories.get(str(row["id"]), [])),
            status=row["status"],
            outcome=row["outcome"],
            closed_on=local_date(row["closed_at"]) if row["closed_at"] else None,
        )
        for row in cases
    ]


async def register_rows(ctx: TenantContext, organisation_id: UUID) -> list[RegisterRow]:
    """Every case of the organisation, oldest first (for the PDF)."""
    async with tenant_transaction(ctx):
        await _access_register(ctx, organisation_id)
        rows: list[RegisterRow] = []
        while True:
            batch = await _batch(ctx, organisation_id, limit=BATCH, offset=len(rows))
            rows.extend(batch)
            if len(batch) < BATCH:
                return rows


def csv_line(row: RegisterRow) -> list[str]:
    return [
        csv_safe(row.reference),
        row.received_on.isoformat(),
        csv_safe(row.channel),
        csv_safe(row.procedure),
        csv_safe(CATEGORY_SEPARATOR.join(row.categories)),
        csv_safe(row.status),
        csv_safe(row.outcome),
        row.closed_on.isoformat() if row.closed_on else "",
    ]


def _encode(lines: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(lines)
    return buffer.getvalue().encode("utf-8")


async def _audited(
    ctx: TenantContext,
    organisation: dict[str, Any],
    *,
    rows: int,
    export_format: str,
    language: str | None = None,
) -> None:
    """`register.exported`: how many rows, in which format (and language)."""
    detail: dict[str, Any] = {"rows": rows, "format": export_format}
    if language is not None:
        detail["language"] = language
    await audit.record(
        ctx,
        action="register.exported",
        bureau_id=organisation["bureau"],
        organisation_id=organisation["id"],
        subject_type="organisation",
        subject_id=organisation["id"],
        detail=detail,
    )


async def export_csv(ctx: TenantContext, organisation_id: UUID) -> RegisterExport:
    """The register as UTF-8 CSV chunks (a BOM and the header, then one chunk per batch).
    Audited as `register.exported` with the number of rows."""
    chunks = [b"\xef\xbb\xbf" + _encode([list(CSV_HEADER)])]  # BOM: spreadsheets read UTF-8
    exported = 0
    async with tenant_transaction(ctx):
        organisation = await _access_register(ctx, organisation_id)
        while True:
            batch = await _batch(ctx, organisation_id, limit=BATCH, offset=exported)
            if batch:
                chunks.append(_encode([csv_line(row) for row in batch]))
            exported += len(batch)
            if len(batch) < BATCH:
                break
        await _audited(ctx, organisation, rows=exported, export_format="csv")
    return RegisterExport(organisation_name=organisation["name"], rows=exported, chunks=chunks)


async def export_pdf(
    ctx: TenantContext, organisation_id: UUID, *, labels: Labels, language: str
) -> RegisterPdf:
    """The register as a PDF in `language` (codes translated). Audited like the CSV."""
    from casework import report_pdf  # it reads `RegisterRow` from here

    async with tenant_transaction(ctx):
        organisation = await _access_register(ctx, organisation_id)
        rows = await register_rows(ctx, organisation_id)
        await _audited(ctx, organisation, rows=len(rows), export_format="pdf", language=language)
    content = report_pdf.register_pdf(
        organisation_name=organisation["name"],
        rows=rows,
        labels=labels,
        language=language,
        generated_on=local_today(),
    )
    return RegisterPdf(organisation_name=organisation["name"], rows=len(rows), content=content)
