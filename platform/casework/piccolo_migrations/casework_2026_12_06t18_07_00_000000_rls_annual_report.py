"""Row-level security for annual reports: rows of one organisation for its staff (the tenant
rule, context functions as init plans); a reporter context sees none. One report per
organisation and year, also when two counsellors start it at the same moment."""

from collections.abc import Awaitable, Callable

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T18:07:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "row-level security and one report per year for annual reports"

ORGANISATION_ROWS = (
    "(SELECT klankbord_scope()) = 'system' OR ((SELECT klankbord_scope()) = 'tenant'"
    " AND bureau = (SELECT klankbord_bureau_id())"
    " AND ((SELECT klankbord_bureau_admin())"
    " OR organisation = ANY((SELECT klankbord_organisation_ids())::uuid[])))"
)
UNIQUE = "CREATE UNIQUE INDEX annual_report_year ON annual_report (organisation, year)"
POSTGRES = [
    "ALTER TABLE annual_report ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE annual_report FORCE ROW LEVEL SECURITY",
    f"CREATE POLICY tenant_isolation ON annual_report"
    f" USING ({ORGANISATION_ROWS}) WITH CHECK ({ORGANISATION_ROWS})",
]


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
    manager.add_raw(_run([UNIQUE], postgres_only=False))
    manager.add_raw(_run(POSTGRES, postgres_only=True))
    return manager
