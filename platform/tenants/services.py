"""Tenancy verbs: create bureaus, organisations, staff, memberships, intake links.

Context first, keyword-only after; each verb runs inside `tenant_transaction(ctx)` (it joins
the caller's) and writes an audit event. Nothing here imports the web framework.
"""

from __future__ import annotations

import secrets
from uuid import UUID

from klankbord import audit
from klankbord.errors import Conflict, Invalid, NotFound, PermissionDenied
from klankbord.passwords import hash_password
from klankbord.tenancy import (
    Scope,
    TenantContext,
    check_may_write,
    scoped,
    tenant_transaction,
)
from tenants.access import access_bureau, access_organisation
from tenants.choices import AnonymityMode, Assignment, Country, MembershipRole, Procedure
from tenants.tables import Bureau, IntakeLink, Membership, Organisation, StaffUser


async def find_bureau(ctx: TenantContext, *, name: str) -> UUID | None:
    async with tenant_transaction(ctx):
        row = await scoped(Bureau.select(Bureau.id), Bureau, ctx).where(Bureau.name == name).first()
    return None if row is None else row["id"]


async def create_bureau(ctx: TenantContext, *, name: str) -> UUID:
    name = name.strip()
    if not name:
        raise Invalid(fields={"name": "required"})
    if ctx.scope not in (Scope.PLATFORM, Scope.SYSTEM):
        raise PermissionDenied()
    async with tenant_transaction(ctx):
        if await Bureau.exists().where(Bureau.name == name):
            raise Conflict(code="bureau_name_taken")
        bureau = Bureau(name=name)
        await bureau.save()
        await audit.record(
            ctx, action="bureau.created", subject_type="bureau", subject_id=bureau.id
        )
        return bureau.id


async def create_organisation(
    ctx: TenantContext,
    *,
    bureau_id: UUID,
    name: str,
    country: Country = Country.NL,
    sector: str = "",
    headcount: int = 0,
    languages: tuple[str, ...] = ("nl",),
    procedures: tuple[Procedure, ...] = (),
) -> UUID:
    name = name.strip()
    if not name:
        raise Invalid(fields={"name": "required"})
    if headcount < 0:
        raise Invalid(fields={"headcount": "not_negative"})
    async with tenant_transaction(ctx):
        await access_bureau(ctx, bureau_id)
        check_may_write(ctx, bureau_id=bureau_id)
        taken = scoped(Organisation.exists(), Organisation, ctx).where(
            (Organisation.bureau == bureau_id) & (Organisation.name == name)
        )
        if await taken:
            raise Conflict(code="organisation_name_taken")
        organisation = Organisation(
            bureau=bureau_id,
            name=name,
            country=country,
            sector=sector,
            headcount=headcount,
            languages=",".join(languages),
            procedures=",".join(procedures),
        )
        await organisation.save()
        # Its data key, in the same transaction: no organisation ever exists without one.
        from klankbord import keys

        await keys.create_data_key(ctx, organisation_id=organisation.id, bureau_id=bureau_id)
        await audit.record(
            ctx,
            action="organisation.created",
            bureau_id=bureau_id,
            organisation_id=organisation.id,
            subject_type="organisation",
            subject_id=organisation.id,
        )
        return organisation.id


async def create_staff_user(
    ctx: TenantContext,
    *,
    bureau_id: UUID | None,
    email: str,
    display_name: str,
    password: str | None = None,
    bureau_admin: bool = False,
    platform_operator: bool = False,
    language: str = "nl",
) -> UUID:
    """A staff member of a bureau, or (platform or system scope only) a platform operator.

    Within a bureau only its bureau admin creates staff; a counsellor or an organisation
    contact may not, and nobody in a bureau may create a platform operator (who would see
    every bureau). A platform operator belongs to no bureau.
    """
    email = email.strip().lower()
    if "@" not in email or not display_name.strip():
        raise Invalid(fields={"email": "invalid"} if "@" not in email else {"name": "required"})
    _check_may_create_staff(
        ctx, bureau_id=bureau_id, bureau_admin=bureau_admin, platform_operator=platform_operator
    )
    password_hash = await hash_password(password) if password else None
    async with tenant_transaction(ctx):
        if bureau_id is not None:
            await access_bureau(ctx, bureau_id)
            check_may_write(ctx, bureau_id=bureau_id)
        # E-mail addresses are unique across the platform; a clash is told to admins only.
        if await StaffUser.exists().where(StaffUser.email == email):
            raise Conflict(code="email_taken")
        user = StaffUser(
            bureau=bureau_id,
            email=email,
            display_name=display_name.strip(),
            password_hash=password_hash,
            is_bureau_admin=bureau_admin,
            is_platform_operator=platform_operator,
            language=language,
        )
        await user.save()
        await audit.record(
            ctx,
            action="staff_user.created",
            bureau_id=bureau_id,
            subject_type="staff_user",
            subject_id=user.id,
            detail={"bureau_admin": bureau_admin, "platform_operator": platform_operator},
        )
        return user.id


