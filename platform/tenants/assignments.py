"""Counsellor assignments: which staff of a bureau counsel one of its organisations (bureau
admin), during onboarding and afterwards.

The onboarding wizard's counsellors step and the organisation's counsellors page share these
services, so the rules cannot drift apart: a counsellor comes from the organisation's own
bureau, is active, is never an organisation contact (client-side people do not read reports),
and the last counsellor of an organisation with live intake links stays. The wizard builds on
this module, never the other way round. Context first, keyword-only after; an audit event per
change, with ids and codes only.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from klankbord import audit
from klankbord.errors import Conflict, Invalid, NotFound, PermissionDenied
from klankbord.tenancy import Scope, TenantContext, check_may_write, scoped, tenant_transaction
from tenants import services
from tenants.access import access_organisation
from tenants.choices import Assignment, MembershipRole
from tenants.tables import IntakeLink, Membership, StaffUser


async def admin_organisation(ctx: TenantContext, organisation_id: UUID) -> dict[str, Any]:
    """The organisation (`NotFound` if foreign or missing), for its bureau admin only.

    The one gate of every page under an organisation's onboarding and counsellors; it must
    run inside `tenant_transaction(ctx)`."""
    organisation = await access_organisation(ctx, organisation_id)
    if not ctx.bureau_admin and ctx.scope is not Scope.SYSTEM:  # system: the demo, the CLI
        raise PermissionDenied()
    check_may_write(ctx, bureau_id=organisation["bureau"], organisation_id=organisation_id)
    return organisation


async def assigned_counsellors(ctx: TenantContext, organisation_id: UUID) -> list[dict[str, Any]]:
    """The organisation's counsellors, primaries first, then by name (the id breaks ties, so
    the order is stable)."""
    rows = await scoped(
        Membership.select(
            Membership.id,
            Membership.assignment,
            Membership.staff_user.id.as_alias("staff_user_id"),
            Membership.staff_user.display_name.as_alias("display_name"),
        ),
        Membership,
        ctx,
    ).where(
        (Membership.organisation == organisation_id)
        & (Membership.role == MembershipRole.COUNSELLOR.value)
    )
    return sorted(
        rows,
        key=lambda r: (r["assignment"] != "primary", r["display_name"].lower(), str(r["id"])),
    )


async def candidate_counsellors(
    ctx: TenantContext, organisation: dict[str, Any], counsellors: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Who the assignment form offers: active staff of the organisation's bureau who are not
    counsellors here yet (`counsellors`, as listed above) and no organisation contact, by
    name."""
    assigned = {c["staff_user_id"] for c in counsellors}
    contacts = await _contact_ids(ctx, organisation["bureau"])
    staff = await scoped(
        StaffUser.select(StaffUser.id, StaffUser.display_name, StaffUser.email),
        StaffUser,
        ctx,
    ).where((StaffUser.bureau == organisation["bureau"]) & (StaffUser.active == True))  # noqa: E712
    return sorted(
        (s for s in staff if s["id"] not in assigned and s["id"] not in contacts),
        key=lambda s: (s["display_name"].lower(), str(s["id"])),
    )


async def _contact_ids(ctx: TenantContext, bureau_id: UUID) -> set[UUID]:
    """Staff who are an organisation contact anywhere: client-side people, never counsellors."""
    rows = await scoped(Membership.select(Membership.staff_user), Membership, ctx).where(
        (Membership.bureau == bureau_id)
        & (Membership.role == MembershipRole.ORGANISATION_CONTACT.value)
    )
    return {row["staff_user"] for row in rows}


async def has_live_links(ctx: TenantContext, organisation_id: UUID) -> bool:
    """Whether reporters can reach the organisation now: an active intake link not retired."""
    return bool(
        await scoped(IntakeLink.exists(), IntakeLink, ctx).where(
            (IntakeLink.organisation == organisation_id)
            & (IntakeLink.active == True)  # noqa: E712
            & IntakeLink.retired_at.is_null()
        )
    )


async def assign_counsellor(
    ctx: TenantContext, *, organisation_id: UUID, staff_user_id: UUID, assignment: str
) -> UUID:
    """Make a staff member of the organisation's bureau one of its counsellors.

    Staff of another bureau (or no one) is `NotFound`; an organisation contact, or someone
    who is already a counsellor here, is a `Conflict`."""
    async with tenant_transaction(ctx):
        organisation = await admin_organisation(ctx, organisation_id)
        bureau_id = organisation["bureau"]
        staff = (
            await scoped(StaffUser.select(StaffUser.id, StaffUser.active), StaffUser, ctx)
            .where((StaffUser.id == staff_user_id) & (StaffUser.bureau == bureau_id))
            .first()
        )
        if staff is None:
            raise NotFound()
        if assignment not in {a.value for a in Assignment}:
            raise Invalid(fields={"assignment": "required"})
        if not staff["active"]:
            raise Conflict(code="inactive")
        if staff_user_id in await _contact_ids(ctx, bureau_id):
            raise Conflict(code="is_organisation_contact")
        if any(
            c["staff_user_id"] == staff_user_id
            for c in await assigned_counsellors(ctx, organisation_id)
        ):
            raise Conflict(code="already_assigned")
        return await services.insert_membership(
            ctx,
            organisation_id=organisation_id,
            bureau_id=bureau_id,
            staff_user_id=staff_user_id,
            role=MembershipRole.COUNSELLOR,
            assignment=Assignment(assignment),
        )


async def remove_counsellor(
    ctx: TenantContext, *, organisation_id: UUID, staff_user_id: UUID
) -> None:
    """End a counsellor's assignment. The last counsellor of an organisation whose intake
    links are live stays: reporters would reach nobody."""
    async with tenant_transaction(ctx):
        organisation = await admin_organisation(ctx, organisation_id)
        counsellors = await assigned_counsellors(ctx, organisation_id)
        mine = [c for c in counsellors if c["staff_user_id"] == staff_user_id]
        if not mine:
            raise NotFound()
        if len(counsellors) == 1 and await has_live_links(ctx, organisation_id):
            raise Conflict(code="last_counsellor_with_live_links")
        await scoped(Membership.delete(), Membership, ctx).where(Membership.id == mine[0]["id"])
        await audit.record(
            ctx,
            action="membership.removed",
            bureau_id=organisation["bureau"],
            organisation_id=organisation_id,
            subject_type="membership",
            subject_id=mine[0]["id"],
            detail={"staff_user": str(staff_user_id), "role": MembershipRole.COUNSELLOR.value},
        )
