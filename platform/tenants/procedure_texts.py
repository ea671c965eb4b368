"""Procedure texts: what a reporter reads about a procedure before reporting.

Three layers, the first that exists wins: the organisation's own version (`ProcedureText`),
the bureau's template (`ProcedureTemplate`), the built-in default (`default_texts`). Texts
are markdown, rendered by `klankbord.markdown.render_markdown`.

Context first, keyword-only after. Reads must run inside `tenant_transaction(ctx)` (like the
access functions); the verbs open it themselves and write an audit event carrying the
procedure and language codes, never the text. Only the bureau admin writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from piccolo.columns import Column

from klankbord import audit
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.tenancy import (
    Scope,
    TenantContext,
    check_may_write,
    require_transaction,
    scoped,
    tenant_transaction,
)
from tenants.access import access_organisation
from tenants.choices import Procedure
from tenants.default_texts import LANGUAGES, default_text
from tenants.tables import ProcedureTemplate, ProcedureText

MAX_BODY = 20_000

Source = Literal["organisation", "bureau", "default"]


@dataclass(frozen=True)
class EffectiveText:
    source: Source
    body: str


@dataclass(frozen=True)
class TextEntry:
    """One procedure and language cell of a listing, with the text that applies."""

    procedure: Procedure
    language: str
    source: Source
    body: str


def procedure_codes(value: str) -> list[Procedure]:
    """An organisation's comma-separated procedures, known ones only, in the fixed order."""
    codes = {code.strip() for code in (value or "").split(",")}
    return [procedure for procedure in Procedure if procedure.value in codes]


def language_codes(value: str) -> list[str]:
    """An organisation's comma-separated languages, supported ones only, in the fixed order."""
    codes = {code.strip() for code in (value or "").split(",")}
    return [language for language in LANGUAGES if language in codes]


# --- reading -------------------------------------------------------------------------------


async def text_for(
    ctx: TenantContext, *, organisation_id: UUID, procedure: Procedure, language: str
) -> EffectiveText:
    """The text that applies to an organisation: its override, else its bureau's template,
    else the built-in default. Another tenant's organisation raises `NotFound`.

    Not for a login context (the reporter's page): neither text table declares a login
    column, so such a context would silently see the built-in text only.
    """
    require_transaction(ctx)
    if ctx.scope is Scope.LOGIN:
        raise RuntimeError("procedure texts cannot be read with a login context")
    organisation = await access_organisation(ctx, organisation_id)
    override = (
        await scoped(ProcedureText.select(ProcedureText.body), ProcedureText, ctx)
        .where(
            (ProcedureText.organisation == organisation_id)
            & (ProcedureText.procedure == procedure.value)
            & (ProcedureText.language == language)
        )
        .first()
    )
    if override is not None:
        return EffectiveText(source="organisation", body=override["body"])
    template = (
        await scoped(ProcedureTemplate.select(ProcedureTemplate.body), ProcedureTemplate, ctx)
        .where(
            (ProcedureTemplate.bureau == organisation["bureau"])
            & (ProcedureTemplate.procedure == procedure.value)
            & (ProcedureTemplate.language == language)
        )
        .first()
    )
    if template is not None:
        return EffectiveText(source="bureau", body=template["body"])
    return EffectiveText(source="default", body=default_text(procedure, language))


async def _templates(ctx: TenantContext, bureau_id: UUID) -> dict[tuple[str, str], str]:
    rows = await scoped(
        ProcedureTemplate.select(
            ProcedureTemplate.procedure, ProcedureTemplate.language, ProcedureTemplate.body
        ),
        ProcedureTemplate,
        ctx,
    ).where(ProcedureTemplate.bureau == bureau_id)
    return {(row["procedure"], row["language"]): row["body"] for row in rows}


async def list_templates(ctx: TenantContext) -> list[TextEntry]:
    """The context's bureau library: every procedure and language, the bureau's text or the
    built-in default. Must run inside `tenant_transaction(ctx)`."""
    require_transaction(ctx)
    if ctx.bureau_id is None:
        raise NotFound()
    stored = await _templates(ctx, ctx.bureau_id)
    entries = []
    for procedure in Procedure:
        for language in LANGUAGES:
            body = stored.get((procedure.value, language))
            entries.append(
                TextEntry(
                    procedure=procedure,
                    language=language,
                    source="default" if body is None else "bureau",
                    body=default_text(procedure, language) if body is None else body,
                )
            )
    return entries


