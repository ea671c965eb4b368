"""Row-level security policies evaluate their context functions once per query, not per row.

The policies call `klankbord_scope()`, `klankbord_organisation_ids()` and the like; written
bare, PostgreSQL evaluates them for every row a query touches (the organisation ids are split
and cast again for each of thousands of rows). Wrapped in a sub-select, `(SELECT
klankbord_scope())`, each becomes an init plan computed once per query. Measured on the
caseload seed (1,000 organisations x 1,000 cases): a COUNT went from 151 to 12 ms. This
migration rewrites every existing policy of the schema that way (ALTER POLICY keeps names,
commands and roles); policies added later should be written wrapped (see `wrap`).
"""

import re

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-03T22:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "row-level security: context functions once per query"

_CALL = re.compile(r"(?<!SELECT )\bklankbord_([a-z_]+)\(\)")


def wrap(expression: str) -> str:
    """`expression` with every bare context-function call as a sub-select."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "organisation_ids":
            return "(SELECT klankbord_organisation_ids())::uuid[]"
        return f"(SELECT klankbord_{name}())"

    return _CALL.sub(one, expression)


async def _rewrite() -> None:
    engine = engine_finder()
    if engine is None or engine.engine_type != "postgres":
        return
    # run_ddl runs in the migration's own transaction and returns the rows of a SELECT.
    policies = await engine.run_ddl(
        "SELECT tablename, policyname, qual, with_check FROM pg_policies"
        " WHERE schemaname = current_schema()"
    )
    for policy in policies:
        clauses = []
        if policy["qual"] and "klankbord_" in policy["qual"]:
            clauses.append(f"USING ({wrap(policy['qual'])})")
        if policy["with_check"] and "klankbord_" in policy["with_check"]:
            clauses.append(f"WITH CHECK ({wrap(policy['with_check'])})")
        if clauses:
            await engine.run_ddl(
                f'ALTER POLICY "{policy["policyname"]}" ON "{policy["tablename"]}" '
                + " ".join(clauses)
            )


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="casework", description=DESCRIPTION)
    manager.add_raw(_rewrite)
    return manager
