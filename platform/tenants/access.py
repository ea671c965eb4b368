"""Read access to tenancy data, always through `klankbord.tenancy.scoped`.

Every function takes the context first and must run inside `tenant_transaction(ctx)`. A row
that does not exist and a row of another tenant raise the same `NotFound`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from klankbord.errors import NotFound
from klankbord.tenancy import TenantContext, require_transaction, scoped
from tenants.tables import Bureau, IntakeLink, Membership, Organisation, StaffUser

PAGE_SIZE = 50


def _page(page: int) -> tuple[int, int]:
    page = max(page, 1)
    return PAGE_SIZE, (page - 1) * PAGE_SIZE


async def access_bureau(ctx: TenantContext, bureau_id: UUID) -> dict[str, Any]:
    require_transaction(ctx)
    row = await scoped(Bureau.select(), Bureau, ctx).where(Bureau.id == bureau_id).first()
    if row is None:
        raise NotFound()
    return row


async def list_bureaus(ctx: TenantContext, *, page: int = 1) -> list[dict[str, Any]]:
    require_transaction(ctx)
    limit, offset = _page(page)
    query = scoped(Bureau.select(), Bureau, ctx).order_by(Bureau.name)
    return await query.limit(limit).offset(offset)


async def access_organisation(ctx: TenantContext, organisation_id: UUID) -> dict[str, Any]:
    require_transaction(ctx)
    query = scoped(Organisation.select(), Organisation, ctx)
    row = await query.where(Organisation.id == organisation_id).first()
    if row is None:
        raise NotFound()
    return row


async def list_organisations(ctx: TenantContext, *, page: int = 1) -> list[dict[str, Any]]:
    require_transaction(ctx)
    limit, offset = _page(page)
    query = scoped(Organisation.select(), Organisation, ctx)
    query = query.order_by(Organisation.name).order_by(Organisation.id)
    return await query.limit(limit).offset(offset)


async def list_intake_links(ctx: TenantContext, organisation_id: UUID) -> list[dict[str, Any]]:
    await access_organisation(ctx, organisation_id)
    query = scoped(IntakeLink.select(), IntakeLink, ctx)
    query = query.where(IntakeLink.organisation == organisation_id).order_by(IntakeLink.procedure)
    return await query


async def list_memberships(ctx: TenantContext, organisation_id: UUID) -> list[dict[str, Any]]:
    await access_organisation(ctx, organisation_id)
    query = scoped(
        Membership.select(
            Membership.id,
            Membership.role,
            Membership.assignment,
            Membership.staff_user.id.as_alias("staff_user_id"),
            Membership.staff_user.display_name.as_alias("display_name"),
        ),
        Membership,
        ctx,
    ).where(Membership.organisation == organisation_id)
    return await query.order_by(Membership.role)


async def access_staff_user(ctx: TenantContext, staff_user_id: UUID) -> dict[str, Any]:
    require_transaction(ctx)
    query = scoped(StaffUser.select(exclude_secrets=True), StaffUser, ctx)
    row = await query.where(StaffUser.id == staff_user_id).first()
    if row is None:
        raise NotFound()
    return row


async def list_staff(ctx: TenantContext) -> list[dict[str, Any]]:
    """The staff of the context's bureau with their memberships, for its bureau admin.

    `invited`: no password and no single sign-on identity yet (the hash itself never leaves
    this function). Two queries, whatever the number of staff.
    """
    require_transaction(ctx)
    if ctx.bureau_id is None:
        return []
    users = await scoped(
        StaffUser.select(
            StaffUser.id,
            StaffUser.email,
            StaffUser.display_name,
            StaffUser.is_bureau_admin,
            StaffUser.active,
            StaffUser.password_hash,
            StaffUser.oidc_subject,
        ),
        StaffUser,
        ctx,
    ).where(StaffUser.bureau == ctx.bureau_id)
    memberships = await scoped(
        Membership.select(
            Membership.staff_user,
            Membership.role,
            Membership.organisation.name.as_alias("organisation_name"),
        ),
        Membership,
        ctx,
    ).where(Membership.bureau == ctx.bureau_id)
    roles: dict[UUID, list[dict[str, Any]]] = {}
    for membership in sorted(memberships, key=lambda m: m["organisation_name"]):
        roles.setdefault(membership["staff_user"], []).append(
            {"role": membership["role"], "organisation_name": membership["organisation_name"]}
        )
    staff = [
        {
            "id": user["id"],
            "email": user["email"],
            "display_name": user["display_name"],
            "bureau_admin": user["is_bureau_admin"],
            "active": user["active"],
            "invited": user["password_hash"] is None and user["oidc_subject"] is None,
            "memberships": roles.get(user["id"], []),
        }
        for user in users
    ]
    return sorted(staff, key=lambda user: (user["display_name"].lower(), str(user["id"])))
