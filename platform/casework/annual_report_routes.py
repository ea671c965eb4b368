"""Annual reports over HTTP: the list and the report page per organisation, the counsellor's
forms (start, texts and k, review, final), CSV and PDF in nl/en/fr, the register as PDF, and
the bureau-wide figures per sector for the bureau admin.

The guard admits every staff role; `casework.annual_reports` decides the rest (an
organisation contact reads final reports only, another tenant's organisation is 404 like a
missing one). Exports take their language from `?lang=` (else the page's) and are audited
before the first byte is sent. A refused form shows the page again with what was typed (422).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from casework import annual_exports, annual_reports, register, report_pdf
from casework.annual_model import DEFAULT_K, PublishedFigures
from casework.register_routes import attachment, download_name
from casework.report_charts import report_charts
from casework.report_labels import Labels
from casework.time_entries import local_today
from klankbord import mail
from klankbord.app_state import app_settings
from klankbord.auth import STAFF_ROLES, current_context, requires
from klankbord.errors import Conflict, Invalid
from klankbord.forms import form_text, see_other
from klankbord.settings import LANGUAGES
from klankbord.templating import page, request_language
from klankbord.tenancy import Role

TEXT_FIELDS = ("narrative", "preventive")


def _language(request: Request[Any, Any, Any], lang: str) -> str:
    return lang if lang in LANGUAGES else request_language(request)


def _labels(request: Request[Any, Any, Any], language: str) -> Labels:
    return Labels(mail.translator(app_settings(request), language))


def _download(content: bytes, media_type: str, disposition: str) -> Response[bytes]:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )


def _charts(request: Request[Any, Any, Any], figures: PublishedFigures) -> dict[str, Any]:
    return dict(report_charts(figures, _labels(request, request_language(request))))


def _base(organisation_id: UUID) -> str:
    return f"/organisations/{organisation_id}/annual-reports"


class AnnualReportPages(Controller):
    path = "/organisations/{organisation_id:uuid}"
    guards = [requires(*STAFF_ROLES)]
    include_in_schema = False

    @get("/annual-reports", name="annual_reports")
    async def index(self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]) -> Any:
        return await self._index(request, organisation_id)

    async def _index(
        self,
        request: Request[Any, Any, Any],
        organisation_id: UUID,
        *,
        errors: dict[str, str] | None = None,
        year: str = "",
        status_code: int = 200,
    ) -> Template:
        ctx = current_context(request)
        listing = await annual_reports.report_list(ctx, organisation_id)
        return page(
            request,
            "annual_reports/index.html",
            organisation_id=organisation_id,
            organisation_name=listing.organisation_name,
            reports=listing.reports,
            may_start=annual_reports.may_write(ctx, organisation_id),
            year=year or str(local_today().year - 1),
            errors=errors or {},
            status_code=status_code,
        )

    @post("/annual-reports", name="annual_report_start")
    async def start(self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]) -> Any:
        typed = form_text(await request.form(), "year", 8, strip=True)
        year = int(typed) if typed.isdigit() else 0
        try:
            await annual_reports.start_report(
                current_context(request), organisation_id=organisation_id, year=year
            )
        except Invalid as invalid:
            return await self._index(
                request, organisation_id, errors=invalid.fields, year=typed, status_code=422
            )
        return see_other(f"{_base(organisation_id)}/{year}")

    @get("/annual-reports/{year:int}", name="annual_report")
    async def report(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID], year: FromPath[int]
    ) -> Template:
        return await _report_page(request, organisation_id, year)

    @post("/annual-reports/{year:int}/text", name="annual_report_text")
    async def save_text(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID], year: FromPath[int]
    ) -> Any:
        form = await request.form()
        values = {name: form_text(form, name, 40_000) for name in TEXT_FIELDS}
        values["k"] = form_text(form, "k", 4, strip=True)
        try:
            await annual_reports.save_text(
                current_context(request),
                organisation_id=organisation_id,
                year=year,
                narrative=values["narrative"],
                preventive=values["preventive"],
                k=int(values["k"]) if values["k"].isdigit() else 0,
            )
        except Invalid as invalid:
            return await _report_page(
                request,
                organisation_id,
                year,
                errors=invalid.fields,
                values=values,
                status_code=422,
            )
        except Conflict as conflict:
            return await _report_page(
                request, organisation_id, year, errors={"form": conflict.code}, status_code=409
            )
        return see_other(f"{_base(organisation_id)}/{year}#texts")

    @post("/annual-reports/{year:int}/review", name="annual_report_review")
    async def review(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID], year: FromPath[int]
    ) -> Any:
        return await _step(
            request,
            organisation_id,
            year,
            annual_reports.submit_for_review(
                current_context(request), organisation_id=organisation_id, year=year
            ),
        )

    @post("/annual-reports/{year:int}/final", name="annual_report_final")
    async def final(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID], year: FromPath[int]
    ) -> Any:
        return await _step(
            request,
            organisation_id,
            year,
            annual_reports.finalise(
                current_context(request), organisation_id=organisation_id, year=year
            ),
        )

    @get("/annual-reports/{year:int}/report.csv", name="annual_report_csv")
    async def csv(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        year: FromPath[int],
        lang: FromQuery[str] = "",
    ) -> Response[bytes]:
        return await _export(request, organisation_id, year, lang, "csv")

    @get("/annual-reports/{year:int}/report.pdf", name="annual_report_pdf")
    async def pdf(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        year: FromPath[int],
        lang: FromQuery[str] = "",
    ) -> Response[bytes]:
        return await _export(request, organisation_id, year, lang, "pdf")

    @get(
        "/register.pdf",
        name="organisation_register_pdf",
        guards=[requires(Role.COUNSELLOR, Role.BUREAU_ADMIN)],
    )
    async def register_pdf(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        lang: FromQuery[str] = "",
    ) -> Response[bytes]:
        language = _language(request, lang)
        export = await register.export_pdf(
            current_context(request),
            organisation_id,
            labels=_labels(request, language),
            language=language,
        )
        return _download(
            export.content, "application/pdf", download_name(export.organisation_name, "pdf")
        )


async def _report_page(
    request: Request[Any, Any, Any],
    organisation_id: UUID,
    year: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    view = await annual_reports.report_view(current_context(request), organisation_id, year)
    return page(
        request,
        "annual_reports/report.html",
        report=view,
        figures=view.figures,
        charts=_charts(request, view.figures),
        base=f"{_base(organisation_id)}/{year}",
        values=values
        or {"narrative": view.narrative, "preventive": view.preventive, "k": str(view.k)},
        errors=errors or {},
        status_code=status_code,
    )


async def _step(
    request: Request[Any, Any, Any], organisation_id: UUID, year: int, action: Any
) -> Any:
    try:
        await action
    except Conflict as conflict:
        return await _report_page(
            request, organisation_id, year, errors={"form": conflict.code}, status_code=409
        )
    return see_other(f"{_base(organisation_id)}/{year}")


async def _export(
    request: Request[Any, Any, Any], organisation_id: UUID, year: int, lang: str, kind: str
) -> Response[bytes]:
    ctx = current_context(request)
    language = _language(request, lang)
    view = await annual_reports.report_view(ctx, organisation_id, year)
    labels = _labels(request, language)
    await annual_reports.record_export(ctx, view, export_format=kind, language=language)
    name = f"{labels.word('annual_report', year=year)} {view.organisation_name}"
    if kind == "csv":
        content = annual_exports.report_csv(view.document(), labels)
        return _download(content, "text/csv; charset=utf-8", attachment(f"{name}.csv"))
    content = report_pdf.annual_report_pdf(view.document(), labels, language=language)
    return _download(content, "application/pdf", attachment(f"{name}.pdf"))


class BureauAnnualReportPages(Controller):
    path = "/bureau/annual-report"
    guards = [requires(Role.BUREAU_ADMIN)]
    include_in_schema = False

    @get("/", name="bureau_annual_report")
    async def overview(self, request: Request[Any, Any, Any], year: FromQuery[int] = 0) -> Template:
        chosen = year or local_today().year - 1
        result = await annual_reports.bureau_figures(current_context(request), year=chosen)
        return page(
            request,
            "annual_reports/bureau.html",
            bureau_name=result.bureau_name,
            figures=result.figures,
            charts=_charts(request, result.figures),
            year=chosen,
            years=list(range(local_today().year, local_today().year - 6, -1)),
            default_k=DEFAULT_K,
        )

    @get("/report.csv", name="bureau_annual_report_csv")
    async def csv(
        self, request: Request[Any, Any, Any], year: FromQuery[int] = 0, lang: FromQuery[str] = ""
    ) -> Response[bytes]:
        chosen = year or local_today().year - 1
        language = _language(request, lang)
        labels = _labels(request, language)
        result = await annual_reports.bureau_figures(current_context(request), year=chosen)
        content = annual_exports.figures_csv(result.figures, labels, heading=result.bureau_name)
        return _download(
            content,
            "text/csv; charset=utf-8",
            attachment(f"{labels.word('annual_report', year=chosen)} {result.bureau_name}.csv"),
        )


ROUTES: list[Any] = [AnnualReportPages, BureauAnnualReportPages]
