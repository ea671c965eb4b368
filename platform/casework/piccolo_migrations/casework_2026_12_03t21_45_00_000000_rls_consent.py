"""Row-level security for consent records: the organisation's staff (the tenant rule), and
the reporter of the case in the mailbox (who answers a request there)."""

from collections.abc import Awaitable, Callable

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-03T21:45:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "row-level security for consent records"

ORGANISATION_ROWS = (
    "klankbord_scope() = 'system' OR (klankbord_scope() = 'tenant'"
    " AND bureau = klankbord_bureau_id()"
    " AND (klankbord_bureau_admin() OR organisation = ANY(klankbord_organisation_ids())))"
)
REPORTER_CASE = (
    "klankbord_scope() = 'reporter' AND bureau = klankbord_bureau_id()"
    " AND organisation = ANY(klankbord_organisation_ids())"
    ' AND (klankbord_case_id() IS NULL OR "case" = klankbord_case_id())'
)
STATEMENTS = [
    "ALTER TABLE case_consent ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE case_consent FORCE ROW LEVEL SECURITY",
    f"CREATE POLICY tenant_isolation ON case_consent"
    f" USING ({ORGANISATION_ROWS}) WITH CHECK ({ORGANISATION_ROWS})",
    f"CREATE POLICY reporter_case ON case_consent USING ({REPORTER_CASE})"
    f" WITH CHECK ({REPORTER_CASE})",
]
INDEXES = ['CREATE INDEX case_consent_case_step ON case_consent ("case", step)']


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
    manager.add_raw(_run(STATEMENTS, postgres_only=True))
    manager.add_raw_backwards(
        _run(["DROP INDEX IF EXISTS case_consent_case_step"], postgres_only=False)
    )
    return manager
