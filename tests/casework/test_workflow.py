"""Casework verbs: categories, steps (outward ones need consent), closing with an outcome,
reopening, and a case opened by a counsellor for a phone call or a visit."""

from __future__ import annotations

import pytest

from casework import cases, workflow
from casework.tables import Case, CaseCategory
from klankbord.errors import Conflict, Invalid, NotFound
from klankbord.tables import AuditEvent
from klankbord.tenancy import system_context, tenant_transaction
from tests.support.forms import csrf_token


async def row(case_id):
    async with tenant_transaction(system_context("test")):
        return await Case.select().where(Case.id == case_id).first()


async def test_categories_replaced_and_checked_against_procedure(world, rollback):
    ctx, case_id = world.ctx("counsellor_A1"), world.case_ids["A1"]
    await workflow.set_categories(ctx, case_id=case_id, codes=["fraud", "theft", "fraud"])
    await workflow.set_categories(ctx, case_id=case_id, codes=["corruption"])
    async with tenant_transaction(ctx):
        assert await workflow.categories(ctx, case_id) == ["corruption"]
    with pytest.raises(Invalid):  # a category of another procedure
        await workflow.set_categories(ctx, case_id=case_id, codes=["bullying"])


async def test_categories_carry_the_case_received_date_and_role_is_kept(world, rollback):
    """The annual report counts a year's categories by this copied date."""
    ctx, case_id = world.ctx("counsellor_A1"), world.case_ids["A1"]
    await workflow.set_categories(
        ctx, case_id=case_id, codes=["fraud", "theft"], reporter_role="manager"
    )
    stored = await row(case_id)
    async with tenant_transaction(system_context("test")):
        rows = await CaseCategory.select(CaseCategory.received_at).where(
            CaseCategory.case == case_id
        )
    assert [item["received_at"] for item in rows] == [stored["received_at"]] * 2
    assert stored["reporter_role"] == "manager"
    await workflow.set_categories(ctx, case_id=case_id, codes=["fraud"])  # no role: kept
    assert (await row(case_id))["reporter_role"] == "manager"
    with pytest.raises(Invalid):
        await workflow.set_categories(ctx, case_id=case_id, codes=[], reporter_role="boss")


async def test_step_marked_in_order_outward_step_needs_consent(world, rollback):
    ctx, case_id = world.ctx("counsellor_A1"), world.case_ids["A1"]
    await workflow.mark_step(ctx, case_id=case_id, step="assessed")
    await workflow.mark_step(ctx, case_id=case_id, step="acknowledged")
    stored = await row(case_id)
    assert stored["steps"] == "acknowledged,assessed" and stored["status"] == "in_progress"
    with pytest.raises(Conflict) as refused:
        await workflow.mark_step(ctx, case_id=case_id, step="forwarded_to_authority")
    assert refused.value.code == "consent_required"
    with pytest.raises(Conflict):
        await workflow.mark_step(ctx, case_id=case_id, step="assessed")
    with pytest.raises(Invalid):
        await workflow.mark_step(ctx, case_id=case_id, step="aftercare")  # not integrity's


async def test_close_needs_outcome_then_reopen(world, rollback):
    ctx, case_id = world.ctx("counsellor_A1"), world.case_ids["A1"]
    with pytest.raises(Invalid) as refused:
        await workflow.close_case(ctx, case_id=case_id, outcome="")
    assert refused.value.fields == {"outcome": "outcome_required"}
    with pytest.raises(Invalid):
        await workflow.close_case(ctx, case_id=case_id, outcome="informal_solution")
    await workflow.close_case(ctx, case_id=case_id, outcome="no_follow_up")
    closed = await row(case_id)
    assert closed["status"] == "closed" and closed["closed_at"] and closed["next_due_at"] is None
    with pytest.raises(Conflict):
        await workflow.mark_step(ctx, case_id=case_id, step="assessed")
    await workflow.reopen_case(ctx, case_id=case_id)
    assert (await row(case_id))["status"] == "in_progress"
    async with tenant_transaction(system_context("test")):
        actions = await AuditEvent.select(AuditEvent.action, AuditEvent.detail).where(
            AuditEvent.subject_id == str(case_id)
        )
    assert {"case.closed", "case.reopened"} <= {event["action"] for event in actions}


