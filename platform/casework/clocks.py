"""The legal and practice clocks of a case (REQUIREMENTS §3), as pure date arithmetic.

- acknowledgement: receipt + N calendar days (default 7), a warning from day W (default 5);
- feedback: acknowledgement + M months (default 3), or receipt + M months + N days when none
  was sent; a reminder R days before (default 15);
- first contact (unwanted behaviour, bureau practice): receipt + K working days (default 2),
  skipping weekends and the organisation's holidays; a reminder on the due day;
- first conversation (Belgian organisations, unwanted behaviour, wellbeing law): receipt + 10
  calendar days. Both are met by the one recorded first contact.

A case a counsellor opened for a phone call or a visit (channel not online) began with that
contact: it has no acknowledgement, first contact or first conversation clock, only feedback.

Stored times are UTC; the arithmetic runs on the local wall clock of the organisation's
country (Europe/Amsterdam, Europe/Brussels), so "7 days" keeps the hour across a DST change
and a working day is a local date. A receipt on a non-working day counts from the start of the
next working day. Nothing here reads the database: `casework.clock_settings` loads the rules.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from tenants.choices import Country, Procedure

ACKNOWLEDGE_WITHIN = timedelta(days=7)  # the legal default (the dashboard counts breaches)
FEEDBACK_MONTHS = 3
ZONES = {
    Country.NL.value: ZoneInfo("Europe/Amsterdam"),
    Country.BE.value: ZoneInfo("Europe/Brussels"),
}
ESCALATE_AFTER = timedelta(days=2)  # level 3 (the bureau admins) this long after a breach


@dataclass(frozen=True)
class ClockRules:
    """An organisation's clocks (`ClockSettings`, else these defaults)."""

    acknowledge_days: int = 7
    acknowledge_warning_day: int = 5
    feedback_months: int = FEEDBACK_MONTHS
    feedback_reminder_days: int = 15
    first_contact_working_days: int = 2
    first_conversation_days: int = 10
    holidays: frozenset[date] = frozenset()


DEFAULT_RULES = ClockRules()


