"""Small-count suppression, checked against a reader who knows the algorithm.

The attacker sees a published table (shown values, states, the total when shown, the
withheld flag), tries every count that fits each suppressed row (small: 0..k-1, hidden:
k..T, withheld: 0..T; summing to T when T is shown), re-runs the algorithm on each and
keeps those that publish exactly the same table. A suppressed row is safe when the kept
candidates still disagree about it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from casework.annual_model import MAX_K, MIN_K, Figure, FigureState, Row, Table, TableKey
from casework.suppression import (
    additive_table,
    check_k,
    compare,
    compare_single,
    multi_table,
    single,
)

CODES = ("a", "b", "c", "d", "e")
KEY = TableKey.OUTCOME
Counts = tuple[int, ...]
Publish = Callable[[Counts], Table]

# Counts near k more often: that is where suppression has decisions to make.
count_values = st.one_of(st.integers(0, 6), st.integers(0, 15))
counts_lists = st.lists(count_values, min_size=1, max_size=5)
thresholds = st.integers(2, 5)
PROPERTY = settings(max_examples=1000, deadline=None)


def pairs(counts: Sequence[int]) -> list[tuple[str, int]]:
    return list(zip(CODES, counts, strict=False))


def domains(figures: Sequence[Figure], *, k: int, bound: int, withheld: bool) -> list[range]:
    """What the attacker knows about each row from its published state alone."""
    result = []
    for figure in figures:
        if figure.value is not None:
            result.append(range(figure.value, figure.value + 1))
        elif withheld:
            result.append(range(bound + 1))
        elif figure.state is FigureState.SMALL:
            result.append(range(min(k, bound + 1)))
        else:
            result.append(range(k, bound + 1))
    return result


def assignments(ranges: Sequence[range], total: int | None) -> Iterator[Counts]:
    """Every choice from the ranges, summing to `total` when it is known."""
    if not ranges:
        if total in (None, 0):
            yield ()
        return
    first, rest = ranges[0], ranges[1:]
    for value in first:
        left = None if total is None else total - value
        if left is not None and not sum(r.start for r in rest) <= left <= sum(
            r.stop - 1 for r in rest
        ):
            continue
        for tail in assignments(rest, left):
            yield (value, *tail)


def attack(
    published: Table,
    figures: Sequence[Figure],
    total: Figure | None,
    *,
    k: int,
    withheld: bool,
    publish: Publish,
) -> list[Counts]:
    """Counts that fit one year's `figures` and `total` and publish `published` again."""
    known = None if total is None else total.value
    bound = k - 1 if known is None else known  # no total: a category table, never hidden
    ranges = domains(figures, k=k, bound=bound, withheld=withheld)
    return [guess for guess in assignments(ranges, known) if publish(guess) == published]


def assert_unpinned(
    candidates: Sequence[Counts], figures: Sequence[Figure], truth: Counts, total: Figure | None
) -> None:
    assert truth in candidates
    for index, figure in enumerate(figures):
        if not figure.is_shown:
            assert len({guess[index] for guess in candidates}) >= 2, (index, candidates)
    if total is not None and not total.is_shown:
        assert len({sum(guess) for guess in candidates}) >= 2


def currents(table: Table) -> list[Figure]:
    return [row.current for row in table.rows]


def assert_honest(table: Table, counts: Sequence[int], k: int) -> None:
    """Shown values are true and at least k; a count below k is never shown."""
    for row, count in zip(table.rows, counts, strict=True):
        if row.current.is_shown:
            assert row.current.value == count >= k
        elif row.current.state is FigureState.SMALL:
            assert count < k
        else:
            assert table.withheld or count >= k
    assert table.total is not None
    assert table.total.current == (
        Figure.shown(sum(counts)) if sum(counts) >= k else Figure.small()
    )


@PROPERTY
@given(counts=counts_lists, k=thresholds)
@example(counts=[1, 3, 3], k=3)
@example(counts=[0, 3, 5], k=3)
@example(counts=[0, 3, 3, 3], k=3)
@example(counts=[3, 3], k=4)
def test_additive_table_known_algorithm_cannot_pin_suppressed_rows(
    counts: list[int], k: int
) -> None:
    def publish(guess: Counts) -> Table:
        return additive_table(KEY, pairs(guess), k=k)

    table = publish(tuple(counts))
    assert table.total is not None
    total = table.total.current
    event("withheld" if table.withheld else f"{states(table).count('hidden')} hidden")
    candidates = attack(
        table, currents(table), total, k=k, withheld=table.withheld, publish=publish
    )
    assert_unpinned(candidates, currents(table), tuple(counts), total)


