"""The casework JSON API for staff integrations (`/api/v1/cases`): the caseload, and the
workflow verbs. It calls the same services as the pages, so the consent gate holds here too:
an outward step without consent answers 409 `consent_required`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from casework import cases, workflow
from klankbord.auth import current_context, requires
from klankbord.tenancy import Role, tenant_transaction


class CaseOut(msgspec.Struct):
    id: UUID
    reference: str
    organisation: str
    procedure: str
    status: str
    received_at: datetime
    next_due_at: datetime | None
    unread: int


class StepIn(msgspec.Struct):
    step: str


class OutcomeIn(msgspec.Struct):
    outcome: str


class CaseApi(Controller):
    path = "/api/v1/cases"
    guards = [requires(Role.COUNSELLOR)]
    tags = ["cases"]

    @get("/", name="api_cases")
    async def caseload(
        self, request: Request[Any, Any, Any], after: FromQuery[str] = ""
    ) -> list[CaseOut]:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            found = await cases.caseload(ctx, cases.CaseloadQuery(after=after[:200]))
        return [
            CaseOut(
                id=row.id,
                reference=row.reference,
                organisation=row.organisation_name,
                procedure=row.procedure,
                status=row.status,
                received_at=row.received_at,
                next_due_at=row.next_due_at,
                unread=row.unread,
            )
            for row in found.rows
        ]

    @post("/{case_id:uuid}/steps", name="api_case_step", status_code=204)
    async def mark_step(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID], data: JSONBody[StepIn]
    ) -> None:
        await workflow.mark_step(current_context(request), case_id=case_id, step=data.step)

    @post("/{case_id:uuid}/close", name="api_case_close", status_code=204)
    async def close(
        self, request: Request[Any, Any, Any], case_id: FromPath[UUID], data: JSONBody[OutcomeIn]
    ) -> None:
        await workflow.close_case(current_context(request), case_id=case_id, outcome=data.outcome)


ROUTES: list[Any] = [CaseApi]
