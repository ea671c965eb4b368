"""Row-level security for the sign-in tables (PostgreSQL only; a no-op on SQLite).

- `staff_totp`, `staff_recovery_code`: private to their owner in every scope but system; not
  even the bureau admin or the platform operator reads a TOTP secret.
- `oidc_provider`: a bureau's own rows (the tenant rule), and one row, read-only, for a login
  context that asks for it by id (the single sign-on start, before anyone is known).
- `staff_user`: one row, read-only, for a login context that asks for it by e-mail address.

`staff_token` and `oidc_login`, like `staff_session`, are looked up by the hash of a secret
before any context exists and carry no tenant data: no row-level security.
"""

from collections.abc import Awaitable, Callable

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T09:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "row-level security for the sign-in tables"

LOGIN_KEY = """CREATE OR REPLACE FUNCTION klankbord_login_key() RETURNS text LANGUAGE sql STABLE AS
    $$ SELECT NULLIF(current_setting('app.login_key', true), '') $$"""

OWNER_ONLY = (
    "klankbord_scope() = 'system'"
    " OR (klankbord_scope() IN ('tenant', 'platform') AND staff_user = klankbord_staff_user_id())"
)
BUREAU_ROWS = (
    "klankbord_scope() = 'system'"
    " OR (klankbord_scope() = 'tenant' AND bureau = klankbord_bureau_id())"
)
LOGIN_ROW = "klankbord_scope() = 'login' AND {column} = klankbord_login_key()"


def statements() -> list[str]:
    sql = [LOGIN_KEY]
    for table, rule in (
        ("staff_totp", OWNER_ONLY),
        ("staff_recovery_code", OWNER_ONLY),
        ("oidc_provider", BUREAU_ROWS),
    ):
        sql += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
            f"CREATE POLICY tenant_isolation ON {table} USING ({rule}) WITH CHECK ({rule})",
        ]
    sql += [
        "CREATE POLICY login_lookup ON staff_user FOR SELECT"
        f" USING ({LOGIN_ROW.format(column='email')})",
        "CREATE POLICY login_lookup ON oidc_provider FOR SELECT"
        f" USING ({LOGIN_ROW.format(column='id::text')})",
    ]
    return sql


def backwards_statements() -> list[str]:
    return [
        "DROP POLICY IF EXISTS login_lookup ON staff_user",
        "DROP POLICY IF EXISTS login_lookup ON oidc_provider",
    ]


def _on_postgres(sql: list[str]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        engine = engine_finder()
        if engine is None or engine.engine_type != "postgres":
            return
        for statement in sql:
            await engine.run_ddl(statement)

    return run


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenants", description=DESCRIPTION)
    manager.add_raw(_on_postgres(statements()))
    manager.add_raw_backwards(_on_postgres(backwards_statements()))
    return manager