@settings(max_examples=300, deadline=None)
@given(counts=counts_lists, k=thresholds)
def test_multi_table_known_algorithm_cannot_pin_small_rows(counts: list[int], k: int) -> None:
    def publish(guess: Counts) -> Table:
        return multi_table(TableKey.CATEGORY, pairs(guess), k=k)

    table = publish(tuple(counts))
    assert table.total is None
    assert all(row.current.state is not FigureState.HIDDEN for row in table.rows)
    candidates = attack(table, currents(table), None, k=k, withheld=False, publish=publish)
    assert_unpinned(candidates, currents(table), tuple(counts), None)


@PROPERTY
@given(counts=counts_lists, k=thresholds)
def test_additive_table_any_counts_published_truthfully(counts: list[int], k: int) -> None:
    table = additive_table(KEY, pairs(counts), k=k)
    assert_honest(table, counts, k)
    hidden = [row.code for row in table.rows if row.current.state is FigureState.HIDDEN]
    not_small = [code for code, count in pairs(counts) if count >= k]
    if not table.withheld:  # complementary rows are taken in table order, never by size
        assert hidden == not_small[: len(hidden)]


@settings(max_examples=500, deadline=None)
@given(data=st.data(), k=thresholds)
def test_additive_table_with_previous_year_cannot_pin_either_year(
    data: st.DataObject, k: int
) -> None:
    """Each year fixed at its true counts in turn: both subsets of the attacker's candidates."""
    now = tuple(data.draw(counts_lists))
    before = tuple(data.draw(st.lists(count_values, min_size=len(now), max_size=len(now))))
    table = additive_table(KEY, pairs(now), k=k, previous=pairs(before))
    for row in (*table.rows, table.total):
        assert row is not None and row.previous is not None
        this, last = row.current.value, row.previous.value
        if this is None or last is None:
            assert row.difference is None
        else:
            assert row.difference == this - last

    def this_year(guess: Counts) -> Table:
        return additive_table(KEY, pairs(guess), k=k, previous=pairs(before))

    def last_year(guess: Counts) -> Table:
        return additive_table(KEY, pairs(now), k=k, previous=pairs(guess))

    assert table.total is not None and table.total.previous is not None
    total = table.total.current
    guesses = attack(table, currents(table), total, k=k, withheld=table.withheld, publish=this_year)
    assert_unpinned(guesses, currents(table), now, total)
    earlier = [row.previous for row in table.rows if row.previous is not None]
    # The table carries this year's withheld flag; last year's column shows its own by
    # hiding every row, which nothing but withholding does in a table of two or more rows.
    withheld = len(earlier) >= 2 and all(f.state is FigureState.HIDDEN for f in earlier)
    total = table.total.previous
    guesses = attack(table, earlier, total, k=k, withheld=withheld, publish=last_year)
    assert_unpinned(guesses, earlier, before, total)


def states(table: Table) -> list[str]:
    return [row.current.state.value for row in table.rows]


def test_additive_table_naive_complement_pinned_by_attacker() -> None:
    """The attacker is not toothless: hiding the smallest visible row gives [1, 3, 3] away."""

    def naive(guess: Counts) -> Table:
        figures = [Figure.small() if v < 3 else Figure.shown(v) for v in guess]
        smallest = min((v, i) for i, v in enumerate(guess) if v >= 3)[1]
        figures[smallest] = Figure.hidden()
        rows = tuple(Row(code, f, None, None) for code, f in zip(CODES, figures, strict=False))
        return Table(KEY, rows, Row("", Figure.shown(sum(guess)), None, None), True)

    table = naive((1, 3, 3))
    total = Figure.shown(7)
    candidates = attack(table, currents(table), total, k=3, withheld=False, publish=naive)
    assert candidates == [(1, 3, 3)]


def test_additive_table_one_big_two_zeros_hides_the_big_row() -> None:
    table = additive_table(KEY, pairs([5, 0, 0]), k=3)
    assert states(table) == ["hidden", "small", "small"]
    assert table.total == Row("", Figure.shown(5), None, None)
    assert not table.withheld


def test_additive_table_small_beside_two_minimal_rows_withheld() -> None:
    table = additive_table(KEY, pairs([1, 3, 3]), k=3)
    assert table.withheld
    assert states(table) == ["hidden"] * 3
    assert table.total is not None and table.total.current == Figure.shown(7)


