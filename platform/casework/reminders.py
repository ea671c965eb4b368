"""The reminders job: e-mail counsellors (then substitutes, then bureau admins) about deadlines.

For each open case whose `next_due_at` lies before `now + LOOKAHEAD` (so the cost grows with
the cases that are due, not with all cases), every deadline not yet met is checked:

- level 1, from the warning (acknowledgement: the warning day; feedback: the reminder days
  before; first contact and first conversation: the due day): the case's counsellor, the one
  the reporter chose, else the primary counsellors (else every counsellor);
- level 2, once the deadline has passed: the same, and the substitute counsellors;
- level 3, `clocks.ESCALATE_AFTER` later: the bureau admins.

A mail carries no content: the case reference, which deadline and when, a link. Mails go
through the outbox with a dedupe key per (case, deadline and its due moment, level,
recipient), so a rerun or a second replica queues nothing twice. A level is only sent within
`STALE_AFTER` of its start: the outbox forgets sent mail after `mail.KEEP_SETTLED` (longer),
so a purged key can never bring a reminder back. A case whose stored `next_due_at` differs
from its organisation's clocks (set at intake with the defaults, or before a settings change)
is corrected on the way.

The whole run is one transaction under `system_context("reminders")`, which writes one audit
event per run (and none per case or mail); cases are read in keyset pages of `batch`, at most
`limit` per run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from babel.dates import format_datetime

from casework import clocks
from casework.choices import CaseStatus
from casework.clock_settings import FACT_COLUMNS, rules_from_row
from casework.recipients import Staff, first_in_line, load_staff
from casework.tables import Case, ClockSettings
from klankbord import mail
from klankbord.settings import Settings
from klankbord.tenancy import TenantContext, scoped, system_context, tenant_transaction
from tenants.choices import Assignment

log = logging.getLogger(__name__)

BATCH = 200
LIMIT = 5000
LOOKAHEAD = timedelta(days=61)  # the longest warning a setting allows, and a day
STALE_AFTER = timedelta(days=14)  # shorter than mail.KEEP_SETTLED (30 days)
SHORT = {
    clocks.Clock.ACKNOWLEDGEMENT: "ack",
    clocks.Clock.FIRST_CONTACT: "fc",
    clocks.Clock.FIRST_CONVERSATION: "fv",
    clocks.Clock.FEEDBACK: "fb",
}


@dataclass(frozen=True)
class Summary:
    cases: int = 0
    mails: int = 0
    corrected: int = 0


async def run(
    settings: Settings, *, now: datetime | None = None, batch: int = BATCH, limit: int = LIMIT
) -> Summary:
    """Queue the reminders due at `now`; safe to run again and in several processes."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    ctx = system_context("reminders")
    cases = mails = corrected = 0
    after: tuple[datetime, UUID] | None = None
    async with tenant_transaction(ctx):
        while cases < limit:
            rows = await _due_cases(ctx, now, after, min(batch, limit - cases))
            if not rows:
                break
            cases += len(rows)
            page = await _Page.load(ctx, rows)
            for row in rows:
                queued, fixed = await page.remind(settings, ctx, row, now)
                mails, corrected = mails + queued, corrected + fixed
            after = (rows[-1]["next_due_at"], rows[-1]["id"])
    if cases >= limit:
        log.warning("reminders: stopped at the limit of %d cases", limit)
    return Summary(cases=cases, mails=mails, corrected=corrected)


async def _due_cases(
    ctx: TenantContext, now: datetime, after: tuple[datetime, UUID] | None, size: int
) -> list[dict[str, Any]]:
    query = (
        scoped(
            Case.select(
                *FACT_COLUMNS,
                Case.organisation,
                Case.bureau,
                Case.counsellor,
                Case.reference,
                Case.organisation.country.as_alias("country"),
            ),
            Case,
            ctx,
        )
        .where(Case.next_due_at.is_not_null())
        .where(Case.next_due_at <= now + LOOKAHEAD)
        .where(Case.status != CaseStatus.CLOSED)
        .where(Case.closed_at.is_null())
    )
    if after is not None:
        due, case_id = after
        query = query.where(
            (Case.next_due_at > due) | ((Case.next_due_at == due) & (Case.id > case_id))
        )
    return await query.order_by(Case.next_due_at).order_by(Case.id).limit(size)


def _level_start(deadline: clocks.Deadline, level: int) -> datetime:
    return {1: deadline.warn_from, 2: deadline.due}.get(level, deadline.due + clocks.ESCALATE_AFTER)


