"""The annual report pages and exports: the counsellor's journey from draft to final, what the
organisation contact may read, CSV and PDF in three languages, the register PDF, the
bureau-wide figures, and another tenant's organisation answering 404."""

from __future__ import annotations

import csv
import io
from typing import Any

import pypdf
import pytest

from casework.time_entries import local_today
from klankbord.tables import AuditEvent
from klankbord.tenancy import system_context, tenant_transaction
from tests.casework.test_annual_reports import YEAR, add_year_cases
from tests.support.forms import submit

pytestmark = pytest.mark.usefixtures("rollback")


def _base(world: Any, key: str = "A1") -> str:
    return f"/organisations/{world.organisations[key]}/annual-reports"


async def _post(client: Any, path: str, form_page: str, **fields: str) -> Any:
    return await submit(client, form_page, path, fields)


async def _final_report(world: Any, client: Any) -> str:
    base = _base(world)
    response = await _post(client, base, base, year=str(YEAR))
    assert response.status_code == 303
    assert response.headers["location"] == f"{base}/{YEAR}"
    report = f"{base}/{YEAR}"
    for step in ("review", "final"):
        response = await _post(client, f"{report}/{step}", report)
        assert response.status_code == 303, response.text
    return report


async def test_annual_report_journey_counsellor_to_contact(world, sign_in):
    await add_year_cases(world, "A1", 8, reporter_role="employee")
    client = await sign_in("counsellor_A1")
    base = _base(world)
    await _post(client, base, base, year=str(YEAR))
    report = f"{base}/{YEAR}"
    saved = await _post(
        client,
        f"{report}/text",
        report,
        narrative="Fewer questions about workload.",
        preventive="A talk at the staff meeting.",
        k="3",
    )
    assert saved.status_code == 303
    page = await client.get(report)
    assert page.status_code == 200
    assert "Fewer questions about workload." in page.text
    assert "<svg" in page.text and 'role="img"' in page.text
    assert page.text.count("&lt; 3") >= 2  # empty procedures are "< 3", never "0"

    for step in ("review", "final"):
        assert (await _post(client, f"{report}/{step}", report)).status_code == 303
    final = await client.get(report)
    assert 'name="narrative"' not in final.text  # locked

    contact = await sign_in("contact_A1")
    listing = await contact.get(base)
    assert f"{base}/{YEAR}" in listing.text
    seen = await contact.get(report)
    assert seen.status_code == 200 and "Fewer questions about workload." in seen.text
    assert (await contact.post(f"{report}/text", data={"narrative": "x"})).status_code == 403


async def test_annual_report_contact_does_not_see_a_draft(world, sign_in):
    client = await sign_in("counsellor_A1")
    base = _base(world)
    await _post(client, base, base, year=str(YEAR))
    contact = await sign_in("contact_A1")
    assert (await contact.get(f"{base}/{YEAR}")).status_code == 404
    assert (await contact.get(f"{base}/{YEAR}/report.pdf")).status_code == 404
    assert f"{base}/{YEAR}" not in (await contact.get(base)).text


async def test_annual_report_bad_input_keeps_what_was_typed(world, sign_in):
    client = await sign_in("counsellor_A1")
    base = _base(world)
    refused = await _post(client, base, base, year="1999")
    assert refused.status_code == 422 and 'id="error-summary"' in refused.text
    await _post(client, base, base, year=str(YEAR))
    report = f"{base}/{YEAR}"
    response = await _post(
        client, f"{report}/text", report, narrative="Kept text", preventive="", k="1"
    )
    assert response.status_code == 422
    assert "Kept text" in response.text and 'aria-invalid="true"' in response.text
    early = await _post(client, f"{report}/final", report)
    assert early.status_code == 409


async def test_annual_report_exports_in_three_languages(world, sign_in, app):
    await add_year_cases(world, "A1", 6)
    client = await sign_in("admin_A")
    report = await _final_report(world, client)
    for language, heading in (("en", "Key figures"), ("nl", "Kerncijfers"), ("fr", "Chiffres")):
        response = await client.get(f"{report}/report.csv?lang={language}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["cache-control"] == "no-store"
        lines = list(csv.reader(io.StringIO(response.content[3:].decode("utf-8"))))
        assert any(heading in line[0] for line in lines), (language, lines[:8])
        pdf = await client.get(f"{report}/report.pdf?lang={language}")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        reader = pypdf.PdfReader(io.BytesIO(pdf.content))
        assert str(YEAR) in reader.pages[0].extract_text()
    async with tenant_transaction(system_context("test-read")):
        events = await AuditEvent.select(AuditEvent.detail).where(
            AuditEvent.action == "annual_report.exported"
        )
    assert len(events) == 6


async def test_register_pdf_for_counsellor_not_for_contact(world, sign_in):
    path = f"/organisations/{world.organisations['A1']}/register.pdf"
    client = await sign_in("counsellor_A1")
    response = await client.get(f"{path}?lang=nl")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert "register Organisation A1" in response.headers["content-disposition"]
    contact = await sign_in("contact_A1")
    assert (await contact.get(path)).status_code == 403


@pytest.mark.parametrize("user", ["counsellor_A1", "contact_A1", "admin_A"])
async def test_annual_report_of_another_tenant_answers_404(world, sign_in, user):
    other = _base(world, "B1")
    owner = await sign_in("counsellor_B1")
    await _post(owner, other, other, year=str(YEAR))
    client = await sign_in(user)
    for path in (other, f"{other}/{YEAR}", f"{other}/{YEAR}/report.csv"):
        assert (await client.get(path)).status_code == 404


async def test_bureau_annual_figures_page_and_csv(world, sign_in):
    await add_year_cases(world, "A2", 5)
    client = await sign_in("admin_A")
    page = await client.get(f"/bureau/annual-report?year={YEAR}")
    assert page.status_code == 200 and 'id="table-sector"' in page.text
    export = await client.get(f"/bureau/annual-report/report.csv?year={YEAR}&lang=en")
    assert export.status_code == 200 and b"Cases per sector" in export.content
    counsellor = await sign_in("counsellor_A1")
    assert (await counsellor.get("/bureau/annual-report")).status_code == 403
    assert local_today().year - 1 >= YEAR
