"""The append-only, hash-chained audit log.

One chain per bureau (platform-level events share the chain "platform"). Every event stores
the hash of the previous event of its chain and its own hash over its content; `AuditHead`
keeps the newest (seq, hash) per chain. `verify()` recomputes everything, so an edited,
reordered, inserted or deleted event, the newest included, is reported.

Appends are serialised per chain: on PostgreSQL by a transaction-level advisory lock, on
SQLite by the write transaction itself (`BEGIN IMMEDIATE`, one writer).
Details hold ids and codes only: never report text, names or secrets.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from klankbord import database
from klankbord.tables import AuditEvent, AuditHead
from klankbord.tenancy import Scope, TenantContext, require_transaction

PLATFORM_CHAIN = "platform"
GENESIS = "0" * 64


def chain_for(ctx: TenantContext, bureau_id: UUID | None) -> str:
    bureau = bureau_id if bureau_id is not None else ctx.bureau_id
    return str(bureau) if bureau is not None else PLATFORM_CHAIN


def _digest(event: dict[str, Any]) -> str:
    fields = {
        "chain": event["chain"],
        "seq": event["seq"],
        "occurred_at": _utc(event["occurred_at"]).isoformat(),
        "bureau": str(event["bureau"]) if event["bureau"] else None,
        "organisation": str(event["organisation"]) if event["organisation"] else None,
        "actor": event["actor"],
        "action": event["action"],
        "subject_type": event["subject_type"],
        "subject_id": event["subject_id"],
        "detail": _detail(event["detail"]),
        "prev_hash": event["prev_hash"],
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _detail(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


async def record(
    ctx: TenantContext,
    *,
    action: str,
    bureau_id: UUID | None = None,
    organisation_id: UUID | None = None,
    subject_type: str = "",
    subject_id: UUID | str = "",
    detail: dict[str, Any] | None = None,
) -> str:
    """Append one event inside the caller's tenant transaction; returns its hash."""
    require_transaction(ctx)
    chain = chain_for(ctx, bureau_id)
    if ctx.scope is not Scope.SYSTEM and chain != PLATFORM_CHAIN and chain != str(ctx.bureau_id):
        raise PermissionError("an event can only be written to the context's own chain")
    if database.is_postgres():
        await database.fetch("SELECT pg_advisory_xact_lock(hashtextextended({}, 0))", chain)
    head = await AuditHead.objects().where(AuditHead.chain == chain).first()
    seq = (head.seq if head else 0) + 1
    prev_hash = head.hash if head else GENESIS
    now = datetime.now(UTC)
    event = {
        "chain": chain,
        "seq": seq,
        "occurred_at": now,
        "bureau": UUID(chain) if chain != PLATFORM_CHAIN else None,
        "organisation": organisation_id,
        "actor": ctx.principal,
        "action": action,
        "subject_type": subject_type,
        "subject_id": str(subject_id),
        "detail": detail or {},
        "prev_hash": prev_hash,
    }
    event_hash = _digest(event)
    row: dict[str, Any] = {**event, "detail": json.dumps(event["detail"], sort_keys=True)}
    await AuditEvent.insert(AuditEvent(**row, hash=event_hash))
    if head is None:
        await AuditHead.insert(AuditHead(chain=chain, seq=seq, hash=event_hash))
    else:
        await AuditHead.update({AuditHead.seq: seq, AuditHead.hash: event_hash}).where(
            AuditHead.chain == chain
        )
    return event_hash


@dataclass(frozen=True)
class ChainProblem:
    chain: str
    seq: int
    problem: str


async def verify(ctx: TenantContext) -> tuple[int, list[ChainProblem]]:
    """Check every chain `ctx` can read; returns (events checked, problems)."""
    require_transaction(ctx)
    problems: list[ChainProblem] = []
    heads = {h.chain: h for h in await AuditHead.objects()}
    rows = await AuditEvent.select().order_by(AuditEvent.chain).order_by(AuditEvent.seq)
    by_chain: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_chain.setdefault(row["chain"], []).append(row)
    for chain in sorted(set(by_chain) | set(heads)):
        events = by_chain.get(chain, [])
        prev_hash, expected_seq = GENESIS, 1
        for event in events:
            if event["seq"] != expected_seq:
                problems.append(ChainProblem(chain, expected_seq, "missing or reordered event"))
            if event["prev_hash"] != prev_hash:
                problems.append(ChainProblem(chain, event["seq"], "broken link to previous"))
            if _digest(event) != event["hash"]:
                problems.append(ChainProblem(chain, event["seq"], "content changed"))
            prev_hash, expected_seq = event["hash"], event["seq"] + 1
        head = heads.get(chain)
        last_seq = events[-1]["seq"] if events else 0
        if head is None or head.seq != last_seq or head.hash != prev_hash:
            problems.append(ChainProblem(chain, last_seq, "newest events missing"))
    return len(rows), problems