@dataclass
class _Page:
    """The rules and the people for one page of cases (three queries, whatever its size)."""

    rules: dict[UUID, clocks.ClockRules]
    staff: Staff

    @classmethod
    async def load(cls, ctx: TenantContext, rows: list[dict[str, Any]]) -> _Page:
        organisations = sorted({row["organisation"] for row in rows}, key=str)
        settings_rows = await scoped(ClockSettings.select(), ClockSettings, ctx).where(
            ClockSettings.organisation.is_in(organisations)
        )
        rules = {UUID(str(row["organisation"])): rules_from_row(row) for row in settings_rows}
        return cls(rules, await load_staff(ctx, rows))

    def recipients(self, row: dict[str, Any], level: int) -> list[dict[str, Any]]:
        if level >= 3:
            return self.staff.admins_of(row)
        counsellors = self.staff.counsellors_of(row)
        first = first_in_line(counsellors, row["counsellor"])
        if level == 1:
            return first
        substitutes = [m for m in counsellors if m["assignment"] == Assignment.SUBSTITUTE]
        return first + [m for m in substitutes if m not in first]

    async def remind(
        self, settings: Settings, ctx: TenantContext, row: dict[str, Any], now: datetime
    ) -> tuple[int, int]:
        """Queue the case's reminders; (mails queued, 1 if `next_due_at` was corrected)."""
        rules = self.rules.get(UUID(str(row["organisation"])), clocks.DEFAULT_RULES)
        facts = clocks.facts_from_row(row, row["country"])
        corrected = 0
        due = clocks.next_due(facts, rules)
        if due != row["next_due_at"]:
            await scoped(Case.update({Case.next_due_at: due}), Case, ctx).where(
                Case.id == row["id"]
            )
            corrected = 1
        queued = 0
        for deadline in clocks.schedule(facts, rules):
            level = deadline.level(now)
            if level == 0 or now >= _level_start(deadline, level) + STALE_AFTER:
                continue
            for person in self.recipients(row, level):
                await self._mail(settings, row, deadline, level, person)
                queued += 1
        return queued, corrected

    async def _mail(
        self,
        settings: Settings,
        row: dict[str, Any],
        deadline: clocks.Deadline,
        level: int,
        person: dict[str, Any],
    ) -> None:
        language = person["language"] or "nl"
        _ = self.staff.gettext(settings, language)
        reference = row["reference"] or str(row["id"])[:8]
        when = format_datetime(
            deadline.due, "medium", tzinfo=clocks.zone_for(row["country"]), locale=language
        )
        lines = [_sentence(_, deadline.clock, level >= 2) % {"reference": reference, "due": when}]
        if level == 2:
            lines.append(_("You receive this as a counsellor of the organisation."))
        if level >= 3:
            lines += [
                _("You receive this as bureau admin: the deadline passed more than two days ago."),
                _("See the dashboard:"),
                f"{settings.base_url}/bureau/dashboard",
            ]
        else:
            lines += [_("Open the case:"), f"{settings.base_url}/cases/{row['id']}"]
        lines.append(_("For the reporter's safety this e-mail contains nothing of the report."))
        key = SHORT[deadline.clock]
        await mail.enqueue(
            person["email"],
            _("Deadline reminder for case %(reference)s") % {"reference": reference},
            "\n\n".join(lines) + "\n",
            bureau=row["bureau"],
            dedupe_key=(
                f"reminder:{row['id']}:{key}:{deadline.due:%Y%m%d%H%M}:{level}:{person['id']}"
            ),
        )


def _sentence(_: Callable[[str], str], clock: clocks.Clock, passed: bool) -> str:
    """One whole sentence per deadline and state, so that each translates as a whole."""
    if clock is clocks.Clock.ACKNOWLEDGEMENT:
        if passed:
            return _(
                "The deadline to acknowledge the receipt of case %(reference)s passed on %(due)s."
            )
        return _("The receipt of case %(reference)s must be acknowledged by %(due)s.")
    if clock is clocks.Clock.FIRST_CONTACT:
        if passed:
            return _(
                "The first contact in case %(reference)s was due by %(due)s and is not recorded."
            )
        return _("The first contact in case %(reference)s is due by %(due)s.")
    if clock is clocks.Clock.FIRST_CONVERSATION:
        if passed:
            return _(
                "The first conversation in case %(reference)s was due by %(due)s"
                " and is not recorded."
            )
        return _("The first conversation in case %(reference)s is due by %(due)s.")
    if passed:
        return _(
            "The deadline for feedback to the reporter of case %(reference)s passed on %(due)s."
        )
    return _("Feedback to the reporter of case %(reference)s is due by %(due)s.")
