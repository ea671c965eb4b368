"""Annual reports (REQUIREMENTS §6): one per organisation and year, draft → review → final.

Who may do what:
- the organisation's counsellors and its bureau's admin start a report, write the narrative
  and the preventive activities, choose k, submit it for review and make it final;
- the organisation contact reads final reports only: a draft answers `NotFound`, as if it
  did not exist, and every write is `PermissionDenied` (they know the organisation);
- anyone else gets the `NotFound` of an organisation that does not exist.

Until final, the figures are counted whenever the report is read. Making it final stores the
published figures (already suppressed) and locks the report: it reads the same ever after,
also once its cases have been purged, and next year's report compares with it as published.
Audit events carry codes and the year, never the narrative.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

from casework import annual_figures, sealing, suppression
from casework.annual_model import (
    DEFAULT_K,
    PublishedFigures,
    ReportDocument,
    ReportStatus,
    figures_from_json,
    figures_to_json,
)
from casework.tables import AnnualReport
from casework.time_entries import local_date, local_today
from klankbord import audit
from klankbord.errors import Conflict, Invalid, NotFound, PermissionDenied
from klankbord.tenancy import Role, Scope, TenantContext, scoped, tenant_transaction
from tenants.access import access_bureau, access_organisation

TEXT_MAX_CHARS = 20_000
FIRST_YEAR = 2000
NARRATIVE, PREVENTIVE = "annual_report.narrative", "annual_report.preventive"


@dataclass(frozen=True)
class ReportSummary:
    year: int
    status: ReportStatus
    finalised_on: date | None


@dataclass(frozen=True)
class ReportView:
    id: UUID
    organisation_id: UUID
    organisation_name: str
    bureau_name: str
    year: int
    status: ReportStatus
    k: int
    narrative: str
    preventive: str
    figures: PublishedFigures
    finalised_on: date | None
    may_edit: bool  # a counsellor or the bureau admin, and not final yet

    def document(self) -> ReportDocument:
        return ReportDocument(
            organisation_name=self.organisation_name,
            bureau_name=self.bureau_name,
            year=self.year,
            status=self.status,
            figures=self.figures,
            narrative=self.narrative,
            preventive=self.preventive,
            finalised_on=self.finalised_on,
        )


def may_write(ctx: TenantContext, organisation_id: UUID) -> bool:
    """Whether `ctx` may start and write reports of the organisation (if it can see it)."""
    return _is_staff(ctx, organisation_id)


def _is_staff(ctx: TenantContext, organisation_id: UUID) -> bool:
    return (
        ctx.scope is Scope.SYSTEM
        or ctx.bureau_admin
        or ctx.role_in(organisation_id) is Role.COUNSELLOR
    )


async def _organisation(
    ctx: TenantContext, organisation_id: UUID, *, write: bool
) -> dict[str, Any]:
    organisation = await access_organisation(ctx, organisation_id)
    if write and not _is_staff(ctx, organisation_id):
        raise PermissionDenied()
    return organisation


async def _row(ctx: TenantContext, organisation_id: UUID, year: int) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await scoped(AnnualReport.select(), AnnualReport, ctx)
        .where(AnnualReport.organisation == organisation_id, AnnualReport.year == year)
        .first()
    )
    return row


def check_year(year: int, *, today: date | None = None) -> int:
    """A report covers a year that has begun (the current one as a draft in progress)."""
    if not FIRST_YEAR <= year <= (today or local_today()).year:
        raise Invalid(code="year_out_of_range", fields={"year": "year_out_of_range"})
    return year


@dataclass(frozen=True)
class ReportList:
    organisation_name: str
    reports: list[ReportSummary]


async def report_list(ctx: TenantContext, organisation_id: UUID) -> ReportList:
    """The organisation's name and its reports (see `list_reports`)."""
    async with tenant_transaction(ctx):
        organisation = await _organisation(ctx, organisation_id, write=False)
        return ReportList(organisation["name"], await list_reports(ctx, organisation_id))


async def list_reports(ctx: TenantContext, organisation_id: UUID) -> list[ReportSummary]:
    """The organisation's reports, newest year first (for the contact: final ones only)."""
    async with tenant_transaction(ctx):
        await _organisation(ctx, organisation_id, write=False)
        query = scoped(
            AnnualReport.select(AnnualReport.year, AnnualReport.status, AnnualReport.finalised_at),
            AnnualReport,
            ctx,
        ).where(AnnualReport.organisation == organisation_id)
        if not _is_staff(ctx, organisation_id):
            query = query.where(AnnualReport.status == ReportStatus.FINAL)
        rows = await query.order_by(AnnualReport.year, ascending=False)
    return [
        ReportSummary(
            year=row["year"],
            status=ReportStatus(row["status"]),
            finalised_on=local_date(row["finalised_at"]) if row["finalised_at"] else None,
        )
        for row in rows
    ]