def test_additive_table_zero_slack_hides_next_row_in_order() -> None:
    # Hiding only the first 3 would give 0 and 3 away; the 5 is hidden too.
    assert states(additive_table(KEY, pairs([0, 3, 5, 6]), k=3)) == [
        "small",
        "hidden",
        "hidden",
        "shown",
    ]


def test_additive_table_total_equal_to_k_withheld() -> None:
    for counts in ([3, 0], [2, 1], [1, 1, 1]):
        table = additive_table(KEY, pairs(counts), k=3)
        assert table.withheld and states(table) == ["hidden"] * len(counts)


def test_additive_table_every_row_just_below_k_withheld() -> None:
    assert additive_table(KEY, pairs([2, 2, 2]), k=3).withheld
    assert additive_table(KEY, pairs([6, 0, 0]), k=3).withheld  # same total, same decision
    assert states(additive_table(KEY, pairs([2, 2, 1]), k=3)) == ["small"] * 3


def test_additive_table_total_below_k_all_small() -> None:
    table = additive_table(KEY, pairs([1, 1]), k=3)
    assert states(table) == ["small", "small"]
    assert table.total is not None and table.total.current == Figure.small()
    assert not table.withheld


def test_additive_table_single_row_equal_to_k_shown() -> None:
    table = additive_table(KEY, pairs([3]), k=3)
    assert states(table) == ["shown"] and not table.withheld


def test_additive_table_k_two_zero_is_small() -> None:
    table = additive_table(KEY, pairs([0, 2, 5]), k=2)
    assert states(table) == ["small", "hidden", "hidden"]
    assert states(additive_table(KEY, pairs([1, 3, 5]), k=2)) == ["small", "hidden", "shown"]


def test_additive_table_previous_codes_appended_and_compared() -> None:
    table = additive_table(KEY, [("a", 6), ("b", 5)], k=3, previous=[("c", 3), ("b", 7), ("a", 9)])
    assert table.rows == (
        Row("a", Figure.hidden(), Figure.shown(9), None),
        Row("b", Figure.shown(5), Figure.shown(7), -2),
        Row("c", Figure.small(), Figure.shown(3), None),
    )
    assert table.total == Row("", Figure.shown(11), Figure.shown(19), -8)


def test_additive_table_bad_counts_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        additive_table(KEY, [("a", -1)], k=3)
    with pytest.raises(ValueError, match="twice"):
        additive_table(KEY, [("a", 1), ("a", 2)], k=3)
    with pytest.raises(ValueError, match="k must be"):
        additive_table(KEY, [("a", 1)], k=1)


def test_multi_table_small_rows_only_no_total() -> None:
    table = multi_table(TableKey.CATEGORY, [("a", 0), ("b", 9), ("c", 2)], k=3, previous=[])
    assert states(table) == ["small", "shown", "small"]
    assert table.total is None and not table.additive
    assert table.rows[1] == Row("b", Figure.shown(9), Figure.small(), None)


def test_single_below_k_small_and_difference_only_when_both_shown() -> None:
    assert single(2, k=3) == Row("", Figure.small(), None, None)
    assert single(8, k=3, previous=5) == Row("", Figure.shown(8), Figure.shown(5), 3)
    assert single(8, k=3, previous=0) == Row("", Figure.shown(8), Figure.small(), None)


def test_compare_frozen_previous_pairs_by_code() -> None:
    current = additive_table(KEY, [("a", 4), ("b", 6)], k=3)
    frozen = additive_table(KEY, [("b", 5), ("z", 9)], k=3)
    table = compare(current, frozen)
    assert table.rows == (
        Row("a", Figure.shown(4), None, None),
        Row("b", Figure.shown(6), Figure.shown(5), 1),
    )
    assert table.total == Row("", Figure.shown(10), Figure.shown(14), -4)
    assert compare(current, None) == current
    with pytest.raises(ValueError, match="compare"):
        compare(current, multi_table(TableKey.CATEGORY, [("a", 4)], k=3))


def test_compare_single_previous_suppressed_no_difference() -> None:
    now = single(12, k=3)
    assert compare_single(now, single(1, k=3)) == Row("", Figure.shown(12), Figure.small(), None)
    assert compare_single(now, single(10, k=3)).difference == 2


def test_check_k_bounds() -> None:
    assert check_k(MIN_K) == MIN_K
    assert check_k(MAX_K) == MAX_K
    for bad in (MIN_K - 1, MAX_K + 1):
        with pytest.raises(ValueError, match="k must be"):
            check_k(bad)
