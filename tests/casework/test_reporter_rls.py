"""The reporter scope on PostgreSQL, on a raw connection as the app role: what a reporter
context sees and may write, checked by row-level security without the app's own filter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg
import pytest

pytestmark = pytest.mark.postgres


@pytest.fixture
async def app_role(test_database, world) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(test_database.settings.database_url)
    transaction = connection.transaction()
    await transaction.start()
    try:
        yield connection
    finally:
        await transaction.rollback()
        await connection.close()


async def reporter(
    connection: asyncpg.Connection, world: Any, organisation: str, case: UUID | None = None
) -> None:
    await connection.execute(
        "SELECT set_config('app.scope', 'reporter', true), set_config('app.bureau_id', $1, true),"
        " set_config('app.organisation_ids', $2, true), set_config('app.case_id', $3, true)",
        str(world.bureau_of(organisation)),
        str(world.organisations[organisation]),
        str(case) if case else "",
    )


async def ids(connection: asyncpg.Connection, sql: str) -> set[UUID]:
    return {row[0] for row in await connection.fetch(sql)}


async def test_reporter_scope_sees_own_organisation_cases_only(app_role, world):
    await reporter(app_role, world, "A1")
    assert await ids(app_role, "SELECT id FROM case_file") == {world.case_ids["A1"]}
    assert await ids(app_role, "SELECT id FROM organisation") == {world.organisations["A1"]}


async def test_reporter_scope_bound_to_case_sees_that_case_only(app_role, world):
    await reporter(app_role, world, "A1", case=UUID(int=1))
    assert await ids(app_role, "SELECT id FROM case_file") == set()
    assert await ids(app_role, 'SELECT "case" FROM case_attachment') == set()
    await reporter(app_role, world, "A1", case=world.case_ids["A1"])
    assert await ids(app_role, 'SELECT "case" FROM case_attachment') == {world.case_ids["A1"]}


async def test_reporter_scope_staff_rows_are_the_organisations_counsellors(app_role, world):
    await reporter(app_role, world, "A1")
    assert await ids(app_role, "SELECT id FROM staff_user") == {world.users["counsellor_A1"]}


async def test_reporter_scope_cannot_write_outside_case_tables(app_role, world):
    await reporter(app_role, world, "A1")
    updated = await app_role.execute(
        "UPDATE organisation SET name = 'x' WHERE id = $1", world.organisations["A1"]
    )
    assert updated == "UPDATE 0"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_role.execute(
            'INSERT INTO case_message (id, "case", organisation, bureau, author, body, created_at)'
            " VALUES (gen_random_uuid(), $1, $2, $3, 'reporter', 'x', now())",
            world.case_ids["B1"],
            world.organisations["B1"],
            world.bureau_of("B1"),
        )


async def test_reporter_scope_reads_no_audit_of_staff(app_role, world):
    await reporter(app_role, world, "A1")
    actors = {row[0] for row in await app_role.fetch("SELECT actor FROM audit_event")}
    assert actors <= {"reporter"}
    assert "reporter" in actors  # the world's case was received through the link
