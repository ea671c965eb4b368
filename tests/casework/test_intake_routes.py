"""The reporter's intake over HTTP: the form, the atomic submission, the receipt code."""

from __future__ import annotations

import io
from pathlib import Path
from uuid import UUID

import pytest
from PIL import Image

from casework import intake
from casework.tables import Attachment, Case, CaseReport
from klankbord.tables import MailOutbox
from klankbord.tenancy import system_context, tenant_transaction
from tests.casework.reporter_flow import (
    REQUIRED_INTEGRITY,
    form_token,
    open_form,
    receipt_code,
    send_report,
)

TYPED = "Invoices are paid twice to one supplier, every month since March."


def blobs(test_database, world, organisation: str = "A1") -> list[Path]:
    folder = (Path(test_database.settings.data_dir) / "files" / "organisations") / str(
        world.organisations[organisation]
    )
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


async def cases(world, organisation: str = "A1") -> int:
    """The organisation's cases besides the one the test world made."""
    async with tenant_transaction(system_context("test")):
        return await Case.count().where(
            (Case.organisation == world.organisations[organisation])
            & (Case.id != world.case_ids[organisation])
        )


def gps_jpeg() -> bytes:
    image = Image.new("RGB", (40, 30), (200, 30, 30))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 0.0), 3: "E", 4: (4.0, 53.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


async def test_start_page_names_counsellors_sets_no_cookie(world, client):
    response = await client.get(f"/r/{world.intake_links['A1']}", headers={"accept-language": "en"})
    assert response.status_code == 200
    assert "Counsellor A1" in response.text
    assert f"/r/{world.intake_links['A1']}/report?lang=en" in response.text
    assert "set-cookie" not in response.headers
    assert "Counsellor A2" not in response.text  # another organisation's counsellor


async def test_report_form_language_in_address_sets_no_cookie(world, client):
    response = await client.get(f"/r/{world.intake_links['A1']}/report?lang=fr")
    assert '<html lang="fr">' in response.text
    assert "set-cookie" not in response.headers
    assert f'href="/r/{world.intake_links["A1"]}/report?lang=nl"' in response.text


async def test_submit_report_stores_case_and_shows_code_once(world, client, test_database):
    token = world.intake_links["A1"]
    response = await send_report(
        client,
        token,
        {**REQUIRED_INTEGRITY, "q_default_wrongdoing": TYPED, "meeting": "phone"},
        files=[("files", ("holiday.jpg", gps_jpeg(), "image/jpeg"))],
    )
    assert response.status_code == 200, response.text[:800]
    code = receipt_code(response.text)
    assert "set-cookie" not in response.headers
    async with tenant_transaction(system_context("test")):
        case = (
            await Case.objects()
            .where(Case.organisation == world.organisations["A1"])
            .where(Case.id != world.case_ids["A1"])
            .first()
        )
        assert case is not None and case.meeting == "phone" and case.procedure == "integrity"
        report = await CaseReport.objects().where(CaseReport.case == case.id).first()
        files = await Attachment.objects().where(Attachment.case == case.id)
        mails = await MailOutbox.objects().where(
            (MailOutbox.recipient == "counsellor.a1@example.test")
            & MailOutbox.dedupe_key.like(f"%{case.id}%")
        )
    assert report is not None and TYPED not in report.answers  # sealed
    assert code.replace("-", "") not in case.receipt_lookup + case.receipt_verifier
    assert len(files) == 1 and files[0].stripped and files[0].original_blob is None
    assert files[0].blob in {UUID(path.name) for path in blobs(test_database, world)}
    assert len(mails) == 1 and TYPED not in mails[0].body and "Organisation A1" not in mails[0].body


async def test_submit_missing_answer_keeps_text_stores_nothing(world, client, test_database):
    before = blobs(test_database, world)
    response = await send_report(
        client,
        world.intake_links["A1"],
        {"q_default_wrongdoing": "", "q_default_elsewhere_where": "", "q_default_evidence": TYPED},
        files=[("files", ("photo.jpg", gps_jpeg(), "image/jpeg"))],
    )
    assert response.status_code == 422
    assert "There is a problem" in response.text
    # The same words in the summary and next to the field.
    assert response.text.count("Enter what the suspected wrongdoing is") == 2
    assert TYPED in response.text
    assert await cases(world) == 0
    assert blobs(test_database, world) == before


async def test_submit_refused_file_keeps_text_stores_nothing(world, client, test_database):
    before = blobs(test_database, world)
    response = await send_report(
        client,
        world.intake_links["A1"],
        {"q_default_wrongdoing": TYPED},
        files=[("files", ("report.pdf", b"MZ\x90\x00" + b"\x00" * 300, "application/pdf"))],
    )
    assert response.status_code == 422
    assert TYPED in response.text
    assert "cannot accept" in response.text
    assert await cases(world) == 0
    assert blobs(test_database, world) == before


async def test_submit_twice_same_form_one_case_same_code(world, client):
    token = world.intake_links["A1"]
    value = await open_form(client, token)
    first = await send_report(client, token, {"q_default_wrongdoing": TYPED}, token_value=value)
    second = await send_report(client, token, {"q_default_wrongdoing": TYPED}, token_value=value)
    assert receipt_code(first.text) == receipt_code(second.text)
    assert await cases(world) == 1


async def test_submit_after_saved_repeat_does_not_show_code(world, client):
    token = world.intake_links["A1"]
    value = await open_form(client, token)
    first = await send_report(client, token, {"q_default_wrongdoing": TYPED}, token_value=value)
    saved = await client.post(
        f"/r/{token}/receipt?lang=en", data={"form_token": form_token(first.text), "saved": "yes"}
    )
    assert saved.status_code == 200 and "Thank you for your report" in saved.text
    again = await send_report(client, token, {"q_default_wrongdoing": TYPED}, token_value=value)
    assert receipt_code(first.text) not in again.text
    assert "shown only once" in again.text
    assert await cases(world) == 1


async def test_receipt_saved_step_needs_the_box(world, client):
    token = world.intake_links["A1"]
    first = await send_report(client, token, {"q_default_wrongdoing": TYPED})
    refused = await client.post(
        f"/r/{token}/receipt?lang=en", data={"form_token": form_token(first.text)}
    )
    assert refused.status_code == 422
    assert receipt_code(refused.text) == receipt_code(first.text)


async def test_receipt_print_shows_pending_code(world, client):
    token = world.intake_links["A1"]
    first = await send_report(client, token, {"q_default_wrongdoing": TYPED})
    printed = await client.post(
        f"/r/{token}/receipt/print?lang=en", data={"form_token": form_token(first.text)}
    )
    assert printed.status_code == 200
    assert receipt_code(first.text) in printed.text


async def test_submit_stale_form_keeps_text_new_token(world, client):
    token = world.intake_links["A1"]
    stale = "0" * 32 + ".0000000001." + "0" * 64
    response = await send_report(client, token, {"q_default_wrongdoing": TYPED}, token_value=stale)
    assert response.status_code == 422
    assert TYPED in response.text
    assert form_token(response.text) != stale
    assert await cases(world) == 0


async def test_submit_from_foreign_origin_refused(world, client):
    token = world.intake_links["A1"]
    value = await open_form(client, token)
    response = await client.post(
        f"/r/{token}/report",
        data={"form_token": value, "anonymity": "anonymous", "q_default_wrongdoing": TYPED},
        files=[("files", ("", b"", "application/octet-stream"))],
        headers={"origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert await cases(world) == 0


async def test_submit_failure_before_commit_leaves_nothing(
    world, client, test_database, monkeypatch
):
    before = blobs(test_database, world)

    async def broken(*args, **kwargs):
        raise RuntimeError("injected")

    monkeypatch.setattr(intake.audit, "record", broken)
    response = await send_report(
        client,
        world.intake_links["A1"],
        {"q_default_wrongdoing": TYPED},
        files=[("files", ("photo.jpg", gps_jpeg(), "image/jpeg"))],
    )
    assert response.status_code == 500
    monkeypatch.undo()
    assert await cases(world) == 0
    assert blobs(test_database, world) == before
    async with tenant_transaction(system_context("test")):
        assert await CaseReport.count() == len(world.case_ids)
        assert await Attachment.count() == len(world.attachment_ids)


async def test_confidential_without_name_refused(world, client):
    response = await send_report(
        client,
        world.intake_links["A1"],
        {"q_default_wrongdoing": TYPED, "anonymity": "confidential", "name": ""},
    )
    assert response.status_code == 422
    assert "Enter your name" in response.text


async def test_counsellor_of_other_organisation_refused(world, client):
    response = await send_report(
        client,
        world.intake_links["A1"],
        {"q_default_wrongdoing": TYPED, "counsellor": str(world.users["counsellor_A2"])},
    )
    assert response.status_code == 422
    assert await cases(world) == 0


@pytest.mark.parametrize("path", ["", "/report", "/mailbox"])
async def test_moved_and_unknown_links_neutral(world, client, path):
    response = await client.get(f"/r/{'x' * 32}{path}", headers={"accept-language": "en"})
    assert response.status_code == 404
    assert "Organisation" not in response.text


async def test_submit_to_link_switched_off_meanwhile_shows_text_back(world, client, rollback):
    from tenants import intake_links as links

    token = world.intake_links["B2"]
    value = await open_form(client, token)
    await links.disable_link(
        world.ctx("admin_B"),
        organisation_id=world.organisations["B2"],
        link_id=world.intake_link_ids["B2"],
    )
    response = await send_report(
        client,
        token,
        {"q_default_wrongdoing": TYPED},
        files=[("files", ("photo.jpg", gps_jpeg(), "image/jpeg"))],
        token_value=value,
    )
    assert response.status_code == 200
    assert "This link is not in use" in response.text
    assert TYPED in response.text
    assert await cases(world, "B2") == 0
