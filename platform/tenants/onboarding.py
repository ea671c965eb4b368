"""Onboarding: a new bureau with its first admin (platform operator), and the wizard in which
a bureau admin sets up an organisation step by step (bureau admin).

Every step is one transaction that either stores everything it was given or, on a problem,
nothing (`Invalid` with a code per field). The organisation remembers the step it resumes
at (`onboarding_step`); saving a step never moves it back. Finishing sets `onboarded_at`.
Context first, keyword-only after; an audit event per change, with ids and codes only.

Who counsels the organisation is `tenants.assignments`: the counsellors step assigns and
removes through it, as the organisation's counsellors page does after onboarding, and so
does the admin-only gate every step passes first (`admin_organisation`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from asyncpg.exceptions import UniqueViolationError
from piccolo.columns.combination import WhereRaw

from klankbord import audit
from klankbord.errors import Conflict, Invalid, NotFound, PermissionDenied
from klankbord.settings import LANGUAGES, Settings
from klankbord.tenancy import Scope, TenantContext, scoped, system_context, tenant_transaction
from tenants import accounts, assignments, authorities, invitations, policies, services
from tenants.access import access_organisation
from tenants.assignments import admin_organisation
from tenants.choices import Assignment, Country, Procedure, Sector
from tenants.tables import Bureau, ExternalAuthority, Organisation, StaffUser

STEPS = ("profile", "scope", "counsellors", "authorities", "retention", "review")
DONE = "done"
_UNIQUE = (UniqueViolationError, sqlite3.IntegrityError)


def step_index(step: str) -> int:
    """Position of a step; `done` (and anything unknown) counts as past the last one."""
    return STEPS.index(step) if step in STEPS else len(STEPS)


def current_step(organisation: dict[str, Any]) -> str:
    """Where the wizard resumes; a finished organisation resumes at the review."""
    step = organisation["onboarding_step"]
    return step if step in STEPS else "review"


def _now() -> datetime:
    return datetime.now(UTC)


def _text(value: str, limit: int) -> tuple[str, str | None]:
    value = value.strip()
    if not value:
        return value, "required"
    if len(value) > limit:
        return value, "too_long"
    return value, None


def _codes(value: str) -> list[str]:
    return [code for code in value.split(",") if code]


# --- a new bureau and its first admin (platform operator) ---------------------------------


async def create_bureau_with_admin(
    ctx: TenantContext,
    settings: Settings,
    *,
    bureau_name: str,
    admin_name: str,
    admin_email: str,
    language: str,
) -> UUID:
    """A bureau, its first bureau admin (no password) and the admin's invitation mail, all
    or nothing.

    Audit events of a bureau go on that bureau's chain, which a platform context may not
    write; the work runs under a system context whose events name the operator by id.
    """
    if ctx.scope is not Scope.PLATFORM or ctx.staff_user_id is None:
        raise PermissionDenied()
    problems: dict[str, str] = {}
    bureau_name, problem = _text(bureau_name, 200)
    if problem:
        problems["bureau_name"] = problem
    admin_name, problem = _text(admin_name, 200)
    if problem:
        problems["admin_name"] = problem
    email = accounts.normalise_email(admin_email)
    if not email:
        problems["admin_email"] = "required"
    elif "@" not in email.strip("@") or len(email) > 254 or any(c.isspace() for c in email):
        problems["admin_email"] = "invalid"
    if language not in LANGUAGES:
        problems["language"] = "required"
    if problems:
        raise Invalid(fields=problems)
    system = system_context("platform-new-bureau")
    try:
        async with tenant_transaction(system):
            await _check_bureau_free(bureau_name, email)
            bureau_id = await services.create_bureau(system, name=bureau_name)
            staff_user_id = await services.create_staff_user(
                system,
                bureau_id=bureau_id,
                email=email,
                display_name=admin_name,
                bureau_admin=True,
                language=language,
            )
            await invitations.send_invitation(
                settings,
                staff_user_id=staff_user_id,
                bureau_id=bureau_id,
                bureau_name=bureau_name,
                email=email,
                display_name=admin_name,
                language=language,
            )
            await audit.record(
                system,
                action="staff.invited",
                bureau_id=bureau_id,
                subject_type="staff_user",
                subject_id=staff_user_id,
                detail={"role": "bureau_admin", "operator": str(ctx.staff_user_id)},
            )
    except _UNIQUE:
        # Created by someone else at the same moment: the unique indexes decided.
        async with tenant_transaction(system):
            await _check_bureau_free(bureau_name, email)
        raise Invalid(fields={"bureau_name": "taken"}) from None
    return bureau_id


async def _check_bureau_free(bureau_name: str, email: str) -> None:
    problems: dict[str, str] = {}
    if await Bureau.exists().where(WhereRaw("lower(name) = lower({})", bureau_name)):
        problems["bureau_name"] = "taken"
    if await StaffUser.exists().where(StaffUser.email == email):
        problems["admin_email"] = "email_taken"
    if problems:
        raise Invalid(fields=problems)


# --- the wizard: reading -------------------------------------------------------------------


@dataclass(frozen=True)
class Wizard:
    """Everything the wizard's pages show for one organisation."""

    organisation: dict[str, Any]
    counsellors: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    authorities: list[dict[str, Any]]
    live_links: bool

    @property
    def step(self) -> str:
        return current_step(self.organisation)

    @property
    def languages(self) -> list[str]:
        return _codes(self.organisation["languages"])

    @property
    def procedures(self) -> list[str]:
        return _codes(self.organisation["procedures"])

    @property
    def duties(self) -> bool:
        return policies.whistleblower_duties(
            self.organisation["headcount"], self.organisation["sector"]
        )

    @property
    def has_primary(self) -> bool:
        return any(c["assignment"] == Assignment.PRIMARY.value for c in self.counsellors)

    def problems(self) -> dict[str, str]:
        """What keeps the organisation from being finished: field → code."""
        found: dict[str, str] = {}
        if not self.procedures:
            found["procedures"] = "required"
        elif self.duties and Procedure.INTEGRITY.value not in self.procedures:
            found["procedures"] = "integrity_required"
        if not self.languages:
            found["languages"] = "required"
        if not self.has_primary:
            found["counsellors"] = "primary_required"
        return found


