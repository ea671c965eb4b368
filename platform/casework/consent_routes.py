"""The counsellor's consent forms on the case page: ask in the mailbox, record a
conversation, or override with a justification. Thin: parse → one `casework.consent` verb →
back to the case (303) or the case page with the errors (422/409)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from litestar import Controller, Request, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from casework import cases, consent
from casework.workflow_routes import _back_or_errors
from klankbord.app_state import app_settings
from klankbord.auth import current_context, requires
from klankbord.forms import form_text
from klankbord.tenancy import Role, tenant_transaction


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


class ConsentPages(Controller):
    path = "/cases/{case_id:uuid}/consent"
    guards = [requires(Role.COUNSELLOR)]
    include_in_schema = False

    @post("/request", name="case_consent_request")
    async def ask(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID]
    ) -> Redirect | Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await cases.access_case(ctx, case_id)
        step = form_text(await request.form(), "step", 60)
        verb = consent.request_consent(app_settings(request), ctx, case_id=case_id, step=step)
        return await _back_or_errors(request, case_id, verb, "consent")

    @post("/record", name="case_consent_record")
    async def record(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID]
    ) -> Redirect | Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await cases.access_case(ctx, case_id)
        form = await request.form()
        on = _date(form_text(form, "conversation_on", 20))
        if on is None:
            from casework.case_routes import _case_page

            return await _case_page(
                request, case_id, errors={"conversation_on": "date_invalid"}, status_code=422
            )
        verb = consent.record_conversation(
            ctx,
            case_id=case_id,
            step=form_text(form, "step", 60),
            given=form_text(form, "answer", 10) == "yes",
            conversation_on=on,
        )
        return await _back_or_errors(request, case_id, verb, "consent")

    @post("/override", name="case_consent_override")
    async def override(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID]
    ) -> Redirect | Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await cases.access_case(ctx, case_id)
        form = await request.form()
        verb = consent.override(
            app_settings(request),
            ctx,
            case_id=case_id,
            step=form_text(form, "step", 60),
            justification=form_text(form, "justification", 40),
            explanation=form_text(form, "explanation", consent.EXPLANATION_MAX + 100),
            endangers_investigation=form_text(form, "endangers", 10) == "yes",
        )
        return await _back_or_errors(request, case_id, verb, "consent")


ROUTES: list[Any] = [ConsentPages]
