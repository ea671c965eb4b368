"""The registry: every pair, in the order `make bench` runs them.

To add a pair, write a module here that defines `PAIR = Pair(...)` (see `list50.py` for an
HTTP pair, `insert.py` for an in-process one) and append it to `PAIRS`.
"""

from benchmarks.harness import Pair
from benchmarks.pairs import (
    annual_report,
    caseload,
    dashboard,
    insert,
    intake,
    list50,
    sqlite_engine,
)

PAIRS: tuple[Pair, ...] = (
    list50.PAIR,
    insert.PAIR,
    sqlite_engine.PAIR,
    *dashboard.PAIRS,
    *intake.PAIRS,
    *caseload.PAIRS,
    *annual_report.PAIRS,
)
