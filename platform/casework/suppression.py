"""Small-count suppression: which annual-report figures may be published, and which not.

The rule we promise: a count below k (0 included) is shown as "< k", and enough other
figures are withheld that no hidden count can be worked out from the total or from the
previous year. We assume the reader knows this algorithm, k, the row codes and the total
T (it is the number of cases, published as its own figure), and check the promise by
re-running the algorithm on every count that would fit what was published.

Additive tables (rows add up to T), with n rows, in this order:

1. T < k: the total and every row are small.
2. n >= 2 and (T == k or T == n * (k - 1)): withheld, every row hidden. At T == k every
   split has a small row and at most one row of k, so nothing can be shown safely; at
   T == n * (k - 1) "all rows small" would mean "every row is k - 1". Both depend on T,
   k and n only, which are public. A withheld row may hold anything from 0 to T.
3. No small row: everything is shown.
4. Every row small: shown as such (rule 2 removed the one total that pins them).
5. Otherwise hide rows of k or more, in the table's order, never by size: first one,
   then more while the *slack* stays below 2. The slack is what the suppressed rows hold
   above their least possible value (a small row 0, a hidden row k): T minus the visible
   rows minus k per hidden row, so the reader can compute it. A slack of 0 gives every
   suppressed row away (small rows 0, hidden rows k), which no choice of rows by their
   order alone can avoid, so the slack decides how many rows to hide. The bar is 2 and
   not 1: seeing an extra hidden row then tells only that the slack before it was 0 or 1,
   and any of the earlier suppressed rows may hold that 1.
6. If every row is suppressed and the slack is still below 2: withheld. All such tables
   share T and the number of rows of k or more, so any reordering of the counts is
   withheld too, and each row may be small or not.

Category tables are not additive and have no total: small counts only (a case may count in
several categories or none, so no sum ties the rows together).

Years are suppressed independently, each with its own total; a difference is published
only when both figures are shown. The row codes are published, so callers pass every code
(zero counts included) and the same codes each year; a previous year that was already
published should come from its frozen snapshot through `compare`, so that it reads
exactly as it did then.
"""

from __future__ import annotations

from collections.abc import Sequence

from casework.annual_model import MAX_K, MIN_K, Figure, Row, Table, TableKey

SLACK = 2  # the least slack a published additive table keeps (rule 5)


def check_k(k: int) -> int:
    """k comes from the organisation's settings; out-of-range values would defeat the rule."""
    if not MIN_K <= k <= MAX_K:
        raise ValueError(f"k must be between {MIN_K} and {MAX_K}, not {k}")
    return k


def single(value: int, *, k: int, previous: int | None = None) -> Row:
    """One figure (cases, contacts) next to the previous year's, each below k shown small."""
    check_k(k)
    current = _row("", _count(value), k)
    return compare_single(current, None if previous is None else _row("", _count(previous), k))


def additive_table(
    key: TableKey,
    counts: Sequence[tuple[str, int]],
    *,
    k: int,
    previous: Sequence[tuple[str, int]] | None = None,
) -> Table:
    """A breakdown whose rows add up to the total, with small and complementary suppression.

    Rows follow `counts`, then codes only `previous` has; a missing code counts 0."""
    check_k(k)
    codes, now, before = _align(counts, previous)
    table = _additive(key, codes, now, k)
    return compare(table, None if before is None else _additive(key, codes, before, k))


def multi_table(
    key: TableKey,
    counts: Sequence[tuple[str, int]],
    *,
    k: int,
    previous: Sequence[tuple[str, int]] | None = None,
) -> Table:
    """A breakdown where a case may count in several rows or none: small counts only."""
    check_k(k)
    codes, now, before = _align(counts, previous)
    table = _multi(key, codes, now, k)
    return compare(table, None if before is None else _multi(key, codes, before, k))


