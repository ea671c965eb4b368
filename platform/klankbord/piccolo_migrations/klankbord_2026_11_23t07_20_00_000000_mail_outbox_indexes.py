"""Indexes for the mail jobs: due mail, and settled mail to purge.

`mail_outbox_due` is partial (unsent rows only), so the delivery query stays small however
much sent mail is kept; both PostgreSQL and SQLite support partial indexes.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T07:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "mail outbox indexes"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="klankbord", description=DESCRIPTION)

    async def indexes() -> None:
        engine = engine_finder()
        await engine.run_ddl(
            "CREATE INDEX mail_outbox_due ON mail_outbox (send_after) WHERE sent_at IS NULL"
        )
        await engine.run_ddl("CREATE INDEX mail_outbox_created ON mail_outbox (created_at)")

    manager.add_raw(indexes)
    return manager