async def template_for(ctx: TenantContext, *, procedure: str, language: str) -> TextEntry:
    """One cell of the bureau library (`Invalid` for an unknown procedure or language)."""
    require_transaction(ctx)
    if ctx.bureau_id is None:
        raise NotFound()
    chosen = _validate(procedure, language)
    for entry in await list_templates(ctx):
        if entry.procedure is chosen and entry.language == language:
            return entry
    raise NotFound()  # pragma: no cover (every valid pair is listed)


async def list_texts(ctx: TenantContext, organisation_id: UUID) -> list[TextEntry]:
    """For each procedure the organisation has enabled and each language it uses: the text
    that applies and where it comes from. Must run inside `tenant_transaction(ctx)`."""
    require_transaction(ctx)
    organisation = await access_organisation(ctx, organisation_id)
    templates = await _templates(ctx, organisation["bureau"])
    rows = await scoped(
        ProcedureText.select(ProcedureText.procedure, ProcedureText.language, ProcedureText.body),
        ProcedureText,
        ctx,
    ).where(ProcedureText.organisation == organisation_id)
    overrides = {(row["procedure"], row["language"]): row["body"] for row in rows}
    entries = []
    for procedure in procedure_codes(organisation["procedures"]):
        for language in language_codes(organisation["languages"]):
            key = (procedure.value, language)
            if key in overrides:
                entries.append(TextEntry(procedure, language, "organisation", overrides[key]))
            elif key in templates:
                entries.append(TextEntry(procedure, language, "bureau", templates[key]))
            else:
                entries.append(
                    TextEntry(procedure, language, "default", default_text(procedure, language))
                )
    return entries


# --- validation ----------------------------------------------------------------------------


def _validate(procedure: str, language: str, body: str | None = None) -> Procedure:
    errors: dict[str, str] = {}
    chosen: Procedure | None = None
    try:
        chosen = Procedure(procedure)
    except ValueError:
        errors["procedure"] = "unknown" if procedure else "required"
    if language not in LANGUAGES:
        errors["language"] = "unknown" if language else "required"
    if body is not None and len(body) > MAX_BODY:
        errors["body"] = "too_long"
    if errors or chosen is None:
        raise Invalid(fields=errors)
    return chosen


def _check_bureau_admin(ctx: TenantContext) -> UUID:
    if ctx.scope is not Scope.TENANT or not ctx.bureau_admin:
        raise PermissionDenied()
    if ctx.bureau_id is None:
        raise NotFound()
    return ctx.bureau_id


def _normalise(body: str) -> str:
    return body.replace("\r\n", "\n").strip()


async def _upsert(row: ProcedureTemplate | ProcedureText, key: tuple[Column, ...]) -> UUID:
    """Insert `row`, or update the body of the row with the same key (the table's unique
    index: one text per owner, procedure and language). The id of the stored row.

    Inserts have no WHERE: the caller has run `check_may_write` for the row's bureau and
    organisation, which are part of the key, so a conflict is always with its own row."""
    table: Any = type(row)
    rows = (
        await table.insert(row)
        .on_conflict(
            target=key,
            action="DO UPDATE",
            values=[table.body, (table.updated_at, datetime.now(UTC))],
        )
        .returning(table.id)
    )
    return UUID(str(rows[0]["id"]))


# --- the bureau's templates ----------------------------------------------------------------


async def save_template(ctx: TenantContext, *, procedure: str, language: str, body: str) -> UUID:
    """Store the bureau's text for a procedure and language (update or insert). An empty
    body is an error here: `remove_template` goes back to the built-in default."""
    bureau_id = _check_bureau_admin(ctx)
    body = _normalise(body)
    chosen = _validate(procedure, language, body)
    if not body:
        raise Invalid(fields={"body": "required"})
    async with tenant_transaction(ctx):
        check_may_write(ctx, bureau_id=bureau_id)
        template_id = await _upsert(
            ProcedureTemplate(
                bureau=bureau_id, procedure=chosen.value, language=language, body=body
            ),
            (ProcedureTemplate.bureau, ProcedureTemplate.procedure, ProcedureTemplate.language),
        )
        await audit.record(
            ctx,
            action="procedure_template.saved",
            bureau_id=bureau_id,
            subject_type="procedure_template",
            subject_id=template_id,
            detail={"procedure": chosen.value, "language": language},
        )
        return template_id


