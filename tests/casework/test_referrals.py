"""Referral to a back-office actor: only with consent, with a sealed hand-off record."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from casework import consent, referrals, workflow
from casework.tables import Case, Referral
from klankbord.errors import Conflict, Invalid, NotFound
from klankbord.tenancy import system_context, tenant_transaction
from tests.support.forms import csrf_token

TODAY = datetime.now(UTC).date()


async def test_referral_needs_consent_then_recorded_sealed(world, rollback):
    ctx, case_id = world.ctx("counsellor_A1"), world.case_ids["A1"]
    arguments = {
        "case_id": case_id,
        "actor": "integrity_coordinator",
        "recipient": "Mr. Coordinator",
        "shared": "A summary without names.",
    }
    with pytest.raises(Conflict) as refused:
        await referrals.refer(ctx, **arguments)
    assert refused.value.code == "consent_required"
    await consent.record_conversation(
        ctx, case_id=case_id, step="referral", given=True, conversation_on=TODAY
    )
    await referrals.refer(ctx, **arguments)
    async with tenant_transaction(system_context("test")):
        stored = await Referral.select().where(Referral.case == case_id).first()
        case = await Case.select(Case.steps).where(Case.id == case_id).first()
    assert "Coordinator" not in stored["recipient"] and "summary" not in stored["shared"]
    assert "referral" in case["steps"]
    with pytest.raises(Conflict):  # the step itself is only marked through the form
        await workflow.mark_step(ctx, case_id=case_id, step="referral")


async def test_referral_fields_required(world, rollback):
    with pytest.raises(Invalid) as refused:
        await referrals.refer(
            world.ctx("counsellor_A1"),
            case_id=world.case_ids["A1"],
            actor="astrologer",
            recipient=" ",
            shared="",
        )
    assert set(refused.value.fields) == {"referral_actor", "referral_recipient", "referral_shared"}


async def test_referral_refused_outside_the_organisation(world, rollback):
    with pytest.raises(NotFound):
        await referrals.refer(
            world.ctx("counsellor_B1"),
            case_id=world.case_ids["A1"],
            actor="other",
            recipient="x",
            shared="y",
        )


async def test_referral_form_over_http(world, sign_in):
    client = await sign_in("counsellor_A1")
    page = f"/cases/{world.case_ids['A1']}"
    token = await csrf_token(client, page)
    data = {"_csrf_token": token, "actor": "other", "recipient": "HR", "shared": "Dates only."}
    refused = await client.post(f"{page}/referrals", data=data, headers={"accept-language": "en"})
    assert refused.status_code == 409 and "recorded consent" in refused.text
