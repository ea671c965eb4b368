"""Onboarding: a new bureau and its first admin (platform operator); a new organisation and
the wizard (bureau admin), its validation, resuming, counsellor assignment, authorities,
retention and finishing; refusals across bureaus and roles, with nothing changed."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from klankbord.errors import Conflict, Invalid, NotFound
from klankbord.tables import AuditEvent, MailOutbox
from klankbord.tenancy import system_context, tenant_transaction
from tenants import assignments, onboarding, policies
from tenants.authorities import PREFILLED
from tenants.choices import Country
from tenants.tables import (
    Bureau,
    ExternalAuthority,
    IntakeLink,
    Membership,
    Organisation,
    StaffToken,
    StaffUser,
)
from tests.support.forms import submit

NEW_NAME = "Stichting Nieuwe Koers"


@pytest.fixture(autouse=True)
def _rolled_back(request: pytest.FixtureRequest) -> None:
    """Tests that call the services directly write inside the rolled-back transaction too."""
    if "world" in request.fixturenames:
        request.getfixturevalue("rollback")


@pytest.fixture
def english(client: httpx.AsyncClient) -> httpx.AsyncClient:
    client.cookies.set("klankbord_lang", "en")
    return client


async def _organisation(organisation_id: UUID) -> dict[str, Any]:
    async with tenant_transaction(system_context("test-read")):
        row = await Organisation.select().where(Organisation.id == organisation_id).first()
    assert row is not None
    return row


async def _organisation_named(name: str) -> dict[str, Any] | None:
    async with tenant_transaction(system_context("test-read")):
        return await Organisation.select().where(Organisation.name == name).first()


async def _count(table: Any) -> int:
    async with tenant_transaction(system_context("test-read")):
        return int(await table.count())


async def _actions(organisation_id: UUID) -> list[str]:
    rows = await AuditEvent.select(AuditEvent.action, AuditEvent.detail).where(
        AuditEvent.organisation == organisation_id
    )
    return [row["action"] for row in rows]


async def _counsellor_rows(organisation_id: UUID) -> list[dict[str, Any]]:
    async with tenant_transaction(system_context("test-read")):
        return await Membership.select(Membership.staff_user, Membership.assignment).where(
            (Membership.organisation == organisation_id) & (Membership.role == "counsellor")
        )


async def _new_organisation(world, *, headcount: str = "120", sector: str = "care") -> UUID:
    return await onboarding.create_profile(
        world.ctx("admin_A"), name=NEW_NAME, country="NL", sector=sector, headcount=headcount
    )


# --- policies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headcount", "sector", "expected"),
    [
        (49, "care", False),
        (50, "care", True),
        (1000, "education", True),
        (1, "financial", True),
        (12, "other", False),
    ],
)
def test_whistleblower_duties_headcount_or_financial_sector(headcount, sector, expected):
    assert policies.whistleblower_duties(headcount, sector) is expected


@pytest.mark.parametrize(
    ("text", "value", "problem"),
    [
        ("120", 120, None),
        (" 1 250 ", 1250, None),
        ("1000000", 1_000_000, None),
        ("", None, "required"),
        ("abc", None, "not_a_number"),
        ("12.5", None, "not_a_number"),
        ("1e3", None, "not_a_number"),
        ("٣", None, "not_a_number"),
        ("0", None, "too_small"),
        ("-5", None, "too_small"),
        ("1000001", None, "too_large"),
        ("9" * 40, None, "too_large"),
    ],
)
def test_headcount_problem_values_refused_with_a_code(text, value, problem):
    assert policies.headcount_problem(text) == (value, problem)


def test_months_problem_bounds_inclusive():
    bounds = policies.RETENTION_NO_FOLLOW_UP_MONTHS
    assert policies.months_problem("1", bounds) == (1, None)
    assert policies.months_problem("24", bounds) == (24, None)
    assert policies.months_problem("25", bounds) == (None, "out_of_range")
    assert policies.months_problem("0", bounds) == (None, "out_of_range")
    assert policies.months_problem("-1", bounds) == (None, "not_a_number")
    assert policies.months_problem("", bounds) == (None, "required")


# --- a new bureau (platform operator) -------------------------------------------------------


async def test_new_bureau_operator_creates_bureau_admin_and_invitation(
    client, english, sign_in, world
):
    await sign_in("operator")
    response = await submit(
        client,
        "/platform/bureaus/new",
        "/platform/bureaus/new",
        {
            "bureau_name": "Vertrouwenspunt Zuid",
            "admin_name": "Zoë Zuid",
            "admin_email": "Zoe.Zuid@Example.test",
            "language": "fr",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/platform/bureaus/new?created=1"
    bureau = await Bureau.select().where(Bureau.name == "Vertrouwenspunt Zuid").first()
    assert bureau is not None
    async with tenant_transaction(system_context("test-read")):
        admin = await StaffUser.select().where(StaffUser.email == "zoe.zuid@example.test").first()
        assert admin is not None
        tokens = await StaffToken.select().where(StaffToken.staff_user == admin["id"])
    assert admin["bureau"] == bureau["id"]
    assert admin["is_bureau_admin"] is True
    assert admin["password_hash"] is None
    assert admin["language"] == "fr"
    assert [t["purpose"] for t in tokens] == ["invitation"]
    mails = await MailOutbox.select().where(MailOutbox.recipient == "zoe.zuid@example.test")
    assert len(mails) == 1
    assert "/invitation/" in mails[0]["body"]
    assert "Vertrouwenspunt Zuid" in mails[0]["body"]
    actions = await AuditEvent.select(AuditEvent.action).where(
        (AuditEvent.bureau == bureau["id"]) | (AuditEvent.subject_id == str(bureau["id"]))
    )
    assert {"bureau.created", "staff_user.created", "staff.invited"} <= {
        a["action"] for a in actions
    }
    page = await client.get("/platform/bureaus/new?created=1")
    assert "The bureau has been created" in page.text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"bureau_name": "bureau a"}, "bureau_name", "There is already a bureau with this name."),
        (
            {"admin_email": "admin.b@example.test"},
            "admin_email",
            "There is already an account with this e-mail address.",
        ),
        ({"admin_email": "not-an-address"}, "admin_email", "Enter an e-mail address in the"),
        ({"bureau_name": "  "}, "bureau_name", "Enter the name of the bureau."),
        ({"language": "de"}, "language", "Choose a language."),
    ],
)
async def test_new_bureau_refused_field_error_nothing_stored(
    client, english, sign_in, world, fields, field, message
):
    await sign_in("operator")
    form = {
        "bureau_name": "Vertrouwenspunt West",
        "admin_name": "Wim West",
        "admin_email": "wim.west@example.test",
        "language": "nl",
        **fields,
    }
    bureaus = await _count(Bureau)
    mails = await _count(MailOutbox)
    response = await submit(client, "/platform/bureaus/new", "/platform/bureaus/new", form)
    assert response.status_code == 400
    assert "Error:" in response.text
    assert f'href="#{field}"' in response.text
    assert message in response.text
    assert f'id="{field}-error"' in response.text
    assert await _count(Bureau) == bureaus
    assert await _count(MailOutbox) == mails
    async with tenant_transaction(system_context("test-read")):
        assert not await StaffUser.exists().where(StaffUser.email == "wim.west@example.test")


async def test_new_bureau_only_operator_may(client, sign_in, world):
    for role in ("admin_A", "counsellor_A1", "contact_A1"):
        await sign_in(role)
        assert (await client.get("/platform/bureaus/new")).status_code == 403
    await sign_in("operator")
    token_page = await client.get("/platform/bureaus/new")
    assert token_page.status_code == 200
    for name in world.organisation_names.values():
        assert name not in token_page.text  # platform scope: no organisation data
    await sign_in("admin_A")
    response = await client.post(
        "/platform/bureaus/new",
        data={"bureau_name": "Sneaky", "admin_name": "S", "admin_email": "s@example.test"},
        headers={"x-csrftoken": client.cookies.get("klankbord_csrf") or ""},
    )
    assert response.status_code == 403
    async with tenant_transaction(system_context("test-read")):
        assert not await Bureau.exists().where(Bureau.name == "Sneaky")


async def test_new_bureau_service_tenant_context_refused(world):
    with pytest.raises(Exception) as refused:
        await onboarding.create_bureau_with_admin(
            world.ctx("admin_A"),
            None,  # type: ignore[arg-type]
            bureau_name="X",
            admin_name="Y",
            admin_email="y@example.test",
            language="nl",
        )
    assert refused.type.__name__ == "PermissionDenied"


# --- a new organisation -----------------------------------------------------------------------


async def test_organisation_new_creates_it_and_goes_to_scope(client, english, sign_in, world):
    await sign_in("admin_A")
    page = await client.get("/organisations/new")
    assert page.status_code == 200
    assert "Bureau A" in page.text
    response = await submit(
        client,
        "/organisations/new",
        "/organisations/new",
        {"name": f"  {NEW_NAME} ", "country": "BE", "sector": "care", "headcount": "1 250"},
    )
    assert response.status_code == 303
    organisation = await _organisation_named(NEW_NAME)
    assert organisation is not None
    assert response.headers["location"] == f"/organisations/{organisation['id']}/onboarding/scope"
    assert organisation["bureau"] == world.bureaus["A"]
    assert organisation["active"] is True
    assert organisation["onboarded_at"] is None
    assert organisation["onboarding_step"] == "scope"
    assert (organisation["country"], organisation["sector"], organisation["headcount"]) == (
        "BE",
        "care",
        1250,
    )
    actions = await _actions(organisation["id"])
    assert "organisation.created" in actions
    assert "organisation.onboarding_step_saved" in actions


@pytest.mark.parametrize(
    ("headcount", "message"),
    [
        ("abc", "Enter the headcount as a whole number, like 120."),
        ("-5", "The headcount must be at least 1."),
        ("0", "The headcount must be at least 1."),
        ("5000000", "The headcount can be at most 1,000,000. Check the number."),
        ("", "Enter the number of people who work for the organisation."),
    ],
)
async def test_organisation_new_bad_headcount_refused_values_kept(
    client, english, sign_in, world, headcount, message
):
    await sign_in("admin_A")
    before = await _count(Organisation)
    response = await submit(
        client,
        "/organisations/new",
        "/organisations/new",
        {"name": NEW_NAME, "country": "NL", "sector": "education", "headcount": headcount},
    )
    assert response.status_code == 400
    assert "<title>Error: Organisation details" in response.text
    assert 'id="error-summary"' in response.text
    assert message in response.text
    assert f'value="{NEW_NAME}"' in response.text
    assert f'value="{headcount}"' in response.text
    assert 'value="education" selected' in response.text
    assert 'aria-invalid="true"' in response.text
    assert await _count(Organisation) == before


async def test_organisation_new_missing_fields_each_named(client, english, sign_in, world):
    await sign_in("admin_A")
    response = await submit(client, "/organisations/new", "/organisations/new", {})
    assert response.status_code == 400
    for field in ("name", "country", "sector", "headcount"):
        assert f'href="#{field}"' in response.text, field


async def test_organisation_new_duplicate_name_any_case_refused(client, english, sign_in, world):
    await sign_in("admin_A")
    response = await submit(
        client,
        "/organisations/new",
        "/organisations/new",
        {"name": "ORGANISATION a1", "country": "NL", "sector": "care", "headcount": "10"},
    )
    assert response.status_code == 400
    assert "Your bureau already has an organisation with this name." in response.text
    assert await _organisation_named("ORGANISATION a1") is None


async def test_organisation_new_same_name_in_other_bureau_allowed(world):
    organisation_id = await onboarding.create_profile(
        world.ctx("admin_A"), name="Organisation B1", country="NL", sector="care", headcount="9"
    )
    assert (await _organisation(organisation_id))["bureau"] == world.bureaus["A"]


async def test_organisation_new_unique_index_race_is_field_error(monkeypatch, world):
    """Two admins creating the same name at once: the pre-check passes for both, the unique
    index (on lower(name)) refuses the second, which gets the same field error."""

    async def never_taken(*args: Any, **kwargs: Any) -> bool:
        return False

    monkeypatch.setattr(onboarding, "_name_taken", never_taken)
    with pytest.raises(Invalid) as refused:
        await onboarding.create_profile(
            world.ctx("admin_A"), name="organisation A1", country="NL", sector="care", headcount="9"
        )
    assert refused.value.fields == {"name": "taken"}
    assert await _organisation_named("organisation A1") is None


async def test_organisation_new_other_roles_refused(client, sign_in, world):
    """Isolation of POST /organisations/new: only a bureau admin creates, in its own bureau."""
    before = await _count(Organisation)
    for role in ("counsellor_A1", "contact_A1", "operator"):
        await sign_in(role)
        assert (await client.get("/organisations/new")).status_code == 403
        response = await client.post(
            "/organisations/new",
            data={"name": "X", "country": "NL", "sector": "care", "headcount": "5"},
            headers={"x-csrftoken": client.cookies.get("klankbord_csrf") or ""},
        )
        assert response.status_code == 403
    organisation_id = await onboarding.create_profile(
        world.ctx("admin_B"), name="Eigen van B", country="NL", sector="care", headcount="5"
    )
    assert (await _organisation(organisation_id))["bureau"] == world.bureaus["B"]
    assert await _count(Organisation) == before + 1


# --- the wizard -----------------------------------------------------------------------------


async def test_onboarding_resume_shows_the_current_step(client, english, sign_in, world):
    organisation_id = await _new_organisation(world)
    await sign_in("admin_A")
    response = await client.get(f"/organisations/{organisation_id}/onboarding")
    assert response.status_code == 200
    assert "<h1>Languages and procedures</h1>" in response.text
    assert f'action="/organisations/{organisation_id}/onboarding/scope"' in response.text
    await onboarding.save_scope(
        world.ctx("admin_A"),
        organisation_id=organisation_id,
        languages=["nl"],
        procedures=["integrity"],
    )
    response = await client.get(f"/organisations/{organisation_id}/onboarding")
    assert "<h1>Counsellors</h1>" in response.text


async def test_onboarding_scope_saves_languages_and_procedures(client, english, sign_in, world):
    organisation_id = await _new_organisation(world)
    await sign_in("admin_A")
    page = f"/organisations/{organisation_id}/onboarding/scope"
    response = await submit(
        client,
        page,
        page,
        {"languages": ["fr", "nl"], "procedures": ["integrity", "unwanted_behaviour"]},
    )
    assert response.status_code == 303
    assert response.headers["location"].endswith("/onboarding/counsellors")
    organisation = await _organisation(organisation_id)
    assert organisation["languages"] == "nl,fr"
    assert organisation["procedures"] == "unwanted_behaviour,integrity"
    assert organisation["onboarding_step"] == "counsellors"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"procedures": ["integrity"]}, "languages", "Choose at least one language."),
        ({"languages": ["nl"]}, "procedures", "Choose at least one procedure."),
        ({"languages": ["nl", "de"], "procedures": ["integrity"]}, "languages", "language"),
        (
            {"languages": ["nl"], "procedures": ["unwanted_behaviour"]},
            "procedures",
            "The whistleblower law applies to this organisation: enable the integrity",
        ),
    ],
)
async def test_onboarding_scope_refused_nothing_changed(
    client, english, sign_in, world, data, field, message
):
    organisation_id = await _new_organisation(world, headcount="120")
    await sign_in("admin_A")
    page = f"/organisations/{organisation_id}/onboarding/scope"
    response = await submit(client, page, page, data)
    assert response.status_code == 400
    assert f'href="#{field}"' in response.text
    assert message in response.text
    organisation = await _organisation(organisation_id)
    assert (organisation["languages"], organisation["procedures"]) == ("", "")
    assert organisation["onboarding_step"] == "scope"


async def test_onboarding_scope_small_organisation_may_skip_integrity(
    client, english, sign_in, world
):
    organisation_id = await _new_organisation(world, headcount="12", sector="education")
    await sign_in("admin_A")
    page = f"/organisations/{organisation_id}/onboarding/scope"
    shown = await client.get(page)
    assert "does not oblige this organisation" in shown.text
    response = await submit(
        client, page, page, {"languages": ["nl"], "procedures": ["unwanted_behaviour"]}
    )
    assert response.status_code == 303


async def test_onboarding_scope_financial_sector_needs_integrity(world):
    organisation_id = await _new_organisation(world, headcount="8", sector="financial")
    with pytest.raises(Invalid) as refused:
        await onboarding.save_scope(
            world.ctx("admin_A"),
            organisation_id=organisation_id,
            languages=["nl"],
            procedures=["rehabilitation"],
        )
    assert refused.value.fields == {"procedures": "integrity_required"}


async def test_onboarding_profile_step_can_be_changed_later(client, english, sign_in, world):
    organisation_id = await _new_organisation(world)
    await onboarding.save_scope(
        world.ctx("admin_A"),
        organisation_id=organisation_id,
        languages=["nl"],
        procedures=["integrity"],
    )
    await sign_in("admin_A")
    page = f"/organisations/{organisation_id}/onboarding/profile"
    shown = await client.get(page)
    assert f'value="{NEW_NAME}"' in shown.text
    response = await submit(
        client,
        page,
        page,
        {"name": "Organisation A2", "country": "NL", "sector": "care", "headcount": "3"},
    )
    assert response.status_code == 400
    assert "Your bureau already has an organisation with this name." in response.text
    response = await submit(
        client,
        page,
        page,
        {"name": NEW_NAME, "country": "NL", "sector": "care", "headcount": "300"},
    )
    assert response.status_code == 303
    organisation = await _organisation(organisation_id)
    assert organisation["headcount"] == 300
    assert organisation["onboarding_step"] == "counsellors"  # saving never moves back


# --- counsellors ----------------------------------------------------------------------------


async def test_assign_counsellor_primary_and_substitute(world):
    ctx = world.ctx("admin_A")
    organisation_id = await _new_organisation(world)
    await assignments.assign_counsellor(
        ctx,
        organisation_id=organisation_id,
        staff_user_id=world.users["counsellor_A1"],
        assignment="primary",
    )
    await assignments.assign_counsellor(
        ctx,
        organisation_id=organisation_id,
        staff_user_id=world.users["counsellor_A2"],
        assignment="substitute",
    )
    rows = {(r["staff_user"], r["assignment"]) for r in await _counsellor_rows(organisation_id)}
    assert rows == {
        (world.users["counsellor_A1"], "primary"),
        (world.users["counsellor_A2"], "substitute"),
    }
    assert (await _actions(organisation_id)).count("membership.created") == 2


@pytest.mark.parametrize(
    ("who", "refusal"),
    [
        ("counsellor_B1", NotFound),  # staff of another bureau
        ("contact_A1", Conflict),  # an organisation contact
        ("contact_A2", Conflict),
        ("operator", NotFound),
    ],
)
async def test_assign_counsellor_refused_nothing_changed(world, who, refusal):
    organisation_id = await _new_organisation(world)
    with pytest.raises(refusal):
        await assignments.assign_counsellor(
            world.ctx("admin_A"),
            organisation_id=organisation_id,
            staff_user_id=world.users[who],
            assignment="primary",
        )
    assert await _counsellor_rows(organisation_id) == []


async def test_assign_counsellor_twice_refused(world):
    organisation_id = world.organisations["A1"]
    with pytest.raises(Conflict) as refused:
        await assignments.assign_counsellor(
            world.ctx("admin_A"),
            organisation_id=organisation_id,
            staff_user_id=world.users["counsellor_A1"],
            assignment="substitute",
        )
    assert refused.value.code == "already_assigned"
    assert len(await _counsellor_rows(organisation_id)) == 1


async def test_assign_counsellor_bad_assignment_refused(world):
    organisation_id = await _new_organisation(world)
    with pytest.raises(Invalid):
        await assignments.assign_counsellor(
            world.ctx("admin_A"),
            organisation_id=organisation_id,
            staff_user_id=world.users["counsellor_A1"],
            assignment="boss",
        )
    assert await _counsellor_rows(organisation_id) == []


async def test_remove_last_counsellor_with_live_link_refused(world):
    organisation_id = world.organisations["A1"]  # one counsellor, a live integrity link
    with pytest.raises(Conflict) as refused:
        await assignments.remove_counsellor(
            world.ctx("admin_A"),
            organisation_id=organisation_id,
            staff_user_id=world.users["counsellor_A1"],
        )
    assert refused.value.code == "last_counsellor_with_live_links"
    assert len(await _counsellor_rows(organisation_id)) == 1


async def test_remove_last_counsellor_after_links_retired_allowed(world):
    organisation_id = world.organisations["A1"]
    async with tenant_transaction(system_context("test-setup")):
        await IntakeLink.update({IntakeLink.active: False}).where(
            IntakeLink.organisation == organisation_id
        )
    await assignments.remove_counsellor(
        world.ctx("admin_A"),
        organisation_id=organisation_id,
        staff_user_id=world.users["counsellor_A1"],
    )
    assert await _counsellor_rows(organisation_id) == []
    assert "membership.removed" in await _actions(organisation_id)


async def test_remove_one_of_two_counsellors_with_live_link_allowed(world):
    ctx = world.ctx("admin_A")
    organisation_id = world.organisations["A1"]
    await assignments.assign_counsellor(
        ctx,
        organisation_id=organisation_id,
        staff_user_id=world.users["admin_A"],
        assignment="primary",
    )
    await assignments.remove_counsellor(
        ctx, organisation_id=organisation_id, staff_user_id=world.users["counsellor_A1"]
    )
    assert [r["staff_user"] for r in await _counsellor_rows(organisation_id)] == [
        world.users["admin_A"]
    ]


async def test_remove_counsellor_not_assigned_not_found(world):
    with pytest.raises(NotFound):
        await assignments.remove_counsellor(
            world.ctx("admin_A"),
            organisation_id=world.organisations["A1"],
            staff_user_id=world.users["counsellor_A2"],
        )


async def test_counsellors_step_needs_a_primary(client, english, sign_in, world):
    organisation_id = await _new_organisation(world)
    await sign_in("admin_A")
    page = f"/organisations/{organisation_id}/onboarding/counsellors"
    response = await submit(client, page, page, {"action": "continue"})
    assert response.status_code == 400
    assert "Assign at least one primary counsellor." in response.text
    response = await submit(
        client,
        page,
        page,
        {
            "action": "assign",
            "staff_user_id": str(world.users["counsellor_A2"]),
            "assignment": "substitute",
        },
    )
    assert response.status_code == 303
    response = await submit(client, page, page, {"action": "continue"})
    assert response.status_code == 400  # a substitute alone is not enough
    response = await submit(
        client,
        page,
        page,
        {
            "action": "assign",
            "staff_user_id": str(world.users["counsellor_A1"]),
            "assignment": "primary",
        },
    )
    response = await submit(client, page, page, {"action": "continue"})
    assert response.status_code == 303
    assert response.headers["location"].endswith("/onboarding/authorities")


async def test_counsellors_page_after_onboarding(client, english, sign_in, world):
    await sign_in("admin_A")
    organisation_id = world.organisations["A1"]
    page = f"/organisations/{organisation_id}/counsellors"
    shown = await client.get(page)
    assert shown.status_code == 200
    assert "Counsellor A1" in shown.text
    assert "Counsellor A2" in shown.text  # a candidate of the same bureau
    assert "Contact A1" not in shown.text and "Counsellor B1" not in shown.text
    # The last counsellor, with a live link: refused, with the reason.
    response = await submit(
        client, page, f"{page}/remove", {"staff_user_id": str(world.users["counsellor_A1"])}
    )
    assert response.status_code == 400
    assert "This is the last counsellor" in response.text
    response = await submit(
        client,
        page,
        page,
        {"staff_user_id": str(world.users["counsellor_A2"]), "assignment": "substitute"},
    )
    assert response.status_code == 303
    response = await submit(
        client, page, f"{page}/remove", {"staff_user_id": str(world.users["counsellor_A1"])}
    )
    assert response.status_code == 303
    assert [r["staff_user"] for r in await _counsellor_rows(organisation_id)] == [
        world.users["counsellor_A2"]
    ]


# --- authorities and retention ------------------------------------------------------------


@pytest.mark.parametrize("country", ["NL", "BE"])
async def test_authorities_prefilled_per_country(world, country):
    ctx = world.ctx("admin_A")
    organisation_id = await onboarding.create_profile(
        ctx, name=NEW_NAME, country=country, sector="care", headcount="80"
    )
    state = await onboarding.authorities_for_step(ctx, organisation_id)
    assert [a["name"] for a in state.authorities] == [a.name for a in PREFILLED[Country(country)]]
    again = await onboarding.authorities_for_step(ctx, organisation_id)
    assert len(again.authorities) == len(state.authorities)  # stored once


async def test_authorities_add_and_remove_and_removal_sticks(client, english, sign_in, world):
    ctx = world.ctx("admin_A")
    organisation_id = await _new_organisation(world)
    await assignments.assign_counsellor(
        ctx,
        organisation_id=organisation_id,
        staff_user_id=world.users["counsellor_A1"],
        assignment="primary",
    )
    await onboarding.save_counsellors(ctx, organisation_id=organisation_id)  # prefills
    await sign_in("admin_A")
    page = f"/organisations/{organisation_id}/onboarding/authorities"
    shown = await client.get(page)
    assert "Huis voor Klokkenluiders" in shown.text
    response = await submit(client, page, page, {"action": "add", "authority_name": " "})
    assert response.status_code == 400
    assert "Enter the name of the authority." in response.text
    response = await submit(
        client,
        page,
        page,
        {
            "action": "add",
            "authority_name": "Politie",
            "authority_contact": "https://www.politie.nl",
        },
    )
    assert response.status_code == 303
    state = await onboarding.wizard(ctx, organisation_id)
    assert "Politie" in [a["name"] for a in state.authorities]
    for authority in state.authorities:
        response = await submit(
            client, page, page, {"action": "remove", "authority_id": str(authority["id"])}
        )
        assert response.status_code == 303
    response = await submit(client, page, page, {"action": "continue"})
    assert response.status_code == 303
    assert (await onboarding.authorities_for_step(ctx, organisation_id)).authorities == []


async def test_authorities_remove_foreign_one_not_found(client, sign_in, world):
    ctx_b = world.ctx("admin_B")
    foreign = await onboarding.add_authority(
        ctx_b, organisation_id=world.organisations["B1"], name="FSMA", contact=""
    )
    await sign_in("admin_A")
    page = f"/organisations/{world.organisations['A1']}/onboarding/authorities"
    response = await submit(client, page, page, {"action": "remove", "authority_id": str(foreign)})
    assert response.status_code == 404
    async with tenant_transaction(system_context("test-read")):
        assert await ExternalAuthority.exists().where(ExternalAuthority.id == foreign)


@pytest.mark.parametrize(
    ("closed", "quiet", "field"),
    [
        ("0", "2", "retention_months_closed"),
        ("121", "2", "retention_months_closed"),
        ("24", "25", "retention_months_no_follow_up"),
        ("24", "two", "retention_months_no_follow_up"),
    ],
)
async def test_retention_out_of_bounds_refused(
    client, english, sign_in, world, closed, quiet, field
):
    organisation_id = await _new_organisation(world)
    await sign_in("admin_A")
    page = f"/organisations/{organisation_id}/onboarding/retention"
    shown = await client.get(page)
    assert 'value="24"' in shown.text and 'value="2"' in shown.text  # the defaults
    response = await submit(
        client,
        page,
        page,
        {"retention_months_closed": closed, "retention_months_no_follow_up": quiet},
    )
    assert response.status_code == 400
    assert f'href="#{field}"' in response.text
    organisation = await _organisation(organisation_id)
    assert (
        organisation["retention_months_closed"],
        organisation["retention_months_no_follow_up"],
    ) == (24, 2)


# --- finishing ------------------------------------------------------------------------------


async def test_finish_refused_with_links_to_failing_steps(client, english, sign_in, world):
    organisation_id = await _new_organisation(world)
    await sign_in("admin_A")
    page = f"/organisations/{organisation_id}/onboarding/review"
    response = await submit(client, page, page)
    assert response.status_code == 400
    assert f'href="/organisations/{organisation_id}/onboarding/counsellors"' in response.text
    assert f'href="/organisations/{organisation_id}/onboarding/scope"' in response.text
    assert "Assign at least one primary counsellor." in response.text
    assert (await _organisation(organisation_id))["onboarded_at"] is None


async def test_onboarding_whole_wizard_over_http(client, english, sign_in, world):
    await sign_in("admin_A")
    response = await submit(
        client,
        "/organisations/new",
        "/organisations/new",
        {"name": NEW_NAME, "country": "NL", "sector": "housing", "headcount": "75"},
    )
    step = response.headers["location"]
    response = await submit(
        client, step, step, {"languages": ["nl", "en"], "procedures": ["integrity"]}
    )
    step = response.headers["location"]
    await submit(
        client,
        step,
        step,
        {
            "action": "assign",
            "staff_user_id": str(world.users["counsellor_A1"]),
            "assignment": "primary",
        },
    )
    response = await submit(client, step, step, {"action": "continue"})
    step = response.headers["location"]
    response = await submit(client, step, step, {"action": "continue"})
    step = response.headers["location"]
    response = await submit(
        client, step, step, {"retention_months_closed": "36", "retention_months_no_follow_up": "3"}
    )
    step = response.headers["location"]
    assert step.endswith("/onboarding/review")
    review = await client.get(step)
    assert "The plan is set by billing." in review.text
    assert "Counsellor A1" in review.text
    assert "Huis voor Klokkenluiders" in review.text
    response = await submit(client, step, step)
    assert response.status_code == 303
    organisation = await _organisation_named(NEW_NAME)
    assert organisation is not None
    assert response.headers["location"] == f"/organisations/{organisation['id']}"
    assert organisation["onboarded_at"] is not None
    assert organisation["onboarding_step"] == "done"
    assert (
        organisation["retention_months_closed"],
        organisation["retention_months_no_follow_up"],
    ) == (36, 3)
    events = await AuditEvent.select(AuditEvent.action, AuditEvent.detail).where(
        AuditEvent.organisation == organisation["id"]
    )
    steps = [
        (e["detail"] if isinstance(e["detail"], dict) else __import__("json").loads(e["detail"]))[
            "step"
        ]
        for e in events
        if e["action"] == "organisation.onboarding_step_saved"
    ]
    assert steps == ["profile", "scope", "counsellors", "authorities", "retention"]
    actions = [e["action"] for e in events]
    assert "membership.created" in actions and "organisation.onboarded" in actions
    resumed = await client.get(f"/organisations/{organisation['id']}/onboarding")
    assert "This organisation is onboarded." in resumed.text


# --- across tenants and roles -----------------------------------------------------------------


STEP_POSTS = [
    ("profile", {"name": "Overgenomen", "country": "NL", "sector": "care", "headcount": "5"}),
    ("scope", {"languages": ["fr"], "procedures": ["rehabilitation", "integrity"]}),
    ("counsellors", {"action": "remove", "staff_user_id": "COUNSELLOR"}),
    ("authorities", {"action": "add", "authority_name": "Overgenomen"}),
    ("retention", {"retention_months_closed": "1", "retention_months_no_follow_up": "1"}),
    ("review", {}),
]


@pytest.mark.parametrize(("step", "data"), STEP_POSTS, ids=[s for s, _ in STEP_POSTS])
@pytest.mark.parametrize(
    ("role", "status"),
    [("admin_B", 404), ("counsellor_A1", 403), ("contact_A1", 403), ("counsellor_A2", 403)],
)
async def test_onboarding_other_bureau_or_role_refused_nothing_changed(
    client, sign_in, world, step, data, role, status
):
    organisation_id = world.organisations["A1"]
    data = {
        key: (str(world.users["counsellor_A1"]) if value == "COUNSELLOR" else value)
        for key, value in data.items()
    }
    before = await _organisation(organisation_id)
    members = await _counsellor_rows(organisation_id)
    await sign_in(role)
    own = "/account"  # a page with a form, for the CSRF token
    response = await submit(
        client, own, f"/organisations/{organisation_id}/onboarding/{step}", data
    )
    assert response.status_code == status
    assert "Organisation A1" not in response.text
    assert await _organisation(organisation_id) == before
    assert await _counsellor_rows(organisation_id) == members
    async with tenant_transaction(system_context("test-read")):
        assert not await ExternalAuthority.exists().where(ExternalAuthority.name == "Overgenomen")


@pytest.mark.parametrize("role", ["admin_B", "counsellor_A1", "contact_A1"])
async def test_counsellors_page_other_bureau_or_role_refused(client, sign_in, world, role):
    organisation_id = world.organisations["A1"]
    members = await _counsellor_rows(organisation_id)
    await sign_in(role)
    page = f"/organisations/{organisation_id}/counsellors"
    assert (await client.get(page)).status_code in (403, 404)
    response = await submit(
        client,
        "/account",
        page,
        {"staff_user_id": str(world.users["counsellor_A2"]), "assignment": "primary"},
    )
    assert response.status_code in (403, 404)
    response = await submit(
        client, "/account", f"{page}/remove", {"staff_user_id": str(world.users["counsellor_A1"])}
    )
    assert response.status_code in (403, 404)
    assert await _counsellor_rows(organisation_id) == members


async def test_onboarding_services_other_bureau_not_found(world):
    ctx = world.ctx("admin_B")
    organisation_id = world.organisations["A1"]
    with pytest.raises(NotFound):
        await onboarding.wizard(ctx, organisation_id)
    with pytest.raises(NotFound):
        await assignments.assign_counsellor(
            ctx,
            organisation_id=organisation_id,
            staff_user_id=world.users["counsellor_B1"],
            assignment="primary",
        )
    with pytest.raises(NotFound):
        await onboarding.finish(ctx, organisation_id=organisation_id)
    with pytest.raises(NotFound):
        await onboarding.wizard(world.ctx("admin_A"), uuid4())
