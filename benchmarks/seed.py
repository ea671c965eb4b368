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

from piccolo.table import Table

from klankbord.tenancy import TenantContext, staff_context, system_context, tenant_transaction
from tenants.tables import Bureau, Organisation, StaffUser

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
