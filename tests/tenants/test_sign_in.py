"""Staff sign-in over HTTP: password, TOTP enrolment and codes, recovery codes, limits,
session stages and lifetimes, sign-out, CSRF; and the database rules behind them."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest

from klankbord import database
from klankbord.auth import SESSION_COOKIE
from klankbord.errors import NotFound
from klankbord.tenancy import login_context, principal_context, system_context, tenant_transaction
from tenants import accounts
from tenants.tables import StaffRecoveryCode, StaffSession, StaffTotp, StaffUser
from tests.support.forms import csrf_token, submit
from tests.support.world import PASSWORD

EMAIL = "counsellor.a1@example.test"
GENERIC = "That did not work. Check what you typed and try again."


@pytest.fixture
async def english(client: httpx.AsyncClient) -> httpx.AsyncClient:
    client.cookies.set("klankbord_lang", "en")
    return client


async def _password(client: httpx.AsyncClient, email: str, password: str, target: str = "/"):
    return await submit(
        client, "/sign-in", "/sign-in", {"email": email, "password": password, "next": target}
    )


def _secret(page: str) -> str:
    found = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    assert found, "the enrolment page shows the key"
    return found.group(1)


def _codes(page: str) -> list[str]:
    return re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", page)


async def _enrol(client: httpx.AsyncClient, email: str = EMAIL) -> tuple[str, list[str]]:
    """Sign in for the first time: password, then TOTP enrolment. Returns secret and codes."""
    response = await _password(client, email, PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in/enrol"
    page = await client.get("/sign-in/enrol")
    secret = _secret(page.text)
    response = await submit(
        client, "/sign-in/enrol", "/sign-in/enrol", {"code": pyotp.TOTP(secret).now()}
    )
    assert response.status_code == 200, response.text
    codes = _codes(response.text)
    return secret, codes


async def test_sign_in_first_time_enrols_totp_then_pages_open(english, world):
    client = english
    assert (await client.get("/organisations")).status_code == 303

    response = await _password(client, EMAIL, PASSWORD, target="/organisations")
    pending = client.cookies[SESSION_COOKIE]
    assert response.headers["location"] == "/sign-in/enrol"
    # Password alone: no data yet.
    assert (await client.get("/organisations")).status_code == 303
    assert (await client.get("/api/v1/organisations")).status_code == 401

    page = await client.get("/sign-in/enrol")
    assert page.status_code == 200
    assert "<svg" in page.text  # the QR code, inline: no third party sees the secret
    secret = _secret(page.text)
    assert _secret((await client.get("/sign-in/enrol")).text) == secret  # same on reload

    wrong = await submit(client, "/sign-in/enrol", "/sign-in/enrol", {"code": "000000"})
    assert wrong.status_code == 400
    assert GENERIC in wrong.text

    done = await submit(
        client, "/sign-in/enrol", "/sign-in/enrol", {"code": pyotp.TOTP(secret).now()}
    )
    assert done.status_code == 200
    codes = _codes(done.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert 'href="/organisations"' in done.text  # where the person was going

    # The token changed on sign-in; the one from before no longer works.
    assert client.cookies[SESSION_COOKIE] != pending
    assert await accounts.session_for_token(pending) is None
    organisations = await client.get("/organisations")
    assert organisations.status_code == 200
    assert "Organisation A1" in organisations.text


async def test_sign_in_second_time_code_never_accepted_twice(english, world):
    client = english
    secret, _ = await _enrol(client)
    used = pyotp.TOTP(secret).now()
    client.cookies.clear()
    client.cookies.set("klankbord_lang", "en")

    response = await _password(client, EMAIL, PASSWORD)
    assert response.headers["location"] == "/sign-in/code"
    replay = await submit(client, "/sign-in/code", "/sign-in/code", {"code": used})
    assert replay.status_code == 400  # the enrolment's code: already used
    assert GENERIC in replay.text

    following = pyotp.TOTP(secret).at(time.time() + 30)  # the next time step
    done = await submit(client, "/sign-in/code", "/sign-in/code", {"code": following})
    assert done.status_code == 303
    assert (await client.get("/organisations")).status_code == 200


async def test_sign_in_recovery_code_works_once(english, world):
    client = english
    _, codes = await _enrol(client)
    for attempt in range(2):
        client.cookies.clear()
        client.cookies.set("klankbord_lang", "en")
        await _password(client, EMAIL, PASSWORD)
        typed = codes[0].upper().replace("-", " ")  # as someone types it off paper
        response = await submit(client, "/sign-in/code", "/sign-in/code", {"code": typed})
        if attempt == 0:
            assert response.status_code == 303
            assert response.headers["location"] == "/account?recovery_code_used=1"
            account = await client.get(response.headers["location"])
            assert "That code no longer works" in account.text
            assert "Recovery codes left: 9" in account.text
        else:
            assert response.status_code == 400


async def test_sign_in_wrong_password_and_unknown_address_look_the_same(english, world):
    client = english
    wrong = await _password(client, EMAIL, "not the password at all")
    unknown = await _password(client, "nobody@example.test", "not the password at all")
    assert wrong.status_code == unknown.status_code == 400
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    assert wrong.text.replace(EMAIL, "@") == unknown.text.replace("nobody@example.test", "@")
    assert GENERIC in wrong.text
    assert 'value="counsellor.a1@example.test"' in wrong.text  # the typed address is kept
    assert "not the password at all" not in wrong.text  # never the password


async def test_sign_in_inactive_account_refused_like_a_wrong_password(english, world):
    async with tenant_transaction(system_context("test")):
        await StaffUser.update({StaffUser.active: False}).where(
            StaffUser.id == world.users["counsellor_A1"]
        )
    response = await _password(english, EMAIL, PASSWORD)
    assert response.status_code == 400
    assert GENERIC in response.text


async def test_sign_in_attempts_limited_per_account_with_clear_message(english, world):
    client = english
    for _ in range(accounts.ACCOUNT_LIMIT):
        assert (await _password(client, EMAIL, "wrong password here")).status_code == 400
    locked = await _password(client, EMAIL, PASSWORD)  # even the right password now
    assert locked.status_code == 429
    assert "Too many attempts" in locked.text
    assert re.search(r"Try again in \d+ minutes", locked.text)
    # Another account from the same address is not locked by this one.
    other = await _password(client, "contact.a1@example.test", PASSWORD)
    assert other.status_code == 303


async def test_sign_in_limits_hold_across_processes(world, rollback):
    """The counters live in the database: what one process counted, another refuses."""
    from klankbord.secretbox import SecretBox
    from klankbord.settings import Settings

    box = SecretBox(Settings(environment="test").server_key)
    for _ in range(accounts.ACCOUNT_LIMIT):
        with pytest.raises(accounts.SignInRefused):
            await accounts.sign_in_with_password(
                box, email=EMAIL, password="wrong", address="10.0.0.1"
            )
    second_process_box = SecretBox(Settings(environment="test").server_key)
    with pytest.raises(accounts.TooManyAttempts):
        await accounts.sign_in_with_password(
            second_process_box, email=EMAIL, password=PASSWORD, address="10.0.0.2"
        )


async def test_sign_in_totp_attempts_limited(english, world):
    client = english
    await _enrol(client)
    client.cookies.clear()
    client.cookies.set("klankbord_lang", "en")
    await _password(client, EMAIL, PASSWORD)
    token = await csrf_token(client, "/sign-in/code")
    for _ in range(accounts.ACCOUNT_LIMIT):
        response = await client.post("/sign-in/code", data={"code": "123456", "_csrf_token": token})
        assert response.status_code == 400
    response = await client.post("/sign-in/code", data={"code": "123456", "_csrf_token": token})
    assert response.status_code == 429


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/organisations?page_number=2", "/organisations?page_number=2"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
async def test_sign_in_next_only_local_paths(target, kept, english, world):
    await _password(english, EMAIL, PASSWORD, target=target)
    session = await accounts.session_for_token(english.cookies[SESSION_COOKIE])
    assert session is not None
    assert session.next_path == kept


async def test_sign_out_asks_then_ends_the_session(english, world, sign_in):
    client = await sign_in("counsellor_A1")
    token = client.cookies[SESSION_COOKIE]
    confirm = await client.get("/sign-out")
    assert confirm.status_code == 200
    assert await accounts.session_for_token(token) is not None  # a GET changes nothing

    forged = await client.post("/sign-out", data={"_csrf_token": "0" * 128})
    assert forged.status_code == 403
    assert await accounts.session_for_token(token) is not None

    response = await submit(client, "/sign-out", "/sign-out")
    assert response.status_code == 303
    assert await accounts.session_for_token(token) is None
    assert (await client.get("/organisations")).status_code == 303


async def test_sign_out_everywhere_ends_every_session(world, sign_in, client):
    other_device = await accounts.start_session(world.users["counsellor_A1"])
    client = await sign_in("counsellor_A1")
    response = await submit(client, "/account", "/account/sign-out-everywhere")
    assert response.status_code == 303
    assert await accounts.session_for_token(other_device) is None
    assert await accounts.session_for_token(client.cookies.get(SESSION_COOKIE) or "x") is None
    remaining = await StaffSession.count().where(
        StaffSession.staff_user == world.users["counsellor_A1"]
    )
    assert remaining == 0


async def test_session_idle_and_absolute_limits(world, rollback):
    policy = accounts.SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
    token = await accounts.start_session(world.users["counsellor_A1"], policy=policy)
    assert await accounts.session_for_token(token, policy) is not None
    await StaffSession.update(
        {StaffSession.last_seen_at: datetime.now(UTC) - timedelta(minutes=31)}, force=True
    )
    assert await accounts.session_for_token(token, policy) is None  # idle too long

    token = await accounts.start_session(world.users["counsellor_A1"], policy=policy)
    await StaffSession.update(
        {StaffSession.expires_at: datetime.now(UTC) - timedelta(seconds=1)}, force=True
    )
    assert await accounts.session_for_token(token, policy) is None  # past the absolute limit


async def test_session_cookie_flags(english, world):
    response = await _password(english, EMAIL, PASSWORD)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie


async def test_csrf_missing_or_foreign_token_refused(client, world):
    no_token = await client.post("/sign-in", data={"email": EMAIL, "password": PASSWORD})
    assert no_token.status_code == 403
    token = await csrf_token(client, "/sign-in")
    forged = token[:64] + "0" * 64  # right shape, not our signature
    client.cookies.set("klankbord_csrf", forged)
    response = await client.post(
        "/sign-in", data={"email": EMAIL, "password": PASSWORD, "_csrf_token": forged}
    )
    assert response.status_code == 403


async def test_pages_without_forms_set_no_cookie(client):
    response = await client.get("/")
    assert "set-cookie" not in response.headers
    assert "klankbord_csrf" in (await client.get("/sign-in")).headers.get("set-cookie", "")


async def test_totp_secret_stored_sealed(english, world):
    secret, codes = await _enrol(english)
    async with tenant_transaction(system_context("test")):
        rows = await StaffTotp.select(StaffTotp.secret_sealed)
        hashes = await StaffRecoveryCode.select(StaffRecoveryCode.code_hash)
    assert rows and all(secret not in row["secret_sealed"] for row in rows)
    stored = " ".join(row["code_hash"] for row in hashes)
    assert all(code not in stored for code in codes)


# --- the database rules (PostgreSQL: row-level security as the app role) ------------------


@pytest.mark.postgres
async def test_rls_totp_rows_private_to_their_owner(english, world):
    await _enrol(english)
    owner = world.users["counsellor_A1"]
    for other in ("admin_A", "contact_A1", "operator"):
        async with tenant_transaction(principal_context(world.users[other])):
            rows = await database.fetch("SELECT staff_user FROM staff_totp")
            codes = await database.fetch("SELECT staff_user FROM staff_recovery_code")
        assert rows == [] and codes == [], other
    async with tenant_transaction(world.ctx("admin_A")):  # the bureau admin, full context
        assert await database.fetch("SELECT staff_user FROM staff_totp") == []
    async with tenant_transaction(principal_context(owner)):
        rows = await database.fetch("SELECT staff_user FROM staff_totp")
    assert [row["staff_user"] for row in rows] == [owner]


@pytest.mark.postgres
async def test_rls_login_context_sees_one_row_and_writes_nothing(world, rollback):
    async with tenant_transaction(login_context(EMAIL)):
        rows = await database.fetch("SELECT email FROM staff_user")
        assert [row["email"] for row in rows] == [EMAIL]
        assert await database.fetch("SELECT id FROM organisation") == []
        updated = await database.fetch(
            "UPDATE staff_user SET display_name = 'x' WHERE email = {} RETURNING id", EMAIL
        )
        assert updated == []


async def test_platform_operator_signs_in_with_totp_and_sees_bureaus(english, world):
    _, codes = await _enrol(english, "operator@example.test")
    assert len(codes) == 10
    response = await english.get("/platform/bureaus")
    assert response.status_code == 200
    assert "Bureau A" in response.text and "Bureau B" in response.text
    assert (await english.get("/organisations")).status_code == 403  # bureaus only


async def test_sign_in_written_to_the_bureau_audit_chain(english, world):
    from klankbord.tables import AuditEvent

    await _enrol(english)
    async with tenant_transaction(system_context("test")):
        actions = await AuditEvent.select(AuditEvent.action).where(
            AuditEvent.chain == str(world.bureaus["A"])
        )
    names = [row["action"] for row in actions]
    assert "staff.totp_enrolled" in names and "staff.signed_in" in names


async def test_admin_resets_a_lost_second_factor_within_own_bureau_only(english, world):
    await _enrol(english)
    counsellor = world.users["counsellor_A1"]
    for outsider in ("admin_B", "counsellor_A1", "contact_A1"):
        with pytest.raises(NotFound):
            await accounts.reset_second_factor(world.ctx(outsider), staff_user_id=counsellor)
    assert await accounts.has_totp(counsellor)

    await accounts.reset_second_factor(world.ctx("admin_A"), staff_user_id=counsellor)
    assert not await accounts.has_totp(counsellor)
    assert await accounts.session_for_token(english.cookies[SESSION_COOKIE]) is None
    english.cookies.clear()
    english.cookies.set("klankbord_lang", "en")
    response = await _password(english, EMAIL, PASSWORD)
    assert response.headers["location"] == "/sign-in/enrol"


async def test_sign_in_overlong_password_refused(english, world):
    response = await _password(english, EMAIL, PASSWORD + "x" * 100_000)
    assert response.status_code == 400
    assert GENERIC in response.text


async def test_purge_job_removes_dead_sessions_and_old_counters(world, rollback):
    from klankbord import jobs, ratelimit
    from klankbord.settings import Settings
    from klankbord.tables import RateLimit

    live = await accounts.start_session(world.users["counsellor_A1"])
    idle = await accounts.start_session(world.users["contact_A1"])
    await StaffSession.update(
        {StaffSession.last_seen_at: datetime.now(UTC) - timedelta(hours=1)}
    ).where(StaffSession.staff_user == world.users["contact_A1"])
    await ratelimit.hit("old-key", limit=5, window=60, now=time.time() - 3 * 24 * 3600)
    await ratelimit.hit("new-key", limit=5, window=60)

    [outcome] = await jobs.run_all(
        Settings(environment="test"), {"sign_in_purge": jobs.JOBS["sign_in_purge"]}
    )
    assert not outcome.failed
    assert outcome.summary.startswith("1 sessions")
    assert await accounts.session_for_token(live) is not None
    assert (
        await StaffSession.count().where(StaffSession.staff_user == world.users["contact_A1"]) == 0
    )
    assert idle
    keys = {row["key"] for row in await RateLimit.select(RateLimit.key)}
    assert "new-key" in keys and "old-key" not in keys