class Clock(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    FIRST_CONTACT = "first_contact"
    FIRST_CONVERSATION = "first_conversation"
    FEEDBACK = "feedback"


class ClockState(StrEnum):
    MET = "met"
    MET_LATE = "met_late"
    EXCEPTED = "excepted"  # no acknowledgement, with a recorded reason
    STOPPED = "stopped"  # not met, and the case is closed
    PENDING = "pending"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class CaseFacts:
    """What the clocks read of a case (the stored columns and the organisation's country)."""

    received_at: datetime
    procedure: str
    country: str = Country.NL.value
    channel: str = "online"
    acknowledged_at: datetime | None = None
    acknowledgement_exception: str = ""
    first_contact_at: datetime | None = None
    feedback_at: datetime | None = None
    closed: bool = False


@dataclass(frozen=True)
class Deadline:
    clock: Clock
    due: datetime
    warn_from: datetime
    met_at: datetime | None = None
    excepted: bool = False

    @property
    def open(self) -> bool:
        return self.met_at is None and not self.excepted

    def state(self, now: datetime, *, closed: bool = False) -> ClockState:
        if self.excepted:
            return ClockState.EXCEPTED
        if self.met_at is not None:
            return ClockState.MET_LATE if self.met_at > self.due else ClockState.MET
        if closed:
            return ClockState.STOPPED
        if now >= self.due:
            return ClockState.OVERDUE
        return ClockState.DUE_SOON if now >= self.warn_from else ClockState.PENDING

    def level(self, now: datetime) -> int:
        """The reminder level reached: 0 none, 1 warning, 2 breached, 3 escalated."""
        if not self.open or now < self.warn_from:
            return 0
        if now < self.due:
            return 1
        return 2 if now < self.due + ESCALATE_AFTER else 3


def facts_from_row(row: dict[str, Any], country: str) -> CaseFacts:
    """The facts of a `Case` row (as Piccolo selects it)."""
    return CaseFacts(
        received_at=row["received_at"],
        procedure=row["procedure"],
        country=country,
        channel=row.get("channel") or "online",
        acknowledged_at=row["acknowledged_at"],
        acknowledgement_exception=row["acknowledgement_exception"] or "",
        first_contact_at=row["first_contact_at"],
        feedback_at=row["feedback_at"],
        closed=row["status"] == "closed" or row["closed_at"] is not None,
    )


def zone_for(country: str) -> ZoneInfo:
    return ZONES.get(country, ZONES[Country.NL.value])


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` later, or the month's last day when it has no such day
    (31 January + 1 month = 28/29 February)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _utc(local: datetime) -> datetime:
    return local.astimezone(UTC)


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    """The local wall clock, as a naive datetime (arithmetic on it keeps the hour)."""
    return moment.astimezone(zone).replace(tzinfo=None)


def _aware(wall: datetime, zone: ZoneInfo) -> datetime:
    return _utc(wall.replace(tzinfo=zone))


def add_calendar(moment: datetime, zone: ZoneInfo, *, days: int = 0, months: int = 0) -> datetime:
    """`moment` + months, then + days, on the local wall clock (UTC in and out)."""
    wall = add_months(_wall(moment, zone), months) + timedelta(days=days)
    return _aware(wall, zone)


def is_working_day(day: date, holidays: Iterable[date] = ()) -> bool:
    return day.weekday() < 5 and day not in set(holidays)


def add_working_days(
    moment: datetime, days: int, zone: ZoneInfo, holidays: frozenset[date] = frozenset()
) -> datetime:
    """`days` working days after `moment`, at the same local time; a moment on a non-working
    day counts from the start of the next working day."""
    wall = _wall(moment, zone)
    day, at = wall.date(), wall.time()
    if not is_working_day(day, holidays):
        while not is_working_day(day, holidays):
            day += timedelta(days=1)
        at = time(0, 0)
    for _ in range(days):
        day += timedelta(days=1)
        while not is_working_day(day, holidays):
            day += timedelta(days=1)
    return _aware(datetime.combine(day, at), zone)


def _start_of_due_day(due: datetime, zone: ZoneInfo) -> datetime:
    """00:00 local of the day the deadline falls on (a deadline at midnight: the day before)."""
    day = _wall(due - timedelta(seconds=1), zone).date()
    return _aware(datetime.combine(day, time(0, 0)), zone)


def schedule(facts: CaseFacts, rules: ClockRules = DEFAULT_RULES) -> list[Deadline]:
    """The case's deadlines, in a fixed order (acknowledgement, first contact, first
    conversation, feedback); only those that apply to its procedure and country."""
    zone = zone_for(facts.country)
    received = facts.received_at
    online = facts.channel == "online"
    result = []
    if online:
        result.append(
            Deadline(
                Clock.ACKNOWLEDGEMENT,
                due=add_calendar(received, zone, days=rules.acknowledge_days),
                warn_from=add_calendar(received, zone, days=rules.acknowledge_warning_day),
                met_at=facts.acknowledged_at,
                excepted=bool(facts.acknowledgement_exception) and facts.acknowledged_at is None,
            )
        )
    if online and facts.procedure == Procedure.UNWANTED_BEHAVIOUR.value:
        contact_due = add_working_days(
            received, rules.first_contact_working_days, zone, rules.holidays
        )
        result.append(
            Deadline(
                Clock.FIRST_CONTACT,
                due=contact_due,
                warn_from=_start_of_due_day(contact_due, zone),
                met_at=facts.first_contact_at,
            )
        )
        if facts.country == Country.BE.value:
            conversation_due = add_calendar(received, zone, days=rules.first_conversation_days)
            result.append(
                Deadline(
                    Clock.FIRST_CONVERSATION,
                    due=conversation_due,
                    warn_from=_start_of_due_day(conversation_due, zone),
                    met_at=facts.first_contact_at,
                )
            )
    if facts.acknowledged_at is not None:
        feedback_due = add_calendar(facts.acknowledged_at, zone, months=rules.feedback_months)
    else:
        feedback_due = add_calendar(
            received, zone, months=rules.feedback_months, days=rules.acknowledge_days
        )
    result.append(
        Deadline(
            Clock.FEEDBACK,
            due=feedback_due,
            warn_from=add_calendar(feedback_due, zone, days=-rules.feedback_reminder_days),
            met_at=facts.feedback_at,
        )
    )
    return result


def next_due(facts: CaseFacts, rules: ClockRules = DEFAULT_RULES) -> datetime | None:
    """The nearest deadline not yet met (none once the case is closed): `Case.next_due_at`."""
    if facts.closed:
        return None
    dues = [deadline.due for deadline in schedule(facts, rules) if deadline.open]
    return min(dues, default=None)


@dataclass(frozen=True)
class Deadlines:
    """The two legal deadlines, as the reporter's mailbox and the case summary show them."""

    acknowledgement_due: datetime
    acknowledged_at: datetime | None
    feedback_due: datetime


def deadlines(
    received_at: datetime,
    acknowledged_at: datetime | None,
    rules: ClockRules = DEFAULT_RULES,
    country: str = Country.NL.value,
) -> Deadlines:
    facts = CaseFacts(
        received_at, Procedure.INTEGRITY.value, country, acknowledged_at=acknowledged_at
    )
    planned = {deadline.clock: deadline for deadline in schedule(facts, rules)}
    return Deadlines(
        acknowledgement_due=planned[Clock.ACKNOWLEDGEMENT].due,
        acknowledged_at=acknowledged_at,
        feedback_due=planned[Clock.FEEDBACK].due,
    )
