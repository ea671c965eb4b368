"""The register per organisation: its columns, codes and dates only (no free text, no names),
who may export it, formula-safe cells, the audit event, and queries constant in the number of
cases."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from casework import register, register_routes
from casework.register import CSV_HEADER, register_rows
from casework.tables import Case, CaseCategory
from casework.time_entries import local_date
from klankbord.errors import NotFound, PermissionDenied
from klankbord.tables import AuditEvent
from klankbord.tenancy import system_context, tenant_transaction
from klankbord.web import create_app
from tests.casework.test_time_entries import add_cases
from tests.support.queries import count_queries

CLOSED_AT = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)  # 1 April in Amsterdam


@pytest.fixture(scope="module")
def app(test_database: Any, engine: Any) -> Any:
    """The app with the register route (registered here until klankbord.web lists it)."""
    application = create_app(test_database.settings, engine=engine)
    paths = {route.path for route in application.routes}
    if "/organisations/{organisation_id:uuid}/register.csv" not in paths:
        for handler in register_routes.ROUTES:
            application.register(handler)
    return application


def _path(world: Any, key: str = "A1") -> str:
    return f"/organisations/{world.organisations[key]}/register.csv"


def _parse(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"))))


async def _categorise(world: Any, key: str, case_id: UUID, *codes: str) -> None:
    async with tenant_transaction(system_context("test-categories")):
        await CaseCategory.insert(
            *[
                CaseCategory(
                    id=uuid4(),
                    case=case_id,
                    organisation=world.organisations[key],
                    bureau=world.bureau_of(key),
                    code=code,
                )
                for code in codes
            ]
        )


async def _case(case_id: UUID) -> dict[str, Any]:
    async with tenant_transaction(system_context("test-read")):
        row = await Case.select().where(Case.id == case_id).first()
    assert row is not None
    return row


async def test_register_csv_columns_and_world_case(world, sign_in, app):
    case_id = world.case_ids["A1"]
    await _categorise(world, "A1", case_id, "fraud", "conflict_of_interest")
    case = await _case(case_id)
    client = await sign_in("counsellor_A1")

    response = await client.get(_path(world))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["cache-control"] == "no-store"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="register Organisation A1 ')
    assert "filename*=UTF-8''register%20Organisation%20A1%20" in disposition
    lines = _parse(response.content)
    assert (
        lines[0]
        == list(CSV_HEADER)
        == [
            "reference",
            "received_on",
            "channel",
            "procedure",
            "categories",
            "status",
            "outcome",
            "closed_on",
        ]
    )
    assert [case["reference"]] == [line[0] for line in lines[1:]]
    assert lines[1] == [
        case["reference"],
        local_date(case["received_at"]).isoformat(),
        "online",
        "integrity",
        "conflict_of_interest|fraud",
        "received",
        "",
        "",
    ]


async def test_register_csv_holds_no_free_text_or_names(world, sign_in, app):
    client = await sign_in("counsellor_A1")
    response = await client.get(_path(world))
    text = response.content.decode("utf-8")
    for forbidden in (
        "Report of organisation",
        "Notes of organisation",
        "notes A1.txt",
        "Counsellor A1",
        "Contact A1",
        "What is the suspected wrongdoing?",
        str(world.case_ids["A1"]),
    ):
        assert forbidden not in text
    assert all(len(line) == len(CSV_HEADER) for line in _parse(response.content))


async def test_register_csv_closed_case_and_formula_cells(world, sign_in, app):
    (case_id,) = await add_cases(world, "A1", 1)
    async with tenant_transaction(system_context("test-close")):
        await Case.update(
            {
                Case.status: "closed",
                Case.outcome: "=informal_solution",
                Case.closed_at: CLOSED_AT,
                Case.channel: "phone",
            }
        ).where(Case.id == case_id)
    await _categorise(world, "A1", case_id, "+bullying", "@cmd")
    reference = (await _case(case_id))["reference"]
    client = await sign_in("admin_A")

    lines = _parse((await client.get(_path(world))).content)

    line = next(line for line in lines if line[0] == reference)
    assert line[2] == "phone"
    assert line[4] == "'+bullying|@cmd"
    assert line[5:] == ["closed", "'=informal_solution", "2026-04-01"]


@pytest.mark.parametrize(("user", "key"), [("counsellor_A1", "A1"), ("admin_A", "A2")])
async def test_register_csv_admitted_and_audited(world, sign_in, app, user, key):
    client = await sign_in(user)
    response = await client.get(_path(world, key))
    assert response.status_code == 200
    async with tenant_transaction(system_context("test-read")):
        event = (
            await AuditEvent.select()
            .where(AuditEvent.action == "register.exported")
            .where(AuditEvent.subject_id == str(world.organisations[key]))
            .order_by(AuditEvent.seq, ascending=False)
            .first()
        )
    assert event is not None
    assert event["actor"] == f"staff:{world.users[user]}"
    detail = json.loads(event["detail"]) if isinstance(event["detail"], str) else event["detail"]
    assert detail == {"rows": len(_parse(response.content)) - 1, "format": "csv"}


@pytest.mark.parametrize(
    ("user", "key"),
    [("counsellor_A1", "A2"), ("counsellor_A1", "B1"), ("admin_A", "B1"), ("counsellor_B1", "A1")],
)
async def test_register_csv_foreign_organisation_404_like_missing(world, sign_in, app, user, key):
    client = await sign_in(user)
    foreign = await client.get(_path(world, key))
    random_id = uuid4()
    missing = await client.get(f"/organisations/{random_id}/register.csv")
    assert foreign.status_code == missing.status_code == 404
    normalised = foreign.text.replace(str(world.organisations[key]), "{id}")
    assert normalised == missing.text.replace(str(random_id), "{id}")
    assert "Organisation" not in foreign.headers.get("content-disposition", "")


@pytest.mark.parametrize("user", ["contact_A1", "operator"])
async def test_register_csv_contact_and_operator_refused(world, sign_in, app, user):
    client = await sign_in(user)
    response = await client.get(_path(world))
    assert response.status_code == 403
    assert "content-disposition" not in response.headers


async def test_register_rows_contact_with_membership_refused(world, rollback):
    with pytest.raises(PermissionDenied):
        await register_rows(world.ctx("contact_A1"), world.organisations["A1"])
    with pytest.raises(NotFound):
        await register_rows(world.ctx("contact_A1"), world.organisations["A2"])


async def test_register_rows_for_the_pdf(world, rollback):
    added = await add_cases(world, "A1", 3)
    rows = await register_rows(world.ctx("counsellor_A1"), world.organisations["A1"])
    assert len(rows) == 4
    received = [row.received_on for row in rows]
    assert received == sorted(received)
    system = await register_rows(system_context("test-pdf"), world.organisations["A1"])
    assert system == rows
    references = {(await _case(case_id))["reference"] for case_id in added}
    assert references <= {row.reference for row in rows}


async def test_register_rows_batches_keep_every_case(world, rollback, monkeypatch):
    monkeypatch.setattr(register, "BATCH", 2)
    await add_cases(world, "A2", 4)
    rows = await register_rows(world.ctx("counsellor_A2"), world.organisations["A2"])
    assert len(rows) == 5 and len({row.reference for row in rows}) == 5
    export = await register.export_csv(world.ctx("counsellor_A2"), world.organisations["A2"])
    assert export.rows == 5 and len(export.chunks) == 1 + 3  # header, then 2 + 2 + 1


async def test_register_csv_query_count_constant_in_cases(world, sign_in, app):
    client = await sign_in("counsellor_A1")
    await client.get(_path(world))  # warm up (session)
    with count_queries() as few:
        await client.get(_path(world))
    for case_id in await add_cases(world, "A1", 8):
        await _categorise(world, "A1", case_id, "bullying", "intimidation")
    with count_queries() as many:
        response = await client.get(_path(world))
    assert len(_parse(response.content)) == 1 + 9
    assert many.count == few.count, f"{few}\n---\n{many}"
