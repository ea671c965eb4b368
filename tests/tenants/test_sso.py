"""Single sign-on through the app's pages: the admin's settings, the start, the callback.

The code flow runs over HTTP against oidc-provider-mock on 127.0.0.1 (the test plays the
browser: the app's redirect → the provider's form → the app's callback). Protocol checks
(nonce, issuer, audience, signatures) are tests/tenants/test_oidc_protocol.py's; here, what
the product adds: who may sign in, the single-use attempt bound to one browser, the
bureau's settings and its sealed secret. Every refusal shows the same page; which check
refused is read from the log line (a short code), never from the page.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from klankbord.auth import SESSION_COOKIE
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.secretbox import SealedValueInvalid
from klankbord.tables import AuditEvent
from klankbord.tenancy import system_context, tenant_transaction
from tenants import sso
from tenants.sso_routes import BINDING_COOKIE
from tenants.tables import OidcLogin, OidcProvider, StaffUser
from tests.support.forms import submit
from tests.support.oidc_provider import (
    MockProvider,
    ScriptedProvider,
    callback_params,
)

SETTINGS_PAGE = "/bureau/single-sign-on"
CALLBACK = "/sign-in/sso/callback"
CLIENT_ID = "klankbord-bureau-a"
CLIENT_SECRET = "client-secret-of-bureau-a-0f3c9e"
FAILED = "Single sign-on did not work"
EMAIL = "counsellor.a1@example.test"


@pytest.fixture
def box(app):
    return app.state.secret_box


@pytest.fixture
def refusals(caplog):
    """The reasons logged for refused sign-ins so far, in order."""
    caplog.set_level(logging.INFO, logger="klankbord.sso")
    return lambda: re.findall(r"single sign-on refused \((\w+)\)", caplog.text)


def _subject() -> str:
    return f"staff-{secrets.token_hex(4)}"


def _english(client: httpx.AsyncClient) -> None:
    client.cookies.set("klankbord_lang", "en")


async def _configure(
    client: httpx.AsyncClient,
    issuer: str,
    *,
    client_id: str = CLIENT_ID,
    secret: str = CLIENT_SECRET,
    enabled: bool = True,
) -> httpx.Response:
    data = {"issuer": issuer, "client_id": client_id, "client_secret": secret}
    if enabled:
        data["enabled"] = "on"
    return await submit(client, SETTINGS_PAGE, SETTINGS_PAGE, data)


async def _provider_id(client: httpx.AsyncClient) -> str:
    page = await client.get(SETTINGS_PAGE)
    found = re.search(r"/sign-in/sso/([0-9a-f-]{36})<", page.text)
    assert found, "the settings page shows the sign-in address"
    return found.group(1)


async def _as_admin_configure(sign_in, issuer: str, **kwargs) -> str:
    """Bureau A's admin saves the settings; the client is then signed out (a new browser)."""
    client = await sign_in("admin_A")
    response = await _configure(client, issuer, **kwargs)
    assert response.status_code == 303, response.text
    provider_id = await _provider_id(client)
    client.cookies.clear()
    client.cookies.set("klankbord_lang", "en")
    _english(client)
    return provider_id


@pytest.fixture
async def configured(sign_in, provider) -> str:
    """Bureau A's provider is the mock; the id of its sign-in address. The client (the same
    as the test's `client`) is signed out and reads English."""
    return await _as_admin_configure(sign_in, provider.issuer)


async def _start(client: httpx.AsyncClient, provider_id: str, next_path: str = "/organisations"):
    response = await client.get(f"/sign-in/sso/{provider_id}", params={"next": next_path})
    assert response.status_code == 303, response.text
    return response.headers["location"]


async def _sso(
    client: httpx.AsyncClient,
    provider: MockProvider,
    provider_id: str,
    subject: str,
    next_path: str = "/organisations",
) -> httpx.Response:
    location = await _start(client, provider_id, next_path)
    params = await provider.authorize(location, subject)
    return await client.get(CALLBACK, params=params)


