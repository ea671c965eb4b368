"""The reporter is in control: outward steps only after consent (asked in the mailbox and
answered there, or recorded after a conversation) or a justified override, which the bureau
admin hears about and the reporter too unless that endangers the investigation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from casework import consent, workflow
from casework.tables import Case, Consent
from klankbord.errors import Conflict, Invalid, NotFound
from klankbord.tables import MailOutbox
from klankbord.tenancy import reporter_context, system_context, tenant_transaction
from tests.support.forms import csrf_token

STEP = "forwarded_to_authority"
TODAY = datetime.now(UTC).date()


def reporter(world, key: str = "A1"):
    return reporter_context(
        bureau_id=world.bureau_of(key),
        organisation_id=world.organisations[key],
        case_id=world.case_ids[key],
    )


async def test_step_refused_until_reporter_says_yes_in_mailbox(world, rollback, test_database):
    ctx, case_id = world.ctx("counsellor_A1"), world.case_ids["A1"]
    with pytest.raises(Conflict):
        await workflow.mark_step(ctx, case_id=case_id, step=STEP)
    asked = await consent.request_consent(test_database.settings, ctx, case_id=case_id, step=STEP)
    with pytest.raises(Conflict):  # asked is not answered
        await workflow.mark_step(ctx, case_id=case_id, step=STEP)
    async with tenant_transaction(reporter(world)):
        waiting = await consent.open_requests(reporter(world))
    assert [item.id for item in waiting] == [asked]
    await consent.answer(test_database.settings, reporter(world), consent_id=asked, yes=True)
    await workflow.mark_step(ctx, case_id=case_id, step=STEP)
    with pytest.raises(Conflict):  # answered once
        await consent.answer(test_database.settings, reporter(world), consent_id=asked, yes=False)


async def test_refusal_after_yes_withdraws_consent(world, rollback):
    ctx, case_id = world.ctx("counsellor_A1"), world.case_ids["A1"]
    await consent.record_conversation(
        ctx, case_id=case_id, step=STEP, given=True, conversation_on=TODAY
    )
    await consent.record_conversation(
        ctx, case_id=case_id, step=STEP, given=False, conversation_on=TODAY
    )
    with pytest.raises(Conflict):
        await workflow.mark_step(ctx, case_id=case_id, step=STEP)


async def test_conversation_date_in_future_refused(world, rollback):
    with pytest.raises(Invalid):
        await consent.record_conversation(
            world.ctx("counsellor_A1"),
            case_id=world.case_ids["A1"],
            step=STEP,
            given=True,
            conversation_on=TODAY + timedelta(days=1),
        )


async def test_override_needs_justification_tells_admin_and_reporter(
    world, rollback, test_database
):
    ctx, case_id = world.ctx("counsellor_A1"), world.case_ids["A1"]
    with pytest.raises(Invalid) as refused:
        await consent.override(
            test_database.settings,
            ctx,
            case_id=case_id,
            step=STEP,
            justification="convenience",
            explanation="short",
            endangers_investigation=False,
        )
    assert set(refused.value.fields) == {"justification", "explanation"}
    explanation = "A crime against a child must be reported to the police by law."
    await consent.override(
        test_database.settings,
        ctx,
        case_id=case_id,
        step=STEP,
        justification="legal_duty",
        explanation=explanation,
        endangers_investigation=False,
    )
    await workflow.mark_step(ctx, case_id=case_id, step=STEP)
    async with tenant_transaction(system_context("test")):
        stored = await Consent.select().where(Consent.case == case_id).first()
        admin_mail = await MailOutbox.objects().where(
            MailOutbox.recipient == "admin.a@example.test"
        )
    assert stored["explanation"] and explanation not in stored["explanation"]  # sealed
    assert len(admin_mail) == 1 and explanation not in admin_mail[0].body
    async with tenant_transaction(reporter(world)):
        told = await consent.open_requests(reporter(world))
    assert [item.status for item in told] == ["overridden"]


async def test_override_endangering_investigation_not_shown_to_reporter(
    world, rollback, test_database
):
    await consent.override(
        test_database.settings,
        world.ctx("counsellor_A1"),
        case_id=world.case_ids["A1"],
        step=STEP,
        justification="conflict_of_duties",
        explanation="Telling now would let evidence disappear; documented in the file.",
        endangers_investigation=True,
    )
    async with tenant_transaction(reporter(world)):
        assert await consent.open_requests(reporter(world)) == []


@pytest.mark.parametrize("user", ["counsellor_A2", "counsellor_B1", "contact_A1", "admin_A"])
async def test_consent_verbs_refused_outside_the_organisation(world, rollback, test_database, user):
    with pytest.raises(NotFound):
        await consent.request_consent(
            test_database.settings, world.ctx(user), case_id=world.case_ids["A1"], step=STEP
        )


async def test_reporter_of_another_case_cannot_answer(world, rollback, test_database):
    asked = await consent.request_consent(
        test_database.settings,
        world.ctx("counsellor_A1"),
        case_id=world.case_ids["A1"],
        step=STEP,
    )
    with pytest.raises(NotFound):
        await consent.answer(
            test_database.settings, reporter(world, "B1"), consent_id=asked, yes=True
        )
    async with tenant_transaction(system_context("test")):
        row = await Consent.select(Consent.status).where(Consent.id == asked).first()
    assert row["status"] == "requested"


async def test_consent_over_http_mailbox_answer(world, client, sign_in, test_database):
    from tests.casework.reporter_flow import form_token, receipt_code, send_report

    token = world.intake_links["A1"]
    code = receipt_code(
        (await send_report(client, token, {"q_default_wrongdoing": "Paid twice."})).text
    )
    async with tenant_transaction(system_context("test")):
        new_case = (
            await Case.select(Case.id)
            .where(Case.organisation == world.organisations["A1"])
            .where(Case.id != world.case_ids["A1"])
            .first()
        )
    counsellor = await sign_in("counsellor_A1")
    page = f"/cases/{new_case['id']}"
    csrf = await csrf_token(counsellor, page)
    asked = await counsellor.post(
        f"{page}/consent/request", data={"_csrf_token": csrf, "step": STEP}
    )
    assert asked.status_code == 303
    client.cookies.clear()
    await client.post(f"/r/{token}/mailbox/sign-in", data={"code": code})
    mailbox = await client.get(f"/r/{token}/mailbox?lang=en")
    assert "passing your report on to the competent authority" in mailbox.text
    consent_id = mailbox.text.split(f"/r/{token}/mailbox/consent/")[1].split("?")[0]
    answered = await client.post(
        f"/r/{token}/mailbox/consent/{consent_id}?lang=en",
        data={"form_token": form_token(mailbox.text), "answer": "yes"},
    )
    assert answered.status_code == 303
    async with tenant_transaction(system_context("test")):
        row = await Consent.select(Consent.status).where(Consent.case == new_case["id"]).first()
    assert row["status"] == "given"


async def test_api_cannot_bypass_consent(world, sign_in):
    from tests.support.forms import csrf_token as token_of

    client = await sign_in("counsellor_A1")
    token = await token_of(client, f"/cases/{world.case_ids['A1']}")
    headers = {"x-csrftoken": token}
    path = f"/api/v1/cases/{world.case_ids['A1']}/steps"
    refused = await client.post(path, json={"step": STEP}, headers=headers)
    assert refused.status_code == 409 and refused.json()["error"] == "consent_required"
    done = await client.post(path, json={"step": "assessed"}, headers=headers)
    assert done.status_code == 204
    listed = await client.get("/api/v1/cases")
    assert [row["id"] for row in listed.json()] == [str(world.case_ids["A1"])]
    foreign = await client.post(
        f"/api/v1/cases/{world.case_ids['B1']}/steps", json={"step": "assessed"}, headers=headers
    )
    assert foreign.status_code == 404
