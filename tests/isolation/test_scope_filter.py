"""The tenant filter (`klankbord.tenancy.scoped` / `tenant_filter`) through the access functions.

On SQLite this is the only wall, so these tests run on both backends. On PostgreSQL row-level
security would hide a broken filter from the access-function tests; the `*_filter_alone_*`
tests therefore run the filter inside a system-scope transaction (RLS open), so that only the
filter limits the rows.
"""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from piccolo.table import Table

from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.tenancy import (
    TenantContext,
    principal_context,
    scoped,
    staff_context,
    system_context,
    tenant_transaction,
)
from tenants import access, services
from tenants.choices import MembershipRole, Procedure
from tenants.tables import Bureau, IntakeLink, Membership, Organisation, StaffUser

pytestmark = pytest.mark.usefixtures("rollback")


def _fingerprint(error: NotFound) -> tuple[object, ...]:
    return (type(error), error.code, error.message, str(error), error.status, error.args)


async def _not_found(ctx: TenantContext, call, *args) -> tuple[object, ...]:
    """Run `call(ctx, *args)` in a tenant transaction; it must raise NotFound."""
    with pytest.raises(NotFound) as caught:
        async with tenant_transaction(ctx):
            await call(ctx, *args)
    return _fingerprint(caught.value)


async def _organisation_ids(ctx: TenantContext) -> set[UUID]:
    async with tenant_transaction(ctx):
        return {row["id"] for row in await access.list_organisations(ctx)}


# --- organisations ------------------------------------------------------------------------


async def test_access_organisation_counsellor_own_found(world):
    ctx = world.ctx("counsellor_A1")
    async with tenant_transaction(ctx):
        row = await access.access_organisation(ctx, world.organisations["A1"])
    assert row["name"] == world.organisation_names["A1"]


@pytest.mark.parametrize("role", ["counsellor_A1", "contact_A1"])
@pytest.mark.parametrize("foreign", ["A2", "B1", "B2"])
async def test_access_organisation_member_foreign_not_found_like_missing(world, role, foreign):
    ctx = world.ctx(role)
    missing = await _not_found(ctx, access.access_organisation, uuid4())
    foreign_error = await _not_found(ctx, access.access_organisation, world.organisations[foreign])
    assert foreign_error == missing


async def test_access_organisation_bureau_admin_own_bureau_only(world):
    ctx = world.ctx("admin_A")
    async with tenant_transaction(ctx):
        for key in ("A1", "A2"):
            row = await access.access_organisation(ctx, world.organisations[key])
            assert row["bureau"] == world.bureaus["A"]
    missing = await _not_found(ctx, access.access_organisation, uuid4())
    for key in ("B1", "B2"):
        assert (
            await _not_found(ctx, access.access_organisation, world.organisations[key]) == missing
        )


async def test_list_organisations_each_role_sees_only_its_own(world):
    organisations = world.organisations
    admin = await _organisation_ids(world.ctx("admin_A"))
    assert {organisations["A1"], organisations["A2"]} <= admin
    assert not admin & {organisations["B1"], organisations["B2"]}
    assert await _organisation_ids(world.ctx("counsellor_A1")) == {organisations["A1"]}
    assert await _organisation_ids(world.ctx("contact_A1")) == {organisations["A1"]}
    assert await _organisation_ids(world.ctx("counsellor_B2")) == {organisations["B2"]}


async def test_list_organisations_operator_sees_none(world):
    ctx = world.ctx("operator")
    assert await _organisation_ids(ctx) == set()
    for key in ("A1", "B1"):
        await _not_found(ctx, access.access_organisation, world.organisations[key])


async def test_list_bureaus_operator_sees_all_tenant_own_only(world):
    operator = world.ctx("operator")
    async with tenant_transaction(operator):
        names = {row["name"] for row in await access.list_bureaus(operator)}
    assert {"Bureau A", "Bureau B"} <= names

    for role in ("admin_A", "counsellor_A1", "contact_A1"):
        ctx = world.ctx(role)
        async with tenant_transaction(ctx):
            rows = await access.list_bureaus(ctx)
            assert [row["id"] for row in rows] == [world.bureaus["A"]], role
            await access.access_bureau(ctx, world.bureaus["A"])
        missing = await _not_found(ctx, access.access_bureau, uuid4())
        assert await _not_found(ctx, access.access_bureau, world.bureaus["B"]) == missing


# --- organisation-owned tables ------------------------------------------------------------


async def test_list_intake_links_counsellor_own_found_foreign_not_found(world):
    ctx = world.ctx("counsellor_A1")
    async with tenant_transaction(ctx):
        links = await access.list_intake_links(ctx, world.organisations["A1"])
    assert [link["token"] for link in links] == [world.intake_links["A1"]]
    missing = await _not_found(ctx, access.list_intake_links, uuid4())
    for key in ("A2", "B1"):
        assert await _not_found(ctx, access.list_intake_links, world.organisations[key]) == missing


