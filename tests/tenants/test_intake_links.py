"""Intake links: the rules for a link going live (procedure enabled, a counsellor assigned,
one live link per procedure), enable/disable/rotate/anonymity with their audit events, the
staff pages by role and across tenants, posters and cards, and the reporter's page at
/r/{token} in each state (no cookie, no organisation name unless live)."""

from __future__ import annotations

import json
import re
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from casework.reporter_pages import EXIT_URL
from klankbord.errors import Conflict, Invalid, NotFound, PermissionDenied
from klankbord.tables import AuditEvent
from klankbord.tenancy import system_context, tenant_transaction
from tenants import intake_links, services
from tenants.choices import MembershipRole, Procedure
from tenants.tables import IntakeLink, Membership, Organisation
from tests.support.forms import submit
from tests.support.world import World

pytestmark = pytest.mark.usefixtures("rollback")

SYSTEM = system_context("test-intake-links")


def _base(world: World, key: str) -> str:
    return f"/organisations/{world.organisations[key]}/intake-links"


def _link_path(world: World, key: str, link_key: str | None = None) -> str:
    return f"{_base(world, key)}/{world.intake_link_ids[link_key or key]}"


async def _rows(organisation_id: UUID) -> list[dict[str, Any]]:
    async with tenant_transaction(SYSTEM):
        return await IntakeLink.select().where(IntakeLink.organisation == organisation_id)


async def _row(link_id: UUID) -> dict[str, Any]:
    async with tenant_transaction(SYSTEM):
        row = await IntakeLink.select().where(IntakeLink.id == link_id).first()
    assert row is not None
    return row


async def _by_token(token: str) -> dict[str, Any]:
    async with tenant_transaction(SYSTEM):
        row = await IntakeLink.select().where(IntakeLink.token == token).first()
    assert row is not None
    return row


async def _set_procedures(organisation_id: UUID, procedures: str) -> None:
    async with tenant_transaction(SYSTEM):
        await Organisation.update({Organisation.procedures: procedures}).where(
            Organisation.id == organisation_id
        )


async def _remove_counsellors(organisation_id: UUID) -> None:
    async with tenant_transaction(SYSTEM):
        await Membership.delete().where(
            (Membership.organisation == organisation_id)
            & (Membership.role == MembershipRole.COUNSELLOR.value)
        )


async def _events(subject_ids: list[UUID]) -> list[dict[str, Any]]:
    async with tenant_transaction(SYSTEM):
        rows = await AuditEvent.select(
            AuditEvent.action, AuditEvent.detail, AuditEvent.subject_id, AuditEvent.organisation
        ).where(AuditEvent.subject_id.is_in([str(i) for i in subject_ids]))
    for row in rows:
        if isinstance(row["detail"], str):
            row["detail"] = json.loads(row["detail"])
    return rows


# --- the rules ----------------------------------------------------------------------------


async def test_create_link_procedure_not_enabled_invalid(world):
    organisation_id = world.organisations["A1"]
    await _set_procedures(organisation_id, "integrity")
    before = await _rows(organisation_id)

    with pytest.raises(Invalid) as caught:
        await intake_links.create_link(
            world.ctx("admin_A"), organisation_id=organisation_id, procedure="unwanted_behaviour"
        )
    assert caught.value.fields == {"procedure": "procedure_not_enabled"}
    with pytest.raises(Invalid):  # the verb the world and the demo call: the same rule
        await services.create_intake_link(
            SYSTEM, organisation_id=organisation_id, procedure=Procedure.REHABILITATION
        )
    assert len(await _rows(organisation_id)) == len(before)


async def test_create_link_no_counsellor_conflict(world):
    organisation_id = world.organisations["A1"]
    await _remove_counsellors(organisation_id)

    with pytest.raises(Conflict) as caught:
        await intake_links.create_link(
            world.ctx("admin_A"), organisation_id=organisation_id, procedure="unwanted_behaviour"
        )
    assert caught.value.code == "no_counsellor"
    assert len(await _rows(organisation_id)) == 1


async def test_enable_link_no_counsellor_conflict(world):
    ctx, organisation_id = world.ctx("admin_A"), world.organisations["A1"]
    link_id = world.intake_link_ids["A1"]
    await intake_links.disable_link(ctx, organisation_id=organisation_id, link_id=link_id)
    await _remove_counsellors(organisation_id)

    with pytest.raises(Conflict) as caught:
        await intake_links.enable_link(ctx, organisation_id=organisation_id, link_id=link_id)
    assert caught.value.code == "no_counsellor"
    assert (await _row(link_id))["active"] is False


