"""The counsellor's case pages: list, case, reply with files (streamed, CSRF checked in the
handler), downloads; other roles and other organisations get nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from casework.tables import Attachment, Message
from klankbord.tenancy import system_context, tenant_transaction
from tests.support.forms import csrf_token

NO_FILE = [("files", ("", b"", "application/octet-stream"))]


def blob_count(test_database, world, organisation: str = "A1") -> int:
    folder = Path(test_database.settings.data_dir) / "files" / "organisations"
    folder = folder / str(world.organisations[organisation])
    return sum(1 for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0


async def test_cases_list_shows_own_organisations_cases(world, sign_in):
    client = await sign_in("counsellor_A1")
    response = await client.get("/cases")
    assert response.status_code == 200
    assert f"/cases/{world.case_ids['A1']}" in response.text
    assert f"/cases/{world.case_ids['A2']}" not in response.text


async def test_case_page_shows_report_and_file(world, sign_in):
    client = await sign_in("counsellor_A1")
    response = await client.get(f"/cases/{world.case_ids['A1']}", headers={"accept-language": "en"})
    assert response.status_code == 200
    assert "Report of organisation A1" in response.text
    assert "notes A1.txt" in response.text


@pytest.mark.parametrize("user", ["admin_A", "contact_A1", "counsellor_A2", "counsellor_B1"])
async def test_case_page_refused_to_others(world, sign_in, user):
    client = await sign_in(user)
    response = await client.get(f"/cases/{world.case_ids['A1']}")
    assert response.status_code in (403, 404)
    assert "Report of organisation A1" not in response.text


async def test_reply_with_file_reaches_the_thread(world, sign_in, test_database):
    client = await sign_in("counsellor_A1")
    page = f"/cases/{world.case_ids['A1']}"
    token = await csrf_token(client, page)
    response = await client.post(
        f"{page}/reply",
        data={"_csrf_token": token, "body": "Here is the procedure as a PDF."},
        files=[("files", ("steps.txt", b"1. talk\n2. decide\n", "text/plain"))],
    )
    assert response.status_code == 303
    shown = await client.get(response.headers["location"].split("#")[0])
    assert "Here is the procedure as a PDF." in shown.text and "steps.txt" in shown.text
    async with tenant_transaction(system_context("test")):
        message = await Message.objects().where(Message.case == world.case_ids["A1"]).first()
        files = await Attachment.objects().where(Attachment.message == message.id)
    assert message.author == "counsellor" and len(files) == 1 and files[0].author == "counsellor"


async def test_reply_without_csrf_refused_nothing_stored(world, sign_in, test_database):
    client = await sign_in("counsellor_A1")
    before = blob_count(test_database, world)
    response = await client.post(
        f"/cases/{world.case_ids['A1']}/reply",
        data={"_csrf_token": "0" * 128, "body": "hello"},
        files=[("files", ("steps.txt", b"1. talk\n", "text/plain"))],
    )
    assert response.status_code == 403
    assert blob_count(test_database, world) == before
    async with tenant_transaction(system_context("test")):
        assert await Message.count().where(Message.case == world.case_ids["A1"]) == 0


async def test_reply_empty_keeps_page_with_error(world, sign_in):
    client = await sign_in("counsellor_A1")
    page = f"/cases/{world.case_ids['A1']}"
    token = await csrf_token(client, page)
    response = await client.post(
        f"{page}/reply", data={"_csrf_token": token, "body": "  "}, files=NO_FILE
    )
    assert response.status_code == 422
    assert 'id="body-error"' in response.text


async def test_case_file_download_as_attachment(world, sign_in):
    client = await sign_in("counsellor_A1")
    response = await client.get(f"/cases/{world.case_ids['A1']}/files/{world.attachment_ids['A1']}")
    assert response.status_code == 200
    assert response.content == b"Notes of organisation A1\n"
    assert response.headers["content-disposition"].startswith("attachment;")


async def test_case_file_of_other_case_not_found(world, sign_in):
    client = await sign_in("counsellor_A1")
    response = await client.get(f"/cases/{world.case_ids['A1']}/files/{world.attachment_ids['A2']}")
    assert response.status_code == 404


async def test_case_file_of_sibling_case_in_same_organisation_not_found(world, sign_in, client):
    from tests.casework.reporter_flow import send_report

    await send_report(client, world.intake_links["A1"], {"q_default_wrongdoing": "Other."})
    async with tenant_transaction(system_context("test")):
        from casework.tables import Case

        other = (
            await Case.select(Case.id)
            .where(Case.organisation == world.organisations["A1"])
            .where(Case.id != world.case_ids["A1"])
            .first()
        )
    counsellor = await sign_in("counsellor_A1")
    response = await counsellor.get(f"/cases/{other['id']}/files/{world.attachment_ids['A1']}")
    assert response.status_code == 404


async def test_identity_shown_for_a_reason_and_audited(world, sign_in, client):
    from klankbord.tables import AuditEvent
    from tests.casework.reporter_flow import send_report

    await send_report(
        client,
        world.intake_links["A1"],
        {
            "q_default_wrongdoing": "Paid twice.",
            "anonymity": "confidential",
            "name": "Sam Voorbeeld",
            "phone": "0612345678",
        },
    )
    async with tenant_transaction(system_context("test")):
        from casework.tables import Case

        case = (
            await Case.select(Case.id)
            .where(Case.organisation == world.organisations["A1"])
            .where(Case.id != world.case_ids["A1"])
            .first()
        )
    counsellor = await sign_in("counsellor_A1")
    page = f"/cases/{case['id']}"
    shown_before = await counsellor.get(page)
    assert "Sam Voorbeeld" not in shown_before.text
    token = await csrf_token(counsellor, page)
    refused = await counsellor.post(f"{page}/identity", data={"_csrf_token": token, "reason": ""})
    assert refused.status_code == 422 and "Sam Voorbeeld" not in refused.text
    shown = await counsellor.post(
        f"{page}/identity", data={"_csrf_token": token, "reason": "plan_meeting"}
    )
    assert shown.status_code == 200 and "Sam Voorbeeld" in shown.text
    async with tenant_transaction(system_context("test")):
        events = await AuditEvent.select(AuditEvent.detail, AuditEvent.actor).where(
            (AuditEvent.action == "case.identity_viewed")
            & (AuditEvent.subject_id == str(case["id"]))
        )
    assert len(events) == 1 and "Sam" not in str(events[0]["detail"])
    other = await sign_in("counsellor_A2")
    foreign = await other.post(
        f"{page}/identity", data={"_csrf_token": token, "reason": "plan_meeting"}
    )
    assert foreign.status_code == 404 and "Sam Voorbeeld" not in foreign.text


async def test_note_private_and_timeline_without_content(world, sign_in, client):
    counsellor = await sign_in("counsellor_A1")
    page = f"/cases/{world.case_ids['A1']}"
    token = await csrf_token(counsellor, page)
    added = await counsellor.post(
        f"{page}/notes", data={"_csrf_token": token, "note": "Reporter prefers calls after five."}
    )
    assert added.status_code == 303
    shown = await counsellor.get(page, headers={"accept-language": "en"})
    assert "Reporter prefers calls after five." in shown.text
    assert "Report received through the intake link" in shown.text  # the timeline
    assert "Internal note added" in shown.text
    empty = await counsellor.post(f"{page}/notes", data={"_csrf_token": token, "note": " "})
    assert empty.status_code == 422
    async with tenant_transaction(system_context("test")):
        from casework.tables import CaseNote

        stored = await CaseNote.select(CaseNote.body).where(CaseNote.case == world.case_ids["A1"])
    assert len(stored) == 1 and "after five" not in stored[0]["body"]  # sealed