async def test_list_intake_links_admin_other_bureau_not_found(world):
    ctx = world.ctx("admin_A")
    async with tenant_transaction(ctx):
        links = await access.list_intake_links(ctx, world.organisations["A2"])
    assert [link["token"] for link in links] == [world.intake_links["A2"]]
    missing = await _not_found(ctx, access.list_intake_links, uuid4())
    assert await _not_found(ctx, access.list_intake_links, world.organisations["B1"]) == missing


async def test_list_memberships_member_foreign_not_found(world):
    ctx = world.ctx("contact_A1")
    async with tenant_transaction(ctx):
        members = await access.list_memberships(ctx, world.organisations["A1"])
    assert {m["staff_user_id"] for m in members} == {
        world.users["counsellor_A1"],
        world.users["contact_A1"],
    }
    missing = await _not_found(ctx, access.list_memberships, uuid4())
    for key in ("A2", "B1"):
        assert await _not_found(ctx, access.list_memberships, world.organisations[key]) == missing


async def test_access_staff_user_other_bureau_not_found(world):
    ctx = world.ctx("counsellor_A1")
    async with tenant_transaction(ctx):
        await access.access_staff_user(ctx, world.users["counsellor_A2"])  # same bureau
    missing = await _not_found(ctx, access.access_staff_user, uuid4())
    for user in ("counsellor_B1", "admin_B", "operator"):
        assert await _not_found(ctx, access.access_staff_user, world.users[user]) == missing


async def test_context_bureau_without_organisations_sees_no_organisation_data(world):
    ctx = staff_context(staff_user_id=uuid4(), bureau_id=world.bureaus["A"])
    assert await _organisation_ids(ctx) == set()
    async with tenant_transaction(ctx):
        await access.access_bureau(ctx, world.bureaus["A"])  # bureau-level rows: still its own
        assert await scoped(IntakeLink.select(), IntakeLink, ctx) == []
        assert await scoped(Membership.select(), Membership, ctx) == []
        assert await scoped(Organisation.count(), Organisation, ctx) == 0
    for key in ("A1", "A2"):
        await _not_found(ctx, access.access_organisation, world.organisations[key])
        await _not_found(ctx, access.list_intake_links, world.organisations[key])


async def test_principal_context_sees_only_own_user_and_memberships(world):
    user = world.users["counsellor_A1"]
    ctx = principal_context(user)
    async with tenant_transaction(ctx):
        users = await scoped(StaffUser.select(StaffUser.id), StaffUser, ctx)
        memberships = await scoped(Membership.select(), Membership, ctx)
        organisations = await scoped(Organisation.select(), Organisation, ctx)
    assert [row["id"] for row in users] == [user]
    assert {row["organisation"] for row in memberships} == {world.organisations["A1"]}
    assert {row["staff_user"] for row in memberships} == {user}
    assert organisations == []


# --- writes through services --------------------------------------------------------------


@pytest.mark.parametrize("foreign", ["A2", "B1"])
async def test_create_intake_link_counsellor_foreign_organisation_not_found(world, foreign):
    ctx = world.ctx("counsellor_A1")
    with pytest.raises(NotFound):
        await services.create_intake_link(
            ctx, organisation_id=world.organisations[foreign], procedure=Procedure.INTEGRITY
        )


async def test_add_membership_admin_other_bureau_not_found(world):
    ctx = world.ctx("admin_A")
    with pytest.raises(NotFound):  # an organisation of the other bureau
        await services.add_membership(
            ctx,
            organisation_id=world.organisations["B1"],
            staff_user_id=world.users["counsellor_A1"],
            role=MembershipRole.COUNSELLOR,
        )
    with pytest.raises(NotFound):  # a staff member of the other bureau
        await services.add_membership(
            ctx,
            organisation_id=world.organisations["A1"],
            staff_user_id=world.users["counsellor_B1"],
            role=MembershipRole.COUNSELLOR,
        )


@pytest.mark.parametrize("role", ["admin_A", "contact_A1"])
@pytest.mark.parametrize("bureau", ["A", None])
async def test_create_staff_user_tenant_context_platform_operator_refused(world, role, bureau):
    email = f"operator.by.{role}.{bureau}@example.test".lower()
    with pytest.raises((NotFound, PermissionDenied)):
        await services.create_staff_user(
            world.ctx(role),
            bureau_id=world.bureaus[bureau] if bureau else None,
            email=email,
            display_name="Escalated",
            platform_operator=True,
        )
    async with tenant_transaction(system_context("isolation-test")):
        assert not await StaffUser.exists().where(StaffUser.email == email)


