"""TenantContext and the transaction rules (the filter itself: tests/isolation)."""

from __future__ import annotations

from uuid import uuid4

import pytest
from piccolo.table import Table

from klankbord.errors import NotFound
from klankbord.tenancy import (
    Role,
    Scope,
    check_may_write,
    current_context,
    platform_context,
    require_transaction,
    scoped,
    staff_context,
    system_context,
    tenant_transaction,
)
from tenants.access import access_organisation
from tenants.tables import IntakeLink


def test_context_roles_counsellor_and_admin_flags_combined():
    org = uuid4()
    ctx = staff_context(
        staff_user_id=uuid4(),
        bureau_id=uuid4(),
        bureau_admin=True,
        organisation_roles=[(org, Role.COUNSELLOR)],
    )
    assert ctx.roles == {Role.BUREAU_ADMIN, Role.COUNSELLOR}
    assert ctx.role_in(org) is Role.COUNSELLOR
    assert ctx.role_in(uuid4()) is None


def test_context_with_organisation_adds_role_and_keeps_original():
    ctx = staff_context(staff_user_id=uuid4(), bureau_id=uuid4())
    org = uuid4()
    wider = ctx.with_organisation(org, Role.ORGANISATION_CONTACT)
    assert wider.organisation_ids == {org}
    assert ctx.organisation_ids == frozenset()
    assert wider.principal == ctx.principal


def test_platform_context_role_is_operator_only():
    ctx = platform_context(uuid4())
    assert ctx.scope is Scope.PLATFORM
    assert ctx.roles == {Role.PLATFORM_OPERATOR}


def test_system_context_without_reason_refused():
    with pytest.raises(ValueError, match="reason"):
        system_context("")


def test_check_may_write_foreign_bureau_or_organisation_not_found():
    bureau, org = uuid4(), uuid4()
    ctx = staff_context(
        staff_user_id=uuid4(), bureau_id=bureau, organisation_roles=[(org, Role.COUNSELLOR)]
    )
    check_may_write(ctx, bureau_id=bureau, organisation_id=org)
    with pytest.raises(NotFound):
        check_may_write(ctx, bureau_id=uuid4(), organisation_id=org)
    with pytest.raises(NotFound):
        check_may_write(ctx, bureau_id=bureau, organisation_id=uuid4())
    with pytest.raises(NotFound):
        check_may_write(platform_context(uuid4()), bureau_id=bureau, organisation_id=org)
    admin = staff_context(staff_user_id=uuid4(), bureau_id=bureau, bureau_admin=True)
    check_may_write(admin, bureau_id=bureau, organisation_id=uuid4())


def test_scoped_undeclared_table_refused():
    class Loose(Table):
        pass

    with pytest.raises(TypeError, match="tenant_owned"):
        scoped(Loose.select(), Loose, system_context("test"))


async def test_access_outside_tenant_transaction_refused(rollback, world):
    ctx = world.ctx("counsellor_A1")
    with pytest.raises(RuntimeError, match="tenant_transaction"):
        await access_organisation(ctx, world.organisations["A1"])
    with pytest.raises(RuntimeError):
        require_transaction(ctx)


async def test_tenant_transaction_nested_other_context_refused(rollback, world):
    async with tenant_transaction(world.ctx("counsellor_A1")):
        with pytest.raises(RuntimeError, match="another context"):
            async with tenant_transaction(world.ctx("admin_B")):
                pass


async def test_tenant_transaction_nested_same_context_joins(rollback, world):
    ctx = world.ctx("counsellor_A1")
    async with tenant_transaction(ctx):
        async with tenant_transaction(ctx):
            assert current_context() == ctx
        assert current_context() == ctx
    assert current_context() is None


async def test_tenant_transaction_failure_stores_nothing(rollback, world):
    ctx = world.ctx("admin_A")
    token = "t" * 32

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with tenant_transaction(ctx):
            await IntakeLink.insert(
                IntakeLink(
                    organisation=world.organisations["A1"],
                    bureau=world.bureaus["A"],
                    procedure="integrity",
                    token=token,
                )
            )
            raise Boom
    async with tenant_transaction(ctx):
        assert not await IntakeLink.exists().where(IntakeLink.token == token)
