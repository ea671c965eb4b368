"""An organisation's clocks: read them (with the defaults where it has none), change them.

The bureau admin changes them; counsellors and organisation contacts of the organisation read
them. A change applies to the open cases at once: their `next_due_at` is recomputed in the
same transaction (cost: the organisation's own open cases). The audit event carries the
numbers and the count of holidays, nothing else.

Reads run inside the caller's `tenant_transaction(ctx)`; `save_settings` opens its own.
A reporter context sees no `ClockSettings` row (the table grants reporters nothing), so at
intake `first_due` falls back to the defaults; the reminders job corrects `next_due_at` on
its next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from casework import clocks
from casework.choices import CaseStatus
from casework.clocks import ClockRules
from casework.tables import Case, ClockSettings
from klankbord import audit
from klankbord.errors import Invalid, PermissionDenied
from klankbord.tenancy import (
    Scope,
    TenantContext,
    check_may_write,
    require_transaction,
    scoped,
    tenant_transaction,
)
from tenants.access import access_organisation

MAX_HOLIDAYS = 100
# field → (lowest, highest) accepted value
LIMITS: dict[str, tuple[int, int]] = {
    "acknowledge_days": (1, 60),
    "acknowledge_warning_day": (0, 59),
    "feedback_months": (1, 12),
    "feedback_reminder_days": (1, 60),
    "first_contact_working_days": (1, 20),
    "first_conversation_days": (1, 60),
}


FACT_COLUMNS = (
    Case.id,
    Case.procedure,
    Case.channel,
    Case.status,
    Case.received_at,
    Case.acknowledged_at,
    Case.acknowledgement_exception,
    Case.first_contact_at,
    Case.feedback_at,
    Case.closed_at,
    Case.next_due_at,
)


def rules_from_row(row: dict[str, Any] | None) -> ClockRules:
    if row is None:
        return clocks.DEFAULT_RULES
    return ClockRules(
        **{name: int(row[name]) for name in LIMITS},
        holidays=frozenset(parse_holidays(row["holidays"].replace(",", "\n"))[0]),
    )


async def organisation_rules(ctx: TenantContext, organisation_id: UUID) -> tuple[ClockRules, str]:
    """The organisation's rules and country (`NotFound` for an organisation out of reach)."""
    require_transaction(ctx)
    organisation = await access_organisation(ctx, organisation_id)
    row = (
        await scoped(ClockSettings.select(), ClockSettings, ctx)
        .where(ClockSettings.organisation == organisation_id)
        .first()
    )
    return rules_from_row(row), organisation["country"]


async def first_due(
    ctx: TenantContext,
    *,
    organisation_id: UUID,
    procedure: str,
    received_at: datetime,
    channel: str = "online",
) -> datetime | None:
    """`next_due_at` of a new case (intake, or a case a counsellor opens)."""
    rules, country = await organisation_rules(ctx, organisation_id)
    facts = clocks.CaseFacts(received_at, procedure, country, channel=channel)
    return clocks.next_due(facts, rules)


# --- the settings page ---------------------------------------------------------------------


@dataclass(frozen=True)
class SettingsView:
    organisation: dict[str, Any]
    rules: ClockRules
    custom: bool  # the organisation has its own row (else: the defaults)
    may_edit: bool


def may_edit(ctx: TenantContext) -> bool:
    return ctx.scope is Scope.TENANT and ctx.bureau_admin


async def settings_view(ctx: TenantContext, organisation_id: UUID) -> SettingsView:
    require_transaction(ctx)
    organisation = await access_organisation(ctx, organisation_id)
    row = (
        await scoped(ClockSettings.select(), ClockSettings, ctx)
        .where(ClockSettings.organisation == organisation_id)
        .first()
    )
    return SettingsView(organisation, rules_from_row(row), row is not None, may_edit(ctx))


def form_values(rules: ClockRules) -> dict[str, str]:
    values = {name: str(getattr(rules, name)) for name in LIMITS}
    values["holidays"] = "\n".join(day.isoformat() for day in sorted(rules.holidays))
    return values


def parse_holidays(text: str) -> tuple[list[date], bool]:
    """The dates of `text` (one ISO date per line, blank lines ignored), sorted and unique,
    and whether every line was a date."""
    days: set[date] = set()
    valid = True
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            days.add(date.fromisoformat(line.strip()))
        except ValueError:
            valid = False
    return sorted(days), valid


def parse_form(form: dict[str, str]) -> ClockRules:
    """The rules of a posted form, or `Invalid` with a code per field."""
    errors: dict[str, str] = {}
    numbers: dict[str, int] = {}
    for name, (lowest, highest) in LIMITS.items():
        text = form.get(name, "").strip()
        if not text:
            errors[name] = "required"
        elif not text.isdigit() or not lowest <= int(text) <= highest:
            errors[name] = "out_of_range"
        else:
            numbers[name] = int(text)
    warning, days = numbers.get("acknowledge_warning_day"), numbers.get("acknowledge_days")
    if warning is not None and days is not None and warning >= days:
        errors["acknowledge_warning_day"] = "warning_not_before_due"
    holidays, valid = parse_holidays(form.get("holidays", ""))
    if not valid:
        errors["holidays"] = "holiday_invalid"
    elif len(holidays) > MAX_HOLIDAYS:
        errors["holidays"] = "too_many_holidays"
    if errors:
        raise Invalid(code="clock_settings_invalid", fields=errors)
    return ClockRules(**numbers, holidays=frozenset(holidays))


async def save_settings(
    ctx: TenantContext, *, organisation_id: UUID, form: dict[str, str]
) -> ClockRules:
    """Store the organisation's clocks (bureau admin only) and recompute its open cases."""
    async with tenant_transaction(ctx):
        organisation = await access_organisation(ctx, organisation_id)
        if not may_edit(ctx):
            raise PermissionDenied()
        rules = parse_form(form)
        check_may_write(ctx, bureau_id=organisation["bureau"], organisation_id=organisation_id)
        numbers = {getattr(ClockSettings, name): getattr(rules, name) for name in LIMITS}
        holidays = ",".join(day.isoformat() for day in sorted(rules.holidays))
        now = datetime.now(UTC)
        await ClockSettings.insert(
            ClockSettings(
                organisation=organisation_id,
                bureau=organisation["bureau"],
                holidays=holidays,
                updated_at=now,
                **{name: getattr(rules, name) for name in LIMITS},
            )
        ).on_conflict(
            target=ClockSettings.organisation,
            action="DO UPDATE",
            values=[*numbers, ClockSettings.holidays, ClockSettings.updated_at],
        )
        changed = await _refresh_open_cases(ctx, organisation_id, rules, organisation["country"])
        await audit.record(
            ctx,
            action="clock_settings.saved",
            organisation_id=organisation_id,
            subject_type="organisation",
            subject_id=organisation_id,
            detail={
                **{name: getattr(rules, name) for name in LIMITS},
                "holidays": len(rules.holidays),
                "cases_updated": changed,
            },
        )
    return rules


async def _refresh_open_cases(
    ctx: TenantContext, organisation_id: UUID, rules: ClockRules, country: str
) -> int:
    rows = await scoped(Case.select(*FACT_COLUMNS), Case, ctx).where(
        (Case.organisation == organisation_id) & (Case.status != CaseStatus.CLOSED)
    )
    changed = 0
    for row in rows:
        due = clocks.next_due(clocks.facts_from_row(row, country), rules)
        if due != row["next_due_at"]:
            await scoped(Case.update({Case.next_due_at: due}), Case, ctx).where(
                Case.id == row["id"]
            )
            changed += 1
    return changed