async def test_create_link_second_live_link_conflict(world):
    ctx, organisation_id = world.ctx("admin_A"), world.organisations["A1"]

    with pytest.raises(Conflict) as caught:
        await intake_links.create_link(ctx, organisation_id=organisation_id, procedure="integrity")
    assert caught.value.code == "live_link_exists"

    token = await intake_links.create_link(
        ctx, organisation_id=organisation_id, procedure="unwanted_behaviour", anonymity="anonymous"
    )
    row = await _by_token(token)
    assert (row["procedure"], row["anonymity"], row["active"]) == (
        "unwanted_behaviour",
        "anonymous",
        True,
    )
    assert len(token) == 32 and re.fullmatch(r"[A-Za-z0-9_-]+", token)  # 192 bits


async def test_enable_link_while_another_live_conflict(world):
    ctx, organisation_id = world.ctx("admin_A"), world.organisations["A1"]
    old = world.intake_link_ids["A1"]
    await intake_links.disable_link(ctx, organisation_id=organisation_id, link_id=old)
    await intake_links.create_link(ctx, organisation_id=organisation_id, procedure="integrity")

    with pytest.raises(Conflict) as caught:
        await intake_links.enable_link(ctx, organisation_id=organisation_id, link_id=old)
    assert caught.value.code == "live_link_exists"
    assert (await _row(old))["active"] is False


async def test_create_link_counsellor_permission_denied_foreign_not_found(world):
    ctx = world.ctx("counsellor_A1")
    with pytest.raises(PermissionDenied):
        await intake_links.create_link(
            ctx, organisation_id=world.organisations["A1"], procedure="unwanted_behaviour"
        )
    with pytest.raises(NotFound):
        await intake_links.create_link(
            ctx, organisation_id=world.organisations["A2"], procedure="unwanted_behaviour"
        )
    with pytest.raises(NotFound):
        await intake_links.create_link(
            world.ctx("admin_B"), organisation_id=world.organisations["A1"], procedure="x"
        )


async def test_rotate_link_old_retired_new_live_same_settings(world):
    ctx, organisation_id = world.ctx("admin_A"), world.organisations["A1"]
    old_id = world.intake_link_ids["A1"]
    await intake_links.set_anonymity(
        ctx, organisation_id=organisation_id, link_id=old_id, anonymity="confidential"
    )

    token = await intake_links.rotate_link(ctx, organisation_id=organisation_id, link_id=old_id)

    old, new = await _row(old_id), await _by_token(token)
    assert old["active"] is False and old["retired_at"] is not None
    assert new["active"] is True and new["retired_at"] is None
    assert (new["procedure"], new["anonymity"]) == ("integrity", "confidential")
    assert token != world.intake_links["A1"]
    with pytest.raises(Conflict) as caught:  # a moved link is history
        await intake_links.enable_link(ctx, organisation_id=organisation_id, link_id=old_id)
    assert caught.value.code == "link_moved"


async def test_api_intake_links_after_rotation_old_address_not_listed(world, sign_in):
    ctx, organisation_id = world.ctx("admin_A"), world.organisations["A1"]
    token = await intake_links.rotate_link(
        ctx, organisation_id=organisation_id, link_id=world.intake_link_ids["A1"]
    )
    client = await sign_in("counsellor_A1")

    response = await client.get(f"/api/v1/organisations/{organisation_id}/intake-links")

    assert response.status_code == 200
    paths = [link["url_path"] for link in response.json()]
    assert paths == [f"/r/{token}"]
    assert world.intake_links["A1"] not in response.text


async def test_rotate_link_disabled_conflict(world):
    ctx, organisation_id = world.ctx("admin_A"), world.organisations["A1"]
    link_id = world.intake_link_ids["A1"]
    await intake_links.disable_link(ctx, organisation_id=organisation_id, link_id=link_id)
    with pytest.raises(Conflict) as caught:
        await intake_links.rotate_link(ctx, organisation_id=organisation_id, link_id=link_id)
    assert caught.value.code == "link_not_live"
    assert len(await _rows(organisation_id)) == 1


