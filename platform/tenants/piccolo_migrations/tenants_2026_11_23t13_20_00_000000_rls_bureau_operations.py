"""Row-level security and composite unique indexes for the bureau-operations tables.

- `external_authority`, `procedure_text`, `organisation_key`: rows of one organisation (the
  tenant rule of the rls migration).
- `procedure_template`, `counsellor_credential`: rows of the context's bureau.
- `intake_link`: one row, read-only, for a login context that asks for it by token (a
  reporter's request, before anyone is known); `organisation`: one row, read-only, for a login
  context that asks for it by id (that link's organisation).

The unique indexes (both databases) make a duplicate organisation name in a bureau, or a second
text for the same procedure and language, fail in the database even when two requests race.
"""

from collections.abc import Awaitable, Callable

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T13:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "row-level security and unique indexes for bureau operations"

# The functions klankbord_scope() … klankbord_login_key() come from earlier rls migrations.
ORGANISATION_ROWS = (
    "klankbord_scope() = 'system' OR (klankbord_scope() = 'tenant'"
    " AND bureau = klankbord_bureau_id()"
    " AND (klankbord_bureau_admin() OR organisation = ANY(klankbord_organisation_ids())))"
)
BUREAU_ROWS = (
    "klankbord_scope() = 'system'"
    " OR (klankbord_scope() = 'tenant' AND bureau = klankbord_bureau_id())"
)
POLICIES = {
    "external_authority": ORGANISATION_ROWS,
    "procedure_text": ORGANISATION_ROWS,
    "organisation_key": ORGANISATION_ROWS,
    "procedure_template": BUREAU_ROWS,
    "counsellor_credential": BUREAU_ROWS,
}

INDEXES = [
    "CREATE UNIQUE INDEX organisation_bureau_name ON organisation (bureau, lower(name))",
    "CREATE UNIQUE INDEX procedure_template_one ON procedure_template"
    " (bureau, procedure, language)",
    "CREATE UNIQUE INDEX procedure_text_one ON procedure_text (organisation, procedure, language)",
    "CREATE INDEX organisation_bureau_created ON organisation (bureau, created_at)",
]

INDEX_NAMES = [statement.split(" ON ")[0].split()[-1] for statement in INDEXES]


def rls_statements() -> list[str]:
    sql: list[str] = []
    for table, rule in POLICIES.items():
        sql += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
            f"CREATE POLICY tenant_isolation ON {table} USING ({rule}) WITH CHECK ({rule})",
        ]
    sql += [
        "CREATE POLICY login_lookup ON intake_link FOR SELECT"
        " USING (klankbord_scope() = 'login' AND token = klankbord_login_key())",
        "CREATE POLICY login_lookup ON organisation FOR SELECT"
        " USING (klankbord_scope() = 'login' AND id::text = klankbord_login_key())",
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
    manager = MigrationManager(migration_id=ID, app_name="tenants", description=DESCRIPTION)
    manager.add_raw(_run(INDEXES, postgres_only=False))
    manager.add_raw(_run(rls_statements(), postgres_only=True))
    manager.add_raw_backwards(
        _run(
            [
                "DROP POLICY IF EXISTS login_lookup ON intake_link",
                "DROP POLICY IF EXISTS login_lookup ON organisation",
            ],
            postgres_only=True,
        )
    )
    manager.add_raw_backwards(
        _run(
            [f"DROP INDEX IF EXISTS {name}" for name in INDEX_NAMES], postgres_only=False
        )
    )
    return manager
