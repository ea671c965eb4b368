"""The results as a table for people and as JSON for machines (stdout and results/).

Ratio is always target / anchor: above 1 means the target has more of the metric — better
for throughput, worse for latency. The aim says which way is good.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.harness import Options, Pair, PairResult
from benchmarks.measure import METRICS
from klankbord.settings import REPO_ROOT

RESULTS_DIR = Path(__file__).resolve().parent / "results"
HEADER = ("pair", "metric", "target", "anchor", "ratio", "aim", "result")


@dataclass(frozen=True)
class Run:
    started_at: datetime
    finished_at: datetime
    options: Options
    results: list[PairResult]
    skipped: list[tuple[Pair, str]]  # pairs that did not run, and why
    failed: list[tuple[Pair, str]]  # pairs that raised, and the error
    postgres: str  # the anchor database's label, or why there was none
    postgres_missing: bool = False


def _label(pair: Pair, metric: str) -> str:
    if metric == "throughput":
        return pair.unit if pair.unit.endswith("/s") else "ops/s"
    return metric.replace("_ms", " ms")


def _metric_order(pair: Pair) -> list[str]:
    return [pair.headline, *(m for m in METRICS if m != pair.headline)]


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _verdict(result: PairResult) -> str:
    verdict = result.verdict or "-"
    errors = result.target.median.errors + result.anchor.median.errors
    return f"{verdict} ({errors} errors)" if errors else verdict


def table(run: Run) -> str:
    rows: list[tuple[str, ...]] = []
    for result in run.results:
        pair, ratios = result.pair, result.ratios()
        for index, metric in enumerate(_metric_order(pair)):
            first = index == 0
            rows.append(
                (
                    pair.name if first else "",
                    _label(pair, metric),
                    _number(getattr(result.target.median, metric)),
                    _number(getattr(result.anchor.median, metric)),
                    _number(ratios[metric]),
                    pair.aim.text if first else "",
                    _verdict(result) if first else "",
                )
            )
    for pair, why in [*run.skipped, *run.failed]:
        rows.append((pair.name, pair.unit, "-", "-", "-", pair.aim.text, why))
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    numeric = {2, 3, 4}

    def line(row: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    out = (
        [f"NO POSTGRESQL, so its pairs were skipped: {run.postgres}"]
        if run.postgres_missing
        else []
    )
    out += [line(HEADER), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in rows]
    out.append("")
    for result in run.results:
        details = {**result.target.details, **result.anchor.details}
        extra = "".join(f"; {key}: {value}" for key, value in details.items())
        out.append(
            f"{result.pair.name}: target = {result.target.label}; "
            f"anchor = {result.anchor.label}{extra}"
        )
    options = run.options
    out.append(
        f"median of {options.rounds} rounds per side ({options.seconds:g} s each, target and "
        f"anchor alternating, after {options.warmup:g} s warm-up), "
        f"{options.concurrency} concurrent; ratio = target / anchor; PostgreSQL: {run.postgres}"
    )
    return "\n".join(out)


def _git() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain")
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def document(run: Run) -> dict[str, Any]:
    pairs: list[dict[str, Any]] = []
    for result in run.results:
        pair = result.pair
        pairs.append(
            {
                "name": pair.name,
                "description": pair.description,
                "unit": pair.unit,
                "headline": pair.headline,
                "target": {
                    "label": result.target.label,
                    **result.target.details,
                    "median": result.target.median.as_dict(),
                    "rounds": [m.as_dict() for m in result.target.rounds],
                },
                "anchor": {
                    "label": result.anchor.label,
                    **result.anchor.details,
                    "median": result.anchor.median.as_dict(),
                    "rounds": [m.as_dict() for m in result.anchor.rounds],
                },
                "ratio": result.ratios(),
                "order": result.order,
                "aim": {"text": pair.aim.text, "result": result.verdict},
            }
        )
    return {
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "options": {
            "rounds": run.options.rounds,
            "seconds": run.options.seconds,
            "warmup": run.options.warmup,
            "concurrency": run.options.concurrency,
            "generator": run.options.generator,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "system": f"{platform.system()} {platform.release()} {platform.machine()}",
            "sqlite": sqlite3.sqlite_version,
            "postgres": run.postgres,
        },
        "git": _git(),
        "pairs": pairs,
        "skipped": [{"name": p.name, "reason": why} for p, why in run.skipped],
        "failed": [{"name": p.name, "error": why} for p, why in run.failed],
    }


def save(data: dict[str, Any], started_at: datetime) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{started_at.strftime('%Y-%m-%dT%H-%M-%SZ')}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
