"""PostgreSQL row-level security, the second wall, on raw connections outside the app.

Every test connects with asyncpg as the app role (the role the app uses: not owner, not
superuser, not BYPASSRLS), sets the `app.*` settings by hand the way `tenant_transaction()`
does, and rolls its transaction back. Row counts that must be non-zero are checked with the
superuser connection, so "nothing visible" cannot pass on an empty table.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from klankbord import database
from klankbord.tenancy import (
    TenantContext,
    principal_context,
    scoped,
    staff_context,
    system_context,
    tenant_transaction,
)
from tenants.tables import Bureau, IntakeLink, Membership, Organisation, StaffUser

pytestmark = pytest.mark.postgres

TENANT_TABLES = (
    "bureau",
    "organisation",
    "staff_user",
    "membership",
    "intake_link",
    "audit_event",
    "audit_head",
)
# Piccolo's migration table (named "migration") holds no tenant data; staff_session is read
# before any context exists (to build it) and holds only token hashes, user ids and times;
# mail_outbox is a delivery queue only the kernel's mail job reads, never listed to a tenant;
# rate_limit counts attempts before anyone is known, under keyed hashes only; billing_outbox
# (Stripe calls to make, by id) and billing_webhook_event (Stripe event ids and types) are
# queues only the billing job and the webhook endpoint use, never listed to a tenant.
WITHOUT_RLS = frozenset(
    {
        "migration",
        "staff_session",
        "staff_token",
        "oidc_login",
        "mail_outbox",
        "rate_limit",
        "billing_outbox",
        "billing_webhook_event",
    }
)


@pytest.fixture
async def app_role(test_database, world) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(test_database.settings.database_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def superuser(test_database, world) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(test_database.admin_url)
    try:
        yield connection
    finally:
        await connection.close()


@asynccontextmanager
async def rolled_back(connection: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    transaction = connection.transaction()
    await transaction.start()
    try:
        yield connection
    finally:
        await transaction.rollback()


async def set_context(
    connection: asyncpg.Connection,
    *,
    scope: str,
    bureau: UUID | None = None,
    organisations: tuple[UUID, ...] = (),
    bureau_admin: bool = False,
    staff_user: UUID | None = None,
) -> None:
    """What `tenant_transaction()` sets: transaction-local `app.*` settings."""
    await connection.execute(
        "SELECT set_config('app.scope', $1, true), set_config('app.bureau_id', $2, true),"
        " set_config('app.bureau_admin', $3, true), set_config('app.organisation_ids', $4, true),"
        " set_config('app.staff_user_id', $5, true)",
        scope,
        str(bureau) if bureau else "",
        "on" if bureau_admin else "off",
        ",".join(str(o) for o in organisations),
        str(staff_user) if staff_user else "",
    )


async def counsellor_a1(connection: asyncpg.Connection, world: Any) -> None:
    """Tenant scope: bureau A, organisation A1 only (no staff user: no owned rows)."""
    await set_context(
        connection,
        scope="tenant",
        bureau=world.bureaus["A"],
        organisations=(world.organisations["A1"],),
    )


async def count(connection: asyncpg.Connection, table: str) -> int:
    return int(await connection.fetchval(f"SELECT count(*) FROM {table}"))


async def column(connection: asyncpg.Connection, sql: str, *args: Any) -> set[Any]:
    return {row[0] for row in await connection.fetch(sql, *args)}


# --- (a) no context: nothing ----------------------------------------------------------------


async def test_rls_no_context_every_tenant_table_empty(app_role, superuser):
    for table in TENANT_TABLES:
        assert await count(superuser, table) > 0, f"{table}: the world has no rows here"
        assert await count(app_role, table) == 0, f"{table}: visible without a context"


async def test_rls_context_after_transaction_end_empty(app_role):
    """A pooled connection keeps '' in app.* after a transaction: that is no context either."""
    async with rolled_back(app_role):
        await set_context(app_role, scope="system")
        assert await count(app_role, "organisation") > 0
    assert await app_role.fetchval("SELECT current_setting('app.scope', true)") == ""
    for table in TENANT_TABLES:
        assert await count(app_role, table) == 0, table


async def test_rls_unknown_scope_sees_nothing(app_role, world):
    async with rolled_back(app_role):
        await set_context(app_role, scope="admin", bureau=world.bureaus["A"], bureau_admin=True)
        for table in TENANT_TABLES:
            assert await count(app_role, table) == 0, table


# --- (b) tenant scope: its own organisation only ------------------------------------------


async def test_rls_tenant_scope_counsellor_sees_only_own_organisation(app_role, world):
    a1, bureau_a = world.organisations["A1"], world.bureaus["A"]
    async with rolled_back(app_role):
        await counsellor_a1(app_role, world)
        assert await column(app_role, "SELECT id FROM organisation") == {a1}
        assert await column(app_role, "SELECT organisation FROM membership") == {a1}
        assert await count(app_role, "membership") == 2  # counsellor A1 and contact A1
        assert await column(app_role, "SELECT token FROM intake_link") == {world.intake_links["A1"]}
        assert await column(app_role, "SELECT id FROM bureau") == {bureau_a}
        assert await column(app_role, "SELECT bureau FROM staff_user") == {bureau_a}
        assert await column(app_role, "SELECT chain FROM audit_event") == {str(bureau_a)}
        assert await column(app_role, "SELECT chain FROM audit_head") == {str(bureau_a)}


async def test_rls_tenant_scope_bureau_admin_sees_own_bureau_only(app_role, world):
    async with rolled_back(app_role):
        await set_context(app_role, scope="tenant", bureau=world.bureaus["A"], bureau_admin=True)
        rows = await app_role.fetch("SELECT id, bureau FROM organisation")
        assert {world.organisations["A1"], world.organisations["A2"]} <= {r["id"] for r in rows}
        assert {r["bureau"] for r in rows} == {world.bureaus["A"]}
        links = await column(app_role, "SELECT bureau FROM intake_link")
        assert links == {world.bureaus["A"]}


async def test_rls_tenant_scope_own_staff_user_memberships_only_owned(app_role, world):
    """Principal lookup (no bureau yet): its own user row and memberships, nothing else."""
    user = world.users["counsellor_A1"]
    async with rolled_back(app_role):
        await set_context(app_role, scope="tenant", staff_user=user)
        assert await column(app_role, "SELECT id FROM staff_user") == {user}
        assert await column(app_role, "SELECT staff_user FROM membership") == {user}
        assert await count(app_role, "organisation") == 0
        assert await count(app_role, "intake_link") == 0


async def test_rls_platform_scope_bureau_level_only(app_role, world):
    async with rolled_back(app_role):
        await set_context(app_role, scope="platform", staff_user=world.users["operator"])
        assert set(world.bureaus.values()) <= await column(app_role, "SELECT id FROM bureau")
        assert await count(app_role, "staff_user") > 0
        for table in ("organisation", "membership", "intake_link"):
            assert await count(app_role, table) == 0, table
        assert await column(app_role, "SELECT chain FROM audit_event") <= {"platform"}


# --- (c) writes outside the context are refused -------------------------------------------

INSERT_LINK = (
    "INSERT INTO intake_link (id, organisation, bureau, procedure, token, anonymity, active,"
    " created_at) VALUES ($1, $2, $3, 'integrity', $4, 'reporter_chooses', true, now())"
)


@pytest.mark.parametrize(
    ("organisation", "bureau"),
    [("B1", "B"), ("B1", "A"), ("A2", "A")],
    ids=["other-bureau", "other-bureau-claiming-own-bureau", "sibling-organisation"],
)
async def test_rls_tenant_scope_insert_foreign_intake_link_refused(
    app_role, world, organisation, bureau
):
    async with rolled_back(app_role):
        await counsellor_a1(app_role, world)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await app_role.execute(
                INSERT_LINK,
                uuid4(),
                world.organisations[organisation],
                world.bureaus[bureau],
                uuid4().hex,
            )


async def test_rls_tenant_scope_insert_own_intake_link_allowed(app_role, world):
    """The positive control for the refusals above."""
    async with rolled_back(app_role):
        await counsellor_a1(app_role, world)
        before = await count(app_role, "intake_link")
        await app_role.execute(
            INSERT_LINK, uuid4(), world.organisations["A1"], world.bureaus["A"], uuid4().hex
        )
        assert await count(app_role, "intake_link") == before + 1


async def test_rls_tenant_scope_move_own_row_to_foreign_organisation_refused(app_role, world):
    async with rolled_back(app_role):
        await counsellor_a1(app_role, world)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await app_role.execute(
                "UPDATE intake_link SET organisation = $1, bureau = $2 WHERE organisation = $3",
                world.organisations["B1"],
                world.bureaus["B"],
                world.organisations["A1"],
            )


async def test_rls_tenant_scope_update_delete_foreign_rows_change_nothing(
    app_role, superuser, world
):
    b1 = world.organisations["B1"]
    async with rolled_back(app_role):
        await counsellor_a1(app_role, world)
        status = await app_role.execute(
            "UPDATE intake_link SET active = false WHERE organisation = $1", b1
        )
        assert status == "UPDATE 0"
        assert await app_role.execute("DELETE FROM membership WHERE organisation = $1", b1) == (
            "DELETE 0"
        )
        assert await app_role.execute("DELETE FROM organisation WHERE id = $1", b1) == "DELETE 0"
    assert (
        await superuser.fetchval(
            "SELECT count(*) FROM intake_link WHERE organisation = $1 AND active", b1
        )
        == 1
    )


# The owner rule ("rows the principal owns", so that a session can be turned into a context)
# is for reading: WITH CHECK is the tenant rule alone, so a principal cannot write its own
# rows into another organisation or bureau.

INSERT_MEMBERSHIP = (
    "INSERT INTO membership (id, staff_user, organisation, bureau, role, created_at)"
    " VALUES ($1, $2, $3, $4, 'counsellor', now())"
)


@pytest.mark.parametrize(("organisation", "bureau"), [("A2", "A"), ("B1", "B")])
async def test_rls_tenant_scope_insert_own_membership_foreign_organisation_refused(
    app_role, world, organisation, bureau
):
    me = world.users["counsellor_A1"]
    async with rolled_back(app_role):
        await set_context(
            app_role,
            scope="tenant",
            bureau=world.bureaus["A"],
            organisations=(world.organisations["A1"],),
            staff_user=me,
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await app_role.execute(
                INSERT_MEMBERSHIP,
                uuid4(),
                me,
                world.organisations[organisation],
                world.bureaus[bureau],
            )


async def test_rls_tenant_scope_move_own_staff_user_to_other_bureau_refused(app_role, world):
    me = world.users["counsellor_A1"]
    async with rolled_back(app_role):
        await set_context(
            app_role,
            scope="tenant",
            bureau=world.bureaus["A"],
            organisations=(world.organisations["A1"],),
            staff_user=me,
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await app_role.execute(
                "UPDATE staff_user SET bureau = $1, is_bureau_admin = true WHERE id = $2",
                world.bureaus["B"],
                me,
            )


async def test_rls_tenant_scope_owner_writes_within_tenant_allowed(app_role, world):
    """The positive control for the two refusals above: inside its own tenant the same
    context still writes its own user row, and a bureau admin adds a membership."""
    me = world.users["counsellor_A1"]
    async with rolled_back(app_role):
        await set_context(
            app_role,
            scope="tenant",
            bureau=world.bureaus["A"],
            organisations=(world.organisations["A1"],),
            staff_user=me,
        )
        status = await app_role.execute("UPDATE staff_user SET language = 'fr' WHERE id = $1", me)
        assert status == "UPDATE 1"
    async with rolled_back(app_role):
        await set_context(
            app_role,
            scope="tenant",
            bureau=world.bureaus["A"],
            bureau_admin=True,
            staff_user=world.users["admin_A"],
        )
        await app_role.execute(
            INSERT_MEMBERSHIP, uuid4(), me, world.organisations["A2"], world.bureaus["A"]
        )
        assert me in await column(
            app_role,
            "SELECT staff_user FROM membership WHERE organisation = $1",
            world.organisations["A2"],
        )


# --- (d) the audit log is append-only -----------------------------------------------------


async def test_rls_audit_event_update_delete_change_nothing_even_system_scope(app_role, superuser):
    before = await superuser.fetch("SELECT id, hash, action FROM audit_event ORDER BY id")
    assert before
    async with rolled_back(app_role):
        await set_context(app_role, scope="system")
        assert await count(app_role, "audit_event") == len(before)  # it can read them all
        assert await app_role.execute("UPDATE audit_event SET action = 'tampered'") == "UPDATE 0"
        assert await app_role.execute("DELETE FROM audit_event") == "DELETE 0"
        assert await app_role.execute("DELETE FROM audit_head") == "DELETE 0"
    after = await superuser.fetch("SELECT id, hash, action FROM audit_event ORDER BY id")
    assert after == before


# --- (e) the role and the tables ----------------------------------------------------------


async def test_rls_app_role_not_owner_superuser_or_bypassrls(app_role):
    role = await app_role.fetchrow(
        "SELECT rolname, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb"
        " FROM pg_roles WHERE rolname = current_user"
    )
    assert not role["rolsuper"]
    assert not role["rolbypassrls"]
    assert not role["rolcreaterole"] and not role["rolcreatedb"]
    owned = await column(
        app_role,
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user",
    )
    assert owned == set()
    member_of_owner = await app_role.fetchval(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        " AND pg_has_role(current_user, tableowner, 'USAGE')"
    )
    assert member_of_owner == 0  # not the owner through a role membership either


async def test_rls_every_table_enabled_and_forced(app_role):
    rows = await app_role.fetch(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
    )
    tables = {row["relname"] for row in rows}
    assert set(TENANT_TABLES) <= tables
    assert tables >= WITHOUT_RLS  # the allow-list names real tables
    unprotected = sorted(
        row["relname"]
        for row in rows
        if row["relname"] not in WITHOUT_RLS
        and not (row["relrowsecurity"] and row["relforcerowsecurity"])
    )
    assert unprotected == [], f"tables without ENABLE + FORCE ROW LEVEL SECURITY: {unprotected}"


async def test_rls_app_role_cannot_switch_it_off(app_role):
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_role.execute("ALTER TABLE organisation DISABLE ROW LEVEL SECURITY")
    async with rolled_back(app_role):
        await app_role.execute("SET LOCAL row_security = off")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await app_role.fetch("SELECT id FROM organisation")


# --- the policies say what the filter says ------------------------------------------------

TABLES = (Bureau, Organisation, StaffUser, Membership, IntakeLink)


def _contexts(world: Any) -> dict[str, TenantContext]:
    contexts = {role: world.ctx(role) for role in ("admin_A", "counsellor_A1", "contact_A1")}
    contexts["operator"] = world.ctx("operator")
    contexts["principal"] = principal_context(world.users["counsellor_B1"])
    contexts["bureau_only"] = staff_context(staff_user_id=uuid4(), bureau_id=world.bureaus["B"])
    return contexts


@pytest.mark.usefixtures("rollback")
@pytest.mark.parametrize(
    "who", ["admin_A", "counsellor_A1", "contact_A1", "operator", "principal", "bureau_only"]
)
async def test_rls_policies_match_tenant_filter(world, who):
    """Through the app's engine: RLS alone (no WHERE) and the filter alone (system scope, RLS
    open) must show the same rows of every tenant-owned table, for every kind of context."""
    ctx = _contexts(world)[who]
    by_policy: dict[str, set[UUID]] = {}
    async with tenant_transaction(ctx):
        for table in TABLES:
            name = table._meta.tablename
            rows = await database.fetch(f"SELECT id FROM {name}")
            by_policy[name] = {row["id"] for row in rows}
    by_filter: dict[str, set[UUID]] = {}
    async with tenant_transaction(system_context("isolation-test")):
        for table in TABLES:
            rows = await scoped(table.select(table._meta.primary_key), table, ctx)
            by_filter[table._meta.tablename] = {row["id"] for row in rows}
    assert by_policy == by_filter
    assert any(by_policy.values())  # not vacuous: every context sees something


async def test_rls_policies_call_context_functions_once_per_query(superuser):
    """Every policy wraps its context functions in a sub-select (an init plan, computed once
    per query): a bare call would be evaluated for every row (casework migration
    `rls_initplan`; policies added later must be written wrapped)."""
    import re

    rows = await superuser.fetch(
        "SELECT tablename, policyname, coalesce(qual, '') || ' ' || coalesce(with_check, '')"
        " AS text FROM pg_policies WHERE schemaname = current_schema()"
    )
    assert rows
    bare = [
        f"{row['tablename']}.{row['policyname']}"
        for row in rows
        if re.search(r"(?<!SELECT )\bklankbord_[a-z_]+\(\)", row["text"])
    ]
    assert not bare, bare
