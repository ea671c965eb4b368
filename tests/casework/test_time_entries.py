"""Time entries: every refusal, who may add and delete, the case's panel, the counsellor's
month (only own entries, nothing of the case but its reference, queries constant in the
number of cases) and the minutes per organisation for billing."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from casework import time_entries, time_routes
from casework.tables import Case, TimeEntry
from casework.time_entries import (
    ACTIVITY_FIELD,
    DATE_FIELD,
    ENTRY_FIELD,
    MINUTES_FIELD,
    add_time_entry,
    case_time,
    delete_time_entry,
    local_today,
    minutes_per_organisation,
    month_overview,
)
from klankbord import i18n
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.security import CSRF_COOKIE, CSRF_HEADER
from klankbord.settings import Settings
from klankbord.tables import AuditEvent
from klankbord.templating import make_environment
from klankbord.tenancy import Role, staff_context, system_context, tenant_transaction
from klankbord.web import create_app
from tenants import services
from tenants.choices import MembershipRole
from tests.casework.template_cases_time import PANEL_CONTEXT
from tests.support.queries import count_queries

TODAY = local_today()
EARLIER = TODAY - timedelta(days=3)  # a day the shared world has no time on
WORLD_DAY = TODAY - timedelta(days=1)  # tests/support/world.py: 30 minutes on each world case


@pytest.fixture(scope="module")
def app(test_database: Any, engine: Any) -> Any:
    """The app with the time routes (registered here until klankbord.web lists them)."""
    application = create_app(test_database.settings, engine=engine)
    paths = {route.path for route in application.routes}
    if "/time" not in paths:
        for handler in time_routes.ROUTES:
            application.register(handler)
    return application


async def add_cases(world: Any, key: str, count: int) -> list[UUID]:
    """`count` more cases of organisation `key`, as rows (no report: only codes matter here)."""
    ids = [uuid4() for _ in range(count)]
    async with tenant_transaction(system_context("test-cases")):
        await Case.insert(
            *[
                Case(
                    id=case_id,
                    organisation=world.organisations[key],
                    bureau=world.bureau_of(key),
                    procedure="integrity",
                    receipt_lookup=secrets.token_hex(16),
                    receipt_verifier="-",
                    submission=secrets.token_hex(16),
                    reference=f"2026-T{secrets.token_hex(3).upper()}",
                )
                for case_id in ids
            ]
        )
    return ids


async def _entries(case_id: UUID) -> list[dict[str, Any]]:
    """The case's entries besides the one the test world records on every world case."""
    async with tenant_transaction(system_context("test-read")):
        rows = await TimeEntry.select().where(TimeEntry.case == case_id)
    return [row for row in rows if row["spent_on"] != WORLD_DAY]


async def _add(world: Any, user: str = "counsellor_A1", key: str = "A1", **changes: Any) -> UUID:
    values: dict[str, Any] = {"minutes": 45, "activity": "conversation", "spent_on": EARLIER}
    values.update(changes)
    case_id = values.pop("case_id", world.case_ids[key])
    return await add_time_entry(world.ctx(user), case_id=case_id, **values)


async def _colleague(world: Any) -> Any:
    """A second counsellor of A1."""
    ctx = system_context("test-colleague")
    user_id = await services.create_staff_user(
        ctx,
        bureau_id=world.bureaus["A"],
        email=f"colleague.{secrets.token_hex(3)}@example.test",
        display_name="Colleague A1",
    )
    await services.add_membership(
        ctx,
        organisation_id=world.organisations["A1"],
        staff_user_id=user_id,
        role=MembershipRole.COUNSELLOR,
    )
    return staff_context(
        staff_user_id=user_id,
        bureau_id=world.bureaus["A"],
        organisation_roles=[(world.organisations["A1"], Role.COUNSELLOR)],
    )


# --- adding -------------------------------------------------------------------------------


