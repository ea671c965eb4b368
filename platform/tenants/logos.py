"""An organisation's logo, shown to its reporters on the intake pages.

Only PNG, JPEG and WebP are taken (sniffed from the bytes; never SVG, which can carry script),
at most `MAX_BYTES`, re-encoded without metadata (`klankbord.sanitise`), and kept in the
organisation row itself: it is small, public to anyone with the intake link, and needs no
blob store. The bureau admin sets and removes it; each change is audited (ids only).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from uuid import UUID

from klankbord import audit
from klankbord.errors import Invalid, NotFound
from klankbord.filetypes import sniff
from klankbord.sanitise import AttachmentRefused, sanitise_off_loop
from klankbord.tenancy import TenantContext, require_transaction, scoped, tenant_transaction
from tenants.access import access_organisation
from tenants.intake_links import ReporterLink, check_admin
from tenants.tables import Organisation

MAX_BYTES = 512 * 1024
MAX_PIXELS = 4_000_000
ACCEPTED = frozenset({"image/png", "image/jpeg", "image/webp"})


@dataclass(frozen=True)
class Logo:
    media_type: str
    data: bytes


async def set_logo(ctx: TenantContext, *, organisation_id: UUID, data: bytes) -> None:
    if not data:
        raise Invalid(code="logo_missing", fields={"logo": "logo_missing"})
    if len(data) > MAX_BYTES:
        raise Invalid(code="logo_too_large", fields={"logo": "logo_too_large"})
    media_type = sniff(data[:4096])
    if media_type not in ACCEPTED:
        raise Invalid(code="logo_type", fields={"logo": "logo_type"})
    try:
        clean = await sanitise_off_loop(data, media_type, max_pixels=MAX_PIXELS)
    except AttachmentRefused:
        raise Invalid(code="logo_unreadable", fields={"logo": "logo_unreadable"}) from None
    async with tenant_transaction(ctx):
        organisation = await access_organisation(ctx, organisation_id)
        check_admin(ctx)
        await _store(ctx, organisation_id, base64.b64encode(clean.data).decode(), media_type)
        await audit.record(
            ctx,
            action="organisation.logo_set",
            bureau_id=organisation["bureau"],
            organisation_id=organisation_id,
            subject_type="organisation",
            subject_id=organisation_id,
            detail={"media_type": media_type, "bytes": len(clean.data)},
        )


async def remove_logo(ctx: TenantContext, *, organisation_id: UUID) -> None:
    async with tenant_transaction(ctx):
        organisation = await access_organisation(ctx, organisation_id)
        check_admin(ctx)
        await _store(ctx, organisation_id, "", "")
        await audit.record(
            ctx,
            action="organisation.logo_removed",
            bureau_id=organisation["bureau"],
            organisation_id=organisation_id,
            subject_type="organisation",
            subject_id=organisation_id,
        )


async def _store(ctx: TenantContext, organisation_id: UUID, logo: str, media_type: str) -> None:
    require_transaction(ctx)
    await scoped(
        Organisation.update({Organisation.logo: logo, Organisation.logo_type: media_type}),
        Organisation,
        ctx,
    ).where(Organisation.id == organisation_id)


async def has_logo(ctx: TenantContext, organisation_id: UUID) -> bool:
    require_transaction(ctx)
    row = (
        await scoped(Organisation.select(Organisation.logo_type), Organisation, ctx)
        .where(Organisation.id == organisation_id)
        .first()
    )
    return bool(row and row["logo_type"])


async def reporter_logo(link: ReporterLink) -> Logo:
    """The logo of a live link's organisation; `NotFound` when it has none."""
    ctx = link.context()
    async with tenant_transaction(ctx):
        row = (
            await scoped(
                Organisation.select(Organisation.logo, Organisation.logo_type), Organisation, ctx
            )
            .where(Organisation.id == link.organisation)
            .first()
        )
    if row is None or not row["logo_type"]:
        raise NotFound()
    return Logo(row["logo_type"], base64.b64decode(row["logo"]))


async def logo_page_facts(
    ctx: TenantContext, organisation_id: UUID
) -> tuple[dict[str, object], str]:
    """The organisation (for the admin's page) and its logo as a data URI ("" without)."""
    async with tenant_transaction(ctx):
        organisation = await access_organisation(ctx, organisation_id)
        check_admin(ctx)
    if not organisation["logo_type"]:
        return organisation, ""
    return organisation, f"data:{organisation['logo_type']};base64,{organisation['logo']}"
