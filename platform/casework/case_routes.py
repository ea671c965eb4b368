"""Counsellors' pages for cases: the list, one case (report, files, thread) and the reply.

Guards admit counsellors only; every handler then finds the case through `cases.access_case`
(a counsellor of its organisation), so another organisation's case answers exactly like one
that does not exist.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from casework import attachments, cases, mailbox
from casework.mailbox_routes import FileStream, download_headers
from klankbord.app_state import app_settings
from klankbord.auth import current_context, requires
from klankbord.errors import Invalid
from klankbord.forms import form_text, see_other
from klankbord.storage import blob_store
from klankbord.templating import page
from klankbord.tenancy import Role, tenant_transaction


class CasePages(Controller):
    path = "/cases"
    guards = [requires(Role.COUNSELLOR)]
    include_in_schema = False

    @get("/", name="cases")
    async def list_page(
        self, request: Request[Any, Any, Any], page_number: FromQuery[int] = 1
    ) -> Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            rows = await cases.list_cases(ctx, page=page_number)
        return page(request, "cases/list.html", cases=rows, page_number=page_number)

    @get("/{case_id:uuid}", name="case")
    async def case_page(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID], done: FromQuery[str] = ""
    ) -> Template:
        return await _case_page(request, case_id, notice="sent" if done == "sent" else "")

    @post("/{case_id:uuid}/reply", name="case_reply")
    async def reply(self, request: Request[Any, Any, Any], case_id: FromPath[UUID]) -> Any:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            await cases.access_case(ctx, case_id)
        form = await request.form()
        body = form_text(form, "body", limit=mailbox.MESSAGE_MAX_CHARS + 1000)
        try:
            await mailbox.reply_to_reporter(app_settings(request), ctx, case_id=case_id, text=body)
        except Invalid as invalid:
            return await _case_page(
                request, case_id, values={"body": body}, errors=invalid.fields, status_code=422
            )
        return see_other(f"/cases/{case_id}?done=sent#thread")

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
            ctx, blob_store(app_settings(request)), attachment_id=attachment_id, original=original
        )
        return FileStream(
            item.chunks, media_type=item.media_type.split(";")[0], headers=download_headers(item)
        )


async def _case_page(
    request: Request[Any, Any, Any],
    case_id: UUID,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Template:
    ctx = current_context(request)
    async with tenant_transaction(ctx):
        view = await cases.case_view(ctx, case_id)
    return page(
        request,
        "cases/case.html",
        status_code=status_code,
        case=view,
        values=values or {},
        errors=errors or {},
        notice=notice,
    )


ROUTES: list[Any] = [CasePages]