def _assert_failed(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert FAILED in response.text
    assert 'href="/sign-in"' in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


async def _staff_row(staff_user_id):
    async with tenant_transaction(system_context("test")):
        return await StaffUser.select().where(StaffUser.id == staff_user_id).first()


async def _provider_row(bureau_id):
    async with tenant_transaction(system_context("test")):
        return await OidcProvider.select().where(OidcProvider.bureau == bureau_id).first()


# --- the code flow ------------------------------------------------------------------------


async def test_sso_code_flow_signs_in_links_subject_then_matches_by_subject(
    client, sign_in, provider, world, configured, caplog
):
    provider_id = configured
    subject = _subject()
    await provider.add_user(subject, email=EMAIL, email_verified=True, name="Counsellor A1")
    caplog.set_level(logging.DEBUG)
    assert (await client.get("/organisations")).status_code == 303  # nobody signed in yet

    location = await _start(client, provider_id, next_path="/organisations")
    assert location.startswith(provider.issuer + "/")
    binding = client.cookies[BINDING_COOKIE]
    params = await provider.authorize(location, subject)
    response = await client.get(CALLBACK, params=params)

    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/organisations"
    cookies = response.headers.get_list("set-cookie")
    assert any(c.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in c for c in cookies)
    assert any(c.startswith(f"{BINDING_COOKIE}=") and "Max-Age=0" in c for c in cookies)
    organisations = await client.get("/organisations")
    assert organisations.status_code == 200
    assert "Organisation A1" in organisations.text

    user_id = world.users["counsellor_A1"]
    row = await _staff_row(user_id)
    assert (row["oidc_issuer"], row["oidc_subject"]) == (provider.issuer, subject)
    async with tenant_transaction(system_context("test")):
        events = await AuditEvent.select(AuditEvent.action, AuditEvent.detail).where(
            AuditEvent.subject_id == str(user_id)
        )
    actions = [(event["action"], json.loads(event["detail"])) for event in events]
    assert ("staff.signed_in", {"method": "oidc"}) in actions
    assert ("staff_user.oidc_linked", {"provider": provider_id}) in actions
    ours = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(("klankbord", "tenants"))
    )
    for secret in (params["code"], params["state"], binding, CLIENT_SECRET):
        assert secret not in ours

    # The second time the subject is the link: the address at the provider may change.
    client.cookies.clear()
    client.cookies.set("klankbord_lang", "en")
    await provider.add_user(subject, email="a1.new-address@example.org", email_verified=True)
    again = await _sso(client, provider, provider_id, subject, next_path="https://evil.example/")
    assert again.status_code == 303
    assert again.headers["location"] == "/"  # never off the site
    assert (await client.get("/organisations")).status_code == 200


async def test_sso_unknown_email_refused_without_account(
    client, provider, configured, world, refusals
):
    subject = _subject()
    await provider.add_user(subject, email="stranger@example.test", email_verified=True)

    response = await _sso(client, provider, configured, subject)

    _assert_failed(response)
    assert refusals() == ["no_account"]
    async with tenant_transaction(system_context("test")):
        assert not await StaffUser.exists().where(StaffUser.email == "stranger@example.test")
    assert (await client.get("/organisations")).status_code == 303


async def test_sso_user_of_other_bureau_refused(client, provider, configured, refusals, world):
    subject = _subject()
    await provider.add_user(subject, email="counsellor.b1@example.test", email_verified=True)

    _assert_failed(await _sso(client, provider, configured, subject))

    assert refusals() == ["no_account"]
    row = await _staff_row(world.users["counsellor_B1"])
    assert row["oidc_subject"] is None


async def test_sso_unverified_email_refused(client, provider, configured, refusals, world):
    subject = _subject()
    await provider.add_user(subject, email=EMAIL, email_verified=False)

    _assert_failed(await _sso(client, provider, configured, subject))

    assert refusals() == ["email_not_verified"]
    assert (await _staff_row(world.users["counsellor_A1"]))["oidc_subject"] is None


async def test_sso_inactive_account_refused(client, provider, configured, refusals, world):
    async with tenant_transaction(system_context("test")):
        await StaffUser.update({StaffUser.active: False}).where(
            StaffUser.id == world.users["counsellor_A1"]
        )
    subject = _subject()
    await provider.add_user(subject, email=EMAIL, email_verified=True)

    _assert_failed(await _sso(client, provider, configured, subject))
    assert refusals() == ["no_account"]


