"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

from __future__ import annotations

import socket
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpServer:
    """`with SmtpServer() as server:` — server.port, server.inbox.messages.

    With `login=(username, password)` the server demands AUTH (over plain SMTP: loopback) and
    accepts only that pair; `server.logins` lists the usernames that signed in.
    """

    def __init__(self, *, login: tuple[str, str] | None = None) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.logins: list[str] = []
        self._login = login
        auth: dict[str, Any] = {}
        if login is not None:
            auth = {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": False,
            }
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **auth)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert self._login is not None
        username, password = self._login
        if (
            isinstance(data, LoginPassword)
            and data.login.decode() == username
            and data.password.decode() == password
        ):
            self.logins.append(username)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._controller.stop()
