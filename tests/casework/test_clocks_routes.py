"""The clock forms on the case page and the clock settings page over HTTP: counsellors only,
access before the form (a foreign case is 404), CSRF, refusals back on the case page; the
settings page read by the organisation's staff, changed by its bureau admin only."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.exceptions import NoRouteMatchFoundException

from casework import clock_routes
from casework.tables import Case, ClockSettings
from klankbord.security import CSRF_COOKIE, CSRF_HEADER
from klankbord.tenancy import system_context, tenant_transaction
from klankbord.web import create_app
from tests.casework.test_clocks_services import make_case
from tests.support.forms import csrf_token

FORM = {
    "acknowledge_days": "6",
    "acknowledge_warning_day": "4",
    "feedback_months": "3",
    "feedback_reminder_days": "15",
    "first_contact_working_days": "2",
    "first_conversation_days": "10",
    "holidays": "2026-12-25\n2026-12-26",
}


@pytest.fixture(scope="module")
def app(test_database: Any, engine: Any) -> Any:
    """The app, with the clock routes added while web.py does not list them yet."""
    application = create_app(test_database.settings, engine=engine)
    try:
        application.route_reverse("organisation_clocks", organisation_id="0" * 32)
    except NoRouteMatchFoundException:
        for handler in clock_routes.ROUTES:
            application.register(handler)
    return application


def csrf_headers(client: Any, app: Any) -> dict[str, str]:
    """A valid CSRF pair (cookie and header), as a page without a form cannot give one."""
    token = app.state.csrf.new_token()
    client.cookies.set(CSRF_COOKIE, token)
    return {CSRF_HEADER: token}


async def case_row(case_id: Any) -> dict[str, Any]:
    async with tenant_transaction(system_context("test")):
        return await Case.select().where(Case.id == case_id).first()


async def post_form(client: Any, world: Any, path: str, data: dict[str, str]) -> Any:
    token = await csrf_token(client, f"/cases/{world.case_ids['A1']}")
    return await client.post(path, data={**data, "_csrf_token": token})


async def test_clock_acknowledge_redirects_to_clocks(world, sign_in):
    client = await sign_in("counsellor_A1")
    case_id = world.case_ids["A1"]
    response = await post_form(client, world, f"/cases/{case_id}/clock/acknowledge", {})
    assert response.status_code == 303
    assert response.headers["location"] == f"/cases/{case_id}#clocks"
    assert (await case_row(case_id))["acknowledged_at"] is not None


async def test_clock_acknowledge_twice_case_page_with_error(world, sign_in):
    client = await sign_in("counsellor_A1")
    path = f"/cases/{world.case_ids['A1']}/clock/acknowledge"
    await post_form(client, world, path, {})
    response = await post_form(client, world, path, {})
    assert response.status_code == 422
    assert "Report of organisation A1" in response.text  # the case page, shown again


async def test_clock_exception_reason_stored(world, sign_in):
    client = await sign_in("counsellor_A1")
    case_id = world.case_ids["A1"]
    response = await post_form(
        client, world, f"/cases/{case_id}/clock/exception", {"reason": "reporter_declined"}
    )
    assert response.status_code == 303
    assert (await case_row(case_id))["acknowledgement_exception"] == "reporter_declined"


async def test_clock_exception_unknown_reason_422(world, sign_in):
    client = await sign_in("counsellor_A1")
    case_id = world.case_ids["A1"]
    response = await post_form(client, world, f"/cases/{case_id}/clock/exception", {"reason": "x"})
    assert response.status_code == 422
    assert (await case_row(case_id))["acknowledgement_exception"] == ""


@pytest.mark.parametrize("value", ["not-a-date", "2999-01-01", ""])
async def test_clock_first_contact_bad_date_422(world, sign_in, value):
    client = await sign_in("counsellor_A1")
    case_id = world.case_ids["A1"]
    response = await post_form(
        client, world, f"/cases/{case_id}/clock/first-contact", {"date": value}
    )
    assert response.status_code == 422
    assert (await case_row(case_id))["first_contact_at"] is None


async def test_clock_first_contact_and_feedback_recorded(world, sign_in):
    client = await sign_in("counsellor_A1")
    case_id = await make_case(world, procedure="unwanted_behaviour")
    received = (await case_row(case_id))["received_at"]
    day = received.astimezone(clock_routes.acknowledgement.clocks.zone_for("NL")).date()
    response = await post_form(
        client, world, f"/cases/{case_id}/clock/first-contact", {"date": day.isoformat()}
    )
    assert response.status_code == 303
    response = await post_form(client, world, f"/cases/{case_id}/clock/feedback", {})
    assert response.status_code == 303
    row = await case_row(case_id)
    assert row["first_contact_at"] is not None and row["feedback_at"] is not None


@pytest.mark.parametrize("user", ["counsellor_A2", "counsellor_B1"])
@pytest.mark.parametrize("action", ["acknowledge", "exception", "first-contact", "feedback"])
async def test_clock_forms_foreign_case_not_found(world, sign_in, user, action):
    client = await sign_in(user)
    token = await csrf_token(client, f"/cases/{world.case_ids[user[-2:]]}")
    response = await client.post(
        f"/cases/{world.case_ids['A1']}/clock/{action}",
        data={"_csrf_token": token, "reason": "reporter_declined", "date": "2026-01-01"},
    )
    assert response.status_code == 404
    row = await case_row(world.case_ids["A1"])
    assert row["acknowledged_at"] is None and row["acknowledgement_exception"] == ""


@pytest.mark.parametrize("user", ["admin_A", "contact_A1"])
async def test_clock_forms_other_roles_refused(world, sign_in, app, user):
    client = await sign_in(user)
    response = await client.post(
        f"/cases/{world.case_ids['A1']}/clock/acknowledge", headers=csrf_headers(client, app)
    )
    assert response.status_code == 403  # the counsellor guard
    assert (await case_row(world.case_ids["A1"]))["acknowledged_at"] is None


async def test_clock_acknowledge_without_csrf_refused(world, sign_in):
    client = await sign_in("counsellor_A1")
    response = await client.post(
        f"/cases/{world.case_ids['A1']}/clock/acknowledge", data={"_csrf_token": "0" * 128}
    )
    assert response.status_code == 403
    assert (await case_row(world.case_ids["A1"]))["acknowledged_at"] is None


# --- the settings page -------------------------------------------------------------------


def settings_path(world: Any, organisation: str = "A1") -> str:
    return f"/organisations/{world.organisations[organisation]}/clocks"


async def test_clock_settings_admin_saves_and_sees_them(world, sign_in):
    client = await sign_in("admin_A")
    path = settings_path(world)
    token = await csrf_token(client, path)
    response = await client.post(path, data={**FORM, "_csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == f"{path}?saved=1"
    shown = await client.get(f"{path}?saved=1", headers={"accept-language": "en"})
    assert "The deadlines are saved." in shown.text
    assert 'value="6"' in shown.text and "2026-12-26" in shown.text


async def test_clock_settings_invalid_shows_errors_422(world, sign_in):
    client = await sign_in("admin_A")
    path = settings_path(world)
    token = await csrf_token(client, path)
    response = await client.post(
        path,
        data={**FORM, "acknowledge_days": "99", "_csrf_token": token},
        headers={"accept-language": "en"},
    )
    assert response.status_code == 422
    assert 'href="#acknowledge_days"' in response.text
    assert "Enter a whole number from 1 to 60." in response.text
    assert 'value="99"' in response.text  # what was typed comes back


@pytest.mark.parametrize("user", ["counsellor_A1", "contact_A1"])
async def test_clock_settings_read_only_for_staff_403_on_post(world, sign_in, app, user):
    client = await sign_in(user)
    path = settings_path(world)
    page = await client.get(path, headers={"accept-language": "en"})
    assert page.status_code == 200
    assert "Organisation A1" in page.text and "Only the bureau admin" in page.text
    assert f'action="{path}"' not in page.text
    response = await client.post(path, data=FORM, headers=csrf_headers(client, app))
    assert response.status_code == 403
    async with tenant_transaction(system_context("test")):
        assert await ClockSettings.count() == 0


@pytest.mark.parametrize(
    ("user", "organisation"),
    [("admin_B", "A1"), ("admin_A", "B1"), ("counsellor_A1", "A2"), ("contact_A1", "B1")],
)
async def test_clock_settings_foreign_organisation_not_found(
    world, sign_in, app, user, organisation
):
    client = await sign_in(user)
    path = settings_path(world, organisation)
    assert (await client.get(path)).status_code == 404
    response = await client.post(path, data=FORM, headers=csrf_headers(client, app))
    assert response.status_code == 404
    async with tenant_transaction(system_context("test")):
        assert await ClockSettings.count() == 0
