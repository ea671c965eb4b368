"""The legal clocks a reporter sees in the mailbox (REQUIREMENTS §3), in plain date arithmetic.

Acknowledgement within 7 calendar days of receipt; feedback within 3 months of the
acknowledgement, or 3 months and 7 days after receipt when none was sent. Configurable clocks
per organisation, working days and reminders arrive with casework; these are the defaults.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

ACKNOWLEDGE_WITHIN = timedelta(days=7)
FEEDBACK_MONTHS = 3


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` later, or the month's last day when it has no such day
    (31 January + 1 month = 28/29 February)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class Deadlines:
    acknowledgement_due: datetime
    acknowledged_at: datetime | None
    feedback_due: datetime


def deadlines(received_at: datetime, acknowledged_at: datetime | None) -> Deadlines:
    if acknowledged_at is not None:
        feedback = add_months(acknowledged_at, FEEDBACK_MONTHS)
    else:
        feedback = add_months(received_at, FEEDBACK_MONTHS) + ACKNOWLEDGE_WITHIN
    return Deadlines(
        acknowledgement_due=received_at + ACKNOWLEDGE_WITHIN,
        acknowledged_at=acknowledged_at,
        feedback_due=feedback,
    )
