"""Row-level security on every tenant-owned table (PostgreSQL only; a no-op on SQLite).

The policies mirror `klankbord.tenancy.tenant_filter`, reading the transaction-local settings
that `tenant_transaction()` sets. `NULLIF(…, '')` because a pooled connection keeps '' after a
transaction ends. FORCE makes the owner obey the policies too. The app role gets its grants
from the default privileges set up in `infra/db/roles.sql`.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-22T23:10:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "row-level security"

FUNCTIONS = [
    """CREATE OR REPLACE FUNCTION klankbord_scope() RETURNS text LANGUAGE sql STABLE AS
    $$ SELECT COALESCE(NULLIF(current_setting('app.scope', true), ''), 'none') $$""",
    """CREATE OR REPLACE FUNCTION klankbord_bureau_id() RETURNS uuid LANGUAGE sql STABLE AS
    $$ SELECT NULLIF(current_setting('app.bureau_id', true), '')::uuid $$""",
    """CREATE OR REPLACE FUNCTION klankbord_bureau_admin() RETURNS boolean LANGUAGE sql STABLE AS
    $$ SELECT COALESCE(NULLIF(current_setting('app.bureau_admin', true), ''), 'off') = 'on' $$""",
    """CREATE OR REPLACE FUNCTION klankbord_organisation_ids() RETURNS uuid[] LANGUAGE sql STABLE
    AS $$ SELECT COALESCE(
        string_to_array(NULLIF(current_setting('app.organisation_ids', true), ''), ',')::uuid[],
        '{}'::uuid[]) $$""",
    """CREATE OR REPLACE FUNCTION klankbord_staff_user_id() RETURNS uuid LANGUAGE sql STABLE AS
    $$ SELECT NULLIF(current_setting('app.staff_user_id', true), '')::uuid $$""",
]

# Rows of one organisation: the context's bureau, and its organisations unless bureau admin.
ORGANISATION_ROWS = (
    "klankbord_scope() = 'system' OR (klankbord_scope() = 'tenant'"
    " AND bureau = klankbord_bureau_id()"
    " AND (klankbord_bureau_admin() OR {organisation} = ANY(klankbord_organisation_ids())))"
)

POLICIES = {
    "bureau": "klankbord_scope() IN ('system', 'platform')"
    " OR (klankbord_scope() = 'tenant' AND id = klankbord_bureau_id())",
    "organisation": ORGANISATION_ROWS.format(organisation="id"),
    "staff_user": "klankbord_scope() IN ('system', 'platform')"
    " OR (klankbord_scope() = 'tenant'"
    " AND (bureau = klankbord_bureau_id() OR id = klankbord_staff_user_id()))",
    "membership": ORGANISATION_ROWS.format(organisation="organisation")
    + " OR (klankbord_scope() = 'tenant' AND staff_user = klankbord_staff_user_id())",
    "intake_link": ORGANISATION_ROWS.format(organisation="organisation"),
}

# The audit log: read and append your own chain; no UPDATE or DELETE policy, so neither
# changes a row. AuditHead moves forward (UPDATE) but is never deleted.
AUDIT_CHAIN = (
    "klankbord_scope() = 'system'"
    " OR (klankbord_scope() = 'tenant' AND chain = klankbord_bureau_id()::text)"
    " OR (klankbord_scope() = 'platform' AND chain = 'platform')"
)


def statements() -> list[str]:
    sql = list(FUNCTIONS)
    for table, rule in POLICIES.items():
        sql += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
            f"CREATE POLICY tenant_isolation ON {table} USING ({rule}) WITH CHECK ({rule})",
        ]
    for table in ("audit_event", "audit_head"):
        sql += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
            f"CREATE POLICY chain_read ON {table} FOR SELECT USING ({AUDIT_CHAIN})",
            f"CREATE POLICY chain_append ON {table} FOR INSERT WITH CHECK ({AUDIT_CHAIN})",
        ]
    sql.append(
        f"CREATE POLICY chain_advance ON audit_head FOR UPDATE"
        f" USING ({AUDIT_CHAIN}) WITH CHECK ({AUDIT_CHAIN})"
    )
    return sql


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenants", description=DESCRIPTION)

    async def enable_rls() -> None:
        engine = engine_finder()
        if engine is None or engine.engine_type != "postgres":
            return
        for statement in statements():
            await engine.run_ddl(statement)

    manager.add_raw(enable_rls)
    return manager