async def test_set_anonymity_unknown_mode_invalid(world):
    with pytest.raises(Invalid) as caught:
        await intake_links.set_anonymity(
            world.ctx("admin_A"),
            organisation_id=world.organisations["A1"],
            link_id=world.intake_link_ids["A1"],
            anonymity="everyone",
        )
    assert caught.value.fields == {"anonymity": "required"}


async def test_link_changes_audited_without_token(world):
    ctx, organisation_id = world.ctx("admin_A"), world.organisations["A1"]
    link_id = world.intake_link_ids["A1"]
    await intake_links.set_anonymity(
        ctx, organisation_id=organisation_id, link_id=link_id, anonymity="anonymous"
    )
    await intake_links.disable_link(ctx, organisation_id=organisation_id, link_id=link_id)
    await intake_links.enable_link(ctx, organisation_id=organisation_id, link_id=link_id)
    token = await intake_links.rotate_link(ctx, organisation_id=organisation_id, link_id=link_id)
    new_id = (await _by_token(token))["id"]

    events = await _events([link_id, new_id])
    actions = sorted(event["action"] for event in events)
    assert actions == [
        "intake_link.anonymity_changed",
        "intake_link.created",  # by the test world
        "intake_link.created",  # by the rotation
        "intake_link.disabled",
        "intake_link.enabled",
        "intake_link.rotated",
    ]
    rotated = next(e for e in events if e["action"] == "intake_link.rotated")
    assert rotated["detail"] == {"procedure": "integrity", "replaced_by": str(new_id)}
    changed = next(e for e in events if e["action"] == "intake_link.anonymity_changed")
    assert changed["detail"] == {"anonymity": "anonymous", "previous": "reporter_chooses"}
    assert all(event["organisation"] == organisation_id for event in events)
    text = json.dumps([e["detail"] for e in events])
    assert token not in text and world.intake_links["A1"] not in text


# --- staff pages --------------------------------------------------------------------------


async def test_intake_links_page_admin_sees_links_and_forms(world, sign_in):
    client = await sign_in("admin_A")
    response = await client.get(_base(world, "A1"))
    assert response.status_code == 200
    assert f"http://127.0.0.1:8000/r/{world.intake_links['A1']}" in response.text
    assert f'action="{_link_path(world, "A1")}/disable"' in response.text
    assert f'href="{_link_path(world, "A1")}/poster"' in response.text
    assert world.intake_links["A2"] not in response.text


@pytest.mark.parametrize("role", ["counsellor_A1", "contact_A1"])
async def test_intake_links_page_counsellor_contact_read_only(world, sign_in, role):
    client = await sign_in(role)
    response = await client.get(_base(world, "A1"))
    assert response.status_code == 200
    assert world.intake_links["A1"] in response.text
    assert 'method="post"' not in response.text
    assert "set-cookie" not in response.headers  # no form, no CSRF cookie


