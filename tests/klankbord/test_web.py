"""The web shell: security headers, error mapping, health, OpenAPI, logs without addresses."""

from __future__ import annotations

import logging

from klankbord import database
from klankbord.security import CSP


async def test_security_headers_html_page_strict(client):
    response = await client.get("/")
    assert response.status_code == 200
    headers = response.headers
    assert headers["content-security-policy"] == CSP
    assert "default-src 'none'" in CSP and "http" not in CSP  # no third-party origin at all
    assert "'unsafe-inline'" not in CSP
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in headers  # test environment: plain http
    assert "set-cookie" not in headers  # the start page sets no cookie at all


async def test_security_headers_json_and_errors_too(client):
    for path in ("/healthz", "/api/v1/organisations", "/does-not-exist"):
        response = await client.get(path)
        assert response.headers["content-security-policy"] == CSP, path


async def test_static_css_served_cacheable(client):
    response = await client.get("/static/css/app.css")
    assert response.status_code == 200
    assert response.headers.get("cache-control") != "no-store"


async def test_unknown_page_html_not_found_page(client):
    response = await client.get("/nothing/here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>" in response.text


async def test_unknown_api_path_json_not_found(client):
    response = await client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found"}


async def test_staff_page_without_session_to_sign_in_api_401(client):
    response = await client.get("/organisations?page_number=2")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Forganisations%3Fpage_number%3D2"
    api = await client.get("/api/v1/organisations")
    assert api.status_code == 401
    assert api.json() == {"error": "not_authenticated"}


async def test_staff_page_operator_role_403(sign_in):
    client = await sign_in("operator")
    response = await client.get("/organisations")
    assert response.status_code == 403


async def test_staff_page_counsellor_sees_own_organisation(sign_in, world):
    client = await sign_in("counsellor_A1")
    response = await client.get("/organisations")
    assert response.status_code == 200
    assert world.organisation_names["A1"] in response.text
    assert world.organisation_names["A2"] not in response.text
    detail = await client.get(f"/organisations/{world.organisations['A1']}")
    assert detail.status_code == 200
    assert world.intake_links["A1"] in detail.text  # counsellors see the links to hand out


async def test_organisation_page_contact_sees_no_intake_links(sign_in, world):
    client = await sign_in("contact_A1")
    detail = await client.get(f"/organisations/{world.organisations['A1']}")
    assert detail.status_code == 200
    assert world.intake_links["A1"] not in detail.text
    api = await client.get(f"/api/v1/organisations/{world.organisations['A1']}/intake-links")
    assert api.status_code == 403


async def test_platform_bureaus_operator_sees_all_bureaus(sign_in):
    client = await sign_in("operator")
    response = await client.get("/platform/bureaus")
    assert response.status_code == 200
    assert "Bureau A" in response.text and "Bureau B" in response.text


async def test_readyz_database_up_200_down_503(client, engine):
    assert (await client.get("/readyz")).status_code == 200
    database.use_engine(database.make_engine("postgresql://nobody:x@127.0.0.1:1/none"))
    try:
        response = await client.get("/readyz")
    finally:
        database.use_engine(engine)
    assert response.status_code == 503
    assert (await client.get("/healthz")).status_code == 200


async def test_openapi_schema_lists_api_not_pages(client):
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/organisations" in paths
    assert not any(path.startswith("/organisations") for path in paths)


async def test_request_log_route_template_not_path_or_address(sign_in, world, caplog):
    client = await sign_in("counsellor_A1")
    organisation_id = str(world.organisations["A1"])
    with caplog.at_level(logging.INFO, logger="klankbord.requests"):
        await client.get(f"/organisations/{organisation_id}?q=secret-query")
    lines = [r.getMessage() for r in caplog.records if r.name == "klankbord.requests"]
    assert lines, "no request line logged"
    assert any("/organisations/{organisation_id} 200" in line for line in lines)
    joined = "\n".join(lines)
    assert organisation_id not in joined
    assert "secret-query" not in joined
    assert "127.0.0.1" not in joined