async def test_add_time_entry_valid_stored_with_audit_of_ids_only(world, rollback):
    entry_id = await _add(world, minutes=90, activity="phone_call")

    rows = [row for row in await _entries(world.case_ids["A1"]) if row["id"] == entry_id]
    assert len(rows) == 1
    row = rows[0]
    assert (row["minutes"], row["activity"], row["spent_on"]) == (90, "phone_call", EARLIER)
    assert row["staff_user"] == world.users["counsellor_A1"]
    assert row["organisation"] == world.organisations["A1"]
    async with tenant_transaction(system_context("test-read")):
        event = (
            await AuditEvent.select()
            .where(AuditEvent.action == "time_entry.added")
            .where(AuditEvent.subject_id == str(world.case_ids["A1"]))
            .order_by(AuditEvent.seq, ascending=False)
            .first()
        )
    assert event is not None
    detail = json.loads(event["detail"]) if isinstance(event["detail"], str) else event["detail"]
    assert detail == {
        "entry": str(entry_id),
        "minutes": 90,
        "activity": "phone_call",
        "spent_on": EARLIER.isoformat(),
    }
    assert "Report of organisation" not in json.dumps(detail)


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"minutes": 0}, MINUTES_FIELD, "minutes_not_positive"),
        ({"minutes": -30}, MINUTES_FIELD, "minutes_not_positive"),
        ({"minutes": 721}, MINUTES_FIELD, "minutes_over_entry_limit"),
        ({"minutes": 100_000}, MINUTES_FIELD, "minutes_over_entry_limit"),
        ({"activity": "sleeping"}, ACTIVITY_FIELD, "activity_unknown"),
        ({"activity": ""}, ACTIVITY_FIELD, "activity_unknown"),
        ({"spent_on": TODAY + timedelta(days=1)}, DATE_FIELD, "date_in_future"),
        ({"spent_on": TODAY - timedelta(days=366)}, DATE_FIELD, "date_too_old"),
    ],
)
async def test_add_time_entry_bad_input_refused_nothing_stored(
    world, rollback, changes, field, code
):
    before = len(await _entries(world.case_ids["A1"]))
    with pytest.raises(Invalid) as refused:
        await _add(world, **changes)
    assert refused.value.fields == {field: code}
    assert len(await _entries(world.case_ids["A1"])) == before


@pytest.mark.parametrize(
    "changes",
    [
        {"minutes": 720},
        {"minutes": 1},
        {"spent_on": TODAY - timedelta(days=365)},
        {"spent_on": TODAY},
    ],
)
async def test_add_time_entry_at_the_limits_accepted(world, rollback, changes):
    entry_id = await _add(world, **changes)
    assert entry_id in {row["id"] for row in await _entries(world.case_ids["A1"])}


async def test_add_time_entry_day_total_over_1440_refused(world, rollback):
    more = await add_cases(world, "A1", 1)
    await _add(world, minutes=720)
    await _add(world, minutes=700, case_id=more[0])  # across cases: 1420 on the day
    await _add(world, minutes=20, spent_on=EARLIER)  # exactly 1440

    with pytest.raises(Invalid) as refused:
        await _add(world, minutes=1, case_id=more[0])
    assert refused.value.fields == {MINUTES_FIELD: "minutes_over_day_limit"}
    await _add(world, minutes=720, spent_on=EARLIER - timedelta(days=1))  # another day: fine


async def test_add_time_entry_day_total_per_counsellor(world, rollback):
    colleague = await _colleague(world)
    await _add(world, minutes=720)
    await _add(world, minutes=720)
    await add_time_entry(
        colleague,
        case_id=world.case_ids["A1"],
        minutes=720,
        activity="travel",
        spent_on=EARLIER,
    )


@pytest.mark.parametrize("user", ["counsellor_A2", "counsellor_B1", "contact_A1", "admin_A"])
async def test_add_time_entry_other_roles_and_organisations_not_found(world, rollback, user):
    before = len(await _entries(world.case_ids["A1"]))
    with pytest.raises(NotFound):
        await _add(world, user=user)
    assert len(await _entries(world.case_ids["A1"])) == before


async def test_add_time_entry_missing_case_not_found(world, rollback):
    with pytest.raises(NotFound):
        await _add(world, case_id=uuid4())


# --- deleting -----------------------------------------------------------------------------


