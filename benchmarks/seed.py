"""Seeding benchmark data with bulk INSERTs, not through the services.

The services write an audit event per row and check each name for clashes: right for the
product, far too slow for seeding hundreds of rows before every run. Here each table gets
multi-row INSERT statements (Piccolo's `insert(*rows)`, so column types and defaults are
handled the same on SQLite and PostgreSQL) inside one system-scoped tenant transaction,
which on PostgreSQL is what lets the app role through row-level security.

Around the measured bureau sit neighbour bureaus with as many organisations, so the tenant
filter (and RLS) has rows to leave out, as it would in production.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg
from piccolo.table import Table

from klankbord.tenancy import (
    Role,
    TenantContext,
    staff_context,
    system_context,
    tenant_transaction,
)
from tenants.choices import MembershipRole
from tenants.tables import Bureau, Membership, Organisation, StaffUser

CHUNK = 100  # rows per INSERT: well inside SQLite's bound-variable limit
SECTORS = ("care", "education", "government", "retail", "logistics", "finance")


@dataclass(frozen=True)
class SeededBureau:
    bureau_id: UUID
    admin_id: UUID
    organisation_ids: tuple[UUID, ...]

    def admin_context(self) -> TenantContext:
        """The context `context_for_session` builds for this bureau's admin."""
        return staff_context(
            staff_user_id=self.admin_id, bureau_id=self.bureau_id, bureau_admin=True
        )


async def _insert(table: type[Table], rows: Sequence[Table]) -> None:
    for start in range(0, len(rows), CHUNK):
        await table.insert(*rows[start : start + CHUNK])


async def seed_bureau(label: str, *, organisations: int = 60, neighbours: int = 9) -> SeededBureau:
    """One bureau with `organisations` organisations and a bureau admin (no password: the
    benchmark starts sessions directly), plus `neighbours` bureaus of the same size.

    Uses the process's current engine; names carry `label` and a random tag, so several
    pairs can seed the same database.
    """
    tag = secrets.token_hex(3)
    bureaus = [Bureau(name=f"Bench {label} {tag} {n}") for n in range(neighbours + 1)]
    organisation_rows = [
        Organisation(
            bureau=bureau.id,
            name=f"Organisation {number:03d}",
            sector=SECTORS[number % len(SECTORS)],
            headcount=20 + number,
        )
        for bureau in bureaus
        for number in range(organisations)
    ]
    measured = bureaus[0]
    admin = StaffUser(
        bureau=measured.id,
        email=f"admin.{label}.{tag}@bench.example",
        display_name=f"Bench admin {label}",
        is_bureau_admin=True,
    )
    async with tenant_transaction(system_context("bench.seed")):
        await _insert(Bureau, bureaus)
        await _insert(Organisation, organisation_rows)
        await _insert(StaffUser, [admin])
    own = tuple(row.id for row in organisation_rows[:organisations])  # bureaus[0] comes first
    return SeededBureau(bureau_id=measured.id, admin_id=admin.id, organisation_ids=own)


# --- the caseload: a million cases --------------------------------------------------------

CASES_SQL = """
INSERT INTO case_file (id, organisation, bureau, procedure, channel, status, anonymity,
  meeting, language, received_at, reporter_active_at, closed_at, receipt_lookup,
  receipt_verifier, submission, reference, steps, outcome, acknowledgement_exception,
  next_due_at, legal_hold, created_at)
SELECT id, organisation, $2::uuid,
  (ARRAY['unwanted_behaviour', 'integrity', 'rehabilitation'])[1 + n % 3], 'online',
  CASE WHEN n % 10 = 0 THEN 'closed' WHEN n % 3 = 0 THEN 'received' ELSE 'in_progress' END,
  'anonymous', '', 'nl', received, received,
  CASE WHEN n % 10 = 0 THEN received + interval '30 days' END,
  md5(id::text), 'x', md5('submission ' || n), '2026-' || lpad(n::text, 6, '0'), '', '', '',
  CASE WHEN n % 10 <> 0 AND n % 7 <> 0
    THEN now() + (random() * 120 - 60) * interval '1 day' END,
  false, received
FROM (
  SELECT gen_random_uuid() AS id, o.organisation, n,
    now() - (random() * 365) * interval '1 day' AS received
  FROM unnest($1::uuid[]) AS o(organisation) CROSS JOIN generate_series(1, $3::int) AS n
) AS generated
"""
# About 1 case in 256 gets an unread message from its reporter.
MESSAGES_SQL = """
INSERT INTO case_message (id, "case", organisation, bureau, author, body, created_at)
SELECT gen_random_uuid(), id, organisation, bureau, 'reporter', 'x', received_at
FROM case_file WHERE bureau = $1::uuid AND receipt_lookup LIKE '00%'
"""


@dataclass(frozen=True)
class SeededCaseload:
    bureau_id: UUID
    counsellor_id: UUID
    organisation_ids: tuple[UUID, ...]  # the counsellor's, a spread of the bureau's
    cases: int

    def counsellor_context(self) -> TenantContext:
        """The context `context_for_session` builds for the counsellor."""
        return staff_context(
            staff_user_id=self.counsellor_id,
            bureau_id=self.bureau_id,
            organisation_roles=[(org, Role.COUNSELLOR) for org in self.organisation_ids],
        )


async def seed_caseload(
    label: str,
    *,
    owner_url: str,
    organisations: int = 1000,
    cases_per_organisation: int = 1000,
    served: int = 20,
) -> SeededCaseload:
    """One bureau of `organisations` x `cases_per_organisation` cases and a counsellor of
    `served` of them; PostgreSQL only.

    A million rows through Piccolo's multi-row INSERTs would take many minutes, so the cases
    (and a few thousand unread reporter messages) are generated inside PostgreSQL by one
    INSERT … SELECT each, over a connection as the owner role in a system-scoped transaction
    (the owner is bound by the forced RLS policies too), then ANALYZEd as autovacuum would.
    """
    seeded = await seed_bureau(label, organisations=organisations, neighbours=0)
    tag = secrets.token_hex(3)
    step = max(1, organisations // served)
    mine = seeded.organisation_ids[::step][:served]
    counsellor = StaffUser(
        bureau=seeded.bureau_id,
        email=f"counsellor.{label}.{tag}@bench.example",
        display_name=f"Bench counsellor {label}",
    )
    memberships = [
        Membership(
            staff_user=counsellor.id,
            organisation=org,
            bureau=seeded.bureau_id,
            role=MembershipRole.COUNSELLOR,
        )
        for org in mine
    ]
    async with tenant_transaction(system_context("bench.seed")):
        await _insert(StaffUser, [counsellor])
        await _insert(Membership, memberships)
    connection = await asyncpg.connect(owner_url)
    try:
        async with connection.transaction():
            await connection.execute("SELECT set_config('app.scope', 'system', true)")
            await connection.execute(
                CASES_SQL, list(seeded.organisation_ids), seeded.bureau_id, cases_per_organisation
            )
            await connection.execute(MESSAGES_SQL, seeded.bureau_id)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return SeededCaseload(
        bureau_id=seeded.bureau_id,
        counsellor_id=counsellor.id,
        organisation_ids=tuple(mine),
        cases=organisations * cases_per_organisation,
    )
