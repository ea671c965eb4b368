"""Staff invitations and password resets: the mail (over a real SMTP server), the link, the
password, single use, expiry, refusals across bureaus and roles, no account enumeration,
rate limits; and what is stored (token hashes only, nothing at all after a refusal)."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any
from uuid import UUID

import httpx
import pytest

from klankbord import mail
from klankbord.auth import SESSION_COOKIE
from klankbord.errors import Conflict, Invalid, NotFound, PermissionDenied
from klankbord.secretbox import SecretBox
from klankbord.settings import Settings
from klankbord.tables import AuditEvent, MailOutbox
from klankbord.tenancy import login_context, system_context, tenant_transaction
from tenants import accounts, invitations
from tenants.invitations import LinkNotValid, TokenState
from tenants.tables import Membership, StaffSession, StaffToken, StaffUser
from tests.support.forms import submit
from tests.support.smtp import SmtpServer
from tests.support.world import PASSWORD

NEW_EMAIL = "nina.nieuw@example.test"
NEW_PASSWORD = "maple violin orbit thunder"
LINK = re.compile(r"http://127\.0\.0\.1:8000(/(?:invitation|password-reset)/[A-Za-z0-9_-]+)")
SAME_ANSWER = "If the address belongs to a Klankbord account"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def english(client: httpx.AsyncClient) -> httpx.AsyncClient:
    client.cookies.set("klankbord_lang", "en")
    return client


def _smtp_settings(port: int) -> Settings:
    return dataclasses.replace(
        Settings(environment="test"),
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        mail_from="Klankbord <no-reply@example.org>",
    )


async def _deliver(smtp: SmtpServer) -> list[Message]:
    await mail.deliver_pending(_smtp_settings(smtp.port))
    return smtp.inbox.messages


def _body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def _link(text: str) -> str:
    found = LINK.search(text)
    assert found, "the mail carries the link"
    return found.group(1)


async def _outbox_link(recipient: str) -> str:
    rows = (
        await MailOutbox.select(MailOutbox.body)
        .where(MailOutbox.recipient == recipient)
        .order_by(MailOutbox.created_at)
    )
    assert rows, f"no mail for {recipient}"
    return _link(rows[-1]["body"])


async def _staff_user(email: str) -> dict[str, Any] | None:
    lookup = login_context(email)
    async with tenant_transaction(lookup):
        return await StaffUser.select().where(StaffUser.email == email).first()


def _invite_form(world, **changes: Any) -> dict[str, Any]:
    return {
        "email": NEW_EMAIL,
        "display_name": "Nina Nieuw",
        "role": "counsellor",
        "organisations": [str(world.organisations["A1"])],
        "language": "en",
        **changes,
    }


async def _invite(world, app, *, by: str = "admin_A", **changes: Any) -> UUID:
    form = _invite_form(world, **changes)
    return await invitations.invite_staff(
        world.ctx(by),
        app.state.settings,
        email=form["email"],
        display_name=form["display_name"],
        role=form["role"],
        organisation_ids=[UUID(value) for value in form["organisations"]],
        language=form["language"],
    )


async def _expire(path: str) -> None:
    token = path.rsplit("/", 1)[1]
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    past = datetime.now(UTC) - timedelta(seconds=1)
    await StaffToken.update({StaffToken.expires_at: past}).where(
        StaffToken.token_hash == token_hash
    )


# --- inviting ------------------------------------------------------------------------------


async def test_invitation_mailed_link_sets_password_then_enrolment(
    english, world, sign_in, smtp, caplog
):
    client = await sign_in("admin_A")
    response = await submit(client, "/bureau/staff", "/bureau/staff/invite", _invite_form(world))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/bureau/staff?invited=1"
    listing = await client.get("/bureau/staff?invited=1")
    assert "The invitation has been sent." in listing.text
    assert "Nina Nieuw" in listing.text and "invited" in listing.text

    [message] = await _deliver(smtp)
    assert message["To"] == NEW_EMAIL
    assert message["Subject"] == "Your invitation to Klankbord"  # the invitee's language
    body = _body(message)
    assert "Hello Nina Nieuw," in body and "Bureau A has invited you" in body
    path = _link(body)
    token = path.rsplit("/", 1)[1]

    # Stored: the SHA-256 of the token only; the user has no password and its membership.
    user = await _staff_user(NEW_EMAIL)
    assert user is not None and user["password_hash"] is None and user["language"] == "en"
    stored = await StaffToken.select().where(StaffToken.staff_user == user["id"])
    assert [row["token_hash"] for row in stored] == [hashlib.sha256(token.encode()).hexdigest()]
    assert stored[0]["purpose"] == "invitation"
    assert stored[0]["expires_at"] - stored[0]["created_at"] == timedelta(days=7)
    async with tenant_transaction(world.ctx("admin_A")):
        roles = await Membership.select(Membership.organisation, Membership.role).where(
            Membership.staff_user == user["id"]
        )
        invited = await AuditEvent.select().where(AuditEvent.action == "staff.invited")
    assert roles == [{"organisation": world.organisations["A1"], "role": "counsellor"}]
    assert len(invited) == 1 and NEW_EMAIL not in str(invited[0]["detail"])

    client.cookies.clear()
    client.cookies.set("klankbord_lang", "en")
    page = await client.get(path)
    assert page.status_code == 200
    assert "Choose your password" in page.text and NEW_EMAIL in page.text
    assert page.headers["referrer-policy"] == "no-referrer"

    mismatch = await submit(
        client, path, path, {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD + "x"}
    )
    assert mismatch.status_code == 400
    assert "The two passwords are not the same." in mismatch.text
    assert NEW_PASSWORD not in mismatch.text  # never typed back

    done = await submit(
        client, path, path, {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/sign-in/enrol"
    assert client.cookies.get(SESSION_COOKIE)
    enrol = await client.get("/sign-in/enrol")
    assert enrol.status_code == 200 and "<svg" in enrol.text  # TOTP enrolment comes next
    assert (await client.get("/organisations")).status_code == 303  # not signed in yet

    again = await client.get(path)  # single use
    assert again.status_code == 410
    assert "This invitation has already been used" in again.text
    replay = await submit(
        client, "/password-reset", path, {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    )
    assert replay.status_code == 410

    # The app's own log (the test client logs the URLs it requests itself).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("klankbord"))
    assert "/invitation/{token}" in logged
    assert token not in logged and NEW_EMAIL not in logged and NEW_PASSWORD not in logged


async def test_invitation_accepted_twice_second_refused(world, app, rollback):
    await _invite(world, app)
    token = (await _outbox_link(NEW_EMAIL)).rsplit("/", 1)[1]
    box = app.state.secret_box
    assert await invitations.invitation_status(token) is TokenState.VALID

    await invitations.accept_invitation(box, token, password=NEW_PASSWORD, address="192.0.2.1")
    with pytest.raises(LinkNotValid) as refused:
        await invitations.accept_invitation(box, token, password=NEW_PASSWORD, address="192.0.2.1")

    assert refused.value.state is TokenState.USED
    assert await invitations.invitation_status(token) is TokenState.USED
    assert await invitations.invitation_status(token[:-2] + "xx") is TokenState.UNKNOWN


async def test_invitation_expired_link_clear_page(english, world, app):
    await _invite(world, app)
    path = await _outbox_link(NEW_EMAIL)
    await _expire(path)

    response = await english.get(path)

    assert response.status_code == 410
    assert "This invitation has expired" in response.text
    assert "Ask your bureau admin to send you a new invitation." in response.text
    assert "<form" not in response.text
    unknown = await english.get("/invitation/" + "x" * 43)
    assert unknown.status_code == 404
    assert "This invitation link is not valid" in unknown.text


async def test_invitation_weak_password_refused_link_still_usable(english, world, app):
    await _invite(world, app)
    path = await _outbox_link(NEW_EMAIL)

    weak = await submit(
        english, path, path, {"password": "nina nieuw 2026", "confirmation": "nina nieuw 2026"}
    )

    assert weak.status_code == 400
    assert "This password is too easy to guess." in weak.text
    assert 'aria-invalid="true"' in weak.text
    assert (await english.get(path)).status_code == 200


@pytest.mark.parametrize("role", ["counsellor_A1", "contact_A1"])
async def test_invitation_counsellor_or_contact_refused_403(role, english, world, sign_in, app):
    client = await sign_in(role)
    assert (await client.get("/bureau/staff")).status_code == 403

    response = await submit(client, "/password-reset", "/bureau/staff/invite", _invite_form(world))

    assert response.status_code == 403
    assert await _staff_user(NEW_EMAIL) is None
    with pytest.raises(PermissionDenied):
        await _invite(world, app, by=role)


async def test_invitation_admin_of_other_bureau_into_foreign_organisation_not_found(
    english, world, sign_in, app
):
    client = await sign_in("admin_B")
    foreign = [str(world.organisations["A1"])]
    mixed = [str(world.organisations["B1"]), str(world.organisations["A1"])]

    for organisations in (foreign, mixed):
        response = await submit(
            client,
            "/bureau/staff",
            "/bureau/staff/invite",
            _invite_form(world, organisations=organisations),
        )
        assert response.status_code == 404
        assert "Organisation A1" not in response.text
    with pytest.raises(NotFound):
        await _invite(world, app, by="admin_B", organisations=mixed)

    # Nothing stored: no user, no membership, no token, no mail.
    assert await _staff_user(NEW_EMAIL) is None
    assert await MailOutbox.count() == 0
    assert await StaffToken.count() == 0
    listing = await client.get("/bureau/staff")
    assert "Organisation A1" not in listing.text and "Counsellor A1" not in listing.text
    assert "Counsellor B1" in listing.text


async def test_invitation_duplicate_email_clear_field_error(english, world, sign_in, app):
    client = await sign_in("admin_A")
    # An address of the other bureau: the admin's own context cannot see it (RLS).
    form = _invite_form(world, email="Counsellor.B1@example.test", display_name="Typed Name")

    response = await submit(client, "/bureau/staff", "/bureau/staff/invite", form)

    assert response.status_code == 400
    assert "There is already an account with this e-mail address." in response.text
    assert 'value="Counsellor.B1@example.test"' in response.text  # what was typed, kept
    assert 'value="Typed Name"' in response.text
    assert "<title>Error: Staff" in response.text
    assert await MailOutbox.count() == 0
    with pytest.raises(Conflict, match="email_taken"):
        await _invite(world, app, email="admin.a@example.test")


async def test_invitation_missing_fields_each_reported(english, world, sign_in):
    client = await sign_in("admin_A")
    form = _invite_form(world, email="not-an-address", display_name=" ", organisations=[])

    response = await submit(client, "/bureau/staff", "/bureau/staff/invite", form)

    assert response.status_code == 400
    for text in (
        "Enter an e-mail address in the right format",
        "Enter a name.",
        "Choose at least one organisation for a counsellor or an organisation contact.",
        'href="#organisations"',
    ):
        assert text in response.text, text
    assert await MailOutbox.count() == 0


async def test_invitation_bureau_admin_without_organisations(world, app, rollback):
    staff_user_id = await _invite(world, app, role="bureau_admin", organisations=[])
    user = await _staff_user(NEW_EMAIL)
    assert user is not None and user["id"] == staff_user_id and user["is_bureau_admin"]
    with pytest.raises(Invalid) as refused:
        await _invite(world, app, email="x@example.test", role="counsellor", organisations=[])
    assert refused.value.fields == {"organisations": "required"}


async def test_invitation_resent_old_link_stops_working(english, world, sign_in, app):
    staff_user_id = await _invite(world, app)
    old = await _outbox_link(NEW_EMAIL)
    client = await sign_in("admin_A")

    response = await submit(
        client, "/bureau/staff", "/bureau/staff/resend", {"staff_user_id": str(staff_user_id)}
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/bureau/staff?resent=1"
    new = await _outbox_link(NEW_EMAIL)
    assert new != old
    assert (await client.get(old)).status_code == 410
    assert (await client.get(new)).status_code == 200


async def test_invitation_resend_by_other_bureau_not_found(english, world, sign_in, app):
    staff_user_id = await _invite(world, app)
    path = await _outbox_link(NEW_EMAIL)
    client = await sign_in("admin_B")

    response = await submit(
        client, "/bureau/staff", "/bureau/staff/resend", {"staff_user_id": str(staff_user_id)}
    )

    assert response.status_code == 404
    assert await MailOutbox.count() == 1
    assert await invitations.invitation_status(path.rsplit("/", 1)[1]) is TokenState.VALID


async def test_staff_list_shows_own_bureau_only(english, world, sign_in):
    client = await sign_in("admin_A")
    response = await client.get("/bureau/staff")
    assert response.status_code == 200
    for text in ("Admin A", "counsellor.a1@example.test", "Counsellor A2", "Contact A1"):
        assert text in response.text
    for text in ("Admin B", "Counsellor B1", "Organisation B1", "operator@example.test"):
        assert text not in response.text


# --- password reset ------------------------------------------------------------------------


async def _request_reset(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await submit(client, "/password-reset", "/password-reset", {"email": email})


async def test_reset_known_and_unknown_address_same_response(english, world, smtp, app):
    await _invite(world, app)  # invited, not accepted yet: no password to reset
    await _deliver(smtp)
    smtp.inbox.messages.clear()

    known = await _request_reset(english, "Admin.A@example.test ")
    unknown = await _request_reset(english, "nobody@example.test")
    no_password = await _request_reset(english, NEW_EMAIL)

    for response in (unknown, no_password):
        assert (response.status_code, response.headers["location"], response.text) == (
            known.status_code,
            known.headers["location"],
            known.text,
        )
    assert known.status_code == 303
    page = await english.get(known.headers["location"])
    assert SAME_ANSWER in page.text
    assert [message["To"] for message in await _deliver(smtp)] == ["admin.a@example.test"]


async def test_reset_link_once_ends_sessions_then_normal_sign_in(english, world, smtp, app):
    admin = world.users["admin_A"]
    old_session = await accounts.start_session(admin)
    await accounts.start_session(admin)
    assert await _request_reset(english, "admin.a@example.test")
    [message] = await _deliver(smtp)
    assert message["Subject"] == "Een nieuw wachtwoord voor Klankbord"  # the account's language
    path = _link(_body(message))
    token = path.rsplit("/", 1)[1]
    [stored] = await StaffToken.select().where(StaffToken.staff_user == admin)
    assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert stored["expires_at"] - stored["created_at"] == timedelta(minutes=30)

    form = await english.get(path)
    assert form.status_code == 200 and "Choose a new password" in form.text
    weak = await submit(english, path, path, {"password": "admin a 123456", "confirmation": "x"})
    assert weak.status_code == 400
    assert "This password is too easy to guess." in weak.text
    assert await invitations.reset_status(token) is TokenState.VALID  # still usable

    done = await submit(
        english, path, path, {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/password-reset?done=1"
    assert SESSION_COOKIE not in english.cookies  # not signed in by the reset
    assert "Your password has been changed" in (await english.get("/password-reset?done=1")).text
    assert await StaffSession.count().where(StaffSession.staff_user == admin) == 0
    assert await accounts.session_for_token(old_session) is None
    assert (await english.get(path)).status_code == 410

    box: SecretBox = app.state.secret_box
    with pytest.raises(accounts.SignInRefused):
        await accounts.sign_in_with_password(
            box, email="admin.a@example.test", password=PASSWORD, address="192.0.2.1"
        )
    _token, stage = await accounts.sign_in_with_password(
        box, email="admin.a@example.test", password=NEW_PASSWORD, address="192.0.2.1"
    )
    assert stage is accounts.Stage.NEEDS_ENROLMENT  # the second factor is never skipped
    async with tenant_transaction(world.ctx("admin_A")):
        events = await AuditEvent.select(AuditEvent.detail).where(
            AuditEvent.action == "staff.password_reset"
        )
    assert len(events) == 1


async def test_reset_link_expires_after_30_minutes(english, world, app, rollback):
    box = app.state.secret_box
    await invitations.request_reset(
        box, app.state.settings, email="admin.a@example.test", address="192.0.2.1"
    )
    first = await _outbox_link("admin.a@example.test")
    await invitations.request_reset(
        box, app.state.settings, email="admin.a@example.test", address="192.0.2.1"
    )
    second = await _outbox_link("admin.a@example.test")

    assert await invitations.reset_status(first.rsplit("/", 1)[1]) is TokenState.EXPIRED
    await _expire(second)
    response = await english.get(second)
    assert response.status_code == 410
    assert "This link has expired" in response.text
    assert 'href="/password-reset"' in response.text
    with pytest.raises(LinkNotValid):
        await invitations.reset_password(box, second.rsplit("/", 1)[1], password=NEW_PASSWORD)


async def test_reset_requests_rate_limited_clear_message(english, world):
    for _ in range(accounts.ACCOUNT_LIMIT):
        assert (await _request_reset(english, "admin.a@example.test")).status_code == 303

    response = await _request_reset(english, "admin.a@example.test")

    assert response.status_code == 429
    assert "Too many attempts." in response.text
    assert "Try again in" in response.text
    assert 'value="admin.a@example.test"' in response.text


async def test_reset_empty_address_field_error(english):
    response = await _request_reset(english, "  ")
    assert response.status_code == 400
    assert "Enter an e-mail address." in response.text


async def test_reset_inactive_account_no_mail(world, app, rollback):
    async with tenant_transaction(system_context("test")):
        await StaffUser.update({StaffUser.active: False}).where(
            StaffUser.id == world.users["admin_A"]
        )
    await invitations.request_reset(
        app.state.secret_box, app.state.settings, email="admin.a@example.test", address="-"
    )
    assert await MailOutbox.count() == 0