async def test_delete_time_entry_own_removed_and_audited(world, rollback):
    entry_id = await _add(world)
    await delete_time_entry(
        world.ctx("counsellor_A1"), case_id=world.case_ids["A1"], entry_id=entry_id
    )

    assert entry_id not in {row["id"] for row in await _entries(world.case_ids["A1"])}
    async with tenant_transaction(system_context("test-read")):
        deleted = await AuditEvent.count().where(AuditEvent.action == "time_entry.deleted")
    assert deleted >= 1


async def test_delete_time_entry_of_colleague_refused(world, rollback):
    colleague = await _colleague(world)
    entry_id = await add_time_entry(
        colleague, case_id=world.case_ids["A1"], minutes=30, activity="other", spent_on=EARLIER
    )
    with pytest.raises(PermissionDenied):
        await delete_time_entry(
            world.ctx("counsellor_A1"), case_id=world.case_ids["A1"], entry_id=entry_id
        )
    assert entry_id in {row["id"] for row in await _entries(world.case_ids["A1"])}


async def _recorded_days_ago(entry_id: UUID, days: int) -> None:
    async with tenant_transaction(system_context("test-age")):
        await TimeEntry.update(
            {TimeEntry.created_at: datetime.now(UTC) - timedelta(days=days)}
        ).where(TimeEntry.id == entry_id)


async def test_delete_time_entry_recorded_31_days_ago_refused(world, rollback):
    entry_id = await _add(world)
    await _recorded_days_ago(entry_id, 31)
    with pytest.raises(Invalid) as refused:
        await delete_time_entry(
            world.ctx("counsellor_A1"), case_id=world.case_ids["A1"], entry_id=entry_id
        )
    assert refused.value.fields == {ENTRY_FIELD: "entry_too_old"}
    assert entry_id in {row["id"] for row in await _entries(world.case_ids["A1"])}


async def test_delete_time_entry_recorded_29_days_ago_allowed(world, rollback):
    entry_id = await _add(world)
    await _recorded_days_ago(entry_id, 29)
    await delete_time_entry(
        world.ctx("counsellor_A1"), case_id=world.case_ids["A1"], entry_id=entry_id
    )
    assert entry_id not in {row["id"] for row in await _entries(world.case_ids["A1"])}


async def test_delete_time_entry_of_other_case_not_found(world, rollback):
    own_other_case = (await add_cases(world, "A1", 1))[0]
    entry_id = await _add(world, case_id=own_other_case)
    foreign_entry = await _add(world, user="counsellor_A2", key="A2")
    ctx = world.ctx("counsellor_A1")
    with pytest.raises(NotFound):  # an own entry, but under another case
        await delete_time_entry(ctx, case_id=world.case_ids["A1"], entry_id=entry_id)
    with pytest.raises(NotFound):  # another organisation's entry under an own case
        await delete_time_entry(ctx, case_id=world.case_ids["A1"], entry_id=foreign_entry)
    with pytest.raises(NotFound):  # and under its own case
        await delete_time_entry(ctx, case_id=world.case_ids["A2"], entry_id=foreign_entry)
    assert len(await _entries(world.case_ids["A2"])) >= 1


# --- the case's panel ---------------------------------------------------------------------


async def test_case_time_lists_entries_with_total_and_own_flags(world, rollback):
    colleague = await _colleague(world)
    own = await _add(world, minutes=45)
    theirs = await add_time_entry(
        colleague, case_id=world.case_ids["A1"], minutes=30, activity="travel", spent_on=TODAY
    )
    ctx = world.ctx("counsellor_A1")
    async with tenant_transaction(ctx):
        shown = await case_time(ctx, world.case_ids["A1"])

    by_id = {entry.id: entry for entry in shown.entries}
    assert by_id[own].own and by_id[own].deletable and by_id[own].minutes == 45
    assert not by_id[theirs].own and not by_id[theirs].deletable
    assert shown.total_minutes == sum(entry.minutes for entry in shown.entries)
    assert shown.total_minutes >= 75
    dates = [entry.spent_on for entry in shown.entries]
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize("user", ["counsellor_A2", "contact_A1", "admin_A"])
async def test_case_time_others_not_found(world, rollback, user):
    ctx = world.ctx(user)
    with pytest.raises(NotFound):
        async with tenant_transaction(ctx):
            await case_time(ctx, world.case_ids["A1"])


