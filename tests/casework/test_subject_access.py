"""Subject-access export: passages about the named person, without the reporter's identity
or the witnesses, and masked passages stay masked."""

from __future__ import annotations

import pytest

from casework import mailbox, redaction, subject_access
from casework.tables import Case
from klankbord.errors import Invalid, NotFound
from klankbord.tenancy import system_context, tenant_transaction
from tests.casework.reporter_flow import send_report
from tests.support.forms import csrf_token


async def confidential_case(world, client) -> object:
    await send_report(
        client,
        world.intake_links["A1"],
        {
            "q_default_wrongdoing": "Piet Smit asked Sam Voorbeeld to sign false invoices.",
            "anonymity": "confidential",
            "name": "Sam Voorbeeld",
        },
    )
    async with tenant_transaction(system_context("test")):
        row = (
            await Case.select(Case.id)
            .where(Case.organisation == world.organisations["A1"])
            .where(Case.id != world.case_ids["A1"])
            .first()
        )
    return row["id"]


async def test_export_names_person_hides_reporter(world, client, test_database):
    case_id = await confidential_case(world, client)
    ctx = world.ctx("counsellor_A1")
    await mailbox.reply_to_reporter(
        test_database.settings, ctx, case_id=case_id, text="Did Piet Smit sign them too?"
    )
    text = await subject_access.export(ctx, case_id=case_id, name="piet smit")
    assert "Piet Smit asked [reporter] to sign false invoices." in text
    assert "Did Piet Smit sign them too?" in text
    assert "Sam Voorbeeld" not in text
    await redaction.redact(
        ctx,
        case_id=case_id,
        target="answer:default:wrongdoing",
        passage="false invoices",
        destroy=False,
    )
    masked = await subject_access.export(ctx, case_id=case_id, name="Piet Smit")
    assert "false invoices" not in masked and redaction.MASK in masked


async def test_export_refusals(world, client):
    case_id = await confidential_case(world, client)
    with pytest.raises(Invalid):
        await subject_access.export(world.ctx("counsellor_A1"), case_id=case_id, name=" ")
    with pytest.raises(NotFound):
        await subject_access.export(world.ctx("counsellor_A2"), case_id=case_id, name="Piet")


async def test_export_over_http_is_a_download(world, sign_in):
    client = await sign_in("counsellor_A1")
    page = f"/cases/{world.case_ids['A1']}"
    token = await csrf_token(client, page)
    response = await client.post(
        f"{page}/subject-access", data={"_csrf_token": token, "name": "organisation A1"}
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    assert "Report of organisation A1" in response.text
