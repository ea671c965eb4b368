"""Pages for procedure texts: the bureau's template library and an organisation's texts.

Thin: parse → one service call inside a tenant transaction → render or redirect. The bureau
admin edits both layers; counsellors and organisation contacts read their organisation's
texts. The edit page takes the procedure and language as query parameters (the isolation
matrix knows only tenant ids as path parameters).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from klankbord.auth import STAFF_ROLES, current_context, requires
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.forms import form_text
from klankbord.markdown import render_markdown
from klankbord.templating import page
from klankbord.tenancy import Role, TenantContext, tenant_transaction
from tenants import access, procedure_texts
from tenants.choices import Procedure
from tenants.default_texts import LANGUAGES
from tenants.procedure_texts import MAX_BODY, TextEntry

# What a form may carry back to the page: more than the limit, so a too-long text returns
# intact with its error, yet bounded.
_ECHO_LIMIT = 10 * MAX_BODY


def _entry(entry: TextEntry) -> dict[str, Any]:
    return {
        "procedure": entry.procedure.value,
        "language": entry.language,
        "source": entry.source,
        "body": entry.body,
        "html": render_markdown(entry.body),
    }


# --- the bureau's template library ---------------------------------------------------------


class TemplateLibraryPages(Controller):
    path = "/bureau/procedure-texts"
    guards = [requires(Role.BUREAU_ADMIN)]
    include_in_schema = False

    @get("/", name="bureau_procedure_texts")
    async def library(
        self,
        request: Request[Any, Any, Any],
        saved: FromQuery[int] = 0,
        removed: FromQuery[int] = 0,
    ) -> Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            bureau = await _bureau(ctx)
            entries = await procedure_texts.list_templates(ctx)
        notice = "saved" if saved else "removed" if removed else None
        return page(
            request,
            "procedure_texts/library.html",
            bureau=bureau,
            entries=[_entry(entry) for entry in entries],
            notice=notice,
        )

    @get("/edit", name="bureau_procedure_text_edit")
    async def edit(
        self,
        request: Request[Any, Any, Any],
        procedure: FromQuery[str] = "",
        language: FromQuery[str] = "",
    ) -> Template:
        """Without parameters: the first procedure in Dutch. An unknown one: not found."""
        procedure = procedure or next(iter(Procedure)).value
        language = language or LANGUAGES[0]
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            bureau = await _bureau(ctx)
            try:
                saved = await procedure_texts.template_for(
                    ctx, procedure=procedure, language=language
                )
            except Invalid:
                raise NotFound() from None
        return _edit_page(request, bureau=bureau, saved=saved, body=saved.body, errors={})

    @post("/", name="bureau_procedure_text_save")
    async def save(self, request: Request[Any, Any, Any]) -> Response[Any]:
        ctx = current_context(request)
        data = await request.form()
        procedure, language = form_text(data, "procedure", 40), form_text(data, "language", 40)
        body = form_text(data, "body", _ECHO_LIMIT)
        try:
            if body.strip():
                await procedure_texts.save_template(
                    ctx, procedure=procedure, language=language, body=body
                )
                notice = "saved"
            else:
                await procedure_texts.remove_template(ctx, procedure=procedure, language=language)
                notice = "removed"
        except Invalid as exc:
            async with tenant_transaction(ctx):
                bureau = await _bureau(ctx)
                try:
                    saved: TextEntry | None = await procedure_texts.template_for(
                        ctx, procedure=procedure, language=language
                    )
                except Invalid:
                    saved = None
            return _edit_page(
                request,
                bureau=bureau,
                saved=saved,
                body=body,
                errors=exc.fields,
                procedure=procedure,
                language=language,
                status_code=400,
            )
        return Redirect(path=f"/bureau/procedure-texts?{notice}=1", status_code=303)


async def _bureau(ctx: TenantContext) -> dict[str, Any]:
    if ctx.bureau_id is None:
        raise NotFound()
    return await access.access_bureau(ctx, ctx.bureau_id)


def _edit_page(
    request: Request[Any, Any, Any],
    *,
    bureau: dict[str, Any],
    saved: TextEntry | None,
    body: str,
    errors: dict[str, str],
    procedure: str = "",
    language: str = "",
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "procedure_texts/edit.html",
        status_code=status_code,
        bureau=bureau,
        procedure=saved.procedure.value if saved else procedure,
        text_language=saved.language if saved else language,
        saved=_entry(saved) if saved else None,
        body=body,
        errors=errors,
        max_body=MAX_BODY,
    )


# --- an organisation's texts ---------------------------------------------------------------


class OrganisationTextPages(Controller):
    path = "/organisations/{organisation_id:uuid}/procedure-texts"
    guards = [requires(*STAFF_ROLES)]
    include_in_schema = False

    @get("/", name="organisation_procedure_texts")
    async def texts(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        saved: FromQuery[int] = 0,
        removed: FromQuery[int] = 0,
    ) -> Template:
        notice = "saved" if saved else "removed" if removed else None
        return await _organisation_page(request, organisation_id, notice=notice)

    @post("/", name="organisation_procedure_text_save")
    async def save(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Response[Any]:
        ctx = current_context(request)
        # The access check comes before anything in the form is looked at: another tenant's
        # organisation answers exactly as a missing one does.
        async with tenant_transaction(ctx):
            await procedure_texts.organisation_for_texts(ctx, organisation_id)
        if not ctx.bureau_admin:
            raise PermissionDenied()
        data = await request.form()
        procedure, language = form_text(data, "procedure", 40), form_text(data, "language", 40)
        body = form_text(data, "body", _ECHO_LIMIT)
        try:
            if body.strip():
                await procedure_texts.save_override(
                    ctx,
                    organisation_id=organisation_id,
                    procedure=procedure,
                    language=language,
                    body=body,
                )
                notice = "saved"
            else:
                await procedure_texts.remove_override(
                    ctx, organisation_id=organisation_id, procedure=procedure, language=language
                )
                notice = "removed"
        except Invalid as exc:
            return await _organisation_page(
                request,
                organisation_id,
                typed={"procedure": procedure, "language": language, "body": body},
                errors=exc.fields,
                status_code=400,
            )
        return Redirect(
            path=f"/organisations/{organisation_id}/procedure-texts?{notice}=1",
            status_code=303,
        )


async def _organisation_page(
    request: Request[Any, Any, Any],
    organisation_id: UUID,
    *,
    notice: str | None = None,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    """The organisation's texts. After a refused save, `typed` (what was sent) comes back in
    the form it belongs to, with `errors`; a form that matches no text shows it on its own."""
    ctx = current_context(request)
    async with tenant_transaction(ctx):
        organisation = await procedure_texts.organisation_for_texts(ctx, organisation_id)
        listed = await procedure_texts.list_texts(ctx, organisation_id)
    entries = [_entry(entry) for entry in listed]
    errors = errors or {}
    unmatched = typed
    error_target = "unmatched-body"
    for entry in entries:
        entry["form_body"] = entry["body"]
        entry["errors"] = {}
        if (
            typed is not None
            and entry["procedure"] == typed["procedure"]
            and entry["language"] == typed["language"]
        ):
            entry["form_body"] = typed["body"]
            entry["errors"] = errors
            unmatched = None
            error_target = f"body-{entry['procedure']}-{entry['language']}"
    return page(
        request,
        "procedure_texts/organisation.html",
        status_code=status_code,
        organisation=organisation,
        entries=entries,
        is_admin=ctx.bureau_admin,
        notice=notice,
        errors=errors,
        unmatched=unmatched,
        error_target=error_target,
        max_body=MAX_BODY,
    )


ROUTES: list[Any] = [TemplateLibraryPages, OrganisationTextPages]
