"""The bureau admin's dashboard over HTTP: the page and its CSV export.

Thin: the GET parameters go through `dashboard.parse_query` (unknown values fall back to the
defaults, never an error), the service does the rest. Filters work without JavaScript (a GET
form); sort links and page links keep the filters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_date
from litestar import Controller, Request, get
from litestar.response import Stream, Template

from klankbord.auth import current_context, requires
from klankbord.templating import page, request_language
from klankbord.tenancy import Role
from tenants import dashboard
from tenants.choices import Country, Sector

# Column headers that sort, in the order of the table.
SORTABLE = ("name", "status", "headcount", "counsellors", "created")


def _today() -> date:
    return datetime.now(UTC).date()


class DashboardPages(Controller):
    path = "/bureau"
    guards = [requires(Role.BUREAU_ADMIN)]
    include_in_schema = False

    @get("/dashboard", name="bureau_dashboard")
    async def dashboard_page(self, request: Request[Any, Any, Any]) -> Template:
        ctx = current_context(request)
        query = dashboard.parse_query(request.query_params)
        result = await dashboard.dashboard_page(ctx, query, today=_today())
        language = request_language(request)
        query = result.query

        def link(**changes: Any) -> str:
            parameters = query.parameters(**changes)
            return "/bureau/dashboard" + (f"?{urlencode(parameters)}" if parameters else "")

        sort_links = {
            key: link(
                sort=key,
                order="desc" if query.sort == key and query.order == "asc" else "asc",
                page=1,
            )
            for key in SORTABLE
        }
        export = query.parameters(page=1)
        # Billing flags the organisations whose payment failed (their links keep working).
        from billing.subscriptions import failed_payments

        failed = await failed_payments(ctx, [row.id for row in result.rows])
        return page(
            request,
            "dashboard/dashboard.html",
            result=result,
            query=query,
            rows=result.rows,
            payment_failed=failed,
            created={
                row.id: format_date(row.created_at, "medium", locale=language)
                for row in result.rows
            },
            expires={
                w.staff_user_id: format_date(w.expires_on, "medium", locale=language)
                for w in result.warnings
                if w.expires_on is not None
            },
            sort_links=sort_links,
            previous_link=link(page=query.page - 1) if query.page > 1 else None,
            next_link=link(page=query.page + 1) if query.page < result.pages else None,
            export_link="/bureau/dashboard.csv" + (f"?{urlencode(export)}" if export else ""),
            countries=[c.value for c in Country],
            sectors=[s.value for s in Sector],
            statuses=dashboard.STATUSES,
        )

    @get("/dashboard.csv", name="bureau_dashboard_csv")
    async def dashboard_csv(self, request: Request[Any, Any, Any]) -> Stream:
        ctx = current_context(request)
        query = dashboard.parse_query(request.query_params)
        chunks = await dashboard.export_csv(ctx, query)

        async def stream() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        filename = f"klankbord-organisations-{_today().isoformat()}.csv"
        return Stream(
            stream(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            },
        )


ROUTES: list[Any] = [DashboardPages]
