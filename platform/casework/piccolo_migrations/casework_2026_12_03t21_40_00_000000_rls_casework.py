"""Row-level security and indexes for the casework tables of categories, time entries and
clock settings: rows of one organisation (the tenant rule); a reporter sees none of them.

A reporter context reads its organisation's clock settings (the deadlines it is shown and
the first one set at intake).

Indexes: a case reference is unique within its organisation; a category once per case; the
caseload walks (organisation, next_due_at, id) for its keyset pagination.
"""

from collections.abc import Awaitable, Callable

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-03T21:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "row-level security and indexes for casework"

ORGANISATION_ROWS = (
    "klankbord_scope() = 'system' OR (klankbord_scope() = 'tenant'"
    " AND bureau = klankbord_bureau_id()"
    " AND (klankbord_bureau_admin() OR organisation = ANY(klankbord_organisation_ids())))"
)
TABLES = ("case_category", "time_entry", "clock_settings")

INDEXES = [
    "CREATE UNIQUE INDEX case_file_reference ON case_file (organisation, reference)"
    " WHERE reference <> ''",
    "CREATE UNIQUE INDEX case_category_once ON case_category (\"case\", code)",
    "CREATE INDEX case_file_caseload ON case_file (organisation, next_due_at, id)",
    "CREATE INDEX time_entry_organisation_spent ON time_entry (organisation, spent_on)",
    # The reminders job looks across every organisation for open cases that are due.
    "CREATE INDEX case_file_next_due ON case_file (next_due_at) WHERE status <> 'closed'",
]
INDEX_NAMES = [statement.split(" ON ")[0].split()[-1] for statement in INDEXES]


def rls_statements() -> list[str]:
    sql: list[str] = []
    for table in TABLES:
        sql += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
            f"CREATE POLICY tenant_isolation ON {table}"
            f" USING ({ORGANISATION_ROWS}) WITH CHECK ({ORGANISATION_ROWS})",
        ]
    sql.append(
        "CREATE POLICY reporter_read ON clock_settings FOR SELECT USING ("
        "klankbord_scope() = 'reporter' AND bureau = klankbord_bureau_id()"
        " AND organisation = ANY(klankbord_organisation_ids()))"
    )
    return sql


def _run(sql: list[str], *, postgres_only: bool) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        engine = engine_finder()
        if engine is None or (postgres_only and engine.engine_type != "postgres"):
            return
        for statement in sql:
            await engine.run_ddl(statement)

    return run


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="casework", description=DESCRIPTION)
    manager.add_raw(_run(INDEXES, postgres_only=False))
    manager.add_raw(_run(rls_statements(), postgres_only=True))
    manager.add_raw_backwards(
        _run([f"DROP INDEX IF EXISTS {name}" for name in INDEX_NAMES], postgres_only=False)
    )
    return manager
