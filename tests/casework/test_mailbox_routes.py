"""The reporter's mailbox over HTTP: sign-in with the receipt code, thread, files, alert."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import pytest

from casework import mailbox
from casework.mailbox_routes import COOKIE
from casework.tables import Case, Message, ReporterSession
from klankbord import receipts
from klankbord.tables import MailOutbox
from klankbord.tenancy import system_context, tenant_transaction
from tests.casework.reporter_flow import form_token, receipt_code, send_report

TYPED = "The same supplier is paid twice, every month."
REPLY = "Thank you. Could you tell me since when this happens?"


async def report(client: httpx.AsyncClient, token: str, **files) -> str:
    response = await send_report(
        client,
        token,
        {"q_default_wrongdoing": TYPED},
        files=[("files", (name, data, "text/plain")) for name, data in files.items()] or None,
    )
    assert response.status_code == 200, response.text[:500]
    return receipt_code(response.text)


async def open_mailbox(client: httpx.AsyncClient, token: str, code: str) -> httpx.Response:
    response = await client.post(f"/r/{token}/mailbox/sign-in?lang=en", data={"code": code})
    return response


async def case_id(world, organisation: str = "A1"):
    async with tenant_transaction(system_context("test")):
        row = (
            await Case.select(Case.id)
            .where(Case.organisation == world.organisations[organisation])
            .where(Case.id != world.case_ids[organisation])
            .first()
        )
    return row["id"]


async def test_mailbox_sign_in_sets_path_limited_session_cookie(world, client):
    token = world.intake_links["A1"]
    code = await report(client, token)
    assert "set-cookie" not in (await client.get(f"/r/{token}/mailbox")).headers
    response = await open_mailbox(client, token, code.lower().replace("-", " "))
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert f"Path=/r/{token}/mailbox" in cookie
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert "expires" not in cookie.lower() and "max-age" not in cookie.lower()
    page = await client.get(f"/r/{token}/mailbox?lang=en")
    assert page.status_code == 200
    assert "Your mailbox" in page.text and "No messages yet" in page.text


async def test_mailbox_wrong_and_unknown_code_same_answer(world, client):
    token = world.intake_links["A1"]
    code = await report(client, token)
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    answers = []
    for typed in (wrong, receipts.random_code(), "not a code at all"):
        response = await open_mailbox(client, token, typed)
        answers.append((response.status_code, response.text.replace(typed, "")))
        assert "set-cookie" not in response.headers
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 422


async def test_mailbox_code_of_other_organisation_opens_nothing(world, client):
    code = await report(client, world.intake_links["A1"])
    response = await open_mailbox(client, world.intake_links["B1"], code)
    assert response.status_code == 422
    assert "set-cookie" not in response.headers
    same_bureau = await open_mailbox(client, world.intake_links["A2"], code)
    assert same_bureau.status_code == 422


async def test_mailbox_cookie_of_one_link_opens_nothing_on_another(world, client):
    token = world.intake_links["A1"]
    code = await report(client, token)
    signed_in = await open_mailbox(client, token, code)
    session_token = signed_in.cookies[COOKIE]
    other = world.intake_links["A2"]
    response = await client.get(f"/r/{other}/mailbox?lang=en", cookies={COOKIE: session_token})
    assert "Receipt code" in response.text and TYPED not in response.text


async def test_mailbox_limiter_stops_brute_force(world, client):
    token = world.intake_links["B2"]
    statuses = [
        (await open_mailbox(client, token, receipts.random_code())).status_code
        for _ in range(receipts.LINK_LIMIT + 1)
    ]
    assert statuses[: receipts.LINK_LIMIT] == [422] * receipts.LINK_LIMIT
    assert statuses[-1] == 429


async def test_mailbox_thread_reply_and_answer(world, client, app, test_database):
    token = world.intake_links["A1"]
    code = await report(client, token, **{"notes.txt": b"dates and amounts\n"})
    await open_mailbox(client, token, code)
    the_case = await case_id(world)
    settings = test_database.settings
    await mailbox.reply_to_reporter(
        settings, world.ctx("counsellor_A1"), case_id=the_case, text=REPLY
    )
    page = await client.get(f"/r/{token}/mailbox?lang=en")
    assert REPLY in page.text
    assert "notes.txt" in page.text
    link = re.search(rf'href="(/r/{token}/mailbox/files/[0-9a-f-]+)\?lang=en"', page.text)
    assert link
    download = await client.get(link.group(1))
    assert download.status_code == 200
    assert download.content == b"dates and amounts\n"
    assert download.headers["content-type"] == "text/plain; charset=utf-8"
    assert download.headers["content-disposition"].startswith("attachment;")
    answer = await client.post(
        f"/r/{token}/mailbox/messages?lang=en",
        data={"form_token": form_token(page.text), "body": "Since March."},
        files=[("files", ("", b"", "application/octet-stream"))],
    )
    assert answer.status_code == 303
    page = await client.get(answer.headers["location"])
    assert "Your message has been sent." in page.text and "Since March." in page.text
    async with tenant_transaction(system_context("test")):
        stored = await Message.objects().where(Message.case == the_case)
        mails = await MailOutbox.objects().where(
            (MailOutbox.recipient == "counsellor.a1@example.test")
            & MailOutbox.dedupe_key.like(f"%{the_case}%")
        )
    assert {row.author for row in stored} == {"reporter", "counsellor"}
    assert all("Since March." not in row.body for row in stored)
    assert len(mails) == 2 and all("Since March." not in mail.body for mail in mails)


async def test_mailbox_message_without_token_refused(world, client):
    token = world.intake_links["A1"]
    await open_mailbox(client, token, await report(client, token))
    response = await client.post(
        f"/r/{token}/mailbox/messages",
        data={"form_token": "x", "body": "hello"},
        files=[("files", ("", b"", "application/octet-stream"))],
    )
    assert response.status_code == 403


async def test_mailbox_empty_message_keeps_form(world, client):
    token = world.intake_links["A1"]
    await open_mailbox(client, token, await report(client, token))
    page = await client.get(f"/r/{token}/mailbox?lang=en")
    response = await client.post(
        f"/r/{token}/mailbox/messages?lang=en",
        data={"form_token": form_token(page.text), "body": "   "},
        files=[("files", ("", b"", "application/octet-stream"))],
    )
    assert response.status_code == 422 and "Write a message." in response.text


async def test_mailbox_alert_stored_sealed_and_reply_alerts_without_content(
    world, client, test_database
):
    token = world.intake_links["A1"]
    await open_mailbox(client, token, await report(client, token))
    page = await client.get(f"/r/{token}/mailbox?lang=en")
    response = await client.post(
        f"/r/{token}/mailbox/alert?lang=en",
        data={"form_token": form_token(page.text), "alert": "yes", "alert_address": "me@home.test"},
    )
    assert response.status_code == 303
    the_case = await case_id(world)
    async with tenant_transaction(system_context("test")):
        row = await Case.select(Case.alert_address).where(Case.id == the_case).first()
    assert row["alert_address"] and "me@home.test" not in row["alert_address"]
    page = await client.get(f"/r/{token}/mailbox?lang=en")
    assert "me@home.test" not in page.text
    await mailbox.reply_to_reporter(
        test_database.settings, world.ctx("counsellor_A1"), case_id=the_case, text=REPLY
    )
    async with tenant_transaction(system_context("test")):
        alerts = await MailOutbox.objects().where(MailOutbox.recipient == "me@home.test")
    assert len(alerts) == 1 and REPLY not in alerts[0].body and TYPED not in alerts[0].body


@pytest.mark.parametrize("user", ["contact_A1", "counsellor_A2", "counsellor_B1", "admin_A"])
async def test_reply_only_by_counsellor_of_the_organisation(world, client, test_database, user):
    token = world.intake_links["A1"]
    await report(client, token)
    the_case = await case_id(world)
    with pytest.raises(mailbox.NotFound):
        await mailbox.reply_to_reporter(
            test_database.settings, world.ctx(user), case_id=the_case, text=REPLY
        )


async def test_mailbox_sign_out_ends_session(world, client):
    token = world.intake_links["A1"]
    await open_mailbox(client, token, await report(client, token))
    page = await client.get(f"/r/{token}/mailbox?lang=en")
    response = await client.post(
        f"/r/{token}/mailbox/sign-out?lang=en", data={"form_token": form_token(page.text)}
    )
    assert response.status_code == 200 and "Your mailbox is closed" in response.text
    async with tenant_transaction(system_context("test")):
        assert await ReporterSession.count() == 0  # the world opens no mailbox
    again = await client.get(f"/r/{token}/mailbox?lang=en")
    assert "Receipt code" in again.text


async def test_mailbox_file_of_another_case_not_found(world, client):
    token = world.intake_links["A1"]
    await open_mailbox(client, token, await report(client, token))
    other = await client.get(f"/r/{token}/mailbox/files/{world.attachment_ids['A1']}")
    missing = await client.get(f"/r/{token}/mailbox/files/{uuid4()}")
    assert other.status_code == missing.status_code == 404
    assert "Notes of organisation A1" not in other.text


async def test_mailbox_sign_in_removes_run_out_sessions(world, client):
    token = world.intake_links["A1"]
    code = await report(client, token)
    await open_mailbox(client, token, code)
    async with tenant_transaction(system_context("test")):
        await ReporterSession.update(
            {ReporterSession.last_seen_at: datetime.now(UTC) - timedelta(hours=1)}
        ).where(ReporterSession.organisation == world.organisations["A1"])
    await open_mailbox(client, token, code)  # the idle session is never opened again
    async with tenant_transaction(system_context("test")):
        assert await ReporterSession.count() == 1
    page = await client.get(f"/r/{token}/mailbox?lang=en")
    assert "Your mailbox" in page.text and "Receipt code" not in page.text
