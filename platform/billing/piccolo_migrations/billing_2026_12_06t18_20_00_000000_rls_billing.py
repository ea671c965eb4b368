"""Row-level security for billing: a bureau's Stripe account and plans are rows of that bureau;
an organisation's billing and invoiced hours are rows of that organisation for its staff (the
tenant rule). The outbox and the webhook log have no policy: only jobs and the webhook
endpoint use them, under a system context, and the app role gets no rights on them beyond
what the kernel's own tables (the mail outbox) have. One row per organisation and period of
invoiced hours, and one per endpoint and Stripe event: a rerun or a replay adds nothing."""

from collections.abc import Awaitable, Callable

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T18:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "billing: Stripe accounts, plans, organisation billing, hours, outbox, webhooks"

BUREAU_ROWS = (
    "(SELECT klankbord_scope()) = 'system'"
    " OR ((SELECT klankbord_scope()) = 'tenant' AND bureau = (SELECT klankbord_bureau_id()))"
)
ORGANISATION_ROWS = (
    "(SELECT klankbord_scope()) = 'system' OR ((SELECT klankbord_scope()) = 'tenant'"
    " AND bureau = (SELECT klankbord_bureau_id())"
    " AND ((SELECT klankbord_bureau_admin())"
    " OR organisation = ANY((SELECT klankbord_organisation_ids())::uuid[])))"
)
UNIQUE = [
    "CREATE UNIQUE INDEX billing_hours_period ON billing_hours (organisation, period_start)",
    "CREATE UNIQUE INDEX billing_webhook_event_once ON billing_webhook_event (endpoint, event_id)",
    "CREATE INDEX billing_outbox_due ON billing_outbox (done_at, next_attempt_at)",
]
POLICIES = {
    "billing_account": BUREAU_ROWS,
    "billing_plan": BUREAU_ROWS,
    "organisation_billing": ORGANISATION_ROWS,
    "billing_hours": ORGANISATION_ROWS,
}


def _postgres() -> list[str]:
    sql: list[str] = []
    for table, rule in POLICIES.items():
        sql += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
            f"CREATE POLICY tenant_isolation ON {table} USING ({rule}) WITH CHECK ({rule})",
        ]
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
    manager = MigrationManager(migration_id=ID, app_name="billing", description=DESCRIPTION)
    manager.add_raw(_run(UNIQUE, postgres_only=False))
    manager.add_raw(_run(_postgres(), postgres_only=True))
    return manager
