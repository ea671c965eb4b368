"""Handover: the bureau admin moves a departing counsellor's organisations and cases to
another counsellor, with a reason (REQUIREMENTS §5).

In one transaction: for every organisation the departing counsellor serves, the successor
becomes a counsellor there (with the same assignment, primary or substitute) unless already
one, the departing counsellor's membership ends, and every open case that names them as its
counsellor names the successor. One audit event carries the reason code and the counts.
Substitutes need no handover: as counsellors of the organisation they see its cases while the
primary is away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from casework.choices import CaseStatus
from casework.tables import Case
from klankbord import audit
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.tenancy import TenantContext, require_transaction, scoped, tenant_transaction
from tenants import services
from tenants.choices import Assignment, MembershipRole
from tenants.tables import Membership, StaffUser

REASONS = ("leaving", "long_absence", "conflict_of_interest", "workload")


@dataclass(frozen=True)
class HandoverFacts:
    departing: dict[str, Any]
    organisations: list[dict[str, Any]]  # name, assignment
    open_cases: int
    successors: list[dict[str, Any]]  # id, display_name


def _admin(ctx: TenantContext) -> UUID:
    if not ctx.bureau_admin or ctx.bureau_id is None:
        raise PermissionDenied()
    return ctx.bureau_id


async def _staff(ctx: TenantContext, bureau_id: UUID, staff_user_id: UUID) -> dict[str, Any]:
    row = (
        await scoped(
            StaffUser.select(StaffUser.id, StaffUser.display_name, StaffUser.active),
            StaffUser,
            ctx,
        )
        .where((StaffUser.id == staff_user_id) & (StaffUser.bureau == bureau_id))
        .first()
    )
    if row is None:
        raise NotFound()
    return row


async def _memberships(ctx: TenantContext, staff_user_id: UUID) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await scoped(
        Membership.select(
            Membership.id,
            Membership.organisation,
            Membership.bureau,
            Membership.assignment,
            Membership.organisation.name.as_alias("name"),
        ),
        Membership,
        ctx,
    ).where(
        (Membership.staff_user == staff_user_id) & (Membership.role == MembershipRole.COUNSELLOR)
    )
    return rows


async def facts(ctx: TenantContext, *, staff_user_id: UUID) -> HandoverFacts:
    """What a handover of this counsellor would move, and who could take over."""
    require_transaction(ctx)
    bureau_id = _admin(ctx)
    departing = await _staff(ctx, bureau_id, staff_user_id)
    memberships = await _memberships(ctx, staff_user_id)
    open_cases = await scoped(Case.count(), Case, ctx).where(
        (Case.counsellor == staff_user_id) & (Case.status != CaseStatus.CLOSED)
    )
    successors = await scoped(
        StaffUser.select(StaffUser.id, StaffUser.display_name), StaffUser, ctx
    ).where(
        (StaffUser.bureau == bureau_id)
        & (StaffUser.active == True)  # noqa: E712
        & (StaffUser.id != staff_user_id)
        & (StaffUser.is_platform_operator == False)  # noqa: E712
    )
    contacts = {
        row["staff_user"]
        for row in await scoped(Membership.select(Membership.staff_user), Membership, ctx).where(
            Membership.role == MembershipRole.ORGANISATION_CONTACT
        )
    }
    return HandoverFacts(
        departing=departing,
        organisations=[{"name": m["name"], "assignment": m["assignment"]} for m in memberships],
        open_cases=int(open_cases),
        successors=sorted(
            (s for s in successors if s["id"] not in contacts),
            key=lambda s: s["display_name"].lower(),
        ),
    )


async def hand_over(
    ctx: TenantContext, *, staff_user_id: UUID, successor_id: UUID, reason: str
) -> tuple[int, int]:
    """Move the organisations and open cases; (organisations, cases) moved."""
    errors: dict[str, str] = {}
    if reason not in REASONS:
        errors["reason"] = "reason_required"
    if successor_id == staff_user_id:
        errors["successor"] = "successor_same"
    if errors:
        raise Invalid(code="handover_invalid", fields=errors)
    async with tenant_transaction(ctx):
        details = await facts(ctx, staff_user_id=staff_user_id)
        if successor_id not in {s["id"] for s in details.successors}:
            raise Invalid(code="handover_invalid", fields={"successor": "successor_unknown"})
        memberships = await _memberships(ctx, staff_user_id)
        theirs = {m["organisation"] for m in await _memberships(ctx, successor_id)}
        for membership in memberships:
            if membership["organisation"] not in theirs:
                await services.insert_membership(
                    ctx,
                    organisation_id=membership["organisation"],
                    bureau_id=membership["bureau"],
                    staff_user_id=successor_id,
                    role=MembershipRole.COUNSELLOR,
                    assignment=Assignment(membership["assignment"]),
                )
            await scoped(Membership.delete(), Membership, ctx).where(
                Membership.id == membership["id"]
            )
        await scoped(Case.update({Case.counsellor: successor_id}), Case, ctx).where(
            (Case.counsellor == staff_user_id) & (Case.status != CaseStatus.CLOSED)
        )
        await audit.record(
            ctx,
            action="counsellor.handover",
            subject_type="staff_user",
            subject_id=staff_user_id,
            detail={
                "successor": str(successor_id),
                "reason": reason,
                "organisations": len(memberships),
                "open_cases": details.open_cases,
            },
        )
    return len(memberships), details.open_cases
