"""Owned rows are readable, not writable, through the owner rule (PostgreSQL only).

The rls migration (`tenants_2026_11_22t23_10_30_000000_rls`, which runs before this one:
Piccolo orders an app's migrations by ID) used one rule for USING and WITH CHECK. Its owner
rule (a staff member's own user row and memberships, readable so that a session can be turned
into a context) therefore also let a tenant context insert a membership for itself in any
organisation, or move its own user row into another bureau. Now the owner rule is in USING
only; WITH CHECK is the tenant rule alone, as `klankbord.tenancy.check_may_write` says.
A no-op on SQLite, which has no row-level security.
"""

from collections.abc import Awaitable, Callable

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T05:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "row-level security: the owner rule reads, never writes"

# The functions klankbord_scope() … klankbord_staff_user_id() come from the rls migration.
ORGANISATION_ROWS = (
    "klankbord_scope() = 'system' OR (klankbord_scope() = 'tenant'"
    " AND bureau = klankbord_bureau_id()"
    " AND (klankbord_bureau_admin() OR {organisation} = ANY(klankbord_organisation_ids())))"
)
STAFF_USER_ROWS = (
    "klankbord_scope() IN ('system', 'platform')"
    " OR (klankbord_scope() = 'tenant' AND bureau = klankbord_bureau_id())"
)
MEMBERSHIP_ROWS = ORGANISATION_ROWS.format(organisation="organisation")


def _owned(column: str) -> str:
    return f" OR (klankbord_scope() = 'tenant' AND {column} = klankbord_staff_user_id())"


# table -> (USING: tenant rule or owned, WITH CHECK: tenant rule only)
POLICIES = {
    "staff_user": (STAFF_USER_ROWS + _owned("id"), STAFF_USER_ROWS),
    "membership": (MEMBERSHIP_ROWS + _owned("staff_user"), MEMBERSHIP_ROWS),
}


def _policy(table: str, using: str, check: str) -> list[str]:
    return [
        f"DROP POLICY IF EXISTS tenant_isolation ON {table}",
        f"CREATE POLICY tenant_isolation ON {table} USING ({using}) WITH CHECK ({check})",
    ]


def statements() -> list[str]:
    sql: list[str] = []
    for table, (using, check) in POLICIES.items():
        sql += _policy(table, using, check)
    return sql


def backwards_statements() -> list[str]:
    sql: list[str] = []
    for table, (using, _check) in POLICIES.items():
        sql += _policy(table, using, using)
    return sql


def _on_postgres(sql: list[str]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        engine = engine_finder()
        if engine is None or engine.engine_type != "postgres":
            return
        for statement in sql:
            await engine.run_ddl(statement)

    return run


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenants", description=DESCRIPTION)
    manager.add_raw(_on_postgres(statements()))
    manager.add_raw_backwards(_on_postgres(backwards_statements()))
    return manager
