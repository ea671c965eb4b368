"""`python -m benchmarks` (`make bench`): run the pairs, print the table and the JSON.

Exit status: 0 when every pair ran (a MISS is reported, not fatal), 1 when a pair failed to
run, or with --strict when an aim was missed. PostgreSQL missing is not a failure: the pairs
that need it are listed as skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import report
from benchmarks.backends import postgres_backend, sqlite_backend
from benchmarks.harness import (
    Environment,
    Options,
    Pair,
    PairResult,
    progress,
    registered,
    run_pair,
)
from benchmarks.measure import describe


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Each target next to its anchor, interleaved, in one run.",
    )
    parser.add_argument("--rounds", type=int, default=defaults.rounds, help="rounds per side")
    parser.add_argument(
        "--seconds", type=float, default=defaults.seconds, help="seconds per side per round"
    )
    parser.add_argument(
        "--warmup", type=float, default=defaults.warmup, help="warm-up seconds per side"
    )
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default=defaults.generator,
        help="HTTP load generator (auto: wrk when installed)",
    )
    parser.add_argument(
        "--only", action="append", metavar="PAIR", help="run only this pair (repeatable)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when an aim is missed")
    parser.add_argument("--list", action="store_true", help="list the pairs and exit")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0 or args.concurrency < 1 or args.warmup < 0:
        parser.error("--rounds, --seconds and --concurrency must be positive")
    return args


def choose(pairs: list[Pair], only: list[str] | None) -> list[Pair]:
    if not only:
        return pairs
    known = {pair.name for pair in pairs}
    unknown = sorted(set(only) - known)
    if unknown:
        raise SystemExit(f"unknown pair(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return [pair for pair in pairs if pair.name in only]


async def run(pairs: list[Pair], options: Options) -> report.Run:
    started = datetime.now(UTC)
    results: list[PairResult] = []
    skipped: list[tuple[Pair, str]] = []
    failed: list[tuple[Pair, str]] = []
    with tempfile.TemporaryDirectory(prefix="klankbord-bench-") as scratch:
        workdir = Path(scratch)
        progress("preparing databases (SQLite file, throwaway PostgreSQL database)")
        async with sqlite_backend(workdir) as sqlite, postgres_backend() as (postgres, why):
            if postgres is None:
                progress(f"NO POSTGRESQL: {why}. Running the SQLite-only pairs.")
            env = Environment(sqlite=sqlite, postgres=postgres, workdir=workdir, options=options)
            for pair in pairs:
                if pair.needs_postgres and postgres is None:
                    skipped.append((pair, "skipped: no PostgreSQL"))
                    continue
                progress(f"{pair.name}: {pair.description}")
                try:
                    results.append(await run_pair(pair, env))
                except Exception as error:  # noqa: BLE001 - reported; the other pairs still run
                    traceback.print_exc()
                    failed.append((pair, f"FAILED: {describe(error)}"))
    return report.Run(
        started_at=started,
        finished_at=datetime.now(UTC),
        options=options,
        results=results,
        skipped=skipped,
        failed=failed,
        postgres=postgres.label if postgres else f"none ({why})",
        postgres_missing=postgres is None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pairs = choose(registered(), args.only)
    if args.list:
        for pair in pairs:
            print(f"{pair.name:<16} {pair.unit:<12} {pair.description}")
        return 0
    os.environ.setdefault("PICCOLO_CONF", "klankbord.piccolo_conf")
    options = Options(
        rounds=args.rounds,
        seconds=args.seconds,
        warmup=args.warmup,
        concurrency=args.concurrency,
        generator=args.generator,
    )
    outcome = asyncio.run(run(pairs, options))
    data = report.document(outcome)
    path = report.save(data, outcome.started_at)
    print(report.table(outcome))
    print()
    print(json.dumps(data, indent=2))
    print(f"\nresults written to {path}")
    missed = any(result.verdict == "MISS" for result in outcome.results)
    return 1 if outcome.failed or (args.strict and missed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