def _check_may_create_staff(
    ctx: TenantContext, *, bureau_id: UUID | None, bureau_admin: bool, platform_operator: bool
) -> None:
    if platform_operator:
        if ctx.scope not in (Scope.PLATFORM, Scope.SYSTEM):
            raise PermissionDenied()
        if bureau_id is not None or bureau_admin:
            raise Invalid(fields={"bureau": "platform_operator_has_no_bureau"})
        return
    if ctx.scope is Scope.TENANT and not ctx.bureau_admin:
        raise PermissionDenied()
    if bureau_id is None:
        # A tenant context can only ever write into its own bureau (as check_may_write says).
        if ctx.scope is Scope.TENANT:
            raise NotFound()
        raise Invalid(fields={"bureau": "required"})


async def add_membership(
    ctx: TenantContext, *, organisation_id: UUID, staff_user_id: UUID, role: MembershipRole
) -> UUID:
    async with tenant_transaction(ctx):
        organisation = await access_organisation(ctx, organisation_id)
        bureau_id = organisation["bureau"]
        check_may_write(ctx, bureau_id=bureau_id, organisation_id=organisation_id)
        staff = (
            await scoped(StaffUser.select(StaffUser.bureau), StaffUser, ctx)
            .where(StaffUser.id == staff_user_id)
            .first()
        )
        if staff is None or staff["bureau"] != bureau_id:
            raise NotFound()
        return await insert_membership(
            ctx,
            organisation_id=organisation_id,
            bureau_id=bureau_id,
            staff_user_id=staff_user_id,
            role=role,
        )


async def insert_membership(
    ctx: TenantContext,
    *,
    organisation_id: UUID,
    bureau_id: UUID,
    staff_user_id: UUID,
    role: MembershipRole,
    assignment: Assignment | None = None,
) -> UUID:
    """The membership row and its audit event, once the caller has checked the organisation
    and the staff member (`add_membership`, `assignments.assign_counsellor`). `assignment`
    (counsellors only) is recorded in the audit detail when given."""
    check_may_write(ctx, bureau_id=bureau_id, organisation_id=organisation_id)
    membership = Membership(
        staff_user=staff_user_id,
        organisation=organisation_id,
        bureau=bureau_id,
        role=role,
        assignment=assignment or Assignment.PRIMARY,
    )
    await membership.save()
    detail = {"staff_user": str(staff_user_id), "role": role.value}
    if assignment is not None:
        detail["assignment"] = assignment.value
    await audit.record(
        ctx,
        action="membership.created",
        bureau_id=bureau_id,
        organisation_id=organisation_id,
        subject_type="membership",
        subject_id=membership.id,
        detail=detail,
    )
    return membership.id


async def create_intake_link(
    ctx: TenantContext,
    *,
    organisation_id: UUID,
    procedure: Procedure,
    anonymity: AnonymityMode = AnonymityMode.REPORTER_CHOOSES,
) -> str:
    """A new live intake link; its token (192 random bits) is the unguessable part of the URL.

    Only the bureau admin (or the system) creates one, and only when the rules of
    `tenants.intake_links.check_may_go_live` allow it: the procedure is enabled for the
    organisation, a counsellor is assigned, and no other live link has this procedure (to
    replace a live link, rotate it). The token never goes into the audit log.
    """
    from tenants import intake_links  # the link rules; that module imports this one

    async with tenant_transaction(ctx):
        organisation = await access_organisation(ctx, organisation_id)
        check_may_write(ctx, bureau_id=organisation["bureau"], organisation_id=organisation_id)
        intake_links.check_admin(ctx)
        await intake_links.check_may_go_live(ctx, organisation, str(procedure))
        token = secrets.token_urlsafe(24)
        link = IntakeLink(
            organisation=organisation_id,
            bureau=organisation["bureau"],
            procedure=procedure,
            anonymity=anonymity,
            token=token,
        )
        await link.save()
        await audit.record(
            ctx,
            action="intake_link.created",
            bureau_id=organisation["bureau"],
            organisation_id=organisation_id,
            subject_type="intake_link",
            subject_id=link.id,
            detail={"procedure": str(procedure), "anonymity": str(anonymity)},
        )
        return token