async def wizard(ctx: TenantContext, organisation_id: UUID) -> Wizard:
    async with tenant_transaction(ctx):
        organisation = await admin_organisation(ctx, organisation_id)
        return await _wizard(ctx, organisation)


async def _wizard(ctx: TenantContext, organisation: dict[str, Any]) -> Wizard:
    organisation_id = organisation["id"]
    counsellors = await assignments.assigned_counsellors(ctx, organisation_id)
    candidates = await assignments.candidate_counsellors(ctx, organisation, counsellors)
    found = (
        await scoped(ExternalAuthority.select(), ExternalAuthority, ctx)
        .where(ExternalAuthority.organisation == organisation_id)
        .order_by(ExternalAuthority.created_at)
        .order_by(ExternalAuthority.name)
    )
    return Wizard(
        organisation=organisation,
        counsellors=counsellors,
        candidates=candidates,
        authorities=found,
        live_links=await assignments.has_live_links(ctx, organisation_id),
    )


# --- the wizard: saving ---------------------------------------------------------------------


async def _step_saved(
    ctx: TenantContext, organisation: dict[str, Any], step: str, changes: dict[Any, Any]
) -> None:
    """Store a step's values and move the resume point past it (never back)."""
    position = organisation["onboarding_step"]
    if position != DONE and step_index(position) <= step_index(step):
        following = STEPS[min(step_index(step) + 1, len(STEPS) - 1)]
        changes = {**changes, Organisation.onboarding_step: following}
    if changes:
        await scoped(Organisation.update(changes), Organisation, ctx).where(
            Organisation.id == organisation["id"]
        )
    await audit.record(
        ctx,
        action="organisation.onboarding_step_saved",
        bureau_id=organisation["bureau"],
        organisation_id=organisation["id"],
        subject_type="organisation",
        subject_id=organisation["id"],
        detail={"step": step},
    )


def _profile_problems(
    name: str, country: str, sector: str, headcount: str
) -> tuple[dict[str, str], str, int]:
    problems: dict[str, str] = {}
    name, problem = _text(name, 200)
    if problem:
        problems["name"] = problem
    if country not in {c.value for c in Country}:
        problems["country"] = "required"
    if sector not in {s.value for s in Sector}:
        problems["sector"] = "required"
    value, problem = policies.headcount_problem(headcount)
    if problem:
        problems["headcount"] = problem
    return problems, name, value or 0


async def _name_taken(
    ctx: TenantContext, bureau_id: UUID, name: str, exclude: UUID | None = None
) -> bool:
    query = scoped(Organisation.exists(), Organisation, ctx).where(
        (Organisation.bureau == bureau_id) & WhereRaw("lower(name) = lower({})", name)
    )
    if exclude is not None:
        query = query.where(Organisation.id != exclude)
    return bool(await query)