async def remove_template(ctx: TenantContext, *, procedure: str, language: str) -> bool:
    """Delete the bureau's text (back to the built-in default). False: there was none."""
    bureau_id = _check_bureau_admin(ctx)
    chosen = _validate(procedure, language)
    async with tenant_transaction(ctx):
        where = (
            (ProcedureTemplate.bureau == bureau_id)
            & (ProcedureTemplate.procedure == chosen.value)
            & (ProcedureTemplate.language == language)
        )
        existing = (
            await scoped(ProcedureTemplate.select(ProcedureTemplate.id), ProcedureTemplate, ctx)
            .where(where)
            .first()
        )
        if existing is None:
            return False
        await scoped(ProcedureTemplate.delete(), ProcedureTemplate, ctx).where(
            ProcedureTemplate.id == existing["id"]
        )
        await audit.record(
            ctx,
            action="procedure_template.removed",
            bureau_id=bureau_id,
            subject_type="procedure_template",
            subject_id=existing["id"],
            detail={"procedure": chosen.value, "language": language},
        )
        return True


# --- the organisation's overrides ----------------------------------------------------------


async def organisation_for_texts(ctx: TenantContext, organisation_id: UUID) -> dict[str, Any]:
    """The organisation, if the context may see it (`NotFound` otherwise). Must run inside
    `tenant_transaction(ctx)`."""
    return await access_organisation(ctx, organisation_id)


def _validate_for(organisation: dict[str, Any], procedure: str, language: str) -> None:
    errors: dict[str, str] = {}
    if procedure not in {p.value for p in procedure_codes(organisation["procedures"])}:
        errors["procedure"] = "not_enabled"
    if language not in language_codes(organisation["languages"]):
        errors["language"] = "not_used"
    if errors:
        raise Invalid(fields=errors)


async def _writable_organisation(
    ctx: TenantContext, organisation_id: UUID, procedure: str, language: str, body: str | None
) -> tuple[dict[str, Any], Procedure]:
    organisation = await access_organisation(ctx, organisation_id)
    if not ctx.bureau_admin or ctx.scope is not Scope.TENANT:
        raise PermissionDenied()
    chosen = _validate(procedure, language, body)
    _validate_for(organisation, procedure, language)
    check_may_write(ctx, bureau_id=organisation["bureau"], organisation_id=organisation_id)
    return organisation, chosen


async def save_override(
    ctx: TenantContext, *, organisation_id: UUID, procedure: str, language: str, body: str
) -> UUID:
    """Store the organisation's own text (update or insert). The access check comes first:
    another tenant's organisation is `NotFound` whatever the form holds."""
    body = _normalise(body)
    async with tenant_transaction(ctx):
        organisation, chosen = await _writable_organisation(
            ctx, organisation_id, procedure, language, body
        )
        if not body:
            raise Invalid(fields={"body": "required"})
        bureau_id = organisation["bureau"]
        text_id = await _upsert(
            ProcedureText(
                organisation=organisation_id,
                bureau=bureau_id,
                procedure=chosen.value,
                language=language,
                body=body,
            ),
            (ProcedureText.organisation, ProcedureText.procedure, ProcedureText.language),
        )
        await audit.record(
            ctx,
            action="procedure_text.saved",
            bureau_id=bureau_id,
            organisation_id=organisation_id,
            subject_type="procedure_text",
            subject_id=text_id,
            detail={"procedure": chosen.value, "language": language},
        )
        return text_id


async def remove_override(
    ctx: TenantContext, *, organisation_id: UUID, procedure: str, language: str
) -> bool:
    """Delete the organisation's own text (the bureau's or the default applies again)."""
    async with tenant_transaction(ctx):
        organisation, chosen = await _writable_organisation(
            ctx, organisation_id, procedure, language, None
        )
        existing = (
            await scoped(ProcedureText.select(ProcedureText.id), ProcedureText, ctx)
            .where(
                (ProcedureText.organisation == organisation_id)
                & (ProcedureText.procedure == chosen.value)
                & (ProcedureText.language == language)
            )
            .first()
        )
        if existing is None:
            return False
        await scoped(ProcedureText.delete(), ProcedureText, ctx).where(
            ProcedureText.id == existing["id"]
        )
        await audit.record(
            ctx,
            action="procedure_text.removed",
            bureau_id=organisation["bureau"],
            organisation_id=organisation_id,
            subject_type="procedure_text",
            subject_id=existing["id"],
            detail={"procedure": chosen.value, "language": language},
        )
        return True