@pytest.mark.parametrize("role", ["contact_A1", "counsellor_A1"])
@pytest.mark.parametrize("bureau_admin", [False, True])
@pytest.mark.parametrize("bureau", ["A", "B", None])
async def test_create_staff_user_organisation_member_any_staff_refused(
    world, role, bureau_admin, bureau
):
    email = f"staff.by.{role}.{bureau}.{bureau_admin}@example.test".lower()
    with pytest.raises((NotFound, PermissionDenied)):
        await services.create_staff_user(
            world.ctx(role),
            bureau_id=world.bureaus[bureau] if bureau else None,
            email=email,
            display_name="Not allowed",
            bureau_admin=bureau_admin,
        )
    async with tenant_transaction(system_context("isolation-test")):
        assert not await StaffUser.exists().where(StaffUser.email == email)


async def test_create_staff_user_bureau_admin_own_bureau_only(world):
    ctx = world.ctx("admin_A")
    user_id = await services.create_staff_user(
        ctx, bureau_id=world.bureaus["A"], email="new.counsellor.a@example.test", display_name="New"
    )
    async with tenant_transaction(ctx):
        row = await access.access_staff_user(ctx, user_id)
    assert row["bureau"] == world.bureaus["A"]
    assert not row["is_platform_operator"]
    for bureau_id in (world.bureaus["B"], uuid4(), None):
        with pytest.raises(NotFound):
            await services.create_staff_user(
                ctx, bureau_id=bureau_id, email="smuggled@example.test", display_name="Smuggled"
            )


async def test_create_staff_user_platform_operator_only_without_bureau(world):
    operator = world.ctx("operator")
    user_id = await services.create_staff_user(
        operator,
        bureau_id=None,
        email="second.operator@example.test",
        display_name="Second operator",
        platform_operator=True,
    )
    async with tenant_transaction(operator):
        row = await access.access_staff_user(operator, user_id)
    assert row["is_platform_operator"] and row["bureau"] is None
    with pytest.raises(Invalid):  # a platform operator belongs to no bureau
        await services.create_staff_user(
            operator,
            bureau_id=world.bureaus["A"],
            email="operator.in.bureau@example.test",
            display_name="Operator in a bureau",
            platform_operator=True,
        )
    with pytest.raises(Invalid):  # and other staff belong to one
        await services.create_staff_user(
            operator, bureau_id=None, email="nobody@example.test", display_name="Nobody"
        )


async def test_create_organisation_admin_other_bureau_not_found(world):
    with pytest.raises(NotFound):
        await services.create_organisation(
            world.ctx("admin_A"), bureau_id=world.bureaus["B"], name="Smuggled"
        )


# --- the filter alone (RLS open on PostgreSQL) --------------------------------------------

FILTER_TABLES: list[tuple[type[Table], str]] = [
    (Organisation, "id"),
    (Membership, "organisation"),
    (IntakeLink, "organisation"),
]


def _expected_organisations(world, role: str) -> set[UUID]:
    keys = {
        "admin_A": ("A1", "A2"),
        "counsellor_A1": ("A1",),
        "contact_A1": ("A1",),
        "operator": (),
    }[role]
    return {world.organisations[key] for key in keys}


@pytest.mark.parametrize("role", ["admin_A", "counsellor_A1", "contact_A1", "operator"])
@pytest.mark.parametrize(
    ("table", "column"), FILTER_TABLES, ids=lambda v: getattr(v, "__name__", v)
)
async def test_tenant_filter_alone_organisation_tables_only_visible_organisations(
    world, role, table, column
):
    ctx = world.ctx(role)
    world_organisations = set(world.organisations.values())
    async with tenant_transaction(system_context("isolation-test")):
        rows = await scoped(table.select(), table, ctx)
    seen = {row[column] for row in rows} & world_organisations
    assert seen == _expected_organisations(world, role)


@pytest.mark.parametrize("role", ["admin_A", "counsellor_A1", "contact_A1"])
async def test_tenant_filter_alone_bureau_tables_own_bureau_or_own_row(world, role):
    ctx = world.ctx(role)
    async with tenant_transaction(system_context("isolation-test")):
        bureaus = await scoped(Bureau.select(Bureau.id), Bureau, ctx)
        users = await scoped(StaffUser.select(StaffUser.id, StaffUser.bureau), StaffUser, ctx)
    assert [row["id"] for row in bureaus] == [world.bureaus["A"]]
    assert {row["bureau"] for row in users} == {world.bureaus["A"]}
    assert world.users[role] in {row["id"] for row in users}


async def test_tenant_filter_alone_operator_bureau_level_only(world):
    ctx = world.ctx("operator")
    async with tenant_transaction(system_context("isolation-test")):
        bureaus = {row["id"] for row in await scoped(Bureau.select(Bureau.id), Bureau, ctx)}
        memberships = await scoped(Membership.select(), Membership, ctx)
    assert set(world.bureaus.values()) <= bureaus
    assert memberships == []
