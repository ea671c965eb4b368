"""Intake links: an organisation's public addresses, one live link per procedure.

A link is *live* when it is active and not retired; *disabled* when the bureau admin switched
it off (its address says it is not in use); *moved* when a rotation replaced it (its address
says the link has moved, without naming the organisation). A link goes live, whether created,
enabled again or rotated, only when the procedure is enabled for the organisation and a
counsellor is assigned to it (REQUIREMENTS §7), and never next to another live link of the
same procedure: a reporter must not find two addresses for one thing.

Only the bureau admin (or the system) changes links; counsellors and organisation contacts of
the organisation read them (posters, cards). Every change writes an audit event with ids and
codes only: a token is the secret part of an address and never goes into the audit log.

A reporter's request is not a principal: `reporter_link()` reads the one link its token names
through a login context, and then that link's organisation through a reporter context
(read-only, not audited: a reporter's visit must leave no trace of who or when).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from klankbord import audit, database
from klankbord.errors import Conflict, Invalid, NotFound, PermissionDenied
from klankbord.tenancy import (
    Scope,
    TenantContext,
    check_may_write,
    login_context,
    reporter_context,
    require_transaction,
    scoped,
    tenant_transaction,
)
from tenants import services
from tenants.access import access_organisation
from tenants.choices import AnonymityMode, MembershipRole, Procedure
from tenants.tables import IntakeLink, Membership, Organisation

LIVE = "live"
DISABLED = "disabled"
MOVED = "moved"

# What `secrets.token_urlsafe` produces (and at most the column's length): anything else is
# answered as unknown without a database query.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class Link:
    """A link as staff pages show it; `token` is None for a moved link (its old address is
    history, not something to hand out again)."""

    id: UUID
    procedure: str
    anonymity: str
    status: str
    token: str | None
    created_at: datetime
    retired_at: datetime | None

    @property
    def live(self) -> bool:
        return self.status == LIVE


@dataclass(frozen=True)
class Overview:
    organisation: dict[str, Any]
    links: list[Link]
    has_counsellor: bool

    @property
    def procedures(self) -> list[str]:
        """The procedures enabled for the organisation, in their fixed order."""
        return enabled_procedures(self.organisation)


def enabled_procedures(organisation: dict[str, Any]) -> list[str]:
    codes = {code.strip() for code in (organisation.get("procedures") or "").split(",")}
    return [procedure.value for procedure in Procedure if procedure.value in codes]


def first_language(organisation: dict[str, Any]) -> str | None:
    codes = [code.strip() for code in (organisation.get("languages") or "").split(",")]
    return next((code for code in codes if code), None)


def _status(row: dict[str, Any]) -> str:
    if row["retired_at"] is not None:
        return MOVED
    return LIVE if row["active"] else DISABLED


def _link(row: dict[str, Any]) -> Link:
    status = _status(row)
    return Link(
        id=row["id"],
        procedure=row["procedure"],
        anonymity=row["anonymity"],
        status=status,
        token=None if status == MOVED else row["token"],
        created_at=row["created_at"],
        retired_at=row["retired_at"],
    )


def parse_procedure(value: str) -> Procedure:
    try:
        return Procedure(value)
    except ValueError:
        raise Invalid(fields={"procedure": "required"}) from None


def parse_anonymity(value: str) -> AnonymityMode:
    try:
        return AnonymityMode(value)
    except ValueError:
        raise Invalid(fields={"anonymity": "required"}) from None


# --- reading (staff) ----------------------------------------------------------------------


async def overview(ctx: TenantContext, organisation_id: UUID) -> Overview:
    """The organisation's links, live and disabled first, moved ones (history) last."""
    async with tenant_transaction(ctx):
        organisation = await access_organisation(ctx, organisation_id)
        rows = await scoped(IntakeLink.select(), IntakeLink, ctx).where(
            IntakeLink.organisation == organisation_id
        )
        counsellor = await _has_counsellor(ctx, organisation_id)
    links = sorted(
        (_link(row) for row in rows),
        key=lambda link: (
            link.status == MOVED,
            _procedure_order(link.procedure),
            -(link.retired_at or link.created_at).timestamp(),
        ),
    )
    return Overview(organisation=organisation, links=links, has_counsellor=counsellor)


def _procedure_order(code: str) -> int:
    codes = [procedure.value for procedure in Procedure]
    return codes.index(code) if code in codes else len(codes)


async def access_link(
    ctx: TenantContext, organisation_id: UUID, link_id: UUID
) -> tuple[dict[str, Any], Link]:
    """The organisation and one of its links; another organisation's link is not found."""
    async with tenant_transaction(ctx):
        organisation = await access_organisation(ctx, organisation_id)
        row = await _link_row(ctx, organisation_id, link_id)
    return organisation, _link(row)