def _panel(language: str, context: dict[str, Any]) -> str:
    settings = Settings(environment="test")
    env = make_environment(settings)
    catalog = i18n.translations(settings.frontend_dir / "locales", language)
    template = env.from_string(
        '{% from "cases/_time.html" import time_panel with context %}'
        "{{ time_panel(case_id, time.entries, time.total_minutes, errors, values) }}"
    )
    return template.render(
        **i18n.gettext_callables(catalog),
        csrf_input=lambda: '<input type="hidden" name="_csrf_token" value="x">',
        case_id=UUID(int=0x3D),
        **context,
    )


def test_time_panel_lists_entries_delete_only_own_and_keeps_typed_values():
    html = _panel("en", PANEL_CONTEXT)
    case = UUID(int=0x3D)
    assert f'action="/cases/{case}/time/{UUID(int=0x301)}/delete"' in html
    assert f"/time/{UUID(int=0x302)}/delete" not in html  # a colleague's entry
    assert "Total: 2 h 15 min" in html and "(a colleague)" in html
    assert "One entry can be at most 720 minutes" in html
    assert 'value="800"' in html and 'aria-invalid="true"' in html
    assert '<option value="travel" selected>' in html
    assert f'action="/cases/{case}/time"' in html and 'id="time"' in html
    assert "style=" not in html


def test_time_panel_offers_every_activity():
    html = _panel("en", {**PANEL_CONTEXT, "errors": {}, "values": {}})
    for activity in time_entries.TimeActivity:
        assert f'<option value="{activity.value}"' in html


def test_time_panel_dutch_empty():
    empty = {"time": {"entries": [], "total_minutes": 0}, "errors": {}, "values": {}}
    html = _panel("nl", empty)
    assert "Nog geen tijd geregistreerd." in html and "<table" not in html


# --- over HTTP ----------------------------------------------------------------------------


async def _post(client: httpx.AsyncClient, app: Any, path: str, data: dict[str, str]):
    token = app.state.csrf.new_token()
    client.cookies.set(CSRF_COOKIE, token)
    return await client.post(path, data=data, headers={CSRF_HEADER: token})


async def test_time_add_route_redirects_to_panel(world, sign_in, app):
    client = await sign_in("counsellor_A1")
    case = world.case_ids["A1"]
    response = await _post(
        client,
        app,
        f"/cases/{case}/time",
        {MINUTES_FIELD: "50", ACTIVITY_FIELD: "preparation", DATE_FIELD: EARLIER.isoformat()},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/cases/{case}#time"
    assert any(row["minutes"] == 50 for row in await _entries(case))


async def test_time_add_route_empty_date_is_today(world, sign_in, app):
    client = await sign_in("counsellor_A1")
    case = world.case_ids["A1"]
    data = {MINUTES_FIELD: "17", ACTIVITY_FIELD: "other", DATE_FIELD: ""}
    response = await _post(client, app, f"/cases/{case}/time", data)
    assert response.status_code == 303
    assert [row["spent_on"] for row in await _entries(case) if row["minutes"] == 17] == [TODAY]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({MINUTES_FIELD: "", ACTIVITY_FIELD: "other"}, MINUTES_FIELD),
        ({MINUTES_FIELD: "1.5", ACTIVITY_FIELD: "other"}, MINUTES_FIELD),
        ({MINUTES_FIELD: "abc", ACTIVITY_FIELD: "other"}, MINUTES_FIELD),
        ({MINUTES_FIELD: "0", ACTIVITY_FIELD: "other"}, MINUTES_FIELD),
        ({MINUTES_FIELD: "30", ACTIVITY_FIELD: "nap"}, ACTIVITY_FIELD),
        ({MINUTES_FIELD: "30", ACTIVITY_FIELD: "other", DATE_FIELD: "31-02-2026"}, DATE_FIELD),
    ],
)
async def test_time_add_route_bad_input_case_page_422(world, sign_in, app, data, field):
    client = await sign_in("counsellor_A1")
    case = world.case_ids["A1"]
    before = len(await _entries(case))
    response = await _post(client, app, f"/cases/{case}/time", data)
    assert response.status_code == 422
    assert "Report of organisation A1" in response.text  # the case page again
    assert len(await _entries(case)) == before


