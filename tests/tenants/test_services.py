"""Tenancy verbs: validation, conflicts, and that they stay inside their tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from klankbord.errors import Conflict, Invalid, NotFound, PermissionDenied
from klankbord.tenancy import Role, Scope, system_context, tenant_transaction
from tenants import accounts, services
from tenants.choices import Procedure
from tenants.tables import StaffSession, StaffUser


async def test_create_organisation_duplicate_name_in_bureau_conflict(rollback, world):
    ctx = world.ctx("admin_A")
    with pytest.raises(Conflict):
        await services.create_organisation(
            ctx, bureau_id=world.bureaus["A"], name=world.organisation_names["A1"]
        )


async def test_create_organisation_same_name_other_bureau_allowed(rollback, world):
    ctx = world.ctx("admin_B")
    organisation_id = await services.create_organisation(
        ctx, bureau_id=world.bureaus["B"], name=world.organisation_names["A1"]
    )
    assert organisation_id


@pytest.mark.parametrize(("name", "headcount"), [("   ", 10), ("School", -1)])
async def test_create_organisation_invalid_input_refused(rollback, world, name, headcount):
    with pytest.raises(Invalid):
        await services.create_organisation(
            world.ctx("admin_A"), bureau_id=world.bureaus["A"], name=name, headcount=headcount
        )


async def test_create_organisation_in_foreign_bureau_not_found(rollback, world):
    with pytest.raises(NotFound):
        await services.create_organisation(
            world.ctx("admin_A"), bureau_id=world.bureaus["B"], name="Sneaky"
        )


async def test_create_bureau_staff_context_denied(rollback, world):
    with pytest.raises(PermissionDenied):
        await services.create_bureau(world.ctx("admin_A"), name="Another bureau")


async def test_create_intake_link_foreign_organisation_not_found(rollback, world):
    with pytest.raises(NotFound):
        await services.create_intake_link(
            world.ctx("counsellor_A1"),
            organisation_id=world.organisations["A2"],
            procedure=Procedure.INTEGRITY,
        )


async def test_create_intake_link_token_unguessable_and_unique(rollback, world):
    ctx = world.ctx("admin_A")
    tokens = {
        await services.create_intake_link(
            ctx, organisation_id=world.organisations[key], procedure=procedure
        )
        for key in ("A1", "A2")
        for procedure in (Procedure.UNWANTED_BEHAVIOUR, Procedure.REHABILITATION)
    }
    tokens |= {world.intake_links["A1"], world.intake_links["A2"]}
    assert len(tokens) == 6
    assert all(len(token) >= 32 for token in tokens)  # 24 random bytes = 192 bits


async def test_add_membership_staff_of_other_bureau_not_found(rollback, world):
    with pytest.raises(NotFound):
        await services.add_membership(
            system_context("test"),
            organisation_id=world.organisations["A1"],
            staff_user_id=world.users["counsellor_B1"],
            role=services.MembershipRole.COUNSELLOR,
        )


async def test_create_staff_user_duplicate_email_conflict(rollback, world):
    with pytest.raises(Conflict):
        await services.create_staff_user(
            system_context("test"),
            bureau_id=world.bureaus["A"],
            email="Admin.A@example.test",
            display_name="Again",
        )


async def test_session_counsellor_context_has_memberships(rollback, world):
    token = await accounts.start_session(world.users["counsellor_A1"])
    ctx = await accounts.context_for_session(token)
    assert ctx is not None
    assert ctx.scope is Scope.TENANT
    assert ctx.bureau_id == world.bureaus["A"]
    assert dict(ctx.organisation_roles) == {world.organisations["A1"]: Role.COUNSELLOR}
    assert not ctx.bureau_admin


async def test_session_admin_and_operator_contexts(rollback, world):
    admin = await accounts.context_for_session(await accounts.start_session(world.users["admin_A"]))
    assert admin is not None and admin.bureau_admin and admin.bureau_id == world.bureaus["A"]
    operator = await accounts.context_for_session(
        await accounts.start_session(world.users["operator"])
    )
    assert operator is not None and operator.scope is Scope.PLATFORM


async def test_session_unknown_ended_expired_inactive_none(rollback, world):
    assert await accounts.context_for_session("not-a-token") is None
    token = await accounts.start_session(world.users["counsellor_A1"])
    await accounts.end_session(token)
    assert await accounts.context_for_session(token) is None

    expired = await accounts.start_session(world.users["counsellor_A1"])
    await StaffSession.update(
        {StaffSession.expires_at: datetime.now(UTC) - timedelta(seconds=1)}, force=True
    )
    assert await accounts.context_for_session(expired) is None

    token = await accounts.start_session(world.users["contact_A1"])
    async with tenant_transaction(system_context("test")):
        await StaffUser.update({StaffUser.active: False}).where(
            StaffUser.id == world.users["contact_A1"]
        )
    assert await accounts.context_for_session(token) is None


async def test_session_token_stored_only_as_hash(rollback, world):
    token = await accounts.start_session(world.users["counsellor_A1"])
    rows = await StaffSession.select(StaffSession.token_hash)
    assert all(token not in row["token_hash"] for row in rows)
