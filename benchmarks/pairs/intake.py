"""intake-*: a reporter's submission through `casework.intake.submit`, against the bare
receipt-code KDF, in process, on SQLite and on PostgreSQL.

Target: what `POST /r/{token}/report` does below the web layer for a report without files:
the repeat check, a receipt code derived from a fresh submission id and hashed with argon2id
in the bounded pool, then one reporter transaction with the case, its sealed answers, the
audit event and the counsellor's notice in the outbox. Anchor: `issue_receipt_code` alone,
the same argon2id work in the same pool at the same concurrency. The KDF is the floor a
submission cannot beat, so the ratio says how much of the pool's rate survives the database
work around it (which runs on the event loop while other tasks' hashes run in the pool).

The organisation is created through the services (its data key, an enabled integrity
procedure, a counsellor, a live link), in a bureau seeded beside neighbours, as in
`seed.py`; the link is read back with `reporter_link`, exactly as a reporter's request does.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from piccolo.engine.base import Engine

from benchmarks.backends import Backend, opened
from benchmarks.harness import Aim, Environment, Pair, Round, Side
from benchmarks.measure import Measurement, closed_loop
from benchmarks.seed import seed_bureau
from casework import intake
from casework.choices import Anonymity
from klankbord import database, receipts
from klankbord.secretbox import SecretBox
from klankbord.tenancy import system_context, tenant_transaction
from tenants import services
from tenants.choices import MembershipRole, Procedure
from tenants.intake_links import ReporterLink, reporter_link

RATIO_AIM = 0.80  # a submission keeps at least 80 % of the bare KDF's rate
ASKED = [
    {
        "key": "default:wrongdoing",
        "label": "What?",
        "kind": "long_text",
        "answer": "Invoices from one supplier are paid twice every month.",
    }
]


async def _live_link(label: str) -> ReporterLink:
    """A live integrity link of an organisation in a freshly seeded bureau."""
    seeded = await seed_bureau(f"intake-{label}")
    ctx = system_context("bench.seed")
    tag = secrets.token_hex(3)
    async with tenant_transaction(ctx):
        organisation_id = await services.create_organisation(
            ctx,
            bureau_id=seeded.bureau_id,
            name=f"Intake {label} {tag}",
            headcount=120,
            procedures=(Procedure.INTEGRITY,),
        )
        counsellor_id = await services.create_staff_user(
            ctx,
            bureau_id=seeded.bureau_id,
            email=f"counsellor.intake.{label}.{tag}@bench.example",
            display_name="Bench counsellor",
        )
        await services.add_membership(
            ctx,
            organisation_id=organisation_id,
            staff_user_id=counsellor_id,
            role=MembershipRole.COUNSELLOR,
        )
        token = await services.create_intake_link(
            ctx, organisation_id=organisation_id, procedure=Procedure.INTEGRITY
        )
    link = await reporter_link(token)
    if link is None or link.link_id is None:
        raise RuntimeError("the benchmark's intake link is not live")
    return link


def _side(label: str, engine: Engine[Any], operation: Any, details: dict[str, Any]) -> Side:
    async def run(spec: Round) -> Measurement:
        database.use_engine(engine)  # the other database's engine is open in this process too
        return await closed_loop(operation, concurrency=spec.concurrency, seconds=spec.seconds)

    return Side(label=label, run=run, details=details)


def _pair(backend_name: str) -> Pair:
    @asynccontextmanager
    async def setup(env: Environment) -> AsyncIterator[tuple[Side, Side]]:
        backend: Backend | None = env.sqlite if backend_name == "sqlite" else env.postgres
        if backend is None:
            raise RuntimeError("this pair needs PostgreSQL")
        settings = backend.settings
        box = SecretBox(settings.server_key)
        async with opened(backend.engine()) as engine:
            link = await _live_link(backend.name)

            async def submit(_: int) -> None:
                receipt = await intake.submit(
                    settings,
                    box,
                    intake.Submission(
                        link=link,
                        submission=secrets.token_hex(16),
                        language="nl",
                        anonymity=Anonymity.ANONYMOUS,
                        asked=ASKED,
                    ),
                )
                if receipt.code is None or receipt.repeated:
                    raise RuntimeError("a fresh submission did not get a fresh receipt code")

            async def kdf(_: int) -> None:
                await receipts.issue_receipt_code(box)

            await submit(0)  # the answer is right before anything is measured
            details = {"argon2_workers": receipts.VERIFY_CONCURRENCY}
            target = f"{backend.label}: casework.intake.submit, in process"
            anchor = f"{backend.label}: receipts.issue_receipt_code alone"
            yield (
                _side(target, engine, submit, details),
                _side(anchor, engine, kdf, details),
            )

    return Pair(
        name=f"intake-{backend_name}",
        description=(
            f"a report (one answer, no files) through casework.intake.submit, {backend_name}:"
            " against the bare receipt-code KDF"
        ),
        unit="requests/s",
        aim=Aim(
            text=f"submissions >= {RATIO_AIM:.2f} x the KDF's rate",
            check=lambda c: (c.ratio("throughput") or 0) >= RATIO_AIM,
        ),
        setup=setup,
        needs_postgres=backend_name == "postgres",
    )


PAIRS = (_pair("sqlite"), _pair("postgres"))