@pytest.mark.parametrize("organisation", ["A2", "B1"])
async def test_time_add_route_foreign_case_404_like_missing(world, sign_in, app, organisation):
    client = await sign_in("counsellor_A1")
    data = {MINUTES_FIELD: "30", ACTIVITY_FIELD: "other"}
    foreign = await _post(client, app, f"/cases/{world.case_ids[organisation]}/time", data)
    missing = await _post(client, app, f"/cases/{uuid4()}/time", data)
    assert foreign.status_code == missing.status_code == 404
    assert await _entries(world.case_ids[organisation]) == []


@pytest.mark.parametrize("user", ["contact_A1", "admin_A"])
async def test_time_routes_other_roles_refused(world, sign_in, app, user):
    client = await sign_in(user)
    data = {MINUTES_FIELD: "30", ACTIVITY_FIELD: "other"}
    response = await _post(client, app, f"/cases/{world.case_ids['A1']}/time", data)
    assert response.status_code in (403, 404)
    assert (await client.get("/time")).status_code == 403


async def test_time_delete_route_own_entry_redirects(world, sign_in, app):
    entry_id = await _add(world)
    client = await sign_in("counsellor_A1")
    case = world.case_ids["A1"]
    response = await _post(client, app, f"/cases/{case}/time/{entry_id}/delete", {})
    assert response.status_code == 303
    assert response.headers["location"] == f"/cases/{case}#time"
    assert entry_id not in {row["id"] for row in await _entries(case)}


async def test_time_delete_route_foreign_entry_under_own_case_404(world, sign_in, app):
    foreign_entry = await _add(world, user="counsellor_A2", key="A2")
    client = await sign_in("counsellor_A1")
    case = world.case_ids["A1"]
    foreign = await _post(client, app, f"/cases/{case}/time/{foreign_entry}/delete", {})
    random_id = uuid4()
    missing = await _post(client, app, f"/cases/{case}/time/{random_id}/delete", {})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.text.replace(str(foreign_entry), "{id}") == missing.text.replace(
        str(random_id), "{id}"
    )
    assert foreign_entry in {row["id"] for row in await _entries(world.case_ids["A2"])}


async def test_time_delete_route_too_old_case_page_422(world, sign_in, app):
    entry_id = await _add(world)
    await _recorded_days_ago(entry_id, 40)
    client = await sign_in("counsellor_A1")
    response = await _post(client, app, f"/cases/{world.case_ids['A1']}/time/{entry_id}/delete", {})
    assert response.status_code == 422
    assert entry_id in {row["id"] for row in await _entries(world.case_ids["A1"])}


async def test_time_add_route_without_csrf_refused(world, sign_in):
    client = await sign_in("counsellor_A1")
    case = world.case_ids["A1"]
    before = len(await _entries(case))
    response = await client.post(
        f"/cases/{case}/time", data={MINUTES_FIELD: "30", ACTIVITY_FIELD: "other"}
    )
    assert response.status_code == 403
    assert len(await _entries(case)) == before


# --- the counsellor's month ---------------------------------------------------------------


async def test_time_overview_shows_own_entries_and_reference_only(world, sign_in, app):
    await _add(world, minutes=65, spent_on=TODAY)
    await _add(world, user="counsellor_A2", key="A2", minutes=33, spent_on=TODAY)
    async with tenant_transaction(system_context("test-read")):
        reference = (
            await Case.select(Case.reference).where(Case.id == world.case_ids["A1"]).first()
        )["reference"]
    client = await sign_in("counsellor_A1")
    client.cookies.set(i18n.COOKIE, "en")

    response = await client.get("/time")

    assert response.status_code == 200
    text = response.text
    assert reference and reference in text
    assert "Organisation A1" in text and "1 h 5 min" in text
    assert "Organisation A2" not in text and "33 min" not in text
    assert "Report of organisation A1" not in text
    assert "Notes of organisation A1" not in text
    assert str(world.case_ids["A1"]) not in text  # not even a link into the case