async def _link_row(ctx: TenantContext, organisation_id: UUID, link_id: UUID) -> dict[str, Any]:
    require_transaction(ctx)
    row = (
        await scoped(IntakeLink.select(), IntakeLink, ctx)
        .where((IntakeLink.id == link_id) & (IntakeLink.organisation == organisation_id))
        .first()
    )
    if row is None:
        raise NotFound()
    return row


async def _has_counsellor(ctx: TenantContext, organisation_id: UUID) -> bool:
    query = scoped(Membership.exists(), Membership, ctx).where(
        (Membership.organisation == organisation_id)
        & (Membership.role == MembershipRole.COUNSELLOR.value)
    )
    return bool(await query)


# --- the rules ----------------------------------------------------------------------------


def check_admin(ctx: TenantContext) -> None:
    """Links are changed by the bureau admin (or the system); call after the access check,
    so that another tenant's organisation stays a plain not-found."""
    if ctx.scope is Scope.SYSTEM:
        return
    if ctx.scope is not Scope.TENANT or not ctx.bureau_admin:
        raise PermissionDenied()


async def check_may_go_live(
    ctx: TenantContext,
    organisation: dict[str, Any],
    procedure: str,
    *,
    other_than: UUID | None = None,
) -> None:
    """Refuse a link going live: procedure not enabled, no counsellor, or another live link
    for the procedure (`other_than`: the link being enabled itself).

    On PostgreSQL a transaction-level advisory lock per organisation and procedure makes two
    simultaneous requests take turns, so both cannot see "no live link" and both insert one.
    """
    require_transaction(ctx)
    if procedure not in enabled_procedures(organisation):
        raise Invalid(fields={"procedure": "procedure_not_enabled"})
    if not await _has_counsellor(ctx, organisation["id"]):
        raise Conflict(code="no_counsellor")
    if database.is_postgres():
        await database.fetch(
            "SELECT pg_advisory_xact_lock(hashtextextended({}, 0))",
            f"intake_link:{organisation['id']}:{procedure}",
        )
    live = scoped(IntakeLink.select(IntakeLink.id), IntakeLink, ctx).where(
        (IntakeLink.organisation == organisation["id"])
        & (IntakeLink.procedure == procedure)
        & (IntakeLink.active == True)  # noqa: E712 - a Piccolo condition, not a comparison
        & IntakeLink.retired_at.is_null()
    )
    if any(row["id"] != other_than for row in await live):
        raise Conflict(code="live_link_exists")


# --- changes (the bureau admin) -----------------------------------------------------------


async def create_link(
    ctx: TenantContext,
    *,
    organisation_id: UUID,
    procedure: str,
    anonymity: str = AnonymityMode.REPORTER_CHOOSES.value,
) -> str:
    """A new live link (see `services.create_intake_link`, which holds the verb); its token."""
    async with tenant_transaction(ctx):
        organisation = await access_organisation(ctx, organisation_id)  # not-found first
        check_admin(ctx)
        errors: dict[str, str] = {}
        for parse, value in ((parse_procedure, procedure), (parse_anonymity, anonymity)):
            try:
                parse(value)
            except Invalid as exc:
                errors.update(exc.fields)
        if "procedure" not in errors and procedure not in enabled_procedures(organisation):
            errors["procedure"] = "procedure_not_enabled"
        if errors:  # every field's problem at once
            raise Invalid(fields=errors)
        return await services.create_intake_link(
            ctx,
            organisation_id=organisation_id,
            procedure=parse_procedure(procedure),
            anonymity=parse_anonymity(anonymity),
        )


