"""Counsellor credentials: a certification on a 4-year cycle and the training hours in it.

One `CounsellorCredential` row per staff user, at bureau level. Only the bureau admin reads
and writes them here. A certification "expires on" a date: it is valid up to and including
that day, and expired from the day after. Every list costs a fixed number of queries,
whatever the number of counsellors. Nothing here imports the web framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from piccolo.columns.combination import WhereRaw

from klankbord import audit
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.tenancy import (
    Scope,
    TenantContext,
    check_may_write,
    require_transaction,
    scoped,
    tenant_transaction,
)
from tenants.choices import Assignment, MembershipRole
from tenants.tables import CounsellorCredential, Membership, StaffUser

CYCLE_YEARS = 4
WARNING_DAYS = 90
MAX_TRAINING_HOURS = 2000

CredentialState = Literal["valid", "expiring", "expired", "missing"]
WarningState = Literal["expired", "expiring", "missing"]
SortOrder = Literal["name", "expiry"]

_LOCAL_TIME = ZoneInfo("Europe/Amsterdam")


def local_today() -> date:
    """Today in the Netherlands and Belgium (where the bureaus work)."""
    return datetime.now(_LOCAL_TIME).date()


@dataclass(frozen=True)
class CredentialWarning:
    """A counsellor whose certification has expired, expires soon, or is not recorded."""

    staff_user_id: UUID
    display_name: str
    expires_on: date | None
    state: WarningState


@dataclass(frozen=True)
class OrganisationPlace:
    organisation_id: UUID
    name: str
    assignment: str  # Assignment value: primary / substitute


@dataclass(frozen=True)
class Counsellor:
    """A counsellor of the bureau with their credential (None fields: not recorded)."""

    staff_user_id: UUID
    display_name: str
    organisations: tuple[OrganisationPlace, ...]
    certified_on: date | None
    expires_on: date | None
    training_hours: int | None
    state: CredentialState


# --- rules --------------------------------------------------------------------------------


def add_years(day: date, years: int) -> date:
    """`day` plus whole years; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a year that has none
        return day.replace(year=day.year + years, day=28)


def default_expiry(certified_on: date) -> date:
    return add_years(certified_on, CYCLE_YEARS)


def credential_state(
    expires_on: date | None, *, today: date, within_days: int = WARNING_DAYS
) -> CredentialState:
    if expires_on is None:
        return "missing"
    if expires_on < today:
        return "expired"
    if expires_on <= today + timedelta(days=within_days):
        return "expiring"
    return "valid"


def validate_credential(
    *, certified_on: date | None, expires_on: date | None, training_hours: int | None, today: date
) -> tuple[date, date, int]:
    """The checked values (expiry defaulted to the 4-year cycle), or `Invalid` with every
    field's error code at once."""
    errors: dict[str, str] = {}
    if certified_on is None:
        errors["certified_on"] = "required"
    elif certified_on > today:
        errors["certified_on"] = "in_future"
    if training_hours is None:
        errors["training_hours"] = "required"
    elif not 0 <= training_hours <= MAX_TRAINING_HOURS:
        errors["training_hours"] = "out_of_range"
    if certified_on is not None and "certified_on" not in errors and expires_on is not None:
        if expires_on < certified_on:
            errors["expires_on"] = "before_certified"
        elif expires_on > default_expiry(certified_on):
            errors["expires_on"] = "beyond_cycle"
    if errors:
        raise Invalid(fields=errors)
    assert certified_on is not None and training_hours is not None
    return certified_on, expires_on or default_expiry(certified_on), training_hours


def _require_bureau_admin(ctx: TenantContext) -> UUID:
    if ctx.scope is not Scope.TENANT or not ctx.bureau_admin or ctx.bureau_id is None:
        raise PermissionDenied()
    return ctx.bureau_id


# --- reads --------------------------------------------------------------------------------


async def _counsellor_memberships(
    ctx: TenantContext, bureau_id: UUID, staff_user_id: UUID | None = None
) -> list[dict[str, Any]]:
    """One query: the counsellor memberships of active staff in the bureau."""
    require_transaction(ctx)
    query = scoped(
        Membership.select(
            Membership.staff_user.id.as_alias("staff_user_id"),
            Membership.staff_user.display_name.as_alias("display_name"),
            Membership.organisation.id.as_alias("organisation_id"),
            Membership.organisation.name.as_alias("organisation_name"),
            Membership.assignment,
        ),
        Membership,
        ctx,
    ).where(
        (Membership.bureau == bureau_id)
        & (Membership.role == MembershipRole.COUNSELLOR.value)
        & (Membership.staff_user.active == True)  # noqa: E712 - a SQL comparison
        & (Membership.staff_user.bureau == bureau_id)
    )
    if staff_user_id is not None:
        query = query.where(Membership.staff_user.id == staff_user_id)
    return await query


