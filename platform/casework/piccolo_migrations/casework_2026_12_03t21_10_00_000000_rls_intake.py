"""Row-level security for casework, and the reporter scope on the tables an intake page reads.

- Case tables (`case_file`, `case_report`, `case_message`, `case_attachment`,
  `reporter_session`): rows of one organisation for staff (the tenant rule); for a reporter
  context, rows of the link's organisation, and once it is bound to a case (a mailbox
  sign-in), only that case's rows. The reporter writes these and nothing else.
- Read-only for a reporter: the organisation, its memberships, intake links, procedure texts,
  questions and data key, the bureau's procedure templates, and the staff rows of the
  organisation's counsellors (names on the intake page, addresses for the new-report notice).
- The audit chain: a reporter context appends to its bureau's chain (a case received) and
  reads back only its own events (INSERT … RETURNING needs that).

The unique index on (organisation, submission) is what makes a double submit one case, even
when both requests race.
"""

from collections.abc import Awaitable, Callable

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-03T21:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "row-level security for casework and the reporter scope"

CASE_ID = """CREATE OR REPLACE FUNCTION klankbord_case_id() RETURNS uuid LANGUAGE sql STABLE AS
    $$ SELECT NULLIF(current_setting('app.case_id', true), '')::uuid $$"""

ORGANISATION_ROWS = (
    "klankbord_scope() = 'system' OR (klankbord_scope() = 'tenant'"
    " AND bureau = klankbord_bureau_id()"
    " AND (klankbord_bureau_admin() OR organisation = ANY(klankbord_organisation_ids())))"
)
REPORTER_ORGANISATION = (
    "klankbord_scope() = 'reporter' AND bureau = klankbord_bureau_id()"
    " AND {organisation} = ANY(klankbord_organisation_ids())"
)
REPORTER_CASE = (
    REPORTER_ORGANISATION.format(organisation="organisation")
    + " AND (klankbord_case_id() IS NULL OR {case} = klankbord_case_id())"
)
CASE_TABLES = {
    "case_file": "id",
    "case_report": "case",
    "case_message": "case",
    "case_attachment": "case",
    "reporter_session": "case",
}
REPORTER_READ = {
    "organisation": REPORTER_ORGANISATION.format(organisation="id"),
    "membership": REPORTER_ORGANISATION.format(organisation="organisation"),
    "intake_link": REPORTER_ORGANISATION.format(organisation="organisation"),
    "procedure_text": REPORTER_ORGANISATION.format(organisation="organisation"),
    "organisation_key": REPORTER_ORGANISATION.format(organisation="organisation"),
    "intake_question": REPORTER_ORGANISATION.format(organisation="organisation"),
    "procedure_template": "klankbord_scope() = 'reporter' AND bureau = klankbord_bureau_id()",
    "staff_user": "klankbord_scope() = 'reporter' AND EXISTS (SELECT 1 FROM membership m"
    " WHERE m.staff_user = staff_user.id AND m.role = 'counsellor'"
    " AND m.organisation = ANY(klankbord_organisation_ids()))",
}
REPORTER_CHAIN = "klankbord_scope() = 'reporter' AND chain = klankbord_bureau_id()::text"

INDEXES = [
    "CREATE UNIQUE INDEX case_file_submission ON case_file (organisation, submission)",
    "CREATE INDEX case_file_organisation_received ON case_file (organisation, received_at)",
    "CREATE INDEX case_message_case_created ON case_message (\"case\", created_at)",
    "CREATE INDEX reporter_session_expires ON reporter_session (expires_at)",
    "CREATE INDEX intake_question_order ON intake_question (organisation, procedure, position)",
]
INDEX_NAMES = [statement.split(" ON ")[0].split()[-1] for statement in INDEXES]


def rls_statements() -> list[str]:
    sql = [CASE_ID]
    for table, case in CASE_TABLES.items():
        reporter = REPORTER_CASE.format(case=f'"{case}"' if case == "case" else case)
        sql += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
            f"CREATE POLICY tenant_isolation ON {table}"
            f" USING ({ORGANISATION_ROWS}) WITH CHECK ({ORGANISATION_ROWS})",
            f"CREATE POLICY reporter_case ON {table} USING ({reporter}) WITH CHECK ({reporter})",
        ]
    sql += [
        "ALTER TABLE intake_question ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE intake_question FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON intake_question"
        f" USING ({ORGANISATION_ROWS}) WITH CHECK ({ORGANISATION_ROWS})",
    ]
    for table, rule in REPORTER_READ.items():
        sql.append(f"CREATE POLICY reporter_read ON {table} FOR SELECT USING ({rule})")
    sql += [
        f"CREATE POLICY reporter_append ON audit_event FOR INSERT WITH CHECK ({REPORTER_CHAIN})",
        # INSERT … RETURNING reads the new row back: only the reporter's own events.
        f"CREATE POLICY reporter_read ON audit_event FOR SELECT"
        f" USING ({REPORTER_CHAIN} AND actor = 'reporter')",
        f"CREATE POLICY reporter_read ON audit_head FOR SELECT USING ({REPORTER_CHAIN})",
        f"CREATE POLICY reporter_append ON audit_head FOR INSERT WITH CHECK ({REPORTER_CHAIN})",
        f"CREATE POLICY reporter_advance ON audit_head FOR UPDATE"
        f" USING ({REPORTER_CHAIN}) WITH CHECK ({REPORTER_CHAIN})",
    ]
    return sql


def drop_statements() -> list[str]:
    sql = [f"DROP POLICY IF EXISTS reporter_read ON {table}" for table in REPORTER_READ]
    sql += [
        "DROP POLICY IF EXISTS reporter_append ON audit_event",
        "DROP POLICY IF EXISTS reporter_read ON audit_event",
        "DROP POLICY IF EXISTS reporter_read ON audit_head",
        "DROP POLICY IF EXISTS reporter_append ON audit_head",
        "DROP POLICY IF EXISTS reporter_advance ON audit_head",
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
    manager = MigrationManager(migration_id=ID, app_name="casework", description=DESCRIPTION)
    manager.add_raw(_run(INDEXES, postgres_only=False))
    manager.add_raw(_run(rls_statements(), postgres_only=True))
    manager.add_raw_backwards(_run(drop_statements(), postgres_only=True))
    manager.add_raw_backwards(
        _run([f"DROP INDEX IF EXISTS {name}" for name in INDEX_NAMES], postgres_only=False)
    )
    return manager