def compare(current: Table, previous: Table | None) -> Table:
    """Fill in the previous year from an already suppressed table, pairing rows by code.

    A code the previous table lacks gets no previous figure; codes only the previous table
    has are left out, since the current table cannot grow rows after its suppression. The
    result keeps only this year's withheld flag: last year's was withheld when all its rows
    are hidden, which suppression does to a table of two or more rows only by withholding."""
    if previous is not None and previous.key is not current.key:
        raise ValueError(f"cannot compare {current.key} with {previous.key}")
    earlier = {} if previous is None else {row.code: row for row in previous.rows}
    rows = tuple(compare_single(row, earlier.get(row.code)) for row in current.rows)
    total = current.total
    if total is not None:
        total = compare_single(total, None if previous is None else previous.total)
    return Table(current.key, rows, total, current.additive, current.withheld)


def compare_single(current: Row, previous: Row | None) -> Row:
    """Put last year's published figure next to this year's; subtract only shown values."""
    if previous is None:
        return Row(current.code, current.current, None, None)
    before = previous.current
    difference = None
    if current.current.value is not None and before.value is not None:
        difference = current.current.value - before.value
    return Row(current.code, current.current, before, difference)


def _additive(key: TableKey, codes: Sequence[str], counts: Sequence[int], k: int) -> Table:
    total = sum(counts)
    n = len(counts)
    if total < k:
        return _table(key, codes, [Figure.small()] * n, Figure.small(), withheld=False)
    figures = None if n >= 2 and total in (k, n * (k - 1)) else _complement(counts, k)
    if figures is None:
        return _table(key, codes, [Figure.hidden()] * n, Figure.shown(total), withheld=True)
    return _table(key, codes, figures, Figure.shown(total), withheld=False)


def _complement(counts: Sequence[int], k: int) -> list[Figure] | None:
    """Rules 3 to 6: small rows, then rows hidden in table order; None when even all fall short."""
    figures = [_figure(count, k) for count in counts]
    if all(figure.is_shown for figure in figures):
        return figures
    slack = sum(count for count in counts if count < k)
    for hidden, index in enumerate(i for i, count in enumerate(counts) if count >= k):
        if hidden and slack >= SLACK:
            break
        figures[index] = Figure.hidden()
        slack += counts[index] - k
    return figures if slack >= SLACK else None


def _multi(key: TableKey, codes: Sequence[str], counts: Sequence[int], k: int) -> Table:
    rows = tuple(_row(code, count, k) for code, count in zip(codes, counts, strict=True))
    return Table(key, rows, None, additive=False)


def _table(
    key: TableKey,
    codes: Sequence[str],
    figures: Sequence[Figure],
    total: Figure,
    *,
    withheld: bool,
) -> Table:
    rows = tuple(Row(code, figure, None, None) for code, figure in zip(codes, figures, strict=True))
    return Table(key, rows, Row("", total, None, None), additive=True, withheld=withheld)


def _align(
    counts: Sequence[tuple[str, int]], previous: Sequence[tuple[str, int]] | None
) -> tuple[list[str], list[int], list[int] | None]:
    """Both years over the same codes, so each year's suppression sees the same rows."""
    now = _by_code(counts)
    before = None if previous is None else _by_code(previous)
    codes = list(now) + [code for code in before or {} if code not in now]
    return (
        codes,
        [now.get(code, 0) for code in codes],
        None if before is None else [before.get(code, 0) for code in codes],
    )


def _by_code(counts: Sequence[tuple[str, int]]) -> dict[str, int]:
    result: dict[str, int] = {}
    for code, count in counts:
        if code in result:
            raise ValueError(f"code {code!r} counted twice")
        result[code] = _count(count)
    return result


def _count(value: int) -> int:
    if value < 0:
        raise ValueError(f"a count cannot be negative: {value}")
    return value


def _figure(value: int, k: int) -> Figure:
    return Figure.small() if value < k else Figure.shown(value)


def _row(code: str, value: int, k: int) -> Row:
    return Row(code, _figure(value, k), None, None)