async def _credentials(
    ctx: TenantContext, bureau_id: UUID, staff_user_id: UUID | None = None
) -> dict[UUID, dict[str, Any]]:
    """One query: the bureau's credentials by staff user."""
    require_transaction(ctx)
    query = scoped(
        CounsellorCredential.select(
            CounsellorCredential.staff_user,
            CounsellorCredential.certified_on,
            CounsellorCredential.expires_on,
            CounsellorCredential.training_hours,
        ),
        CounsellorCredential,
        ctx,
    ).where(CounsellorCredential.bureau == bureau_id)
    if staff_user_id is not None:
        query = query.where(CounsellorCredential.staff_user == staff_user_id)
    return {row["staff_user"]: row for row in await query}


def _as_date(value: Any) -> date | None:
    # SQLite hands dates back as ISO strings in some versions; PostgreSQL as `date`.
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _assemble(
    memberships: list[dict[str, Any]],
    credentials: dict[UUID, dict[str, Any]],
    *,
    today: date,
    within_days: int,
) -> list[Counsellor]:
    names: dict[UUID, str] = {}
    places: dict[UUID, list[OrganisationPlace]] = {}
    for row in memberships:
        names[row["staff_user_id"]] = row["display_name"]
        places.setdefault(row["staff_user_id"], []).append(
            OrganisationPlace(
                organisation_id=row["organisation_id"],
                name=row["organisation_name"],
                assignment=row["assignment"] or Assignment.PRIMARY.value,
            )
        )
    counsellors = []
    for staff_user_id, display_name in names.items():
        credential = credentials.get(staff_user_id)
        expires_on = _as_date(credential["expires_on"]) if credential else None
        counsellors.append(
            Counsellor(
                staff_user_id=staff_user_id,
                display_name=display_name,
                organisations=tuple(
                    sorted(
                        places[staff_user_id],
                        key=lambda p: (p.assignment != Assignment.PRIMARY, p.name.lower()),
                    )
                ),
                certified_on=_as_date(credential["certified_on"]) if credential else None,
                expires_on=expires_on,
                training_hours=credential["training_hours"] if credential else None,
                state=credential_state(expires_on, today=today, within_days=within_days),
            )
        )
    return counsellors


def _by_name(counsellor: Counsellor | CredentialWarning) -> tuple[str, str]:
    return counsellor.display_name.lower(), str(counsellor.staff_user_id)


def _by_expiry(counsellor: Counsellor | CredentialWarning) -> tuple[int, date, str, str]:
    # Not recorded first (the most urgent to fix), then the soonest expiry.
    missing = counsellor.expires_on is None
    return (0 if missing else 1, counsellor.expires_on or date.min, *_by_name(counsellor))


async def list_counsellors(
    ctx: TenantContext, *, today: date, sort: SortOrder = "name"
) -> list[Counsellor]:
    """Every counsellor of the bureau admin's bureau (two queries, whatever their number)."""
    bureau_id = _require_bureau_admin(ctx)
    async with tenant_transaction(ctx):
        memberships = await _counsellor_memberships(ctx, bureau_id)
        credentials = await _credentials(ctx, bureau_id)
    counsellors = _assemble(memberships, credentials, today=today, within_days=WARNING_DAYS)
    return sorted(counsellors, key=_by_expiry if sort == "expiry" else _by_name)


async def expiring_credentials(
    ctx: TenantContext, *, today: date, within_days: int = WARNING_DAYS
) -> list[CredentialWarning]:
    """Counsellors of the bureau admin's bureau whose certification has expired, expires
    within `within_days`, or is not recorded; the most urgent first. Two queries."""
    bureau_id = _require_bureau_admin(ctx)
    async with tenant_transaction(ctx):
        people = await _active_counsellors(ctx, bureau_id)
        credentials = await _credentials(ctx, bureau_id)
    warnings = []
    for person in people:
        credential = credentials.get(person["id"])
        expires_on = _as_date(credential["expires_on"]) if credential else None
        state = credential_state(expires_on, today=today, within_days=within_days)
        if state != "valid":
            warnings.append(
                CredentialWarning(
                    staff_user_id=person["id"],
                    display_name=person["display_name"],
                    expires_on=expires_on,
                    state=state,
                )
            )
    return sorted(warnings, key=_by_expiry)