async def _changeable(
    ctx: TenantContext, organisation_id: UUID, link_id: UUID
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The organisation and a link the admin may change (a moved link is history)."""
    require_transaction(ctx)
    organisation = await access_organisation(ctx, organisation_id)
    row = await _link_row(ctx, organisation_id, link_id)
    check_admin(ctx)
    check_may_write(ctx, bureau_id=organisation["bureau"], organisation_id=organisation_id)
    if row["retired_at"] is not None:
        raise Conflict(code="link_moved")
    return organisation, row


async def _update(ctx: TenantContext, link_id: UUID, values: dict[Any, Any]) -> None:
    await scoped(IntakeLink.update(values), IntakeLink, ctx).where(IntakeLink.id == link_id)


async def _record(
    ctx: TenantContext,
    organisation: dict[str, Any],
    link_id: UUID,
    action: str,
    detail: dict[str, Any],
) -> None:
    await audit.record(
        ctx,
        action=f"intake_link.{action}",
        bureau_id=organisation["bureau"],
        organisation_id=organisation["id"],
        subject_type="intake_link",
        subject_id=link_id,
        detail=detail,
    )


async def enable_link(ctx: TenantContext, *, organisation_id: UUID, link_id: UUID) -> None:
    async with tenant_transaction(ctx):
        organisation, row = await _changeable(ctx, organisation_id, link_id)
        if row["active"]:
            return
        await check_may_go_live(ctx, organisation, row["procedure"], other_than=link_id)
        await _update(ctx, link_id, {IntakeLink.active: True})
        await _record(ctx, organisation, link_id, "enabled", {"procedure": row["procedure"]})


async def disable_link(ctx: TenantContext, *, organisation_id: UUID, link_id: UUID) -> None:
    async with tenant_transaction(ctx):
        organisation, row = await _changeable(ctx, organisation_id, link_id)
        if not row["active"]:
            return
        await _update(ctx, link_id, {IntakeLink.active: False})
        await _record(ctx, organisation, link_id, "disabled", {"procedure": row["procedure"]})


async def rotate_link(ctx: TenantContext, *, organisation_id: UUID, link_id: UUID) -> str:
    """Replace a live link by a new address (same procedure and anonymity mode), in one
    transaction; the old address then only says it has moved. Returns the new token."""
    async with tenant_transaction(ctx):
        organisation, row = await _changeable(ctx, organisation_id, link_id)
        if not row["active"]:
            raise Conflict(code="link_not_live")
        await _update(
            ctx, link_id, {IntakeLink.active: False, IntakeLink.retired_at: datetime.now(UTC)}
        )
        token = await services.create_intake_link(
            ctx,
            organisation_id=organisation_id,
            procedure=Procedure(row["procedure"]),
            anonymity=AnonymityMode(row["anonymity"]),
        )
        new = await scoped(IntakeLink.select(IntakeLink.id), IntakeLink, ctx).where(
            IntakeLink.token == token
        )
        await _record(
            ctx,
            organisation,
            link_id,
            "rotated",
            {"procedure": row["procedure"], "replaced_by": str(new[0]["id"])},
        )
        return token


async def set_anonymity(
    ctx: TenantContext, *, organisation_id: UUID, link_id: UUID, anonymity: str
) -> None:
    async with tenant_transaction(ctx):
        organisation, row = await _changeable(ctx, organisation_id, link_id)
        mode = parse_anonymity(anonymity)
        if row["anonymity"] == mode.value:
            return
        await _update(ctx, link_id, {IntakeLink.anonymity: mode.value})
        await _record(
            ctx,
            organisation,
            link_id,
            "anonymity_changed",
            {"anonymity": mode.value, "previous": row["anonymity"]},
        )


# --- the reporter's side ------------------------------------------------------------------


@dataclass(frozen=True)
class ReporterLink:
    """What a reporter's page may know. `organisation_name` only for a live link: a moved or
    disabled address stays neutral (a leaked old poster must not confirm who it was for)."""

    status: str
    procedure: str = ""
    anonymity: str = ""
    organisation_id: UUID | None = None
    organisation_name: str = ""
    languages: tuple[str, ...] = ()
    link_id: UUID | None = None
    bureau_id: UUID | None = None
    token: str = field(default="", repr=False)
    has_logo: bool = False

    @property
    def organisation(self) -> UUID:
        """The organisation of a live link."""
        if self.organisation_id is None:
            raise NotFound()
        return self.organisation_id

    def context(self) -> TenantContext:
        """The reporter context of a live link (its organisation, no case yet)."""
        if self.organisation_id is None or self.bureau_id is None:
            raise NotFound()
        return reporter_context(bureau_id=self.bureau_id, organisation_id=self.organisation_id)


async def reporter_link(token: str) -> ReporterLink | None:
    """The link a reporter's address names, or None when there is no such link."""
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    link_ctx = login_context(token)
    async with tenant_transaction(link_ctx):
        row = (
            await scoped(
                IntakeLink.select(
                    IntakeLink.id,
                    IntakeLink.organisation,
                    IntakeLink.bureau,
                    IntakeLink.procedure,
                    IntakeLink.anonymity,
                    IntakeLink.active,
                    IntakeLink.retired_at,
                ),
                IntakeLink,
                link_ctx,
            )
            .where(IntakeLink.token == token)
            .first()
        )
    if row is None:
        return None
    status = _status(row)
    if status != LIVE:
        return ReporterLink(status=status)
    organisation_id = UUID(str(row["organisation"]))
    bureau_id = UUID(str(row["bureau"]))
    organisation_ctx = reporter_context(bureau_id=bureau_id, organisation_id=organisation_id)
    async with tenant_transaction(organisation_ctx):
        organisation = (
            await scoped(
                Organisation.select(
                    Organisation.name, Organisation.languages, Organisation.logo_type
                ),
                Organisation,
                organisation_ctx,
            )
            .where(Organisation.id == organisation_id)
            .first()
        )
    if organisation is None:  # deleted between the two reads
        return None
    languages = tuple(code for code in organisation["languages"].split(",") if code)
    return ReporterLink(
        status=LIVE,
        procedure=row["procedure"],
        anonymity=row["anonymity"],
        organisation_id=organisation_id,
        organisation_name=organisation["name"],
        languages=languages,
        link_id=UUID(str(row["id"])),
        bureau_id=bureau_id,
        token=token,
        has_logo=bool(organisation["logo_type"]),
    )
