"""Indexes for the caseload's unread count (the reporter's unread messages per organisation)
and for the retention job (closed cases by closing date)."""

from collections.abc import Awaitable, Callable

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-03T22:31:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "indexes of unread reporter messages and closed cases"

CREATE = (
    'CREATE INDEX case_message_unread ON case_message (organisation, "case")'
    " WHERE author = 'reporter' AND read_at IS NULL"
)

CLOSED = "CREATE INDEX case_file_closed ON case_file (closed_at, id) WHERE status = 'closed'"


def _run(sql: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        engine = engine_finder()
        if engine is not None:
            await engine.run_ddl(sql)

    return run


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="casework", description=DESCRIPTION)
    manager.add_raw(_run(CREATE))
    manager.add_raw(_run(CLOSED))
    manager.add_raw_backwards(_run("DROP INDEX IF EXISTS case_message_unread"))
    manager.add_raw_backwards(_run("DROP INDEX IF EXISTS case_file_closed"))
    return manager