async def create_profile(
    ctx: TenantContext, *, name: str, country: str, sector: str, headcount: str
) -> UUID:
    """Step one: the organisation itself (active, not onboarded yet), resuming at `scope`."""
    if ctx.scope is not Scope.TENANT or not ctx.bureau_admin or ctx.bureau_id is None:
        raise PermissionDenied()
    problems, name, count = _profile_problems(name, country, sector, headcount)
    if problems:
        raise Invalid(fields=problems)
    bureau_id = ctx.bureau_id
    try:
        async with tenant_transaction(ctx):
            if await _name_taken(ctx, bureau_id, name):
                raise Invalid(fields={"name": "taken"})
            organisation_id = await services.create_organisation(
                ctx,
                bureau_id=bureau_id,
                name=name,
                country=Country(country),
                sector=sector,
                headcount=count,
                languages=(),
            )
            organisation = await access_organisation(ctx, organisation_id)
            await _step_saved(ctx, organisation, "profile", {})
    except _UNIQUE:
        # The same name (in any case) created at the same moment: the unique index decided.
        raise Invalid(fields={"name": "taken"}) from None
    except Conflict:
        raise Invalid(fields={"name": "taken"}) from None
    return organisation_id


async def save_profile(
    ctx: TenantContext,
    *,
    organisation_id: UUID,
    name: str,
    country: str,
    sector: str,
    headcount: str,
) -> None:
    try:
        async with tenant_transaction(ctx):
            organisation = await admin_organisation(ctx, organisation_id)
            problems, name, count = _profile_problems(name, country, sector, headcount)
            if not problems.get("name") and await _name_taken(
                ctx, organisation["bureau"], name, exclude=organisation_id
            ):
                problems["name"] = "taken"
            if problems:
                raise Invalid(fields=problems)
            changes = {
                Organisation.name: name,
                Organisation.country: country,
                Organisation.sector: sector,
                Organisation.headcount: count,
            }
            await _step_saved(ctx, organisation, "profile", changes)
    except _UNIQUE:
        raise Invalid(fields={"name": "taken"}) from None


async def save_scope(
    ctx: TenantContext, *, organisation_id: UUID, languages: list[str], procedures: list[str]
) -> None:
    async with tenant_transaction(ctx):
        organisation = await admin_organisation(ctx, organisation_id)
        chosen_languages = [code for code in LANGUAGES if code in languages]
        chosen_procedures = [p.value for p in Procedure if p.value in procedures]
        problems: dict[str, str] = {}
        if not chosen_languages or len(set(languages)) != len(chosen_languages):
            problems["languages"] = "required"
        if not chosen_procedures or len(set(procedures)) != len(chosen_procedures):
            problems["procedures"] = "required"
        elif (
            policies.whistleblower_duties(organisation["headcount"], organisation["sector"])
            and Procedure.INTEGRITY.value not in chosen_procedures
        ):
            problems["procedures"] = "integrity_required"
        if problems:
            raise Invalid(fields=problems)
        changes = {
            Organisation.languages: ",".join(chosen_languages),
            Organisation.procedures: ",".join(chosen_procedures),
        }
        await _step_saved(ctx, organisation, "scope", changes)


async def save_counsellors(ctx: TenantContext, *, organisation_id: UUID) -> None:
    """Leave the counsellors step: only with a primary counsellor. The first time, prefills
    the competent authorities of the organisation's country for the next step (unless it has
    some already)."""
    async with tenant_transaction(ctx):
        organisation = await admin_organisation(ctx, organisation_id)
        counsellors = await assignments.assigned_counsellors(ctx, organisation_id)
        if not any(c["assignment"] == Assignment.PRIMARY.value for c in counsellors):
            raise Invalid(fields={"counsellors": "primary_required"})
        first_time = step_index(organisation["onboarding_step"]) <= step_index("counsellors")
        await _step_saved(ctx, organisation, "counsellors", {})
        if first_time:
            await _prefill_authorities(ctx, organisation)


async def authorities_for_step(ctx: TenantContext, organisation_id: UUID) -> Wizard:
    """The wizard, with the country's authorities stored first when the organisation has
    none and has not reached this step before (removing them all afterwards sticks)."""
    async with tenant_transaction(ctx):
        organisation = await admin_organisation(ctx, organisation_id)
        if step_index(organisation["onboarding_step"]) < step_index("authorities"):
            await _prefill_authorities(ctx, organisation)
        return await _wizard(ctx, organisation)