async def start_report(ctx: TenantContext, *, organisation_id: UUID, year: int) -> None:
    """A draft for `year`; starting one that exists changes nothing (a double submit, or two
    counsellors at once: the unique index keeps it one)."""
    async with tenant_transaction(ctx):
        organisation = await _organisation(ctx, organisation_id, write=True)
        check_year(year)  # after access: a foreign organisation answers like a missing one
        if await _row(ctx, organisation_id, year) is not None:
            return
        report_id = uuid4()
        await AnnualReport.insert(
            AnnualReport(
                id=report_id,
                organisation=organisation_id,
                bureau=organisation["bureau"],
                year=year,
                status=ReportStatus.DRAFT,
                k=DEFAULT_K,
            )
        )
        await _record(ctx, organisation_id, report_id, "annual_report.started", year=year)


async def _record(
    ctx: TenantContext, organisation_id: UUID, report_id: UUID, action: str, **detail: Any
) -> None:
    await audit.record(
        ctx,
        action=action,
        organisation_id=organisation_id,
        subject_type="annual_report",
        subject_id=report_id,
        detail=detail,
    )


async def _live_figures(
    ctx: TenantContext, organisation_id: UUID, year: int, k: int
) -> PublishedFigures:
    current = await annual_figures.count_year(ctx, year=year, organisation_id=organisation_id)
    previous_row = await _row(ctx, organisation_id, year - 1)
    if previous_row is not None and previous_row["figures"]:
        return annual_figures.publish(
            current,
            year=year,
            k=k,
            previous_published=_stored(previous_row["figures"]),
        )
    previous = await annual_figures.count_year(ctx, year=year - 1, organisation_id=organisation_id)
    has_previous = previous.cases or previous.minutes
    return annual_figures.publish(
        current, year=year, k=k, previous=previous if has_previous else None
    )


def _stored(figures: str) -> PublishedFigures:
    return figures_from_json(json.loads(figures))


async def report_view(ctx: TenantContext, organisation_id: UUID, year: int) -> ReportView:
    async with tenant_transaction(ctx):
        organisation = await _organisation(ctx, organisation_id, write=False)
        staff = _is_staff(ctx, organisation_id)
        row = await _row(ctx, organisation_id, year)
        if row is None or (not staff and row["status"] != ReportStatus.FINAL):
            raise NotFound()
        sealer = await sealing.sealer(ctx, organisation_id)
        report_id = UUID(str(row["id"]))
        status = ReportStatus(row["status"])
        if status is ReportStatus.FINAL:
            figures = _stored(row["figures"])
        else:
            figures = await _live_figures(ctx, organisation_id, year, row["k"])
        bureau = await access_bureau(ctx, organisation["bureau"])
        return ReportView(
            id=report_id,
            organisation_id=organisation_id,
            organisation_name=organisation["name"],
            bureau_name=bureau["name"],
            year=year,
            status=status,
            k=row["k"],
            narrative=_open(sealer, NARRATIVE, report_id, row["narrative"]),
            preventive=_open(sealer, PREVENTIVE, report_id, row["preventive"]),
            figures=figures,
            finalised_on=local_date(row["finalised_at"]) if row["finalised_at"] else None,
            may_edit=staff and status is not ReportStatus.FINAL,
        )


def _open(sealer: sealing.Sealer, purpose: str, report_id: UUID, stored: str) -> str:
    return sealer.open(purpose, report_id, stored) if stored else ""


async def _editable(ctx: TenantContext, organisation_id: UUID, year: int) -> dict[str, Any]:
    await _organisation(ctx, organisation_id, write=True)
    row = await _row(ctx, organisation_id, year)
    if row is None:
        raise NotFound()
    if row["status"] == ReportStatus.FINAL:
        raise Conflict(code="report_final")
    return row


