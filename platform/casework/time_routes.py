"""Time entries over HTTP: add and delete on the case page, and the counsellor's own month.

Counsellors only (the guard); each case handler finds the case through `cases.access_case`
before it reads the form, so another organisation's case (or an entry under it) answers 404
exactly like one that does not exist. CSRF is the middleware's. A refused entry shows the case
page again with the errors and what was typed (422); success goes back to the time panel.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID

from babel.dates import format_date
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from casework import case_routes, cases, time_entries
from casework.time_entries import ACTIVITY_FIELD, DATE_FIELD, MINUTES_FIELD
from klankbord.auth import current_context, requires
from klankbord.errors import Invalid
from klankbord.forms import form_text, see_other
from klankbord.templating import page, request_language
from klankbord.tenancy import Role, TenantContext, tenant_transaction


def parse_minutes(text: str) -> int | None:
    """A whole number of minutes as typed ("45", " 90 ", "-5"); None when it is not one."""
    text = text.strip()
    digits = text[1:] if text.startswith("-") else text
    if not digits.isdigit() or len(digits) > 6:
        return None
    return int(text)


def parse_date(text: str) -> date | None:
    """An ISO date as a date input sends it ("2026-12-04"); None otherwise."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def parse_month(text: str, today: date) -> date:
    """ "2026-11" → its first day; anything else is the current month (never an error)."""
    try:
        year, month = (int(part) for part in text.split("-"))
        return date(year, month, 1) if 2000 <= year <= 2100 else today.replace(day=1)
    except ValueError:
        return today.replace(day=1)


async def _check_case(ctx: TenantContext, case_id: UUID) -> None:
    async with tenant_transaction(ctx):
        await cases.access_case(ctx, case_id)


def _back(case_id: UUID) -> Response[Any]:
    return see_other(f"/cases/{case_id}#time")


class CaseTimePages(Controller):
    path = "/cases/{case_id:uuid}/time"
    guards = [requires(Role.COUNSELLOR)]
    include_in_schema = False

    @post("/", name="case_time_add")
    async def add(self, request: Request[Any, Any, Any], case_id: FromPath[UUID]) -> Any:
        ctx = current_context(request)
        await _check_case(ctx, case_id)
        form = await request.form()
        values = {
            MINUTES_FIELD: form_text(form, MINUTES_FIELD, 20, strip=True),
            ACTIVITY_FIELD: form_text(form, ACTIVITY_FIELD, 40, strip=True),
            DATE_FIELD: form_text(form, DATE_FIELD, 20, strip=True),
        }
        minutes = parse_minutes(values[MINUTES_FIELD])
        # An empty date is today: the usual case needs no typing.
        typed_date = values[DATE_FIELD]
        spent_on = parse_date(typed_date) if typed_date else time_entries.local_today()
        errors: dict[str, str] = {}
        if minutes is None:
            errors[MINUTES_FIELD] = (
                "minutes_not_whole" if values[MINUTES_FIELD] else "minutes_required"
            )
        if spent_on is None:
            errors[DATE_FIELD] = "date_invalid"
        if not errors and minutes is not None and spent_on is not None:
            try:
                await time_entries.add_time_entry(
                    ctx,
                    case_id=case_id,
                    minutes=minutes,
                    activity=values[ACTIVITY_FIELD],
                    spent_on=spent_on,
                )
            except Invalid as invalid:
                errors.update(invalid.fields)
        if errors:
            return await case_routes._case_page(
                request, case_id, errors=errors, values=values, status_code=422
            )
        return _back(case_id)

    @post("/{entry_id:uuid}/delete", name="case_time_delete")
    async def delete(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID], entry_id: FromPath[UUID]
    ) -> Any:
        ctx = current_context(request)
        try:
            await time_entries.delete_time_entry(ctx, case_id=case_id, entry_id=entry_id)
        except Invalid as invalid:
            return await case_routes._case_page(
                request, case_id, errors=invalid.fields, status_code=422
            )
        return _back(case_id)


class TimeOverviewPages(Controller):
    path = "/time"
    guards = [requires(Role.COUNSELLOR)]
    include_in_schema = False

    @get("/", name="time_overview")
    async def overview(
        self, request: Request[Any, Any, Any], month: FromQuery[str] = ""
    ) -> Template:
        ctx = current_context(request)
        language = request_language(request)
        today = time_entries.local_today()
        result = await time_entries.month_overview(ctx, month=parse_month(month, today))
        start, following = time_entries.month_bounds(result.month)
        previous = (start - timedelta(days=1)).replace(day=1)
        return page(
            request,
            "time/overview.html",
            overview=result,
            month_label=format_date(start, "LLLL y", locale=language),
            days={
                row.spent_on: format_date(row.spent_on, "medium", locale=language)
                for row in result.rows
            },
            previous_link=f"/time?month={previous:%Y-%m}",
            next_link=f"/time?month={following:%Y-%m}" if following <= today else None,
        )


ROUTES: list[Any] = [CaseTimePages, TimeOverviewPages]