async def _prefill_authorities(ctx: TenantContext, organisation: dict[str, Any]) -> None:
    organisation_id = organisation["id"]
    has_some = await scoped(ExternalAuthority.exists(), ExternalAuthority, ctx).where(
        ExternalAuthority.organisation == organisation_id
    )
    if has_some:
        return
    for authority in authorities.prefilled(organisation["country"]):
        await _add_authority(ctx, organisation, authority.name, authority.contact)


async def _add_authority(
    ctx: TenantContext, organisation: dict[str, Any], name: str, contact: str
) -> UUID:
    row = ExternalAuthority(
        organisation=organisation["id"], bureau=organisation["bureau"], name=name, contact=contact
    )
    await row.save()
    await audit.record(
        ctx,
        action="external_authority.created",
        bureau_id=organisation["bureau"],
        organisation_id=organisation["id"],
        subject_type="external_authority",
        subject_id=row.id,
    )
    return UUID(str(row.id))


async def add_authority(
    ctx: TenantContext, *, organisation_id: UUID, name: str, contact: str
) -> UUID:
    async with tenant_transaction(ctx):
        organisation = await admin_organisation(ctx, organisation_id)
        problems: dict[str, str] = {}
        name, problem = _text(name, 200)
        if problem:
            problems["authority_name"] = problem
        contact = contact.strip()
        if len(contact) > 300:
            problems["authority_contact"] = "too_long"
        if problems:
            raise Invalid(fields=problems)
        return await _add_authority(ctx, organisation, name, contact)


async def remove_authority(
    ctx: TenantContext, *, organisation_id: UUID, authority_id: UUID
) -> None:
    async with tenant_transaction(ctx):
        organisation = await admin_organisation(ctx, organisation_id)
        removed = (
            await scoped(ExternalAuthority.delete(), ExternalAuthority, ctx)
            .where(
                (ExternalAuthority.id == authority_id)
                & (ExternalAuthority.organisation == organisation_id)
            )
            .returning(ExternalAuthority.id)
        )
        if not removed:
            raise NotFound()
        await audit.record(
            ctx,
            action="external_authority.removed",
            bureau_id=organisation["bureau"],
            organisation_id=organisation_id,
            subject_type="external_authority",
            subject_id=authority_id,
        )


async def save_authorities(ctx: TenantContext, *, organisation_id: UUID) -> None:
    async with tenant_transaction(ctx):
        organisation = await admin_organisation(ctx, organisation_id)
        await _step_saved(ctx, organisation, "authorities", {})


async def save_retention(
    ctx: TenantContext, *, organisation_id: UUID, closed: str, no_follow_up: str
) -> None:
    async with tenant_transaction(ctx):
        organisation = await admin_organisation(ctx, organisation_id)
        closed_months, closed_problem = policies.months_problem(
            closed, policies.RETENTION_CLOSED_MONTHS
        )
        quiet_months, quiet_problem = policies.months_problem(
            no_follow_up, policies.RETENTION_NO_FOLLOW_UP_MONTHS
        )
        problems: dict[str, str] = {}
        if closed_problem:
            problems["retention_months_closed"] = closed_problem
        if quiet_problem:
            problems["retention_months_no_follow_up"] = quiet_problem
        if problems:
            raise Invalid(fields=problems)
        changes = {
            Organisation.retention_months_closed: closed_months,
            Organisation.retention_months_no_follow_up: quiet_months,
        }
        await _step_saved(ctx, organisation, "retention", changes)


async def finish(ctx: TenantContext, *, organisation_id: UUID) -> None:
    """The organisation is onboarded: its procedures, languages and a primary counsellor
    are in place (`Invalid` names what is missing). Finishing twice changes nothing."""
    async with tenant_transaction(ctx):
        organisation = await admin_organisation(ctx, organisation_id)
        if organisation["onboarded_at"] is not None:
            return
        state = await _wizard(ctx, organisation)
        problems = state.problems()
        if problems:
            raise Invalid(fields=problems)
        await scoped(
            Organisation.update(
                {Organisation.onboarded_at: _now(), Organisation.onboarding_step: DONE}
            ),
            Organisation,
            ctx,
        ).where(Organisation.id == organisation_id)
        await audit.record(
            ctx,
            action="organisation.onboarded",
            bureau_id=organisation["bureau"],
            organisation_id=organisation_id,
            subject_type="organisation",
            subject_id=organisation_id,
        )
