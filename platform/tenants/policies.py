"""Pure rules of bureau operations: no database, no framework, unit-tested on their own."""

from __future__ import annotations

from tenants.choices import Sector

WHISTLEBLOWER_HEADCOUNT = 50  # EU Directive 2019/1937, art. 8(3); Dutch and Belgian law alike
HEADCOUNT_MAX = 1_000_000
RETENTION_CLOSED_MONTHS = (1, 120)
RETENTION_NO_FOLLOW_UP_MONTHS = (1, 24)


def whistleblower_duties(headcount: int, sector: str) -> bool:
    """Whether the whistleblower law obliges the organisation to have an internal reporting
    channel (the integrity procedure): from 50 workers, and in the financial sector at any
    size (anti-money-laundering and financial-services law bring it in regardless)."""
    return headcount >= WHISTLEBLOWER_HEADCOUNT or sector == Sector.FINANCIAL.value


def headcount_problem(text: str) -> tuple[int | None, str | None]:
    """The headcount typed into a form, or the code of what is wrong with it.

    Spaces are allowed (`1 250`); anything else that is not a whole number is refused, and so
    is zero, a negative number and more people than any employer has (a typo)."""
    cleaned = text.strip().replace(" ", "").replace("\N{NO-BREAK SPACE}", "")
    if not cleaned:
        return None, "required"
    sign = cleaned.startswith("-")
    digits = cleaned[1:] if sign else cleaned
    if not digits.isascii() or not digits.isdigit():
        return None, "not_a_number"
    if len(digits) > 12:
        return None, "too_large"
    value = -int(digits) if sign else int(digits)
    if value < 1:
        return None, "too_small"
    if value > HEADCOUNT_MAX:
        return None, "too_large"
    return value, None


def months_problem(text: str, bounds: tuple[int, int]) -> tuple[int | None, str | None]:
    """A number of months within `bounds` (inclusive), or the code of the problem."""
    cleaned = text.strip()
    if not cleaned:
        return None, "required"
    if not cleaned.isascii() or not cleaned.isdigit() or len(cleaned) > 6:
        return None, "not_a_number"
    value = int(cleaned)
    low, high = bounds
    if value < low or value > high:
        return None, "out_of_range"
    return value, None
