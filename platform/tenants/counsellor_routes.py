"""The bureau admin's counsellor pages: every counsellor's certification at a glance, and
one counsellor's certification and training hours to edit.

Thin: parse the form, call `tenants.counsellors`, render or redirect. Dates are shown in the
page's language (babel, "medium" as the date-times elsewhere) and sent by `<input
type="date">` as ISO dates. The save checks access before it reads the form, so another
bureau's counsellor answers 404 whatever was posted, exactly like an unknown id.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from uuid import UUID

from babel.dates import format_date
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from klankbord.auth import current_context, requires
from klankbord.errors import Invalid
from klankbord.forms import form_text
from klankbord.templating import page, request_language
from klankbord.tenancy import Role
from tenants import counsellors
from tenants.counsellors import Counsellor

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
FIELDS = ("certified_on", "expires_on", "training_hours")  # in the order of the form


def shown_date(value: date | None, language: str) -> dict[str, str] | None:
    """A date for a template: ISO (for `<time datetime>` and date inputs) and as read."""
    if value is None:
        return None
    return {"iso": value.isoformat(), "text": format_date(value, "medium", locale=language)}


def _counsellor_view(counsellor: Counsellor, language: str) -> dict[str, Any]:
    return {
        "staff_user_id": counsellor.staff_user_id,
        "display_name": counsellor.display_name,
        "organisations": [
            {"name": place.name, "assignment": place.assignment}
            for place in counsellor.organisations
        ],
        "certified_on": shown_date(counsellor.certified_on, language),
        "expires_on": shown_date(counsellor.expires_on, language),
        "training_hours": counsellor.training_hours,
        "state": counsellor.state,
    }


def _parse_date(value: str) -> date:
    # What <input type="date"> sends: YYYY-MM-DD (and nothing else fromisoformat accepts).
    if not _ISO_DATE.fullmatch(value):
        raise ValueError(value)
    return date.fromisoformat(value)


def parse_credential_form(
    form: dict[str, str],
) -> tuple[date | None, date | None, int | None, dict[str, str]]:
    """The typed values, and an error code per field that could not be read at all."""
    errors: dict[str, str] = {}
    certified_on = expires_on = None
    training_hours = None
    if form["certified_on"]:
        try:
            certified_on = _parse_date(form["certified_on"])
        except ValueError:
            errors["certified_on"] = "not_a_date"
    if form["expires_on"]:
        try:
            expires_on = _parse_date(form["expires_on"])
        except ValueError:
            errors["expires_on"] = "not_a_date"
    if form["training_hours"]:
        try:
            training_hours = int(form["training_hours"])
        except ValueError:
            errors["training_hours"] = "not_a_number"
    return certified_on, expires_on, training_hours, errors


class CounsellorPages(Controller):
    path = "/bureau/counsellors"
    guards = [requires(Role.BUREAU_ADMIN)]
    include_in_schema = False

    @get("/", name="bureau_counsellors")
    async def list_page(
        self,
        request: Request[Any, Any, Any],
        sort: FromQuery[str] = "name",
        saved: FromQuery[int] = 0,
    ) -> Template:
        order: counsellors.SortOrder = "expiry" if sort == "expiry" else "name"
        language = request_language(request)
        rows = await counsellors.list_counsellors(
            current_context(request), today=counsellors.local_today(), sort=order
        )
        return page(
            request,
            "counsellors/list.html",
            counsellors=[_counsellor_view(row, language) for row in rows],
            sort=order,
            saved=bool(saved),
            warning_days=counsellors.WARNING_DAYS,
            cycle_years=counsellors.CYCLE_YEARS,
        )

    @get("/{staff_user_id:uuid}", name="bureau_counsellor")
    async def edit_page(
        self, request: Request[Any, Any, Any], staff_user_id: FromPath[UUID]
    ) -> Template:
        counsellor = await counsellors.get_counsellor(
            current_context(request), staff_user_id=staff_user_id, today=counsellors.local_today()
        )
        form = {
            "certified_on": counsellor.certified_on.isoformat() if counsellor.certified_on else "",
            "expires_on": counsellor.expires_on.isoformat() if counsellor.expires_on else "",
            "training_hours": (
                "" if counsellor.training_hours is None else str(counsellor.training_hours)
            ),
        }
        return _edit(request, counsellor, form=form, errors={})

    @post("/{staff_user_id:uuid}", name="bureau_counsellor_save")
    async def save(
        self, request: Request[Any, Any, Any], staff_user_id: FromPath[UUID]
    ) -> Response[Any]:
        ctx = current_context(request)
        # Access first: another bureau's counsellor is not found, whatever the form holds.
        await counsellors.check_may_manage(ctx, staff_user_id=staff_user_id)
        data = await request.form()
        form = {
            "certified_on": form_text(data, "certified_on", 40, strip=True),
            "expires_on": form_text(data, "expires_on", 40, strip=True),
            "training_hours": form_text(data, "training_hours", 40, strip=True),
        }
        certified_on, expires_on, training_hours, errors = parse_credential_form(form)
        today = counsellors.local_today()
        try:
            if errors:
                # Report the readable fields' problems along with the unreadable ones.
                counsellors.validate_credential(
                    certified_on=certified_on,
                    expires_on=expires_on,
                    training_hours=training_hours,
                    today=today,
                )
            else:
                await counsellors.save_credential(
                    ctx,
                    staff_user_id=staff_user_id,
                    certified_on=certified_on,
                    expires_on=expires_on,
                    training_hours=training_hours,
                    today=today,
                )
        except Invalid as exc:
            errors = {**exc.fields, **errors}
        if errors:
            errors = {field: errors[field] for field in FIELDS if field in errors}
            counsellor = await counsellors.get_counsellor(
                ctx, staff_user_id=staff_user_id, today=today
            )
            return _edit(request, counsellor, form=form, errors=errors, status_code=400)
        return Redirect(path="/bureau/counsellors?saved=1", status_code=303)


def _edit(
    request: Request[Any, Any, Any],
    counsellor: Counsellor,
    *,
    form: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    language = request_language(request)
    return page(
        request,
        "counsellors/edit.html",
        status_code=status_code,
        counsellor=_counsellor_view(counsellor, language),
        form=form,
        errors=errors,
        today=counsellors.local_today().isoformat(),
        max_training_hours=counsellors.MAX_TRAINING_HOURS,
        cycle_years=counsellors.CYCLE_YEARS,
        warning_days=counsellors.WARNING_DAYS,
    )


ROUTES: list[Any] = [CounsellorPages]