async def test_create_link_over_http_then_second_refused(world, sign_in):
    client = await sign_in("admin_A")
    base = _base(world, "A1")
    response = await submit(
        client, base, base, {"procedure": "unwanted_behaviour", "anonymity": "anonymous"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{base}?done=created"
    rows = await _rows(world.organisations["A1"])
    assert sorted(row["procedure"] for row in rows) == ["integrity", "unwanted_behaviour"]

    client.cookies.set("klankbord_lang", "en")
    again = await submit(client, base, base, {"procedure": "integrity", "anonymity": "anonymous"})
    assert again.status_code == 400
    assert "This procedure already has a live link." in again.text
    assert "<title>Error: Intake links" in again.text
    assert len(await _rows(world.organisations["A1"])) == 2


async def test_create_link_over_http_procedure_not_enabled_field_error(world, sign_in):
    await _set_procedures(world.organisations["A1"], "integrity")
    client = await sign_in("admin_A")
    client.cookies.set("klankbord_lang", "en")
    base = _base(world, "A1")
    response = await submit(client, base, base, {"procedure": "rehabilitation"})
    assert response.status_code == 400
    assert 'href="#procedure"' in response.text
    assert "This procedure is not enabled for the organisation." in response.text


async def test_rotate_over_http_old_address_moved_new_live(world, sign_in, client):
    admin = await sign_in("admin_A")
    path, old_token = _link_path(world, "A1"), world.intake_links["A1"]
    confirm = await admin.get(f"{path}/rotate")
    assert confirm.status_code == 200
    assert old_token in confirm.text

    response = await submit(admin, f"{path}/rotate", f"{path}/rotate")
    assert response.status_code == 303
    listing = await admin.get(_base(world, "A1"))
    assert old_token not in listing.text  # the moved link is listed without its address
    new = [r for r in await _rows(world.organisations["A1"]) if r["retired_at"] is None]
    assert len(new) == 1 and new[0]["token"] in listing.text

    admin.cookies.clear()
    moved = await client.get(f"/r/{old_token}", headers={"accept-language": "en"})
    assert moved.status_code == 410
    assert "This link has moved" in moved.text
    assert world.organisation_names["A1"] not in moved.text
    live = await client.get(f"/r/{new[0]['token']}", headers={"accept-language": "en"})
    assert live.status_code == 200
    assert world.organisation_names["A1"] in live.text


async def test_disable_then_enable_over_http_reporter_page_follows(world, sign_in, client):
    admin = await sign_in("admin_A")
    base, path, token = _base(world, "A1"), _link_path(world, "A1"), world.intake_links["A1"]

    response = await submit(admin, base, f"{path}/disable")
    assert response.status_code == 303
    admin.cookies.clear()
    off = await client.get(f"/r/{token}", headers={"accept-language": "en"})
    assert off.status_code == 200
    assert "This link is not in use at the moment" in off.text
    assert world.organisation_names["A1"] not in off.text

    admin = await sign_in("admin_A")
    assert (await submit(admin, base, f"{path}/enable")).status_code == 303
    admin.cookies.clear()
    on = await client.get(f"/r/{token}", headers={"accept-language": "en"})
    assert on.status_code == 200
    assert world.organisation_names["A1"] in on.text


async def test_anonymity_over_http_changes_mode(world, sign_in):
    admin = await sign_in("admin_A")
    base, path = _base(world, "A1"), _link_path(world, "A1")
    response = await submit(admin, base, f"{path}/anonymity", {"anonymity": "anonymous"})
    assert response.status_code == 303
    assert (await _row(world.intake_link_ids["A1"]))["anonymity"] == "anonymous"


async def test_rotate_admin_of_other_bureau_not_found_nothing_changed(world, sign_in):
    client = await sign_in("admin_B")
    own = _base(world, "B1")
    for action in (
        f"{_link_path(world, 'A1')}/rotate",
        f"{own}/{world.intake_link_ids['A1']}/rotate",  # own organisation, foreign link
        f"{_base(world, 'A1')}/{uuid4()}/rotate",
    ):
        response = await submit(client, own, action)
        assert response.status_code == 404, action
        assert world.organisation_names["A1"] not in response.text
    rows = await _rows(world.organisations["A1"])
    assert [(r["token"], r["active"], r["retired_at"]) for r in rows] == [
        (world.intake_links["A1"], True, None)
    ]


@pytest.mark.parametrize("action", ["rotate", "disable", "enable", "anonymity"])
async def test_link_change_counsellor_forbidden_nothing_changed(world, sign_in, action):
    client = await sign_in("counsellor_A1")
    response = await submit(
        client, "/sign-out", f"{_link_path(world, 'A1')}/{action}", {"anonymity": "anonymous"}
    )
    assert response.status_code == 403
    row = await _row(world.intake_link_ids["A1"])
    assert (row["active"], row["retired_at"], row["anonymity"]) == (
        True,
        None,
        "reporter_chooses",
    )


async def test_create_link_counsellor_forbidden(world, sign_in):
    client = await sign_in("counsellor_A1")
    response = await submit(client, "/sign-out", _base(world, "A1"), {"procedure": "integrity"})
    assert response.status_code == 403
    assert len(await _rows(world.organisations["A1"])) == 1


async def test_poster_contact_of_organisation_reads_qr(world, sign_in):
    client = await sign_in("contact_A1")
    response = await client.get(f"{_link_path(world, 'A1')}/poster")
    assert response.status_code == 200
    assert '<html lang="nl">' in response.text  # A1's first language
    assert re.search(r'<svg viewBox="[^"]+" class="segno">', response.text)
    assert f"http://127.0.0.1:8000/r/{world.intake_links['A1']}" in response.text
    assert world.organisation_names["A1"] in response.text
    assert "Klopt er iets niet op je werk?" in response.text


async def test_poster_contact_of_sibling_organisation_not_found(world, sign_in):
    client = await sign_in("contact_A2")
    foreign = await client.get(f"{_link_path(world, 'A1')}/poster")
    missing = await client.get(f"{_base(world, 'A1')}/{uuid4()}/poster")
    assert foreign.status_code == missing.status_code == 404
    assert world.intake_links["A1"] not in foreign.text
    assert world.organisation_names["A1"] not in foreign.text


@pytest.mark.parametrize(
    ("language", "text"),
    [("fr", "Quelque chose ne va pas au travail"), ("en", "Something not right at work?")],
)
async def test_poster_language_parameter_chooses_text(world, sign_in, language, text):
    client = await sign_in("admin_A")
    response = await client.get(f"{_link_path(world, 'A1')}/poster?language={language}")
    assert response.status_code == 200
    assert f'<html lang="{language}">' in response.text
    assert text in response.text


async def test_card_counsellor_reads_sheet_of_cards(world, sign_in):
    client = await sign_in("counsellor_A1")
    response = await client.get(f"{_link_path(world, 'A1')}/card?language=xx")
    assert response.status_code == 200
    assert '<html lang="nl">' in response.text  # an unknown language: the organisation's first
    assert response.text.count('class="segno"') == 8


async def test_poster_disabled_link_message_page(world, sign_in):
    admin = await sign_in("admin_A")
    await intake_links.disable_link(
        world.ctx("admin_A"),
        organisation_id=world.organisations["A1"],
        link_id=world.intake_link_ids["A1"],
    )
    response = await admin.get(f"{_link_path(world, 'A1')}/poster")
    assert response.status_code == 409
    assert 'class="segno"' not in response.text
    assert world.intake_links["A1"] not in response.text


# --- the reporter's page ------------------------------------------------------------------


def _assert_private(response: httpx.Response) -> None:
    assert "set-cookie" not in response.headers
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "_csrf_token" not in response.text
    assert f'href="{EXIT_URL}"' in response.text
    assert re.findall(r'(?:src|href)="(https?://[^"]+)"', response.text) == [EXIT_URL]


async def test_reporter_page_live_shows_organisation_no_cookie(world, client):
    response = await client.get(
        f"/r/{world.intake_links['A1']}", headers={"accept-language": "fr-BE"}
    )
    assert response.status_code == 200
    assert '<html lang="fr">' in response.text
    assert world.organisation_names["A1"] in response.text
    assert "Atteinte à l'intégrité" in response.text
    assert "pas par votre employeur" in response.text
    _assert_private(response)


async def test_reporter_page_every_state_sets_no_cookie(world, client):
    ctx, organisation_id = world.ctx("admin_A"), world.organisations["A2"]
    link_id = world.intake_link_ids["A2"]
    disabled_token = world.intake_links["B1"]
    await intake_links.disable_link(
        world.ctx("admin_B"),
        organisation_id=world.organisations["B1"],
        link_id=world.intake_link_ids["B1"],
    )
    await intake_links.rotate_link(ctx, organisation_id=organisation_id, link_id=link_id)
    for token, status in [
        (world.intake_links["A2"], 410),
        (disabled_token, 200),
        ("u" * 32, 404),
    ]:
        response = await client.get(f"/r/{token}")
        assert response.status_code == status, token
        _assert_private(response)
        for name in world.organisation_names.values():
            assert name not in response.text


async def test_reporter_page_unknown_and_malformed_token_same_answer(client):
    answers = [
        await client.get(f"/r/{token}")
        for token in ("A" * 32, "nope", "x" * 200, "%00%27--", "a-b_c" * 6)
    ]
    assert {answer.status_code for answer in answers} == {404}
    # The same page, but for the language links (they come back to the address asked for).
    pages = {re.sub(r'href="/r/[^"]*\?lang=', 'href="?lang=', answer.text) for answer in answers}
    assert len(pages) == 1


async def test_reporter_link_lookup_live_moved_disabled(world):
    live = await intake_links.reporter_link(world.intake_links["B2"])
    assert live is not None and live.status == "live"
    assert live.organisation_name == world.organisation_names["B2"]
    assert live.languages == ("nl", "en")
    assert await intake_links.reporter_link(str(world.organisations["B2"])) is None
    assert await intake_links.reporter_link("") is None
