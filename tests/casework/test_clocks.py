"""The clocks as pure functions, with fixed datetimes: Friday receipts, holidays, month ends,
29 February and the changes to and from summer time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from casework import clocks
from casework.clocks import CaseFacts, Clock, ClockRules, ClockState

AMSTERDAM = clocks.zone_for("NL")
UB = "unwanted_behaviour"


def at(*parts: int) -> datetime:
    """A UTC moment."""
    return datetime(*parts, tzinfo=UTC)


def local(*parts: int) -> datetime:
    """A moment on the Amsterdam wall clock, as UTC."""
    return datetime(*parts, tzinfo=AMSTERDAM).astimezone(UTC)


def planned(facts: CaseFacts, rules: ClockRules = clocks.DEFAULT_RULES) -> dict[Clock, Any]:
    return {deadline.clock: deadline for deadline in clocks.schedule(facts, rules)}


def test_acknowledgement_due_seven_calendar_days_later():
    received = local(2026, 11, 4, 10, 0)
    due = planned(CaseFacts(received, "integrity"))[Clock.ACKNOWLEDGEMENT]
    assert due.due == local(2026, 11, 11, 10, 0)
    assert due.warn_from == local(2026, 11, 9, 10, 0)


def test_acknowledgement_over_spring_dst_keeps_local_hour():
    received = local(2026, 3, 27, 10, 0)  # CET, 09:00 UTC
    due = planned(CaseFacts(received, "integrity"))[Clock.ACKNOWLEDGEMENT].due
    assert due == at(2026, 4, 3, 8, 0)  # CEST: 10:00 local is 08:00 UTC
    assert due - received == timedelta(days=7, hours=-1)


def test_acknowledgement_over_autumn_dst_keeps_local_hour():
    received = local(2026, 10, 23, 10, 0)  # CEST, 08:00 UTC
    assert planned(CaseFacts(received, "integrity"))[Clock.ACKNOWLEDGEMENT].due == at(
        2026, 10, 30, 9, 0
    )


def test_feedback_without_acknowledgement_three_months_and_seven_days():
    received = local(2026, 1, 31, 9, 0)
    feedback = planned(CaseFacts(received, "integrity"))[Clock.FEEDBACK]
    assert feedback.due == local(2026, 5, 7, 9, 0)  # 30 April (no 31st) + 7 days
    assert feedback.warn_from == local(2026, 4, 22, 9, 0)


def test_feedback_after_acknowledgement_on_month_end_takes_last_day():
    received = local(2026, 11, 25, 9, 0)
    acknowledged = local(2026, 11, 30, 14, 0)
    facts = CaseFacts(received, "integrity", acknowledged_at=acknowledged)
    assert planned(facts)[Clock.FEEDBACK].due == local(2027, 2, 28, 14, 0)


def test_feedback_after_acknowledgement_reaches_29_february_in_leap_year():
    facts = CaseFacts(local(2027, 11, 20), "integrity", acknowledged_at=local(2027, 11, 30, 9))
    assert planned(facts)[Clock.FEEDBACK].due == local(2028, 2, 29, 9, 0)


def test_received_on_29_february_counts_into_march():
    facts = CaseFacts(local(2028, 2, 29, 12, 0), "integrity")
    assert planned(facts)[Clock.ACKNOWLEDGEMENT].due == local(2028, 3, 7, 12, 0)
    assert planned(facts)[Clock.FEEDBACK].due == local(2028, 6, 5, 12, 0)  # 29 May + 7


def test_feedback_month_counted_on_local_date_not_utc():
    # 1 March 00:30 in Amsterdam is still 28 February in UTC.
    facts = CaseFacts(local(2026, 2, 20), "integrity", acknowledged_at=local(2026, 3, 1, 0, 30))
    assert planned(facts)[Clock.FEEDBACK].due == local(2026, 6, 1, 0, 30)


def test_first_contact_friday_receipt_due_tuesday():
    received = local(2026, 12, 4, 16, 0)  # a Friday
    contact = planned(CaseFacts(received, UB))[Clock.FIRST_CONTACT]
    assert contact.due == local(2026, 12, 8, 16, 0)
    assert contact.warn_from == local(2026, 12, 8, 0, 0)  # the due day


def test_first_contact_skips_holiday():
    rules = ClockRules(holidays=frozenset({date(2026, 12, 7)}))  # the Monday
    received = local(2026, 12, 4, 16, 0)
    assert planned(CaseFacts(received, UB), rules)[Clock.FIRST_CONTACT].due == local(
        2026, 12, 9, 16, 0
    )


def test_first_contact_christmas_and_weekend_skipped():
    rules = ClockRules(holidays=frozenset({date(2026, 12, 25), date(2026, 12, 28)}))
    received = local(2026, 12, 24, 11, 0)  # Thursday; Fri holiday, weekend, Mon holiday
    due = planned(CaseFacts(received, UB), rules)[Clock.FIRST_CONTACT].due
    assert due == local(2026, 12, 30, 11, 0)


def test_first_contact_saturday_receipt_counts_from_monday_start():
    received = local(2026, 12, 5, 10, 0)  # a Saturday
    contact = planned(CaseFacts(received, UB))[Clock.FIRST_CONTACT]
    assert contact.due == local(2026, 12, 9, 0, 0)  # Monday and Tuesday: the end of Tuesday
    assert contact.warn_from == local(2026, 12, 8, 0, 0)


def test_first_contact_late_saturday_evening_utc_is_sunday_local():
    # 23:30 UTC on Saturday is Sunday 00:30 in Amsterdam: still a weekend day.
    received = at(2026, 12, 5, 23, 30)
    assert planned(CaseFacts(received, UB))[Clock.FIRST_CONTACT].due == local(2026, 12, 9)


def test_first_contact_over_dst_change_keeps_local_hour():
    received = local(2026, 3, 27, 15, 0)  # Friday before the change to summer time
    assert planned(CaseFacts(received, UB))[Clock.FIRST_CONTACT].due == at(2026, 3, 31, 13, 0)


def test_first_conversation_only_for_belgian_unwanted_behaviour():
    received = local(2026, 12, 4, 16, 0)
    belgian = planned(CaseFacts(received, UB, "BE"))
    assert belgian[Clock.FIRST_CONVERSATION].due == local(2026, 12, 14, 16, 0)
    assert Clock.FIRST_CONVERSATION not in planned(CaseFacts(received, UB, "NL"))
    assert Clock.FIRST_CONVERSATION not in planned(CaseFacts(received, "integrity", "BE"))
    assert Clock.FIRST_CONTACT not in planned(CaseFacts(received, "integrity", "BE"))


def test_phone_case_has_feedback_clock_only():
    facts = CaseFacts(local(2026, 12, 4, 9), UB, channel="phone")
    assert list(planned(facts)) == [Clock.FEEDBACK]


def test_custom_rules_change_every_clock():
    rules = ClockRules(
        acknowledge_days=5,
        acknowledge_warning_day=3,
        feedback_months=2,
        feedback_reminder_days=10,
        first_contact_working_days=1,
        first_conversation_days=7,
    )
    received = local(2026, 12, 1, 9, 0)  # a Tuesday
    result = planned(CaseFacts(received, UB, "BE"), rules)
    assert result[Clock.ACKNOWLEDGEMENT].due == local(2026, 12, 6, 9, 0)
    assert result[Clock.ACKNOWLEDGEMENT].warn_from == local(2026, 12, 4, 9, 0)
    assert result[Clock.FIRST_CONTACT].due == local(2026, 12, 2, 9, 0)
    assert result[Clock.FIRST_CONVERSATION].due == local(2026, 12, 8, 9, 0)
    assert result[Clock.FEEDBACK].due == local(2027, 2, 6, 9, 0)  # 1 Feb + 5 days
    assert result[Clock.FEEDBACK].warn_from == local(2027, 1, 27, 9, 0)


@pytest.mark.parametrize(
    ("now", "state", "level"),
    [
        (local(2026, 11, 6), ClockState.PENDING, 0),
        (local(2026, 11, 9, 10, 0), ClockState.DUE_SOON, 1),
        (local(2026, 11, 11, 10, 0), ClockState.OVERDUE, 2),
        (local(2026, 11, 13, 9, 59), ClockState.OVERDUE, 2),
        (local(2026, 11, 13, 10, 0), ClockState.OVERDUE, 3),
    ],
)
def test_deadline_state_and_level_follow_time(now, state, level):
    deadline = planned(CaseFacts(local(2026, 11, 4, 10, 0), "integrity"))[Clock.ACKNOWLEDGEMENT]
    assert deadline.state(now) is state
    assert deadline.level(now) == level


def test_deadline_met_late_excepted_and_stopped_states():
    received = local(2026, 11, 4, 10, 0)
    late = CaseFacts(received, "integrity", acknowledged_at=local(2026, 11, 12))
    assert planned(late)[Clock.ACKNOWLEDGEMENT].state(local(2026, 12, 1)) is ClockState.MET_LATE
    on_time = CaseFacts(received, "integrity", acknowledged_at=local(2026, 11, 5))
    assert planned(on_time)[Clock.ACKNOWLEDGEMENT].state(local(2026, 12, 1)) is ClockState.MET
    excepted = CaseFacts(received, "integrity", acknowledgement_exception="reporter_declined")
    deadline = planned(excepted)[Clock.ACKNOWLEDGEMENT]
    assert deadline.state(local(2026, 12, 1)) is ClockState.EXCEPTED
    assert deadline.level(local(2026, 12, 1)) == 0
    stopped = planned(CaseFacts(received, "integrity"))[Clock.ACKNOWLEDGEMENT]
    assert stopped.state(local(2026, 12, 1), closed=True) is ClockState.STOPPED


def test_next_due_nearest_open_deadline_then_none_when_closed():
    received = local(2026, 12, 4, 16, 0)
    facts = CaseFacts(received, UB)
    assert clocks.next_due(facts) == local(2026, 12, 8, 16, 0)  # first contact
    contacted = CaseFacts(received, UB, first_contact_at=local(2026, 12, 7, 12))
    assert clocks.next_due(contacted) == local(2026, 12, 11, 16, 0)  # acknowledgement
    excepted = CaseFacts(
        received,
        UB,
        acknowledgement_exception="would_endanger_identity",
        first_contact_at=local(2026, 12, 7, 12),
    )
    assert clocks.next_due(excepted) == local(2027, 3, 11, 16, 0)  # feedback without ack
    done = CaseFacts(
        received,
        UB,
        acknowledged_at=local(2026, 12, 5),
        first_contact_at=local(2026, 12, 7),
        feedback_at=local(2027, 1, 5),
    )
    assert clocks.next_due(done) is None
    closed = CaseFacts(received, UB, closed=True)
    assert clocks.next_due(closed) is None


def test_deadlines_legacy_shape_kept():
    received = local(2026, 11, 4, 10, 0)
    legacy = clocks.deadlines(received, None)
    assert legacy.acknowledgement_due == local(2026, 11, 11, 10, 0)
    assert legacy.feedback_due == local(2027, 2, 11, 10, 0)
    assert clocks.deadlines(received, local(2026, 11, 6, 8)).feedback_due == local(2027, 2, 6, 8, 0)


def test_add_months_clamps_to_month_end():
    assert clocks.add_months(datetime(2026, 1, 31), 1) == datetime(2026, 2, 28)
    assert clocks.add_months(datetime(2026, 11, 30), 3) == datetime(2027, 2, 28)
    assert clocks.add_months(datetime(2026, 12, 15), 1) == datetime(2027, 1, 15)
