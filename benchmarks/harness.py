"""The registry of pairs and the interleaved runner.

A pair is a target (what we build) and an anchor (what it is judged against), measured under
the same conditions in the same process run. Rounds alternate target and anchor, swapping
who goes first each round (ABBA), so that a noisy neighbour, a CPU frequency change or a
growing table hits both sides rather than one. The headline is the median over rounds, and
the ratio target/anchor is what later runs are compared on.

The registry is `benchmarks.pairs.PAIRS`: a module per pair defines `PAIR = Pair(...)`.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.backends import Backend
from benchmarks.measure import METRICS, Measurement, median_of


@dataclass(frozen=True)
class Options:
    rounds: int = 5
    seconds: float = 3.0  # per side per round
    warmup: float = 1.0  # per side, discarded
    concurrency: int = 32
    generator: str = "auto"  # HTTP load: "wrk", "python" or "auto" (wrk when installed)


@dataclass(frozen=True)
class Environment:
    """What a pair's setup may use: the run's databases, a scratch folder and the options."""

    sqlite: Backend
    postgres: Backend | None
    workdir: Path
    options: Options


@dataclass(frozen=True)
class Round:
    seconds: float
    concurrency: int


@dataclass(frozen=True)
class Side:
    """One side of a pair: a label for people and a coroutine that measures one round."""

    label: str
    run: Callable[[Round], Awaitable[Measurement]]
    details: dict[str, Any] = field(default_factory=dict)  # e.g. the load generator used


@dataclass(frozen=True)
class Comparison:
    """A pair's medians, handed to its aim's check."""

    target: Measurement
    anchor: Measurement

    def ratio(self, metric: str) -> float | None:
        """target / anchor for one metric (None when the anchor is zero)."""
        anchor = float(getattr(self.anchor, metric))
        return float(getattr(self.target, metric)) / anchor if anchor else None


@dataclass(frozen=True)
class Aim:
    """What the pair should show: a sentence, and optionally a check that prints PASS/MISS.

    A side with failed operations is a MISS whatever the numbers say.
    """

    text: str
    check: Callable[[Comparison], bool] | None = None


Setup = Callable[[Environment], AbstractAsyncContextManager[tuple[Side, Side]]]


@dataclass(frozen=True)
class Pair:
    name: str
    description: str
    unit: str  # the headline: "requests/s", "inserts/s", … (throughput) or "p50 ms"/"p99 ms"
    aim: Aim
    setup: Setup  # an async context manager yielding (target, anchor), cleaning up after
    needs_postgres: bool = False

    @property
    def headline(self) -> str:
        return {"p50 ms": "p50_ms", "p99 ms": "p99_ms"}.get(self.unit, "throughput")


@dataclass
class SideResult:
    label: str
    rounds: list[Measurement]
    details: dict[str, Any]

    @property
    def median(self) -> Measurement:
        return median_of(self.rounds)


@dataclass
class PairResult:
    pair: Pair
    target: SideResult
    anchor: SideResult
    order: list[str]  # "target"/"anchor" in the order the rounds ran

    @property
    def comparison(self) -> Comparison:
        return Comparison(self.target.median, self.anchor.median)

    @property
    def verdict(self) -> str | None:
        """PASS, MISS, or None when the aim has no check."""
        if self.target.median.errors or self.anchor.median.errors:
            return "MISS"
        if self.pair.aim.check is None:
            return None
        return "PASS" if self.pair.aim.check(self.comparison) else "MISS"

    def ratios(self) -> dict[str, float | None]:
        return {metric: self.comparison.ratio(metric) for metric in METRICS}


def registered() -> list[Pair]:
    """Every pair in `benchmarks.pairs.PAIRS`, checked for unique names."""
    from benchmarks.pairs import PAIRS

    names = [pair.name for pair in PAIRS]
    if len(set(names)) != len(names):
        raise ValueError(f"benchmark pair names must be unique: {names}")
    return list(PAIRS)


def progress(text: str) -> None:
    """Progress goes to stderr, so stdout stays the table and the JSON."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _short(m: Measurement) -> str:
    errors = f", {m.errors} errors" if m.errors else ""
    return f"{m.throughput:8.1f}/s p50 {m.p50_ms:7.1f} ms p99 {m.p99_ms:7.1f} ms{errors}"


async def run_pair(pair: Pair, env: Environment) -> PairResult:
    """Set the pair up, warm both sides, then measure them in alternating rounds."""
    options = env.options
    measured = Round(seconds=options.seconds, concurrency=options.concurrency)
    async with pair.setup(env) as (target, anchor):
        sides = {"target": target, "anchor": anchor}
        results = {
            key: SideResult(side.label, [], dict(side.details)) for key, side in sides.items()
        }
        if options.warmup > 0:
            warmup = Round(seconds=options.warmup, concurrency=options.concurrency)
            for side in sides.values():
                await side.run(warmup)
        order: list[str] = []
        for number in range(options.rounds):
            keys = ("target", "anchor") if number % 2 == 0 else ("anchor", "target")
            where = f"{pair.name} round {number + 1}/{options.rounds}"
            for key in keys:
                measurement = await sides[key].run(measured)
                results[key].rounds.append(measurement)
                order.append(key)
                progress(f"  {where} {key:<6} {_short(measurement)}")
    return PairResult(pair, results["target"], results["anchor"], order)