async def test_sso_address_linked_to_other_subject_refused(client, provider, configured, refusals):
    """Once linked, the address alone no longer signs in: at the provider it may have
    changed hands (a new subject with the old address)."""
    first, second = _subject(), _subject()
    await provider.add_user(first, email=EMAIL, email_verified=True)
    assert (await _sso(client, provider, configured, first)).status_code == 303
    client.cookies.clear()
    client.cookies.set("klankbord_lang", "en")
    await provider.add_user(first, email="moved-on@example.org", email_verified=True)
    await provider.add_user(second, email=EMAIL, email_verified=True)

    _assert_failed(await _sso(client, provider, configured, second))
    assert refusals() == ["linked_to_other_subject"]


async def test_sso_replayed_callback_refused(client, provider, configured, refusals):
    subject = _subject()
    await provider.add_user(subject, email=EMAIL, email_verified=True)
    location = await _start(client, configured)
    binding = client.cookies[BINDING_COOKIE]
    params = await provider.authorize(location, subject)
    assert (await client.get(CALLBACK, params=params)).status_code == 303

    client.cookies.clear()

    client.cookies.set("klankbord_lang", "en")
    client.cookies.set(BINDING_COOKIE, binding)  # the same browser, the same callback again
    replay = await client.get(CALLBACK, params=params)

    _assert_failed(replay)
    assert refusals() == ["unknown_state"]


@pytest.mark.parametrize("cookie", [None, "another-browsers-binding"])
async def test_sso_callback_without_the_starting_browsers_cookie_refused(
    client, provider, configured, refusals, cookie
):
    """A callback URL sent to someone else (login CSRF) or leaked signs nobody in, and the
    attempt is spent: the starting browser can't use it afterwards either."""
    subject = _subject()
    await provider.add_user(subject, email=EMAIL, email_verified=True)
    location = await _start(client, configured)
    binding = client.cookies[BINDING_COOKIE]
    params = await provider.authorize(location, subject)

    client.cookies.clear()

    client.cookies.set("klankbord_lang", "en")
    if cookie is not None:
        client.cookies.set(BINDING_COOKIE, cookie)
    _assert_failed(await client.get(CALLBACK, params=params))

    client.cookies.set(BINDING_COOKIE, binding)
    _assert_failed(await client.get(CALLBACK, params=params))
    assert refusals() == ["other_browser", "unknown_state"]


async def test_sso_expired_login_refused(client, provider, configured, refusals):
    subject = _subject()
    await provider.add_user(subject, email=EMAIL, email_verified=True)
    location = await _start(client, configured)
    params = await provider.authorize(location, subject)
    past = datetime.now(UTC) - timedelta(seconds=1)
    await OidcLogin.update({OidcLogin.expires_at: past}).where(OidcLogin.provider == configured)

    _assert_failed(await client.get(CALLBACK, params=params))
    assert refusals() == ["expired"]


async def test_sso_callback_without_state_or_with_unknown_state_refused(
    client, configured, refusals
):
    _assert_failed(await client.get(CALLBACK, params={"code": "something"}))
    _assert_failed(await client.get(CALLBACK, params={"code": "x", "state": "made-up"}))
    doubled = await client.get(f"{CALLBACK}?code=x&state=a&state=b")
    _assert_failed(doubled)
    assert refusals() == ["missing_state", "unknown_state"]


async def test_sso_provider_denial_refused(client, provider, configured, refusals):
    location = await _start(client, configured)
    params = await provider.deny(location)

    _assert_failed(await client.get(CALLBACK, params=params))
    # This provider leaves the state out of its error answer, so the attempt is not even
    # found; one that sends it back gets "provider_error". The page is the same.
    assert refusals() in (["missing_state"], ["provider_error"])


async def test_sso_disabled_provider_neither_starts_nor_finishes(
    client, sign_in, provider, configured, refusals, box
):
    subject = _subject()
    await provider.add_user(subject, email=EMAIL, email_verified=True)
    location = await _start(client, configured)  # started while still enabled
    params = await provider.authorize(location, subject)
    binding = client.cookies[BINDING_COOKIE]
    await _as_admin_configure(sign_in, provider.issuer, secret="", enabled=False)

    client.cookies.set(BINDING_COOKIE, binding)
    _assert_failed(await client.get(CALLBACK, params=params))
    assert refusals() == ["provider_unavailable"]
    assert (await client.get(f"/sign-in/sso/{configured}")).status_code == 404
    with pytest.raises(NotFound):
        await sso.start(
            box,
            provider_id=configured,
            redirect_uri="http://127.0.0.1:8000/sign-in/sso/callback",
            next_path="/",
            browser_binding="b",
            allow_insecure_loopback=True,
        )


