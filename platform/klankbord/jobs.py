"""Background jobs: idempotent work run on a schedule, never by a request.

A job is an async callable taking the settings; it does whatever is due and returns a
one-line summary of counts (never content). Every job is idempotent and safe in several
processes at once (due rows are claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL), so
production schedules `klankbord jobs run` (a Kubernetes CronJob) with no coordination between
runs, and `klankbord serve` in development ticks the same jobs in-process, so that `make run`
needs no second command.

`JOBS` is the registry, in running order: the mail outbox first, so that mail written by a
request goes out before slower work starts. Jobs of other apps are added here, as the
composition root lists their routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from klankbord import mail, ratelimit
from klankbord.settings import Settings

log = logging.getLogger(__name__)

Job = Callable[[Settings], Awaitable[str]]

TICK_SECONDS = 10.0  # the development ticker under `klankbord serve`
STOP_GRACE_SECONDS = 10.0  # a run in progress may finish its current mail before shutdown


async def _mail(settings: Settings) -> str:
    delivery = await mail.deliver_pending(settings)
    return f"{delivery.sent} sent, {delivery.failed} failed, {delivery.waiting} waiting"


async def _mail_purge(settings: Settings) -> str:
    return f"{await mail.purge_settled()} removed"


async def _sign_in_purge(settings: Settings) -> str:
    from klankbord.auth import session_policy
    from tenants.accounts import purge_expired

    summary = await purge_expired(session_policy(settings))
    return f"{summary}, {await ratelimit.purge()} attempt counters"


def _runs_now(ran_at: list[float], every: float) -> bool:
    """Whether a throttled job runs now: `every` seconds since its last run in this process
    (the development ticker); a run is recorded in `ran_at`. Jobs whose runs write an audit
    event (a system context) use it, so a 10-second tick does not grow the chain."""
    now = time.monotonic()
    if ran_at and now - ran_at[-1] < every:
        return False
    ran_at[:] = [now]
    return True


REMINDERS_EVERY = 300.0  # seconds; each run writes an audit event (its system context)
_reminders_ran_at: list[float] = []  # this process's last run (the development ticker)


async def _reminders(settings: Settings) -> str:
    from casework import reminders

    if not _runs_now(_reminders_ran_at, REMINDERS_EVERY):
        return "not due yet"
    summary = await reminders.run(settings)
    return f"{summary.cases} cases checked, {summary.mails} reminders queued"


RETENTION_EVERY = 3600.0  # seconds; a purge is due by the day, and each run writes an audit event
_retention_ran_at: list[float] = []


async def _retention(settings: Settings) -> str:
    from casework import retention

    if not _runs_now(_retention_ran_at, RETENTION_EVERY):
        return "not due yet"
    summary = await retention.run(settings)
    return (
        f"{summary.cases} cases checked, {summary.warnings} warnings queued,"
        f" {summary.purged} purged, {summary.refused} kept, {summary.failed} failed"
    )


BILLING_EVERY = 300.0  # seconds; each run reads under a system context (an audit event)
_billing_ran_at: list[float] = []


async def _billing(settings: Settings) -> str:
    from billing import jobs as billing_jobs

    if not _runs_now(_billing_ran_at, BILLING_EVERY):
        return "not due yet"
    return await billing_jobs.run(settings)


JOBS: Mapping[str, Job] = {
    "mail": _mail,
    "mail_purge": _mail_purge,
    "sign_in_purge": _sign_in_purge,
    "reminders": _reminders,
    "retention": _retention,
    "billing": _billing,
}


@dataclass(frozen=True)
class Outcome:
    job: str
    summary: str  # counts only, or the error's type when `failed`
    failed: bool = False


async def run_all(settings: Settings, jobs: Mapping[str, Job] = JOBS) -> list[Outcome]:
    """Run each job once, in order; one job failing does not keep the others from running."""
    outcomes = []
    for name, job in jobs.items():
        try:
            outcomes.append(Outcome(name, await job(settings)))
        except Exception as error:  # noqa: BLE001 - reported, then the next job runs
            # The type and frames only: an exception message may quote an address or content.
            log.error(
                "job %s failed: %s\n%s",
                name,
                type(error).__name__,
                "".join(traceback.format_tb(error.__traceback__)),
            )
            outcomes.append(Outcome(name, type(error).__name__, failed=True))
    return outcomes


async def run_forever(
    settings: Settings,
    *,
    every: float,
    stop: asyncio.Event,
    jobs: Mapping[str, Job] = JOBS,
) -> None:
    """Run all jobs, then wait `every` seconds, until `stop` is set (checked between runs)."""
    while not stop.is_set():
        await run_all(settings, jobs)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)


class Ticker:
    """`run_forever` as a task of the web process, started and stopped with its lifespan."""

    def __init__(
        self, settings: Settings, *, every: float = TICK_SECONDS, jobs: Mapping[str, Job] = JOBS
    ) -> None:
        self.settings = settings
        self.every = every
        self.jobs = jobs
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(
            run_forever(self.settings, every=self.every, stop=self._stop, jobs=self.jobs),
            name="klankbord-jobs",
        )

    async def stop(self) -> None:
        """Let a run in progress finish (up to `STOP_GRACE_SECONDS`), then cancel it."""
        if self._task is None:
            return
        self._stop.set()
        task, self._task = self._task, None
        try:
            await asyncio.wait_for(task, timeout=STOP_GRACE_SECONDS)
        except TimeoutError:
            log.warning("jobs: a run was cancelled at shutdown")
