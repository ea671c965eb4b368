"""The intake question pages over HTTP: each route as bureau admin, counsellor, organisation
contact and another bureau's admin (404, like a missing id), forms posted with a valid CSRF
pair, typed values kept on error and nothing changed."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest

from casework import question_routes
from casework.tables import IntakeQuestion
from klankbord.security import CSRF_COOKIE, CSRF_HEADER
from klankbord.tenancy import system_context, tenant_transaction
from klankbord.web import create_app
from tests.support.forms import submit


@pytest.fixture(scope="module")
def app(test_database: Any, engine: Any) -> Any:
    """The app with the question pages (registered here until klankbord.web lists them)."""
    application = create_app(test_database.settings, engine=engine)
    paths = {route.path for route in application.routes}
    if "/organisations/{organisation_id:uuid}/questions" not in paths:
        for handler in question_routes.ROUTES:
            application.register(handler)
    return application


@pytest.fixture
def english(client: httpx.AsyncClient) -> httpx.AsyncClient:
    client.cookies.set("klankbord_lang", "en")
    return client


def _page(world: Any, organisation: str = "A1", procedure: str = "integrity") -> str:
    return f"/organisations/{world.organisations[organisation]}/questions/{procedure}"


async def _rows(world: Any, organisation: str = "A1") -> list[dict[str, Any]]:
    async with tenant_transaction(system_context("test-read")):
        return (
            await IntakeQuestion.select()
            .where(IntakeQuestion.organisation == world.organisations[organisation])
            .order_by(IntakeQuestion.position)
        )


async def _post(client: httpx.AsyncClient, app: Any, path: str, data: dict[str, str]):
    """A POST with a valid CSRF pair, for someone whose page shows no form."""
    token = app.state.csrf.new_token()
    client.cookies.set(CSRF_COOKIE, token)
    return await client.post(path, data=data, headers={CSRF_HEADER: token})


async def _customise(client: httpx.AsyncClient, world: Any, procedure: str = "integrity") -> None:
    page = _page(world, procedure=procedure)
    response = await submit(client, page, f"{page}/customise")
    assert response.status_code == 303
    assert response.headers["location"] == f"{page}?done=customised"


@pytest.mark.parametrize("user", ["admin_A", "counsellor_A1", "contact_A1"])
async def test_questions_overview_lists_enabled_procedures(english, world, sign_in, user):
    client = await sign_in(user)
    response = await client.get(f"/organisations/{world.organisations['A1']}/questions")
    assert response.status_code == 200
    assert "Organisation A1" in response.text
    for procedure in ("unwanted_behaviour", "integrity", "rehabilitation"):
        assert f"/questions/{procedure}" in response.text
    assert response.text.count("Built-in questions") >= 3


@pytest.mark.parametrize("user", ["admin_A", "counsellor_A1", "contact_A1"])
async def test_questions_list_built_in_with_preview(english, world, sign_in, user):
    client = await sign_in(user)
    response = await client.get(_page(world, procedure="unwanted_behaviour"))
    assert response.status_code == 200
    assert "Organisation A1" in response.text
    assert "What happened?" in response.text
    assert 'id="q_default_what_happened"' in response.text  # the preview
    assert 'name="q_default_behaviour_other"' not in response.text  # a hidden follow-up
    assert ("/customise" in response.text) is (user == "admin_A")


async def test_questions_list_unknown_procedure_not_found(english, world, sign_in):
    client = await sign_in("admin_A")
    response = await client.get(_page(world, procedure="whistleblowing"))
    assert response.status_code == 404


async def test_questions_customise_add_move_delete_reset_via_forms(english, world, sign_in):
    client = await sign_in("admin_A")
    page = _page(world)
    await _customise(client, world)
    rows = await _rows(world)
    assert rows and all(row["procedure"] == "integrity" for row in rows)

    listed = await client.get(page)
    assert "Questions of this organisation" in listed.text and "/add" in listed.text

    parent = next(row for row in rows if row["kind"] == "yes_no")
    response = await submit(
        client,
        page,
        f"{page}/add",
        {
            "kind": "long_text",
            "label_nl": "Wat weet je nog meer?",
            "label_en": "What else do you know?",
            "help_en": "Anything helps.",
            "required": "yes",
            "follows": f"{parent['id']}:yes",
        },
    )
    assert response.status_code == 303 and response.headers["location"] == f"{page}?done=added"
    rows = await _rows(world)
    added = rows[-1]
    assert added["kind"] == "long_text" and added["required"]
    assert added["follows"] == parent["id"] and added["follows_value"] == "yes"

    response = await submit(client, page, f"{page}/{rows[1]['id']}/move", {"direction": "up"})
    assert response.status_code == 303
    assert [row["id"] for row in await _rows(world)][:2] == [rows[1]["id"], rows[0]["id"]]

    response = await submit(client, page, f"{page}/{added['id']}/delete")
    assert response.status_code == 303
    assert added["id"] not in {row["id"] for row in await _rows(world)}

    response = await submit(client, page, f"{page}/reset")
    assert response.status_code == 303 and response.headers["location"] == f"{page}?done=reset"
    assert await _rows(world) == []


async def test_questions_add_errors_typed_values_kept_nothing_stored(english, world, sign_in):
    client = await sign_in("admin_A")
    page = _page(world)
    await _customise(client, world)
    before = await _rows(world)
    response = await submit(
        client,
        page,
        f"{page}/add",
        {"kind": "choice", "label_nl": "Mijn <vraag>", "choices_nl": "Een\nTwee", "label_en": ""},
    )
    assert response.status_code == 400
    assert "There is a problem" in response.text
    assert 'value="Mijn &lt;vraag&gt;"' in response.text
    assert ">\nEen\nTwee</textarea>" in response.text
    assert "Enter the question in every language of the organisation." in response.text
    assert "Enter at least two answers, one per line." in response.text
    assert 'id="kind-choice" name="kind" value="choice" checked' in response.text
    assert await _rows(world) == before


async def test_questions_delete_followed_question_clear_error(english, world, sign_in):
    client = await sign_in("admin_A")
    page = _page(world)
    await _customise(client, world)
    rows = await _rows(world)
    parent = next(row for row in rows if any(other["follows"] == row["id"] for other in rows))
    response = await submit(client, page, f"{page}/{parent['id']}/delete")
    assert response.status_code == 400
    assert "other questions follow it" in response.text
    assert len(await _rows(world)) == len(rows)


@pytest.mark.parametrize("user", ["counsellor_A1", "contact_A1"])
@pytest.mark.parametrize("action", ["customise", "add", "reset", "{id}/delete", "{id}/move"])
async def test_questions_changes_by_counsellor_or_contact_forbidden(
    app, english, world, sign_in, user, action
):
    admin = await sign_in("admin_A")
    await _customise(admin, world)
    rows = await _rows(world)
    client = await sign_in(user)
    page = _page(world)
    path = f"{page}/{action.replace('{id}', str(rows[0]['id']))}"
    response = await _post(client, app, path, {"direction": "down", "kind": "text"})
    assert response.status_code == 403
    assert await _rows(world) == rows


@pytest.mark.parametrize(
    "action", ["", "/customise", "/add", "/reset", "/{id}/delete", "/{id}/move"]
)
async def test_questions_foreign_admin_not_found_like_missing_nothing_changed(
    english, world, sign_in, action
):
    admin = await sign_in("admin_A")
    await _customise(admin, world)
    rows = await _rows(world)
    question = str(rows[0]["id"])
    client = await sign_in("admin_B")
    own_page = _page(world, "B1")  # where admin B gets a CSRF token
    responses = []
    for organisation_id in (world.organisations["A1"], uuid4()):
        path = f"/organisations/{organisation_id}/questions/integrity" + action.replace(
            "{id}", question
        )
        if action:
            response = await submit(client, own_page, path, {"direction": "up", "kind": "text"})
        else:
            response = await client.get(path)
        responses.append(response)
    foreign, missing = responses
    assert foreign.status_code == missing.status_code == 404
    assert "Organisation A1" not in foreign.text
    assert await _rows(world) == rows


async def test_questions_foreign_question_id_under_own_organisation_not_found(
    english, world, sign_in
):
    admin_a = await sign_in("admin_A")
    await _customise(admin_a, world)
    foreign_question = (await _rows(world))[0]["id"]
    client = await sign_in("admin_B")
    page = _page(world, "B1")
    await submit(client, page, f"{page}/customise")
    response = await submit(client, page, f"{page}/{foreign_question}/delete")
    assert response.status_code == 404
    assert foreign_question in {row["id"] for row in await _rows(world)}


async def test_questions_post_without_csrf_refused(english, world, sign_in):
    client = await sign_in("admin_A")
    response = await client.post(f"{_page(world)}/customise")
    assert response.status_code == 403
    assert await _rows(world) == []