async def test_sso_unknown_provider_not_found(client, world):
    response = await client.get(f"/sign-in/sso/{world.bureaus['A']}")  # an id, not a provider's
    assert response.status_code == 404
    assert BINDING_COOKIE not in response.headers.get("set-cookie", "")


async def test_sso_provider_unreachable_at_start_shows_failure(sign_in, client):
    with ScriptedProvider() as gone:
        issuer = gone.issuer
    provider_id = await _as_admin_configure(sign_in, issuer)

    response = await client.get(f"/sign-in/sso/{provider_id}")

    _assert_failed(response)


def _tampered(scripted: ScriptedProvider, claims: dict) -> str:
    header, _, signature = scripted.sign(claims).split(".")
    changed = json.dumps(dict(claims, sub="someone-else"), separators=(",", ":")).encode()
    body = base64.urlsafe_b64encode(changed).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


@pytest.mark.parametrize("tamper", [False, True], ids=["signed", "tampered"])
async def test_sso_tampered_id_token_refused_end_to_end(
    client, sign_in, scripted, refusals, tamper
):
    provider_id = await _as_admin_configure(sign_in, scripted.issuer)
    location = await _start(client, provider_id)
    query = callback_params(location)  # the authorization request's own query
    claims = scripted.claims(client_id=CLIENT_ID, nonce=query["nonce"], email=EMAIL)
    scripted.id_token = _tampered(scripted, claims) if tamper else scripted.sign(claims)

    response = await client.get(CALLBACK, params={"code": "scripted-code", "state": query["state"]})

    if tamper:
        _assert_failed(response)
        assert refusals() == ["invalid_id_token"]
    else:
        assert response.status_code == 303  # the same setup, honestly signed, signs in
        request = scripted.token_requests[-1]
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        assert request["authorization"] == f"Basic {basic}"  # the unsealed secret was used
        assert urlsplit(request["redirect_uri"]).path == CALLBACK


# --- the bureau admin's settings ----------------------------------------------------------


async def test_sso_settings_page_shows_addresses_never_the_secret(sign_in, provider, world, box):
    client = await sign_in("admin_A")
    _english(client)
    empty = await client.get(SETTINGS_PAGE)
    assert empty.status_code == 200
    assert "Bureau A" in empty.text
    assert "http://127.0.0.1:8000/sign-in/sso/callback" in empty.text
    assert "The address appears here once the settings are saved." in empty.text

    assert (await _configure(client, provider.issuer)).status_code == 303
    page = await client.get(SETTINGS_PAGE + "?saved=1")
    row = await _provider_row(world.bureaus["A"])
    assert f"http://127.0.0.1:8000/sign-in/sso/{row['id']}<" in page.text
    assert "The settings are saved." in page.text
    assert "A secret is saved. Leave this empty to keep it." in page.text
    assert f'value="{provider.issuer}"' in page.text and f'value="{CLIENT_ID}"' in page.text
    assert CLIENT_SECRET not in page.text

    # Sealed under the bureau's context: not in clear, and not usable for another bureau.
    assert CLIENT_SECRET not in row["client_secret_sealed"]
    bureau_a = world.bureaus["A"]
    assert box.open(row["client_secret_sealed"], context=f"oidc:{bureau_a}") == CLIENT_SECRET
    with pytest.raises(SealedValueInvalid):
        box.open(row["client_secret_sealed"], context=f"oidc:{world.bureaus['B']}")
    async with tenant_transaction(system_context("test")):
        events = await AuditEvent.select(AuditEvent.action, AuditEvent.detail).where(
            AuditEvent.action == "oidc_provider.configured"
        )
    assert events and all(CLIENT_SECRET not in event["detail"] for event in events)