async def save_text(
    ctx: TenantContext,
    *,
    organisation_id: UUID,
    year: int,
    narrative: str,
    preventive: str,
    k: int,
) -> None:
    """The counsellor's texts and k (while not final). Invalid input changes nothing."""
    errors: dict[str, str] = {}
    if len(narrative) > TEXT_MAX_CHARS:
        errors["narrative"] = "text_too_long"
    if len(preventive) > TEXT_MAX_CHARS:
        errors["preventive"] = "text_too_long"
    try:
        suppression.check_k(k)
    except ValueError:
        errors["k"] = "k_out_of_range"
    if errors:
        raise Invalid(code=next(iter(errors.values())), fields=errors)
    async with tenant_transaction(ctx):
        row = await _editable(ctx, organisation_id, year)
        report_id = UUID(str(row["id"]))
        sealer = await sealing.sealer(ctx, organisation_id)
        await scoped(
            AnnualReport.update(
                {
                    AnnualReport.narrative: sealer.seal(NARRATIVE, report_id, narrative)
                    if narrative
                    else "",
                    AnnualReport.preventive: sealer.seal(PREVENTIVE, report_id, preventive)
                    if preventive
                    else "",
                    AnnualReport.k: k,
                    AnnualReport.updated_at: datetime.now(UTC),
                }
            ),
            AnnualReport,
            ctx,
        ).where(AnnualReport.id == report_id)
        await _record(ctx, organisation_id, report_id, "annual_report.saved", year=year, k=k)


async def submit_for_review(ctx: TenantContext, *, organisation_id: UUID, year: int) -> None:
    async with tenant_transaction(ctx):
        row = await _editable(ctx, organisation_id, year)
        if row["status"] != ReportStatus.DRAFT:
            raise Conflict(code="report_not_draft")
        report_id = UUID(str(row["id"]))
        await scoped(
            AnnualReport.update(
                {AnnualReport.status: ReportStatus.REVIEW, AnnualReport.submitted_at: _now()}
            ),
            AnnualReport,
            ctx,
        ).where(AnnualReport.id == report_id)
        await _record(ctx, organisation_id, report_id, "annual_report.submitted", year=year)


async def finalise(ctx: TenantContext, *, organisation_id: UUID, year: int) -> None:
    """Lock the report with its figures as published now. Only after review, and only for a
    year that has ended: the figures of a running year are not complete."""
    async with tenant_transaction(ctx):
        row = await _editable(ctx, organisation_id, year)
        if row["status"] != ReportStatus.REVIEW:
            raise Conflict(code="report_not_reviewed")
        if year >= local_today().year:
            raise Conflict(code="year_not_ended")
        report_id = UUID(str(row["id"]))
        figures = await _live_figures(ctx, organisation_id, year, row["k"])
        await scoped(
            AnnualReport.update(
                {
                    AnnualReport.status: ReportStatus.FINAL,
                    AnnualReport.figures: json.dumps(figures_to_json(figures)),
                    AnnualReport.finalised_at: _now(),
                    AnnualReport.finalised_by: ctx.staff_user_id,
                }
            ),
            AnnualReport,
            ctx,
        ).where(AnnualReport.id == report_id)
        await _record(ctx, organisation_id, report_id, "annual_report.finalised", year=year)


async def record_export(
    ctx: TenantContext, view: ReportView, *, export_format: str, language: str
) -> None:
    async with tenant_transaction(ctx):
        await _record(
            ctx,
            view.organisation_id,
            view.id,
            "annual_report.exported",
            year=view.year,
            format=export_format,
            language=language,
        )


@dataclass(frozen=True)
class BureauFigures:
    bureau_name: str
    figures: PublishedFigures


async def bureau_figures(ctx: TenantContext, *, year: int, k: int = DEFAULT_K) -> BureauFigures:
    """All the bureau's organisations together, with a breakdown per sector, for the bureau's
    own year report: the bureau admin only. Counted live, suppressed like any report."""
    check_year(year)
    if not ctx.bureau_admin or ctx.bureau_id is None:
        raise PermissionDenied()
    async with tenant_transaction(ctx):
        bureau = await access_bureau(ctx, ctx.bureau_id)
        current = await annual_figures.count_year(ctx, year=year, bureau_id=ctx.bureau_id)
        previous = await annual_figures.count_year(ctx, year=year - 1, bureau_id=ctx.bureau_id)
    figures = annual_figures.publish(
        current,
        year=year,
        k=k,
        tables=annual_figures.BUREAU_TABLES,
        previous=previous if previous.cases or previous.minutes else None,
    )
    return BureauFigures(bureau_name=bureau["name"], figures=figures)


def _now() -> datetime:
    return datetime.now(UTC)
