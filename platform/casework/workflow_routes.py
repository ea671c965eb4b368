"""The counsellor's workflow forms on the case page, and opening a case for a phone call or a
visit. Thin: parse → one `casework.workflow` verb → back to the case (303) or the page with
its errors (422). Guards admit counsellors; each verb checks the case's organisation first."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.enums import MediaType
from litestar.params import FromPath
from litestar.response import Redirect, Template

from casework import cases, redaction, referrals, subject_access, workflow
from casework.case_routes import _case_page
from casework.choices import Channel
from klankbord.auth import current_context, requires
from klankbord.errors import Conflict, Invalid
from klankbord.forms import form_text, see_other
from klankbord.templating import page
from klankbord.tenancy import Role, tenant_transaction
from tenants.choices import Procedure

CONFLICT_FIELDS = {
    "referral_form": "step",
    "consent_required": "step",
    "step_done": "step",
    "case_closed": "form",
    "consent_pending": "consent",
}


async def _back_or_errors(
    request: Request[Any, Any, Any], case_id: UUID, verb: Any, anchor: str
) -> Redirect | Template:
    try:
        await verb
    except Invalid as invalid:
        return await _case_page(request, case_id, errors=invalid.fields, status_code=422)
    except Conflict as conflict:
        field = CONFLICT_FIELDS.get(conflict.code, "form")
        return await _case_page(request, case_id, errors={field: conflict.code}, status_code=409)
    return see_other(f"/cases/{case_id}#{anchor}")


class WorkflowPages(Controller):
    path = "/cases"
    guards = [requires(Role.COUNSELLOR)]
    include_in_schema = False

    @post("/{case_id:uuid}/categories", name="case_categories")
    async def set_categories(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID]
    ) -> Redirect | Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await cases.access_case(ctx, case_id)
        form = await request.form()
        codes = [value for value in form.getall("categories", []) if isinstance(value, str)]
        role = form.get("reporter_role")
        return await _back_or_errors(
            request,
            case_id,
            workflow.set_categories(
                ctx,
                case_id=case_id,
                codes=codes[:20],
                reporter_role=role if isinstance(role, str) else None,
            ),
            "workflow",
        )

    @post("/{case_id:uuid}/steps", name="case_step")
    async def mark_step(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID]
    ) -> Redirect | Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await cases.access_case(ctx, case_id)
        step = form_text(await request.form(), "step", 60)
        return await _back_or_errors(
            request, case_id, workflow.mark_step(ctx, case_id=case_id, step=step), "workflow"
        )

    @post("/{case_id:uuid}/close", name="case_close")
    async def close(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID]
    ) -> Redirect | Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await cases.access_case(ctx, case_id)
        outcome = form_text(await request.form(), "outcome", 60)
        return await _back_or_errors(
            request, case_id, workflow.close_case(ctx, case_id=case_id, outcome=outcome), "workflow"
        )

    @post("/{case_id:uuid}/reopen", name="case_reopen")
    async def reopen(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID]
    ) -> Redirect | Template:
        ctx = current_context(request)
        return await _back_or_errors(
            request, case_id, workflow.reopen_case(ctx, case_id=case_id), "workflow"
        )

    @post("/{case_id:uuid}/link", name="case_link")
    async def link(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID]
    ) -> Redirect | Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await cases.access_case(ctx, case_id)
        reference = form_text(await request.form(), "reference", 40)
        return await _back_or_errors(
            request, case_id, workflow.link_case(ctx, case_id=case_id, reference=reference), "links"
        )

    @post("/{case_id:uuid}/legal-hold", name="case_legal_hold")
    async def legal_hold(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID]
    ) -> Redirect | Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await cases.access_case(ctx, case_id)
        on = form_text(await request.form(), "hold", 5) == "on"
        return await _back_or_errors(
            request, case_id, workflow.set_legal_hold(ctx, case_id=case_id, on=on), "links"
        )

    @post("/{case_id:uuid}/referrals", name="case_referral")
    async def refer(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID]
    ) -> Redirect | Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await cases.access_case(ctx, case_id)
        form = await request.form()
        verb = referrals.refer(
            ctx,
            case_id=case_id,
            actor=form_text(form, "actor", 40),
            recipient=form_text(form, "recipient", referrals.TEXT_MAX + 100),
            shared=form_text(form, "shared", referrals.TEXT_MAX + 100),
        )
        return await _back_or_errors(request, case_id, verb, "referrals")

    @post("/{case_id:uuid}/redactions", name="case_redact")
    async def redact(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID]
    ) -> Redirect | Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await cases.access_case(ctx, case_id)
        form = await request.form()
        verb = redaction.redact(
            ctx,
            case_id=case_id,
            target=form_text(form, "target", 80),
            passage=form_text(form, "passage", redaction.PASSAGE_MAX + 100),
            destroy=form_text(form, "mode", 20) == "destroy",
        )
        return await _back_or_errors(request, case_id, verb, "redaction")

    @post("/{case_id:uuid}/redactions/{redaction_id:uuid}/lift", name="case_unmask")
    async def unmask(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID], redaction_id: FromPath[UUID]
    ) -> Redirect | Template:
        ctx = current_context(request)
        verb = redaction.unmask(ctx, case_id=case_id, redaction_id=redaction_id)
        return await _back_or_errors(request, case_id, verb, "redaction")

    @post("/{case_id:uuid}/subject-access", name="case_subject_access")
    async def subject_access(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID]
    ) -> Response[str] | Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await cases.access_case(ctx, case_id)
        name = form_text(await request.form(), "name", 300)
        try:
            text = await subject_access.export(ctx, case_id=case_id, name=name)
        except Invalid as invalid:
            return await _case_page(request, case_id, errors=invalid.fields, status_code=422)
        return Response(
            text,
            status_code=200,
            media_type=MediaType.TEXT,
            headers={"content-disposition": 'attachment; filename="subject-access.txt"'},
        )

    @get("/new", name="case_new")
    async def new_page(self, request: Request[Any, Any, Any]) -> Template:
        return await _new_page(request, values={}, errors={})

    @post("/new", name="case_new_submit")
    async def new_case(self, request: Request[Any, Any, Any]) -> Redirect | Template:
        form = await request.form()
        values = {
            name: form_text(form, name, 21_000)
            for name in ("organisation", "procedure", "channel", "received_on", "summary")
        }
        errors: dict[str, str] = {}
        try:
            organisation_id = UUID(values["organisation"])
        except ValueError:
            organisation_id = None
            errors["organisation"] = "organisation_required"
        received_at = None
        if values["received_on"]:
            try:
                day = datetime.strptime(values["received_on"], "%Y-%m-%d").date()  # noqa: DTZ007
                received_at = datetime.combine(day, time(12, 0), tzinfo=UTC)
            except ValueError:
                errors["received_on"] = "date_invalid"
        if organisation_id is not None and not errors:
            try:
                case_id = await workflow.open_case(
                    current_context(request),
                    organisation_id=organisation_id,
                    procedure=values["procedure"],
                    channel=values["channel"],
                    summary=values["summary"],
                    received_at=received_at,
                )
            except Invalid as invalid:
                errors.update(invalid.fields)
            else:
                return see_other(f"/cases/{case_id}")
        return await _new_page(request, values=values, errors=errors, status_code=422)


async def _new_page(
    request: Request[Any, Any, Any],
    *,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    ctx = current_context(request)
    async with tenant_transaction(ctx):
        organisations = await cases.organisation_names(ctx)
    return page(
        request,
        "cases/new.html",
        status_code=status_code,
        organisations=organisations,
        procedures=[p.value for p in Procedure],
        channels=[Channel.PHONE.value, Channel.WALK_IN.value],
        values=values,
        errors=errors,
    )


ROUTES: list[Any] = [WorkflowPages]
