"""The bureau dashboard: status rules, sort, filters and pages, the CSV export and its
escaping, a constant number of queries per page, and isolation (another bureau's
organisations never appear; other roles get 403)."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from klankbord.errors import PermissionDenied
from klankbord.tables import AuditEvent
from klankbord.tenancy import system_context, tenant_transaction
from tenants import dashboard
from tenants.dashboard import DashboardQuery, parse_query
from tenants.tables import IntakeLink, Membership, Organisation
from tests.support.queries import count_queries
from tests.support.world import World

TODAY = date(2026, 11, 23)
NOW = datetime.now(UTC)


@pytest.fixture
def english(client: httpx.AsyncClient) -> httpx.AsyncClient:
    client.cookies.set("klankbord_lang", "en")
    return client


async def _organisations(
    world: World, names: list[str], *, bureau: str = "A", **fields: Any
) -> list[UUID]:
    """Organisations inserted as rows (no services: no audit event per row)."""
    fields.setdefault("onboarded_at", NOW)
    rows = [Organisation(bureau=world.bureaus[bureau], name=name, **fields) for name in names]
    async with tenant_transaction(system_context("test-dashboard")):
        await Organisation.insert(*rows)
    return [row.id for row in rows]


async def _link(
    world: World, organisation_id: UUID, *, bureau: str = "A", active: bool = True, retired=None
) -> None:
    async with tenant_transaction(system_context("test-dashboard")):
        await IntakeLink.insert(
            IntakeLink(
                organisation=organisation_id,
                bureau=world.bureaus[bureau],
                procedure="integrity",
                token=secrets.token_urlsafe(24),
                active=active,
                retired_at=retired,
            )
        )


async def _counsellor(
    world: World, organisation_id: UUID, user: str, *, assignment: str = "primary"
) -> None:
    async with tenant_transaction(system_context("test-dashboard")):
        await Membership.insert(
            Membership(
                staff_user=world.users[user],
                organisation=organisation_id,
                bureau=world.bureaus[user[-2]],
                role="counsellor",
                assignment=assignment,
            )
        )


async def _page(world: World, **params: str) -> dashboard.DashboardPage:
    return await dashboard.dashboard_page(world.ctx("admin_A"), parse_query(params), today=TODAY)


def _names(page: dashboard.DashboardPage) -> list[str]:
    return [row.name for row in page.rows]


def _csv(response: httpx.Response) -> list[list[str]]:
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


# --- status ------------------------------------------------------------------------------


async def test_dashboard_status_rules_each_status(rollback, world):
    onboarding, live, retired, disabled, _none, inactive = await _organisations(
        world,
        ["St onboarding", "St live", "St retired", "St disabled", "St none", "St inactive"],
    )
    async with tenant_transaction(system_context("test-dashboard")):
        await Organisation.update({Organisation.onboarded_at: None}).where(
            Organisation.id == onboarding
        )
        await Organisation.update({Organisation.active: False}).where(Organisation.id == inactive)
    await _link(world, onboarding)
    await _link(world, live)
    await _link(world, live, retired=NOW)  # a retired link next to a live one
    await _link(world, retired, retired=NOW)
    await _link(world, disabled, active=False)
    await _link(world, inactive)

    page = await _page(world, name="St ")

    status = {row.name: row.status for row in page.rows}
    assert status == {
        "St onboarding": "onboarding",
        "St live": "live",
        "St retired": "no_live_link",
        "St disabled": "no_live_link",
        "St none": "no_live_link",
        "St inactive": "inactive",
    }
    live_links = {row.name: row.live_links for row in page.rows}
    assert live_links["St live"] == 1
    assert live_links["St retired"] == live_links["St disabled"] == 0


async def test_dashboard_status_filter_only_that_status(rollback, world):
    live, _ = await _organisations(world, ["Sf live", "Sf none"])
    await _link(world, live)

    assert _names(await _page(world, name="Sf", status="live")) == ["Sf live"]
    assert _names(await _page(world, name="Sf", status="no_live_link")) == ["Sf none"]
    assert _names(await _page(world, name="Sf", status="inactive")) == []
    assert _names(await _page(world, name="Sf", status="onboarding")) == []
    assert "Organisation A1" in _names(await _page(world, status="onboarding"))


async def test_dashboard_counsellors_counted_primary_flagged(rollback, world):
    both, substitute, _nobody = await _organisations(world, ["Co both", "Co sub", "Co nobody"])
    await _counsellor(world, both, "counsellor_A1")
    await _counsellor(world, both, "counsellor_A2", assignment="substitute")
    await _counsellor(world, substitute, "counsellor_A1", assignment="substitute")

    rows = {row.name: row for row in (await _page(world, name="Co ")).rows}

    assert (rows["Co both"].counsellors, rows["Co both"].primary_counsellor) == (2, True)
    assert (rows["Co sub"].counsellors, rows["Co sub"].primary_counsellor) == (1, False)
    assert (rows["Co nobody"].counsellors, rows["Co nobody"].primary_counsellor) == (0, False)
    assert all(row.cases == dashboard.CaseCounts() for row in rows.values())


# --- sort, filters, pages ----------------------------------------------------------------


async def test_dashboard_sort_each_key_both_orders(rollback, world):
    small, big, mid = await _organisations(world, ["So b", "So c", "So a"])
    async with tenant_transaction(system_context("test-dashboard")):
        for organisation_id, headcount, days in ((small, 10, 3), (big, 900, 1), (mid, 50, 2)):
            await Organisation.update(
                {
                    Organisation.headcount: headcount,
                    Organisation.created_at: NOW - timedelta(days=days),
                }
            ).where(Organisation.id == organisation_id)
    await _counsellor(world, big, "counsellor_A1")
    await _counsellor(world, big, "counsellor_A2")
    await _counsellor(world, mid, "counsellor_A1")
    await _link(world, big)

    expected = {
        "name": ["So a", "So b", "So c"],
        "headcount": ["So b", "So a", "So c"],
        "created": ["So b", "So a", "So c"],
        "counsellors": ["So b", "So a", "So c"],
        "status": ["So c", "So a", "So b"],  # live before no live link; then by name
    }
    for sort, names in expected.items():
        assert _names(await _page(world, name="So ", sort=sort)) == names, sort
        if sort != "status":
            descending = _names(await _page(world, name="So ", sort=sort, order="desc"))
            assert descending == names[::-1], sort


async def test_dashboard_filters_country_sector_name(rollback, world):
    await _organisations(world, ["Fi Zorg NL"], country="NL", sector="care")
    await _organisations(world, ["Fi Zorg BE"], country="BE", sector="care")
    await _organisations(world, ["Fi School BE"], country="BE", sector="education")
    await _organisations(world, ["Fi 100% Zorg", "Fi 100 Zorg", "Fi 1_0 Zorg"], country="NL")

    assert _names(await _page(world, name="fi zorg", country="BE")) == ["Fi Zorg BE"]
    assert _names(await _page(world, name="Fi", sector="education")) == ["Fi School BE"]
    assert _names(await _page(world, name="Fi", country="BE", sector="care")) == ["Fi Zorg BE"]
    # % and _ are letters here, not wildcards.
    assert _names(await _page(world, name="100%")) == ["Fi 100% Zorg"]
    assert _names(await _page(world, name="1_0")) == ["Fi 1_0 Zorg"]


async def test_dashboard_pages_of_fifty_with_total(rollback, world):
    await _organisations(world, [f"Pg {number:02d}" for number in range(60)])

    first = await _page(world, name="Pg ")
    second = await _page(world, name="Pg ", page="2")
    beyond = await _page(world, name="Pg ", page="9")

    assert (first.total, first.pages, len(first.rows)) == (60, 2, 50)
    assert _names(second) == [f"Pg {number}" for number in range(50, 60)]
    assert beyond.query.page == 2  # clamped to the last page
    assert _names(first) + _names(second) == [f"Pg {number:02d}" for number in range(60)]


async def test_dashboard_page_links_keep_filters_and_sort(english, world, sign_in):
    await _organisations(world, [f"Lk {number:02d}" for number in range(55)], country="NL")
    client = await sign_in("admin_A")

    response = await client.get(
        "/bureau/dashboard", params={"name": "Lk", "country": "NL", "sort": "headcount"}
    )

    assert response.status_code == 200
    text = response.text
    assert "Organisations: 55" in text and "page 1 of 2" in text
    assert 'href="/bureau/dashboard?name=Lk&amp;country=NL&amp;sort=headcount&amp;page=2"' in text
    assert 'aria-sort="ascending"' in text
    # The headcount header now sorts the other way; the others start ascending.
    assert "name=Lk&amp;country=NL&amp;sort=headcount&amp;order=desc" in text
    assert 'href="/bureau/dashboard.csv?name=Lk&amp;country=NL&amp;sort=headcount"' in text
    assert 'value="Lk"' in text and '<option value="NL" selected>' in text


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "name; DROP TABLE organisation", "order": "sideways"},
        {"sort": "id", "order": "DESC"},
        {"page": "abc"},
        {"page": "-3"},
        {"page": "99999999999999999999"},
        {"country": "XX", "sector": "nonsense", "status": "bogus"},
        {"name": "%' OR 1=1 --"},
        {"name": "x" * 5000},
    ],
    ids=[
        "sort-injection",
        "sort-unknown",
        "page-text",
        "page-negative",
        "page-huge",
        "filters",
        "name-quote",
        "name-long",
    ],
)
async def test_dashboard_invalid_parameters_fall_back_no_error(params, english, world, sign_in):
    client = await sign_in("admin_A")

    page = await client.get("/bureau/dashboard", params=params)
    export = await client.get("/bureau/dashboard.csv", params=params)

    assert page.status_code == 200
    assert export.status_code == 200


def test_dashboard_parse_query_unknown_values_defaults():
    query = parse_query(
        {"sort": "evil", "order": "up", "country": "FR", "status": "x", "page": "0"}
    )
    assert query == DashboardQuery()
    assert parse_query({"sort": "created", "order": "desc"}).parameters(page=3) == {
        "sort": "created",
        "order": "desc",
        "page": "3",
    }


# --- CSV ---------------------------------------------------------------------------------


async def test_dashboard_csv_every_matching_row_with_header(english, world, sign_in):
    await _organisations(world, [f"Cv {number:02d}" for number in range(60)], sector="care")
    client = await sign_in("admin_A")

    response = await client.get("/bureau/dashboard.csv", params={"name": "Cv", "sort": "name"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f"klankbord-organisations-{datetime.now(UTC).date().isoformat()}.csv" in disposition
    rows = _csv(response)
    assert rows[0] == list(dashboard.CSV_HEADER)
    assert [row[0] for row in rows[1:]] == [f"Cv {number:02d}" for number in range(60)]
    assert rows[1][1:5] == ["no_live_link", "NL", "care", "0"]
    assert "Counsellor A1" not in response.text  # no names of people


async def test_dashboard_csv_formula_cells_escaped(english, world, sign_in):
    names = ["=HYPERLINK(1)", "+31 Zorg", "-Min", "@SUM(A1)", "\tTab", "\rReturn", "Gewoon"]
    await _organisations(world, names)
    client = await sign_in("admin_A")

    response = await client.get("/bureau/dashboard.csv")

    cells = {row[0] for row in _csv(response)[1:]}
    assert {"'=HYPERLINK(1)", "'+31 Zorg", "'-Min", "'@SUM(A1)", "'\tTab", "'\rReturn"} <= cells
    assert "Gewoon" in cells
    assert not cells & set(names[:-1])


async def test_dashboard_csv_batches_joined_without_gaps(rollback, world, monkeypatch):
    monkeypatch.setattr(dashboard, "EXPORT_BATCH", 7)
    await _organisations(world, [f"Bt {number:02d}" for number in range(20)])

    chunks = await dashboard.export_csv(world.ctx("admin_A"), parse_query({"name": "Bt"}))

    assert len(chunks) == 1 + 3  # the header, then batches of 7, 7 and 6
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8").lstrip("\ufeff"))))
    assert [row[0] for row in rows[1:]] == [f"Bt {number:02d}" for number in range(20)]


def test_dashboard_csv_safe_plain_text_unchanged():
    assert dashboard.csv_safe("Zorggroep = goed") == "Zorggroep = goed"
    assert dashboard.csv_safe("") == ""


async def test_dashboard_csv_export_audited_without_free_text(english, world, sign_in):
    client = await sign_in("admin_A")

    response = await client.get("/bureau/dashboard.csv", params={"name": "Geheim", "country": "NL"})

    assert response.status_code == 200
    event = (
        await AuditEvent.select()
        .where(AuditEvent.action == "dashboard.exported")
        .order_by(AuditEvent.occurred_at, ascending=False)
        .first()
    )
    assert event is not None
    assert "Geheim" not in str(event["detail"])
    assert str(event["bureau"]) == str(world.bureaus["A"])


# --- a fixed number of queries -----------------------------------------------------------


async def test_dashboard_query_count_same_for_3_and_60_organisations(rollback, world):
    """Bureau A has A1 and A2: one more makes 3; then 57 more make 60 (two pages)."""
    first = await _organisations(world, ["Qc 00"])
    await _link(world, first[0])
    await _counsellor(world, first[0], "counsellor_A1")
    ctx = world.ctx("admin_A")

    with count_queries() as few:
        small = await dashboard.dashboard_page(ctx, DashboardQuery(), today=TODAY)
    assert small.total == 3

    ids = await _organisations(world, [f"Qc {number:02d}" for number in range(1, 58)])
    for organisation_id in ids[:20]:
        await _link(world, organisation_id)
        await _counsellor(world, organisation_id, "counsellor_A2")
    counts = []
    for query in (DashboardQuery(), DashboardQuery(page=2), DashboardQuery(sort="status")):
        with count_queries() as many:
            result = await dashboard.dashboard_page(ctx, query, today=TODAY)
        assert result.total == 60
        counts.append(many.count)

    assert counts == [few.count] * 3, f"3 organisations:\n{few}\n60 organisations:\n{many}"
    assert few.count <= 6, str(few)  # count, page, credentials (2), PostgreSQL: set_config


# --- isolation ---------------------------------------------------------------------------


async def test_dashboard_other_bureau_never_shown_page_or_csv(english, world, sign_in):
    await _organisations(world, ["Iso Foreign"], bureau="B")
    await _organisations(world, ["Iso Own"])
    client = await sign_in("admin_A")

    page = await client.get("/bureau/dashboard", params={"name": "Iso"})
    everything = await client.get("/bureau/dashboard")
    export = await client.get("/bureau/dashboard.csv")

    assert "Iso Own" in page.text and "Iso Foreign" not in page.text
    for response in (everything, export):
        assert response.status_code == 200
        assert "Organisation A1" in response.text and "Organisation A2" in response.text
        for foreign in ("Organisation B1", "Organisation B2", "Iso Foreign", "Counsellor B1"):
            assert foreign not in response.text


async def test_dashboard_service_other_bureau_counts_nothing(rollback, world):
    """A membership or link row carrying bureau B's id never counts for bureau A."""
    (own,) = await _organisations(world, ["Cross own"])
    page = await dashboard.dashboard_page(world.ctx("admin_B"), DashboardQuery(), today=TODAY)
    assert own not in {row.id for row in page.rows}
    assert {row.name for row in page.rows} == {"Organisation B1", "Organisation B2"}


