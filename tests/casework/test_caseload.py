"""The caseload: one page across every organisation a counsellor serves, the nearest deadline
first, filters, keyset pages, counts, and a query count that does not grow with the number
of organisations or cases."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from casework import cases
from casework.cases import CaseloadQuery
from casework.tables import Case, Message
from klankbord.tenancy import Role, staff_context, system_context, tenant_transaction
from tenants import services
from tenants.choices import MembershipRole, Procedure
from tests.support.queries import count_queries

NOW = datetime.now(UTC)


async def add_cases(world, organisation_id: UUID, count: int, *, due_from: datetime) -> list[UUID]:
    """Cases straight into the table (no report): what the caseload reads."""
    ids = []
    async with tenant_transaction(system_context("test")):
        for number in range(count):
            case_id = uuid4()
            ids.append(case_id)
            await Case.insert(
                Case(
                    id=case_id,
                    organisation=organisation_id,
                    bureau=world.bureaus["A"],
                    procedure="integrity",
                    received_at=due_from - timedelta(days=7),
                    receipt_lookup=secrets.token_hex(32),
                    receipt_verifier="x",
                    submission=secrets.token_hex(16),
                    reference=f"T-{number:05d}-{secrets.token_hex(2)}",
                    next_due_at=due_from + timedelta(hours=number),
                )
            )
    return ids


async def organisation_for(world, name: str) -> UUID:
    async with tenant_transaction(system_context("test")):
        organisation_id = await services.create_organisation(
            system_context("test"),
            bureau_id=world.bureaus["A"],
            name=name,
            headcount=60,
            procedures=tuple(Procedure),
        )
        await services.add_membership(
            system_context("test"),
            organisation_id=organisation_id,
            staff_user_id=world.users["counsellor_A1"],
            role=MembershipRole.COUNSELLOR,
        )
    return organisation_id


def counsellor(world, organisations: list[UUID]):
    return staff_context(
        staff_user_id=world.users["counsellor_A1"],
        bureau_id=world.bureaus["A"],
        organisation_roles=[(organisation, Role.COUNSELLOR) for organisation in organisations],
    )


async def page(ctx, query: CaseloadQuery | None = None):
    async with tenant_transaction(ctx):
        return await cases.caseload(ctx, query or CaseloadQuery())


async def test_caseload_nearest_deadline_first_across_organisations(world, rollback):
    other = await organisation_for(world, "Caseload Two")
    late = await add_cases(world, world.organisations["A1"], 2, due_from=NOW + timedelta(days=9))
    soon = await add_cases(world, other, 1, due_from=NOW + timedelta(hours=2))
    ctx = counsellor(world, [world.organisations["A1"], other])
    found = await page(ctx)
    ids = [row.id for row in found.rows]
    assert ids[0] == soon[0] and ids.index(late[0]) < ids.index(late[1])
    assert world.case_ids["A1"] in ids
    assert found.due_soon >= 1
    assert {name for _, name in found.organisations} == {"Organisation A1", "Caseload Two"}
    only = await page(ctx, CaseloadQuery(organisation=other))
    assert [row.id for row in only.rows] == soon


async def test_caseload_keyset_pages_cover_everything_once(world, rollback):
    await add_cases(world, world.organisations["A1"], 120, due_from=NOW + timedelta(days=1))
    ctx = world.ctx("counsellor_A1")
    seen: list[UUID] = []
    after = ""
    for _ in range(5):
        found = await page(ctx, CaseloadQuery(after=after))
        seen += [row.id for row in found.rows]
        after = found.next_cursor
        if not after:
            break
    assert len(seen) == len(set(seen)) == 121  # 120 + the world's case
    assert found.total == 121


async def test_caseload_unread_filter_and_count(world, rollback):
    ctx = world.ctx("counsellor_A1")
    async with tenant_transaction(system_context("test")):
        await Message.insert(
            Message(
                case=world.case_ids["A1"],
                organisation=world.organisations["A1"],
                bureau=world.bureaus["A"],
                author="reporter",
                body="sealed",
            )
        )
    found = await page(ctx, CaseloadQuery(unread=True))
    assert [row.id for row in found.rows] == [world.case_ids["A1"]]
    assert found.rows[0].unread == 1 and found.unread == 1


async def test_caseload_other_organisations_never_listed(world, rollback):
    found = await page(world.ctx("counsellor_A1"), CaseloadQuery(status="all"))
    assert {row.id for row in found.rows} == {world.case_ids["A1"]}
    foreign = await page(
        world.ctx("counsellor_A1"), CaseloadQuery(organisation=world.organisations["B1"])
    )
    assert foreign.rows == [] and foreign.total == 0
    assert (await page(world.ctx("contact_A1"))).rows == []


async def test_caseload_query_count_independent_of_organisations(world, rollback):
    ctx = world.ctx("counsellor_A1")
    async with tenant_transaction(ctx):
        with count_queries() as few:
            await cases.caseload(ctx, CaseloadQuery())
    organisations = [world.organisations["A1"]]
    for number in range(15):
        organisation_id = await organisation_for(world, f"Caseload Many {number:02d}")
        organisations.append(organisation_id)
        await add_cases(world, organisation_id, 5, due_from=NOW + timedelta(days=number))
    many_ctx = counsellor(world, organisations)
    async with tenant_transaction(many_ctx):
        with count_queries() as many:
            found = await cases.caseload(many_ctx, CaseloadQuery())
    assert found.total == 76
    # Page, (the cases without a deadline when the page is not full yet,) total, three
    # counts, organisation names: at most seven statements, one organisation or sixteen.
    assert few.count <= 7 and many.count <= 7, f"{few}\n---\n{many}"


async def test_caseload_page_over_http_with_filters(world, sign_in):
    client = await sign_in("counsellor_A1")
    response = await client.get(
        "/cases?procedure=integrity&status=all&unread=", headers={"accept-language": "en"}
    )
    assert response.status_code == 200
    assert "1 case" in response.text
    foreign = await client.get(f"/cases?organisation={world.organisations['B1']}")
    assert world.organisation_names["B1"] not in foreign.text
