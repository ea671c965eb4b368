"""Counsellor credentials: the 4-year cycle (29 February included), the bounds of every field,
the warnings the dashboard shows, the bureau admin's pages, and refusals across bureaus and
roles (another bureau's counsellor answers exactly like an unknown id; nothing changes)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.tables import AuditEvent
from klankbord.tenancy import system_context, tenant_transaction
from tenants import counsellors
from tenants.counsellors import CredentialWarning, default_expiry, validate_credential
from tenants.tables import CounsellorCredential
from tests.support.forms import submit

TODAY = date(2026, 6, 1)


async def _credential(staff_user_id: UUID) -> dict[str, Any] | None:
    async with tenant_transaction(system_context("test-read")):
        return await (
            CounsellorCredential.select()
            .where(CounsellorCredential.staff_user == staff_user_id)
            .first()
        )


async def _set(world: Any, user: str, certified_on: date, expires_on: date | None = None) -> None:
    await counsellors.save_credential(
        world.ctx("admin_" + user[-2]),
        staff_user_id=world.users[user],
        certified_on=certified_on,
        expires_on=expires_on,
        training_hours=12,
        today=TODAY,
    )


# --- the rules ----------------------------------------------------------------------------


def test_default_expiry_four_years_later():
    assert default_expiry(date(2022, 3, 15)) == date(2026, 3, 15)


def test_default_expiry_29_february_becomes_28_february():
    assert default_expiry(date(2024, 2, 29)) == date(2028, 2, 29)  # 2028 is a leap year
    assert default_expiry(date(2020, 2, 29)) == date(2024, 2, 29)
    assert default_expiry(date(2023, 2, 28)) == date(2027, 2, 28)


def test_default_expiry_29_february_into_common_year_28_february():
    # Four years after a leap day is a leap year, except across a century (2096 → 2100).
    assert default_expiry(date(2096, 2, 29)) == date(2100, 2, 28)
    assert counsellors.add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)


def test_validate_expiry_omitted_cycle_applied():
    assert validate_credential(
        certified_on=date(2024, 2, 29), expires_on=None, training_hours=0, today=TODAY
    ) == (date(2024, 2, 29), date(2028, 2, 29), 0)


def test_validate_expiry_before_certification_refused():
    with pytest.raises(Invalid) as refused:
        validate_credential(
            certified_on=date(2024, 5, 1),
            expires_on=date(2024, 4, 30),
            training_hours=1,
            today=TODAY,
        )
    assert refused.value.fields == {"expires_on": "before_certified"}


def test_validate_expiry_bounds_inclusive_accepted():
    for expires_on in (date(2024, 5, 1), date(2028, 5, 1)):
        assert validate_credential(
            certified_on=date(2024, 5, 1), expires_on=expires_on, training_hours=1, today=TODAY
        )[1] == (expires_on)


def test_validate_expiry_beyond_four_years_refused():
    with pytest.raises(Invalid) as refused:
        validate_credential(
            certified_on=date(2024, 5, 1),
            expires_on=date(2028, 5, 2),
            training_hours=1,
            today=TODAY,
        )
    assert refused.value.fields == {"expires_on": "beyond_cycle"}


def test_validate_certified_in_future_refused_today_accepted():
    with pytest.raises(Invalid) as refused:
        validate_credential(
            certified_on=date(2026, 6, 2), expires_on=None, training_hours=1, today=TODAY
        )
    assert refused.value.fields == {"certified_on": "in_future"}
    assert validate_credential(certified_on=TODAY, expires_on=None, training_hours=1, today=TODAY)


def test_validate_far_future_certification_refused_without_crash():
    with pytest.raises(Invalid) as refused:
        validate_credential(
            certified_on=date(9999, 2, 1),
            expires_on=date(9999, 12, 31),
            training_hours=1,
            today=TODAY,
        )
    assert refused.value.fields == {"certified_on": "in_future"}


@pytest.mark.parametrize("hours", [0, 2000])
def test_validate_training_hours_bounds_accepted(hours):
    assert (
        validate_credential(certified_on=TODAY, expires_on=None, training_hours=hours, today=TODAY)[
            2
        ]
        == hours
    )


@pytest.mark.parametrize("hours", [-1, 2001])
def test_validate_training_hours_out_of_bounds_refused(hours):
    with pytest.raises(Invalid) as refused:
        validate_credential(certified_on=TODAY, expires_on=None, training_hours=hours, today=TODAY)
    assert refused.value.fields == {"training_hours": "out_of_range"}


def test_validate_missing_fields_each_reported():
    with pytest.raises(Invalid) as refused:
        validate_credential(
            certified_on=None, expires_on=date(2026, 1, 1), training_hours=None, today=TODAY
        )
    assert refused.value.fields == {"certified_on": "required", "training_hours": "required"}


def test_credential_state_edges():
    state = counsellors.credential_state
    assert state(None, today=TODAY) == "missing"
    assert state(date(2026, 5, 31), today=TODAY) == "expired"
    assert state(TODAY, today=TODAY) == "expiring"  # valid through its last day
    assert state(date(2026, 8, 30), today=TODAY) == "expiring"  # today + 90 days
    assert state(date(2026, 8, 31), today=TODAY) == "valid"


# --- the service --------------------------------------------------------------------------


async def test_expiring_credentials_three_counsellors_right_rows(world, rollback):
    # A1: expired; A2: expires within 90 days; a third counsellor of A1: valid (not listed).
    ctx = world.ctx("admin_A")
    from tenants import services
    from tenants.choices import MembershipRole

    third = await services.create_staff_user(
        ctx, bureau_id=world.bureaus["A"], email="derde@example.test", display_name="Counsellor X"
    )
    await services.add_membership(
        ctx,
        organisation_id=world.organisations["A1"],
        staff_user_id=third,
        role=MembershipRole.COUNSELLOR,
    )
    await _set(world, "counsellor_A1", date(2022, 5, 1))  # expires 2026-05-01
    await _set(world, "counsellor_A2", date(2022, 8, 1))  # expires 2026-08-01
    await counsellors.save_credential(
        ctx, staff_user_id=third, certified_on=date(2024, 1, 1), training_hours=3, today=TODAY
    )

    warnings = await counsellors.expiring_credentials(ctx, today=TODAY)

    assert warnings == [
        CredentialWarning(
            world.users["counsellor_A1"], "Counsellor A1", date(2026, 5, 1), "expired"
        ),
        CredentialWarning(
            world.users["counsellor_A2"], "Counsellor A2", date(2026, 8, 1), "expiring"
        ),
    ]


async def test_expiring_credentials_not_recorded_missing_own_bureau_only(world, rollback):
    warnings = await counsellors.expiring_credentials(world.ctx("admin_A"), today=TODAY)

    assert {(w.display_name, w.state, w.expires_on) for w in warnings} == {
        ("Counsellor A1", "missing", None),
        ("Counsellor A2", "missing", None),
    }


async def test_expiring_credentials_within_days_narrower(world, rollback):
    await _set(world, "counsellor_A1", date(2022, 8, 1))  # expires 2026-08-01 (61 days)
    await _set(world, "counsellor_A2", date(2022, 8, 1))
    assert (
        await counsellors.expiring_credentials(world.ctx("admin_A"), today=TODAY, within_days=30)
        == []
    )


@pytest.mark.parametrize("role", ["counsellor_A1", "contact_A1", "operator"])
async def test_expiring_credentials_not_bureau_admin_refused(role, world, rollback):
    with pytest.raises(PermissionDenied):
        await counsellors.expiring_credentials(world.ctx(role), today=TODAY)


async def test_save_credential_audited_codes_only(world, rollback):
    await _set(world, "counsellor_A1", date(2024, 2, 29))

    row = await _credential(world.users["counsellor_A1"])
    assert row is not None
    assert row["expires_on"] in (date(2028, 2, 29), "2028-02-29")
    async with tenant_transaction(system_context("test-read")):
        event = (
            await AuditEvent.select()
            .where(AuditEvent.action == "counsellor_credential.created")
            .where(AuditEvent.subject_id == str(world.users["counsellor_A1"]))
            .first()
        )
    assert event is not None
    assert "Counsellor" not in str(event["detail"])
    assert event["bureau"] == world.bureaus["A"]


async def test_save_credential_twice_updates_one_row(world, rollback):
    await _set(world, "counsellor_A1", date(2024, 1, 10))
    await _set(world, "counsellor_A1", date(2025, 1, 10), date(2027, 1, 10))

    row = await _credential(world.users["counsellor_A1"])
    assert row is not None
    assert str(row["expires_on"])[:10] == "2027-01-10"
    async with tenant_transaction(system_context("test-read")):
        actions = await AuditEvent.select(AuditEvent.action).where(
            AuditEvent.subject_id == str(world.users["counsellor_A1"])
        )
        assert [a["action"] for a in actions].count("counsellor_credential.updated") == 1
        assert (
            await CounsellorCredential.count().where(
                CounsellorCredential.staff_user == world.users["counsellor_A1"]
            )
            == 1
        )


async def test_save_credential_foreign_staff_user_not_found_like_unknown(world, rollback):
    for staff_user_id in (world.users["counsellor_A1"], uuid4()):
        with pytest.raises(NotFound):
            await counsellors.save_credential(
                world.ctx("admin_B"),
                staff_user_id=staff_user_id,
                certified_on=date(2024, 1, 1),
                training_hours=1,
            )
    assert await _credential(world.users["counsellor_A1"]) is None


@pytest.mark.parametrize("role", ["counsellor_A1", "contact_A1"])
async def test_save_credential_not_bureau_admin_refused(role, world, rollback):
    with pytest.raises(PermissionDenied):
        await counsellors.save_credential(
            world.ctx(role),
            staff_user_id=world.users["counsellor_A1"],
            certified_on=date(2024, 1, 1),
            training_hours=1,
        )
    assert await _credential(world.users["counsellor_A1"]) is None


# --- the pages ----------------------------------------------------------------------------


@pytest.fixture
def english(client: httpx.AsyncClient) -> httpx.AsyncClient:
    client.cookies.set("klankbord_lang", "en")
    return client


def _row(page_html: str, name: str) -> str:
    found = re.search(rf"<tr>\s*<th scope=\"row\">.*?{re.escape(name)}.*?</tr>", page_html, re.S)
    assert found, f"no row for {name}"
    return found.group(0)


async def test_counsellor_list_own_counsellors_with_status(english, world, sign_in):
    await _set(world, "counsellor_A1", date(2024, 2, 29))
    client = await sign_in("admin_A")

    response = await client.get("/bureau/counsellors")

    assert response.status_code == 200
    a1, a2 = _row(response.text, "Counsellor A1"), _row(response.text, "Counsellor A2")
    assert "Organisation A1 (primary)" in a1
    assert '<time datetime="2024-02-29">Feb 29, 2024</time>' in a1
    assert '<time datetime="2028-02-29">' in a1
    assert ">12<" in a1
    assert "Valid" in a1
    assert "Not recorded" in a2
    assert "Counsellor B1" not in response.text and "Contact A1" not in response.text


async def test_counsellor_list_sorted_by_expiry(english, world, sign_in):
    await _set(world, "counsellor_A1", date(2025, 1, 1))
    await _set(world, "counsellor_A2", date(2024, 1, 1))
    client = await sign_in("admin_A")

    by_expiry = (await client.get("/bureau/counsellors?sort=expiry")).text
    by_name = (await client.get("/bureau/counsellors")).text

    assert by_expiry.index("Counsellor A2") < by_expiry.index("Counsellor A1")
    assert by_name.index("Counsellor A1") < by_name.index("Counsellor A2")
    assert 'href="/bureau/counsellors">Sort by name' in by_expiry


async def test_counsellor_list_dates_in_page_language(world, sign_in):
    await _set(world, "counsellor_A1", date(2024, 3, 15))
    client = await sign_in("admin_A")
    client.cookies.set("klankbord_lang", "fr")

    response = await client.get("/bureau/counsellors")

    assert "15 mars 2024" in response.text


async def test_counsellor_edit_form_current_values(english, world, sign_in):
    await _set(world, "counsellor_A1", date(2024, 3, 15), date(2027, 3, 15))
    client = await sign_in("admin_A")

    response = await client.get(f"/bureau/counsellors/{world.users['counsellor_A1']}")

    assert response.status_code == 200
    assert "Credentials of Counsellor A1" in response.text
    assert 'type="date"' in response.text
    assert 'value="2024-03-15"' in response.text and 'value="2027-03-15"' in response.text
    assert 'value="12"' in response.text


async def test_counsellor_save_valid_redirects_and_stores(english, world, sign_in):
    client = await sign_in("admin_A")
    path = f"/bureau/counsellors/{world.users['counsellor_A2']}"

    response = await submit(
        client,
        path,
        path,
        {"certified_on": "2024-02-29", "expires_on": "", "training_hours": "40"},
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/bureau/counsellors?saved=1"
    row = await _credential(world.users["counsellor_A2"])
    assert row is not None
    assert str(row["expires_on"])[:10] == "2028-02-29"
    assert row["training_hours"] == 40
    listing = await client.get("/bureau/counsellors?saved=1")
    assert "The credentials are saved." in listing.text


async def test_counsellor_save_invalid_field_errors_values_kept(english, world, sign_in):
    client = await sign_in("admin_A")
    path = f"/bureau/counsellors/{world.users['counsellor_A1']}"

    response = await submit(
        client,
        path,
        path,
        {"certified_on": "2024-05-01", "expires_on": "2029-01-01", "training_hours": "abc"},
    )

    assert response.status_code == 400
    assert "<title>Error: Credentials of Counsellor A1" in response.text
    assert "at most 4 years after the certification date" in response.text
    assert "Enter a whole number of hours from 0 to 2000." in response.text
    assert 'href="#expires_on"' in response.text and 'href="#training_hours"' in response.text
    assert 'value="2029-01-01"' in response.text and 'value="abc"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert await _credential(world.users["counsellor_A1"]) is None


async def test_counsellor_save_future_date_and_empty_refused(english, world, sign_in):
    client = await sign_in("admin_A")
    path = f"/bureau/counsellors/{world.users['counsellor_A1']}"

    future = await submit(client, path, path, {"certified_on": "2999-01-01", "training_hours": "1"})
    empty = await submit(client, path, path, {"certified_on": "", "training_hours": ""})
    garbage = await submit(
        client, path, path, {"certified_on": "31-12-2024", "training_hours": "1"}
    )

    assert future.status_code == empty.status_code == garbage.status_code == 400
    assert "cannot be in the future" in future.text
    assert "Enter the certification date." in empty.text
    assert "Enter the training hours" in empty.text
    assert "Enter a real date." in garbage.text
    far = await submit(
        client, path, path, {"certified_on": "9999-12-31", "expires_on": "9999-12-31"}
    )
    week = await submit(client, path, path, {"certified_on": "2024-W01-1", "training_hours": "1"})
    assert far.status_code == week.status_code == 400
    assert "Enter a real date." in week.text
    assert await _credential(world.users["counsellor_A1"]) is None


async def test_counsellor_pages_admin_of_other_bureau_not_found_nothing_changed(
    english, world, sign_in
):
    await _set(world, "counsellor_A1", date(2024, 1, 1))
    before = await _credential(world.users["counsellor_A1"])
    client = await sign_in("admin_B")
    # A form of admin B's own to carry a valid CSRF token.
    own = f"/bureau/counsellors/{world.users['counsellor_B1']}"
    data = {"certified_on": "2020-01-01", "training_hours": "999"}

    foreign_id, random_id = world.users["counsellor_A1"], uuid4()
    foreign_get = await client.get(f"/bureau/counsellors/{foreign_id}")
    random_get = await client.get(f"/bureau/counsellors/{random_id}")
    foreign_post = await submit(client, own, f"/bureau/counsellors/{foreign_id}", data)
    random_post = await submit(client, own, f"/bureau/counsellors/{random_id}", data)
    listing = await client.get("/bureau/counsellors")

    assert foreign_get.status_code == random_get.status_code == 404
    assert foreign_post.status_code == random_post.status_code == 404
    assert foreign_get.text.replace(str(foreign_id), "") == random_get.text.replace(
        str(random_id), ""
    )
    assert foreign_post.text.replace(str(foreign_id), "") == random_post.text.replace(
        str(random_id), ""
    )
    assert "Counsellor A1" not in foreign_get.text + foreign_post.text + listing.text
    assert await _credential(world.users["counsellor_A1"]) == before


async def test_counsellor_save_foreign_empty_body_not_found_before_validation(world, sign_in):
    client = await sign_in("admin_B")
    own = f"/bureau/counsellors/{world.users['counsellor_B1']}"
    response = await submit(client, own, f"/bureau/counsellors/{world.users['counsellor_A1']}")
    assert response.status_code == 404
    own_empty = await submit(client, own, own)
    assert own_empty.status_code == 400  # the same empty form, for its own counsellor


@pytest.mark.parametrize("role", ["counsellor_A1", "contact_A1", "operator"])
async def test_counsellor_pages_other_roles_refused_403(role, world, sign_in):
    client = await sign_in(role)
    path = f"/bureau/counsellors/{world.users['counsellor_A1']}"

    assert (await client.get("/bureau/counsellors")).status_code == 403
    assert (await client.get(path)).status_code == 403
    response = await client.post(path, data={"certified_on": "2024-01-01", "training_hours": "1"})
    assert response.status_code == 403
    assert await _credential(world.users["counsellor_A1"]) is None


async def test_counsellor_pages_signed_out_redirected_to_sign_in(client, world):
    response = await client.get("/bureau/counsellors")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in")


async def test_expiring_credentials_query_count_constant(world, rollback, monkeypatch):
    from piccolo.query.base import Query

    from tenants import services
    from tenants.choices import MembershipRole

    ctx = world.ctx("admin_A")
    counted: list[str] = []
    original = Query._run

    async def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        counted.append(self.table._meta.tablename)
        return await original(self, *args, **kwargs)

    async def queries() -> int:
        counted.clear()
        monkeypatch.setattr(Query, "_run", counting)
        try:
            await counsellors.expiring_credentials(ctx, today=TODAY)
            await counsellors.list_counsellors(ctx, today=TODAY, sort="expiry")
        finally:
            monkeypatch.setattr(Query, "_run", original)
        return len(counted)

    before = await queries()
    for number in range(5):
        user = await services.create_staff_user(
            ctx,
            bureau_id=world.bureaus["A"],
            email=f"extra{number}@example.test",
            display_name=f"Extra {number}",
        )
        await services.add_membership(
            ctx,
            organisation_id=world.organisations["A2"],
            staff_user_id=user,
            role=MembershipRole.COUNSELLOR,
        )
        await counsellors.save_credential(
            ctx, staff_user_id=user, certified_on=date(2022, 6, 1), training_hours=1, today=TODAY
        )

    assert await queries() == before == 4
    assert len(await counsellors.expiring_credentials(ctx, today=TODAY)) == 7
