"""One event per position in a chain."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-22T23:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit chain order is unique"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="klankbord", description=DESCRIPTION)

    async def unique_chain_seq() -> None:
        engine = engine_finder()
        await engine.run_ddl(
            "CREATE UNIQUE INDEX audit_event_chain_seq ON audit_event (chain, seq)"
        )

    manager.add_raw(unique_chain_seq)
    return manager
