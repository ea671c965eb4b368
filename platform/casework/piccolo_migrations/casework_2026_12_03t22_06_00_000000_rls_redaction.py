"""Row-level security for masked passages: rows of one organisation for its staff (the tenant
rule); a reporter context sees none."""

from collections.abc import Awaitable, Callable

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-03T22:06:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "row-level security for masked passages"

ORGANISATION_ROWS = (
    "klankbord_scope() = 'system' OR (klankbord_scope() = 'tenant'"
    " AND bureau = klankbord_bureau_id()"
    " AND (klankbord_bureau_admin() OR organisation = ANY(klankbord_organisation_ids())))"
)
STATEMENTS = [
    "ALTER TABLE case_redaction ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE case_redaction FORCE ROW LEVEL SECURITY",
    f"CREATE POLICY tenant_isolation ON case_redaction"
    f" USING ({ORGANISATION_ROWS}) WITH CHECK ({ORGANISATION_ROWS})",
]


def _run(sql: list[str]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        engine = engine_finder()
        if engine is None or engine.engine_type != "postgres":
            return
        for statement in sql:
            await engine.run_ddl(statement)

    return run


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="casework", description=DESCRIPTION)
    manager.add_raw(_run(STATEMENTS))
    return manager