async def test_sso_settings_blank_secret_keeps_the_saved_one(sign_in, provider, world, box):
    client = await sign_in("admin_A")
    assert (await _configure(client, provider.issuer)).status_code == 303
    assert (await _configure(client, provider.issuer, secret="", enabled=False)).status_code == 303

    row = await _provider_row(world.bureaus["A"])
    context = f"oidc:{world.bureaus['A']}"
    assert box.open(row["client_secret_sealed"], context=context) == CLIENT_SECRET
    assert row["enabled"] is False

    assert (await _configure(client, provider.issuer, secret="rotated-secret")).status_code == 303
    row = await _provider_row(world.bureaus["A"])
    assert box.open(row["client_secret_sealed"], context=context) == "rotated-secret"
    async with tenant_transaction(system_context("test")):
        assert await OidcProvider.count().where(OidcProvider.bureau == world.bureaus["A"]) == 1


async def test_sso_settings_field_errors_keep_typed_values_never_the_secret(sign_in):
    client = await sign_in("admin_A")
    _english(client)

    response = await _configure(
        client, "http://idp.example.org", client_id=" ", secret="typed-secret-9d1e"
    )

    assert response.status_code == 422
    assert "There is a problem" in response.text
    assert "<title>Error: Single sign-on" in response.text
    assert "Enter an address that starts with https://" in response.text
    assert "Enter the client ID." in response.text
    assert 'value="http://idp.example.org"' in response.text
    assert "typed-secret-9d1e" not in response.text
    no_secret = await _configure(client, "https://login.example.org", secret="")
    assert no_secret.status_code == 422
    assert "Enter the client secret." in no_secret.text


@pytest.mark.parametrize("role", ["counsellor_A1", "contact_A1", "operator"])
async def test_sso_settings_other_roles_get_403(sign_in, role, world, box):
    client = await sign_in(role)
    assert (await client.get(SETTINGS_PAGE)).status_code == 403
    posted = await submit(
        client, "/account", SETTINGS_PAGE, {"issuer": "https://evil.example", "client_id": "x"}
    )
    assert posted.status_code == 403
    with pytest.raises(PermissionDenied):
        await sso.provider_settings(world.ctx(role), world.bureaus["A"])
    with pytest.raises(PermissionDenied):
        await sso.configure_provider(
            world.ctx(role),
            box,
            bureau_id=world.bureaus["A"],
            issuer="https://evil.example",
            client_id="x",
            client_secret="y",
            enabled=True,
        )


async def test_sso_settings_foreign_admin_cannot_read_or_change(sign_in, provider, world, box):
    """The isolation test for POST /bureau/single-sign-on: the form carries no bureau id (it
    is the admin's own), and the service refuses another bureau as not found."""
    await _as_admin_configure(sign_in, provider.issuer)
    admin_b = world.ctx("admin_B")
    bureau_a = world.bureaus["A"]
    with pytest.raises(NotFound):
        await sso.provider_settings(admin_b, bureau_a)
    with pytest.raises(NotFound):
        await sso.configure_provider(
            admin_b,
            box,
            bureau_id=bureau_a,
            issuer="https://login.bureau-b.example",
            client_id="bureau-b",
            client_secret="b-secret",
            enabled=True,
        )
    with pytest.raises(NotFound):  # not even a field error tells that the bureau exists
        await sso.configure_provider(
            admin_b,
            box,
            bureau_id=bureau_a,
            issuer="",
            client_id="",
            client_secret="",
            enabled=True,
        )

    client = await sign_in("admin_B")
    response = await _configure(client, "https://login.bureau-b.example", client_id="bureau-b")
    assert response.status_code == 303
    page = await client.get(SETTINGS_PAGE)
    assert provider.issuer not in page.text and CLIENT_ID not in page.text
    assert "Bureau A" not in page.text

    mine = await sso.provider_settings(world.ctx("admin_A"), bureau_a)
    assert (mine.issuer, mine.client_id, mine.enabled) == (provider.issuer, CLIENT_ID, True)
    theirs = await sso.provider_settings(admin_b, world.bureaus["B"])
    assert theirs.issuer == "https://login.bureau-b.example"
    assert theirs.provider_id != mine.provider_id


async def test_sso_configure_issuer_loopback_only_when_allowed(world, box, rollback):
    admin = world.ctx("admin_A")
    with pytest.raises(Invalid) as raised:
        await sso.configure_provider(
            admin,
            box,
            bureau_id=world.bureaus["A"],
            issuer="http://127.0.0.1:9400",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            enabled=True,
        )
    assert raised.value.fields == {"issuer": "insecure_issuer"}
    assert sso.loopback_allowed("test") and sso.loopback_allowed("development")
    assert not sso.loopback_allowed("production")