async def _active_counsellors(ctx: TenantContext, bureau_id: UUID) -> list[dict[str, Any]]:
    """One query: the bureau's active staff holding at least one counsellor membership (one
    row per person, not per membership: the dashboard calls this on every view, and a bureau
    has far fewer counsellors than memberships). EXISTS per staff member walks the membership
    index on `staff_user`; an IN over the bureau's memberships read all of them (13,000 rows
    in the dashboard benchmark). The staff rows are scoped; on PostgreSQL row-level security
    also applies inside the subquery."""
    require_transaction(ctx)
    is_counsellor = WhereRaw(
        "EXISTS (SELECT 1 FROM membership WHERE membership.staff_user = staff_user.id"
        " AND membership.role = {})",
        MembershipRole.COUNSELLOR.value,
    )
    return await (
        scoped(StaffUser.select(StaffUser.id, StaffUser.display_name), StaffUser, ctx)
        .where(
            (StaffUser.bureau == bureau_id) & (StaffUser.active == True)  # noqa: E712 - a SQL comparison
        )
        .where(is_counsellor)
    )


async def _access_bureau_staff(ctx: TenantContext, bureau_id: UUID, staff_user_id: UUID) -> str:
    """The display name of a staff user of the bureau; `NotFound` for anyone else."""
    require_transaction(ctx)
    row = (
        await scoped(StaffUser.select(StaffUser.display_name), StaffUser, ctx)
        .where((StaffUser.id == staff_user_id) & (StaffUser.bureau == bureau_id))
        .first()
    )
    if row is None:
        raise NotFound()
    return str(row["display_name"])


async def get_counsellor(ctx: TenantContext, *, staff_user_id: UUID, today: date) -> Counsellor:
    """One staff user of the bureau with their credential; `NotFound` for another bureau's
    staff user exactly as for an unknown id."""
    bureau_id = _require_bureau_admin(ctx)
    async with tenant_transaction(ctx):
        display_name = await _access_bureau_staff(ctx, bureau_id, staff_user_id)
        memberships = await _counsellor_memberships(ctx, bureau_id, staff_user_id)
        credentials = await _credentials(ctx, bureau_id, staff_user_id)
    found = _assemble(memberships, credentials, today=today, within_days=WARNING_DAYS)
    if found:
        return found[0]
    credential = credentials.get(staff_user_id)
    expires_on = _as_date(credential["expires_on"]) if credential else None
    return Counsellor(
        staff_user_id=staff_user_id,
        display_name=display_name,
        organisations=(),
        certified_on=_as_date(credential["certified_on"]) if credential else None,
        expires_on=expires_on,
        training_hours=credential["training_hours"] if credential else None,
        state=credential_state(expires_on, today=today),
    )


async def check_may_manage(ctx: TenantContext, *, staff_user_id: UUID) -> None:
    """Raise `PermissionDenied` (not the bureau admin) or `NotFound` (not a staff user of
    the bureau) before a form is even read."""
    bureau_id = _require_bureau_admin(ctx)
    async with tenant_transaction(ctx):
        await _access_bureau_staff(ctx, bureau_id, staff_user_id)


# --- writes -------------------------------------------------------------------------------


async def save_credential(
    ctx: TenantContext,
    *,
    staff_user_id: UUID,
    certified_on: date | None,
    expires_on: date | None = None,
    training_hours: int | None,
    today: date | None = None,
) -> UUID:
    """Record (or replace) a staff user's certification; returns the credential's id.

    `expires_on` defaults to `certified_on` + 4 years; another date may be earlier, never
    before `certified_on`. Bureau admin only; a staff user of another bureau is `NotFound`.
    """
    bureau_id = _require_bureau_admin(ctx)
    today = today or local_today()
    async with tenant_transaction(ctx):
        await _access_bureau_staff(ctx, bureau_id, staff_user_id)
        certified_on, expires_on, training_hours = validate_credential(
            certified_on=certified_on,
            expires_on=expires_on,
            training_hours=training_hours,
            today=today,
        )
        check_may_write(ctx, bureau_id=bureau_id)
        existing = (
            await scoped(CounsellorCredential.objects(), CounsellorCredential, ctx)
            .where(CounsellorCredential.staff_user == staff_user_id)
            .first()
        )
        created = existing is None
        credential = existing or CounsellorCredential(staff_user=staff_user_id, bureau=bureau_id)
        credential.certified_on = certified_on
        credential.expires_on = expires_on
        credential.training_hours = training_hours
        if not created:
            credential.updated_at = datetime.now(UTC)
        await credential.save()
        await audit.record(
            ctx,
            action="counsellor_credential.created" if created else "counsellor_credential.updated",
            bureau_id=bureau_id,
            subject_type="staff_user",
            subject_id=staff_user_id,
            detail={"credential": str(credential.id)},
        )
        return credential.id
