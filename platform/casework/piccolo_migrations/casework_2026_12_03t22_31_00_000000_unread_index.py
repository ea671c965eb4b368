"""An index of the reporter's unread messages per organisation, for the caseload's count."""

from collections.abc import Awaitable, Callable

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-03T22:31:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "index of unread reporter messages"

CREATE = (
    'CREATE INDEX case_message_unread ON case_message (organisation, "case")'
    " WHERE author = 'reporter' AND read_at IS NULL"
)


def _run(sql: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        engine = engine_finder()
        if engine is not None:
            await engine.run_ddl(sql)

    return run


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="casework", description=DESCRIPTION)
    manager.add_raw(_run(CREATE))
    manager.add_raw_backwards(_run("DROP INDEX IF EXISTS case_message_unread"))
    return manager