@pytest.mark.parametrize("role", ["counsellor_A1", "contact_A1", "operator"])
@pytest.mark.parametrize("path", ["/bureau/dashboard", "/bureau/dashboard.csv"])
async def test_dashboard_other_roles_forbidden(role, path, world, sign_in):
    client = await sign_in(role)

    response = await client.get(path)

    assert response.status_code == 403
    assert "Organisation A1" not in response.text


@pytest.mark.parametrize("role", ["counsellor_A1", "contact_A1", "operator"])
async def test_dashboard_service_non_admin_permission_denied(role, rollback, world):
    with pytest.raises(PermissionDenied):
        await dashboard.dashboard_page(world.ctx(role), DashboardQuery(), today=TODAY)
    with pytest.raises(PermissionDenied):
        await dashboard.export_csv(world.ctx(role), DashboardQuery())


async def test_dashboard_case_counts_one_grouped_query(rollback, world):
    from casework.tables import Case

    async with tenant_transaction(system_context("test")):
        await Case.update({Case.received_at: datetime.now(UTC) - timedelta(days=8)}).where(
            Case.id == world.case_ids["A2"]
        )
    rows = {row.name: row for row in (await _page(world, name="Organisation A")).rows}
    assert rows["Organisation A1"].cases == dashboard.CaseCounts(open=1, this_period=1)
    # Received 8 days ago and not acknowledged: the 7-day deadline has passed.
    assert rows["Organisation A2"].cases.deadline_breaches == 1
    assert rows["Organisation A2"].cases.open == 1
