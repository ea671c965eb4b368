"""A subject-access export for a person named in a case (REQUIREMENTS §5): the accused or
another data subject asks what the case holds about them.

The export holds the case's facts (reference, dates, procedure, categories, status, outcome)
and every answer and message that mentions the person, with the reporter's identity replaced
by "[reporter]", the witness answers left out, and masked passages kept masked. The person's
name is not stored or logged: the audit event says only that an export was made.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from casework import cases, sealing
from casework.tables import CaseReport
from klankbord import audit
from klankbord.errors import Invalid
from klankbord.tenancy import TenantContext, scoped, tenant_transaction

WITNESS_KEYS = ("witness",)  # answers whose key mentions witnesses are left out
REPORTER = "[reporter]"


def _mentions(text: str, name: str) -> bool:
    return re.search(re.escape(name), text, flags=re.IGNORECASE) is not None


def _without_reporter(text: str, identity: dict[str, str]) -> str:
    for value in sorted((v for v in identity.values() if v), key=len, reverse=True):
        text = re.sub(re.escape(value), REPORTER, text, flags=re.IGNORECASE)
    return text


async def export(ctx: TenantContext, *, case_id: UUID, name: str) -> str:
    """The export as plain text (UTF-8), for the counsellor to check and hand over."""
    person = name.strip()
    if len(person) < 2 or len(person) > 200:
        raise Invalid(code="name_required", fields={"subject_name": "name_required"})
    async with tenant_transaction(ctx):
        view = await cases.case_view(ctx, case_id)
        case = await cases.access_case(ctx, case_id)
        report = (
            await scoped(CaseReport.select(CaseReport.identity), CaseReport, ctx)
            .where(CaseReport.case == case_id)
            .first()
        )
        identity: dict[str, Any] = {}
        if report and report["identity"]:
            sealer = await sealing.sealer(ctx, UUID(str(case["organisation"])))
            identity = sealer.open_json("report.identity", case_id, report["identity"])
        await audit.record(
            ctx,
            action="case.subject_access_export",
            organisation_id=view.organisation_id,
            subject_type="case",
            subject_id=case_id,
        )
    lines = [
        f"Case {view.reference}",
        f"Received: {view.received_at.date().isoformat()}",
        f"Procedure: {view.procedure}",
        f"Categories: {', '.join(view.categories) or '-'}",
        f"Status: {view.status}" + (f" ({view.outcome})" if view.outcome else ""),
        "",
    ]
    passages = []
    for item in view.answers:
        key = str(item.get("key", ""))
        if any(word in key for word in WITNESS_KEYS):
            continue
        answer = str(item.get("answer", ""))
        if _mentions(answer, person):
            passages.append((str(item.get("label") or key), answer))
    for message in view.thread:
        if _mentions(message.body, person):
            passages.append((f"Message {message.created_at.date().isoformat()}", message.body))
    if not passages:
        lines.append("The case holds no passage that mentions this person.")
    for label, text in passages:
        lines += [label, _without_reporter(text, identity), ""]
    return "\n".join(lines) + "\n"
