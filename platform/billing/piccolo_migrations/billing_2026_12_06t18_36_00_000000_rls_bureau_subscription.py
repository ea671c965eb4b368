"""Row-level security for what the platform bills a bureau: that bureau's row for its staff
(read by the warning banner and the admin's billing page); the billing job and the platform
webhook write it under a system context."""

from collections.abc import Awaitable, Callable

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T18:36:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "row-level security for bureau subscriptions"

BUREAU_ROWS = (
    "(SELECT klankbord_scope()) = 'system'"
    " OR ((SELECT klankbord_scope()) = 'tenant' AND bureau = (SELECT klankbord_bureau_id()))"
)
STATEMENTS = [
    "ALTER TABLE bureau_subscription ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE bureau_subscription FORCE ROW LEVEL SECURITY",
    f"CREATE POLICY tenant_isolation ON bureau_subscription"
    f" USING ({BUREAU_ROWS}) WITH CHECK ({BUREAU_ROWS})",
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
    manager = MigrationManager(migration_id=ID, app_name="billing", description=DESCRIPTION)
    manager.add_raw(_run(STATEMENTS))
    return manager
