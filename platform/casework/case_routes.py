"""Counsellors' pages for cases: the list, one case (report, files, thread) and the reply.

Guards admit counsellors only; every handler then finds the case through `cases.access_case`
(a counsellor of its organisation), so another organisation's case answers exactly like one
that does not exist.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from casework import (
    attachments,
    cases,
    consent,
    mailbox,
    notes,
    referrals,
    time_entries,
)
from casework.mailbox_routes import FileStream, download_headers
from casework.reporter_pages import MEGABYTE, read_multipart
from casework.workflows import CONSENT_STEPS
from klankbord import keys
from klankbord.app_state import app_settings
from klankbord.auth import current_context, requires
from klankbord.errors import Invalid, PermissionDenied
from klankbord.forms import form_text, see_other
from klankbord.security import CHECKED_IN_HANDLER, CSRF_COOKIE, CSRF_FIELD, Csrf
from klankbord.storage import blob_store
from klankbord.templating import page
from klankbord.tenancy import Role, tenant_transaction
from tenants.choices import Procedure


class CasePages(Controller):
    path = "/cases"
    guards = [requires(Role.COUNSELLOR)]
    include_in_schema = False

    @get("/", name="cases")
    async def list_page(
        self,
        request: Request[Any, Any, Any],
        organisation: FromQuery[str] = "",
        procedure: FromQuery[str] = "",
        status: FromQuery[str] = "open",
        due_soon: FromQuery[str] = "",
        unread: FromQuery[str] = "",
        after: FromQuery[str] = "",
    ) -> Template:
        """The caseload: filters are GET parameters (links and a GET form, no JavaScript)."""
        query = cases.CaseloadQuery(
            organisation=_uuid_or_none(organisation),
            procedure=procedure if procedure in {p.value for p in Procedure} else "",
            status=status if status in cases.STATUSES else "open",
            due_soon=due_soon == "1",
            unread=unread == "1",
            after=after[:200],
        )
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            found = await cases.caseload(ctx, query)
        return page(
            request,
            "cases/list.html",
            caseload=found,
            query=query,
            procedures=[p.value for p in Procedure],
            statuses=cases.STATUSES,
            filters=urlencode(_filter_params(query)),
        )

    @get("/{case_id:uuid}", name="case")
    async def case_page(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID], done: FromQuery[str] = ""
    ) -> Template:
        return await _case_page(request, case_id, notice="sent" if done == "sent" else "")

    @post(
        "/{case_id:uuid}/reply",
        name="case_reply",
        request_max_body_size=None,
        opt={CHECKED_IN_HANDLER: True},
    )
    async def reply(self, request: Request[Any, Any, Any], case_id: FromPath[UUID]) -> Any:
        """A message with files, streamed (see `casework.staging`); the CSRF pair is checked
        here once the body has been read, before anything is stored."""
        ctx = current_context(request)
        settings = app_settings(request)
        async with tenant_transaction(ctx):
            case = await cases.access_case(ctx, case_id)
            data_key = await keys.data_key(ctx, organisation_id=case["organisation"])
        stager = attachments.Stager(
            blob_store(settings),
            data_key=data_key,
            organisation_id=case["organisation"],
            max_file_bytes=settings.attachment_max_mb * MEGABYTE,
            max_total_bytes=settings.report_max_mb * MEGABYTE,
        )
        errors: dict[str, str] = {}
        body = ""
        try:
            fields = await read_multipart(request, settings, stager.open_file)
            form = {name: values[0] for name, values in fields.items() if values}
            csrf: Csrf = request.app.state.csrf
            if not csrf.valid_pair(request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)):
                raise PermissionDenied(code="csrf")
            body = form.get("body", "")
            errors.update(stager.errors)
            try:
                mailbox.check_message(body)
            except Invalid as invalid:
                errors.update(invalid.fields)
            if not errors:
                ready = await attachments.finish(stager, keep_originals=False)
                errors.update(stager.errors)
            if not errors:
                await mailbox.reply_to_reporter(
                    settings, ctx, case_id=case_id, text=body, files=ready
                )
        except BaseException:
            await stager.discard()
            raise
        if errors:
            await stager.discard()
            return await _case_page(
                request, case_id, values={"body": body}, errors=errors, status_code=422
            )
        return see_other(f"/cases/{case_id}?done=sent#thread")

    @post("/{case_id:uuid}/notes", name="case_note")
    async def add_note(self, request: Request[Any, Any, Any], case_id: FromPath[UUID]) -> Any:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await cases.access_case(ctx, case_id)
        text = form_text(await request.form(), "note", notes.NOTE_MAX_CHARS + 1000)
        try:
            await notes.add_note(ctx, case_id=case_id, text=text)
        except Invalid as invalid:
            return await _case_page(
                request, case_id, values={"note": text}, errors=invalid.fields, status_code=422
            )
        return see_other(f"/cases/{case_id}#notes")

    @post("/{case_id:uuid}/identity", name="case_identity")
    async def identity(self, request: Request[Any, Any, Any], case_id: FromPath[UUID]) -> Template:
        """The reporter's contact details, shown once on this response (never on the normal
        page), after a reason is chosen; the view is audited."""
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await cases.access_case(ctx, case_id)
        reason = form_text(await request.form(), "reason", 40)
        try:
            async with tenant_transaction(ctx):
                shown = await cases.show_identity(ctx, case_id=case_id, reason=reason)
        except Invalid as invalid:
            return await _case_page(request, case_id, errors=invalid.fields, status_code=422)
        return await _case_page(request, case_id, identity=shown)

    @get("/{case_id:uuid}/files/{attachment_id:uuid}", name="case_file")
    async def download(
        self,
        request: Request[Any, Any, Any],
        case_id: FromPath[UUID],
        attachment_id: FromPath[UUID],
        original: FromQuery[bool] = False,
    ) -> FileStream:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await cases.access_case(ctx, case_id)
        item = await attachments.open_download(
            ctx,
            blob_store(app_settings(request)),
            case_id=case_id,
            attachment_id=attachment_id,
            original=original,
        )
        return FileStream(
            item.chunks, media_type=item.media_type.split(";")[0], headers=download_headers(item)
        )


def _uuid_or_none(value: str) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


def _filter_params(query: cases.CaseloadQuery) -> dict[str, str]:
    """The filters as GET parameters (for the next-page link), the defaults left out."""
    params = {
        "organisation": str(query.organisation or ""),
        "procedure": query.procedure,
        "status": "" if query.status == "open" else query.status,
        "due_soon": "1" if query.due_soon else "",
        "unread": "1" if query.unread else "",
    }
    return {name: value for name, value in params.items() if value}


async def _case_page(
    request: Request[Any, Any, Any],
    case_id: UUID,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status_code: int = 200,
    identity: dict[str, str] | None = None,
) -> Template:
    ctx = current_context(request)
    async with tenant_transaction(ctx):
        view = await cases.case_view(ctx, case_id)
        time = await time_entries.case_time(ctx, case_id)
        consents = await consent.consents(ctx, case_id)
        row = await cases.access_case(ctx, case_id)
        case_notes = await notes.case_notes(ctx, row)
        case_referrals = await referrals.case_referrals(ctx, row)
        history = await notes.timeline(ctx, row)
    return page(
        request,
        "cases/case.html",
        status_code=status_code,
        case=view,
        time=time,
        consents=consents,
        consent_steps=[step for step in view.workflow.steps if step in CONSENT_STEPS],
        justifications=consent.JUSTIFICATIONS,
        identity=identity,
        identity_reasons=cases.IDENTITY_REASONS,
        notes=case_notes,
        referrals=case_referrals,
        referral_actors=referrals.ACTORS,
        timeline=history,
        values=values or {},
        errors=errors or {},
        notice=notice,
    )


ROUTES: list[Any] = [CasePages]
