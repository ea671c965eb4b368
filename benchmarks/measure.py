"""Measurements and the in-process closed-loop driver.

A closed loop (N workers, each starting its next operation when the previous one ends) is
what a pool of 32 request handlers looks like to the data layer, and it cannot overload the
machine the way an open-loop arrival rate can: the number of operations in flight is bounded
by the concurrency, the total by a count and by a time cap.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

MAX_OPERATIONS = 200_000  # per round: the time cap normally ends a round long before this


@dataclass(frozen=True)
class Measurement:
    """One side's result for one round (or the median over rounds)."""

    throughput: float  # successful operations per second
    p50_ms: float
    p99_ms: float
    count: int  # successful operations
    errors: int  # failed operations (exceptions, non-2xx responses, socket errors)
    seconds: float  # wall time of the round
    first_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


METRICS = ("throughput", "p50_ms", "p99_ms")


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0.0 when it is empty)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def from_latencies(
    latencies_s: list[float], *, errors: int, seconds: float, first_error: str | None = None
) -> Measurement:
    ordered = sorted(latencies_s)
    return Measurement(
        throughput=len(ordered) / seconds if seconds > 0 else 0.0,
        p50_ms=percentile(ordered, 0.50) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        count=len(ordered),
        errors=errors,
        seconds=seconds,
        first_error=first_error,
    )


def median_of(rounds: Sequence[Measurement]) -> Measurement:
    """The median of each metric over the rounds; counts, errors and seconds are summed.

    Per-round medians rather than pooled samples: the HTTP load generator `wrk` reports
    percentiles per run, not samples, and the median shrugs off one noisy round.
    """
    first_error = next((r.first_error for r in rounds if r.first_error), None)
    return Measurement(
        throughput=statistics.median(r.throughput for r in rounds),
        p50_ms=statistics.median(r.p50_ms for r in rounds),
        p99_ms=statistics.median(r.p99_ms for r in rounds),
        count=sum(r.count for r in rounds),
        errors=sum(r.errors for r in rounds),
        seconds=sum(r.seconds for r in rounds),
        first_error=first_error,
    )


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


async def closed_loop(
    operation: Callable[[int], Awaitable[None]],
    *,
    concurrency: int,
    seconds: float,
    max_operations: int = MAX_OPERATIONS,
) -> Measurement:
    """Run `operation(i)` from `concurrency` workers until `seconds` pass or `max_operations`
    have started; latency is per operation, throughput counts successes over the wall time."""
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    started = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors, first_error, started
        while started < max_operations and time.perf_counter() < deadline:
            index = started
            started += 1
            begin = time.perf_counter()
            try:
                await operation(index)
            except Exception as error:  # noqa: BLE001 - counted and reported, not hidden
                errors += 1
                first_error = first_error or describe(error)
            else:
                latencies.append(time.perf_counter() - begin)

    begin = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - begin
    return from_latencies(latencies, errors=errors, seconds=elapsed, first_error=first_error)