async def test_time_overview_other_month_and_bad_month(world, sign_in, app):
    last_month = (TODAY.replace(day=1) - timedelta(days=1)).replace(day=1)
    await _add(world, minutes=61, spent_on=last_month)
    client = await sign_in("counsellor_A1")
    client.cookies.set(i18n.COOKIE, "en")

    earlier = await client.get(f"/time?month={last_month:%Y-%m}")
    assert "1 h 1 min" in earlier.text and 'rel="next"' in earlier.text
    current = await client.get("/time?month=nonsense")
    assert current.status_code == 200 and "1 h 1 min" not in current.text
    assert 'rel="next"' not in current.text


async def test_month_overview_totals_per_organisation(world, rollback):
    await _add(world, minutes=40, spent_on=TODAY)
    await _add(world, minutes=20, spent_on=TODAY)
    result = await month_overview(world.ctx("counsellor_A1"), month=TODAY)
    totals = dict(result.totals)
    assert totals["Organisation A1"] == sum(row.minutes for row in result.rows) >= 60
    assert set(totals) == {"Organisation A1"}
    assert all(not hasattr(row, "case_id") for row in result.rows)


async def test_time_overview_query_count_constant_in_cases(world, sign_in, app):
    client = await sign_in("counsellor_A1")
    month = f"{EARLIER:%Y-%m}"
    first = await add_cases(world, "A1", 1)
    await _add(world, case_id=first[0], minutes=10)
    await client.get(f"/time?month={month}")  # warm up (session, catalogs)
    with count_queries() as few:
        await client.get(f"/time?month={month}")
    for case_id in await add_cases(world, "A1", 6):
        await _add(world, case_id=case_id, minutes=10)
    with count_queries() as many:
        response = await client.get(f"/time?month={month}")
    assert response.status_code == 200
    assert many.count == few.count, f"{few}\n---\n{many}"


# --- billing ------------------------------------------------------------------------------


async def test_minutes_per_organisation_sums_period_for_bureau_admin(world, rollback):
    start = TODAY - timedelta(days=40)
    end = TODAY - timedelta(days=10)  # exclusive
    await _add(world, minutes=100, spent_on=start)
    await _add(world, minutes=50, spent_on=end - timedelta(days=1))
    await _add(world, minutes=7, spent_on=end)  # outside
    await _add(world, minutes=7, spent_on=start - timedelta(days=1))  # outside
    await _add(world, user="counsellor_A2", key="A2", minutes=30, spent_on=start)
    await _add(world, user="counsellor_B1", key="B1", minutes=30, spent_on=start)

    ctx = world.ctx("admin_A")
    with count_queries() as queries:
        minutes = await minutes_per_organisation(
            ctx, bureau_id=world.bureaus["A"], start=start, end=end
        )
    assert minutes == {world.organisations["A1"]: 150, world.organisations["A2"]: 30}
    assert len([q for q in queries.statements if "time_entry" in q]) == 1

    system = await minutes_per_organisation(
        system_context("test-billing"), bureau_id=world.bureaus["B"], start=start, end=end
    )
    assert system == {world.organisations["B1"]: 30}


@pytest.mark.parametrize("user", ["counsellor_A1", "contact_A1", "admin_B"])
async def test_minutes_per_organisation_others_refused(world, rollback, user):
    with pytest.raises(PermissionDenied):
        await minutes_per_organisation(
            world.ctx(user), bureau_id=world.bureaus["A"], start=EARLIER, end=TODAY
        )


def test_parse_minutes_and_month():
    assert [time_routes.parse_minutes(t) for t in ("45", " 90 ", "-5", "1.5", "", "9" * 7)] == [
        45,
        90,
        -5,
        None,
        None,
        None,
    ]
    today = date(2026, 12, 4)
    assert time_routes.parse_month("2026-03", today) == date(2026, 3, 1)
    for bad in ("2026-13", "x", "", "1999-01", "2026-3-1"):
        assert time_routes.parse_month(bad, today) == date(2026, 12, 1)
