"""Handover of a departing counsellor's organisations and open cases by the bureau admin."""

from __future__ import annotations

import pytest

from casework import handover
from casework.tables import Case
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.tables import AuditEvent
from klankbord.tenancy import system_context, tenant_transaction
from tenants import services
from tenants.tables import Membership
from tests.support.forms import csrf_token


async def new_counsellor(world) -> object:
    async with tenant_transaction(system_context("test")):
        return await services.create_staff_user(
            system_context("test"),
            bureau_id=world.bureaus["A"],
            email="successor@example.test",
            display_name="Successor A",
            password="correct horse battery staple",
        )


async def test_handover_moves_memberships_and_open_cases(world, rollback):
    successor = await new_counsellor(world)
    async with tenant_transaction(system_context("test")):
        await Case.update({Case.counsellor: world.users["counsellor_A1"]}).where(
            Case.id == world.case_ids["A1"]
        )
    moved = await handover.hand_over(
        world.ctx("admin_A"),
        staff_user_id=world.users["counsellor_A1"],
        successor_id=successor,
        reason="leaving",
    )
    assert moved == (1, 1)
    async with tenant_transaction(system_context("test")):
        left = await Membership.count().where(Membership.staff_user == world.users["counsellor_A1"])
        gained = await Membership.select(Membership.organisation, Membership.role).where(
            Membership.staff_user == successor
        )
        case = await Case.select(Case.counsellor).where(Case.id == world.case_ids["A1"]).first()
        event = (
            await AuditEvent.select(AuditEvent.detail)
            .where(AuditEvent.action == "counsellor.handover")
            .first()
        )
    assert left == 0
    assert [(row["organisation"], row["role"]) for row in gained] == [
        (world.organisations["A1"], "counsellor")
    ]
    assert case["counsellor"] == successor
    assert "leaving" in str(event["detail"])


async def test_handover_refusals(world, rollback):
    successor = await new_counsellor(world)
    with pytest.raises(Invalid):  # no reason
        await handover.hand_over(
            world.ctx("admin_A"),
            staff_user_id=world.users["counsellor_A1"],
            successor_id=successor,
            reason="",
        )
    with pytest.raises(Invalid):  # a contact cannot take over
        await handover.hand_over(
            world.ctx("admin_A"),
            staff_user_id=world.users["counsellor_A1"],
            successor_id=world.users["contact_A1"],
            reason="leaving",
        )
    with pytest.raises(NotFound):  # another bureau's counsellor
        await handover.hand_over(
            world.ctx("admin_B"),
            staff_user_id=world.users["counsellor_A1"],
            successor_id=successor,
            reason="leaving",
        )
    with pytest.raises(PermissionDenied):
        await handover.hand_over(
            world.ctx("counsellor_A1"),
            staff_user_id=world.users["counsellor_A1"],
            successor_id=successor,
            reason="leaving",
        )


async def test_handover_page_over_http(world, sign_in):
    client = await sign_in("admin_A")
    page = f"/bureau/counsellors/{world.users['counsellor_A1']}/handover"
    shown = await client.get(page, headers={"accept-language": "en"})
    assert shown.status_code == 200 and "Organisation A1" in shown.text
    token = await csrf_token(client, page)
    refused = await client.post(page, data={"_csrf_token": token, "successor": "", "reason": ""})
    assert refused.status_code == 422
    foreign = await (await sign_in("admin_B")).get(page)
    assert foreign.status_code == 404