@pytest.mark.parametrize("user", ["counsellor_A2", "counsellor_B1", "contact_A1", "admin_A"])
async def test_workflow_verbs_refused_outside_the_organisation(world, rollback, user):
    ctx, case_id = world.ctx(user), world.case_ids["A1"]
    with pytest.raises(NotFound):
        await workflow.set_categories(ctx, case_id=case_id, codes=["fraud"])
    with pytest.raises(NotFound):
        await workflow.mark_step(ctx, case_id=case_id, step="assessed")
    with pytest.raises(NotFound):
        await workflow.close_case(ctx, case_id=case_id, outcome="no_follow_up")
    async with tenant_transaction(system_context("test")):
        assert await CaseCategory.count().where(CaseCategory.case == case_id) == 0


async def test_open_case_for_phone_call(world, rollback):
    ctx = world.ctx("counsellor_A1")
    case_id = await workflow.open_case(
        ctx,
        organisation_id=world.organisations["A1"],
        procedure="unwanted_behaviour",
        channel="phone",
        summary="Called about a colleague who shouts.",
    )
    stored = await row(case_id)
    assert stored["channel"] == "phone" and stored["reference"].startswith("20")
    async with tenant_transaction(ctx):
        view = await cases.case_view(ctx, case_id)
    assert view.answers[0]["answer"] == "Called about a colleague who shouts."
    with pytest.raises(Invalid) as refused:
        await workflow.open_case(
            ctx,
            organisation_id=world.organisations["A1"],
            procedure="unwanted_behaviour",
            channel="letter",
            summary="",
        )
    assert refused.value.fields == {"channel": "channel_unknown", "summary": "summary_required"}


async def test_open_case_in_foreign_organisation_not_found(world, sign_in):
    client = await sign_in("counsellor_A1")
    token = await csrf_token(client, "/cases/new")
    for organisation in ("A2", "B1"):
        response = await client.post(
            "/cases/new",
            data={
                "_csrf_token": token,
                "organisation": str(world.organisations[organisation]),
                "procedure": "integrity",
                "channel": "phone",
                "summary": "x",
            },
        )
        assert response.status_code == 404
        assert world.organisation_names[organisation] not in response.text
    async with tenant_transaction(system_context("test")):
        assert await Case.count().where(Case.channel == "phone") == 0


async def test_workflow_forms_over_http(world, sign_in):
    client = await sign_in("counsellor_A1")
    page = f"/cases/{world.case_ids['A1']}"
    token = await csrf_token(client, page)
    marked = await client.post(f"{page}/steps", data={"_csrf_token": token, "step": "assessed"})
    assert marked.status_code == 303
    refused = await client.post(
        f"{page}/steps",
        data={"_csrf_token": token, "step": "forwarded_to_authority"},
        headers={"accept-language": "en"},
    )
    assert refused.status_code == 409 and "recorded consent" in refused.text
    closing = await client.post(f"{page}/close", data={"_csrf_token": token, "outcome": ""})
    assert closing.status_code == 422
    closed = await client.post(
        f"{page}/close", data={"_csrf_token": token, "outcome": "no_follow_up"}
    )
    assert closed.status_code == 303
    shown = await client.get(page, headers={"accept-language": "en"})
    assert "Reopen the case" in shown.text and "No follow-up" in shown.text


async def test_link_case_by_reference_same_organisation_only(world, rollback):
    ctx = world.ctx("counsellor_A1")
    earlier = await workflow.open_case(
        ctx,
        organisation_id=world.organisations["A1"],
        procedure="integrity",
        channel="walk_in",
        summary="Came by about the invoices.",
    )
    reference = (await row(earlier))["reference"]
    linked = await workflow.link_case(
        ctx, case_id=world.case_ids["A1"], reference=reference.lower()
    )
    assert linked == earlier and (await row(world.case_ids["A1"]))["linked_case"] == earlier
    b1_reference = (await row(world.case_ids["B1"]))["reference"]
    with pytest.raises(Invalid):  # another organisation's case is not found by reference
        await workflow.link_case(ctx, case_id=world.case_ids["A1"], reference=b1_reference)


async def test_legal_hold_on_and_off(world, rollback):
    ctx = world.ctx("counsellor_A1")
    await workflow.set_legal_hold(ctx, case_id=world.case_ids["A1"], on=True)
    assert (await row(world.case_ids["A1"]))["legal_hold"] is True
    await workflow.set_legal_hold(ctx, case_id=world.case_ids["A1"], on=False)
    assert (await row(world.case_ids["A1"]))["legal_hold"] is False
    with pytest.raises(NotFound):
        await workflow.set_legal_hold(
            world.ctx("counsellor_B1"), case_id=world.case_ids["A1"], on=True
        )
