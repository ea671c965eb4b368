"""Forms on reporter pages without a cookie: a signed token in the form itself.

Staff forms use a double-submit cookie (`klankbord.security.Csrf`), but a reporter's browser
gets no cookie before a mailbox sign-in. The intake form instead carries a token that names
the intake link, a random submission id (the idempotency key: a retried or double-clicked
submit finds the case it already made) and when the form was issued, signed with a keyed hash
of the server key. A forged form from another site cannot produce one for our link, and a
stale one (older than `MAX_AGE`) is refused with the typed text kept. Mailbox forms are bound
to the mailbox session instead (`mailbox_token`). Routes also refuse a foreign `Origin`.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from dataclasses import dataclass
from uuid import UUID

from klankbord.secretbox import SecretBox

MAX_AGE = 24 * 3600  # seconds a form may stay open (a reporter may take an evening)
_SHAPE = re.compile(r"([0-9a-f]{32})\.([0-9]{10})\.([0-9a-f]{64})")


@dataclass(frozen=True)
class FormToken:
    submission: str  # 32 hex characters: the idempotency key
    issued_at: int  # epoch seconds

    def render(self, box: SecretBox, link_id: UUID) -> str:
        return f"{self.submission}.{self.issued_at:010d}.{_sign(box, link_id, self)}"


def _sign(box: SecretBox, link_id: UUID, token: FormToken) -> str:
    return box.keyed_hash("intake-form", f"{link_id}:{token.submission}:{token.issued_at}")


def new_form_token(box: SecretBox, link_id: UUID, *, now: float | None = None) -> str:
    token = FormToken(secrets.token_hex(16), int(time.time() if now is None else now))
    return token.render(box, link_id)


def read_form_token(
    box: SecretBox, link_id: UUID, value: str, *, now: float | None = None
) -> tuple[FormToken | None, bool]:
    """(the token, fresh): None when it is no token of ours for this link; not fresh when it
    is older than `MAX_AGE` (or from the future)."""
    match = _SHAPE.fullmatch(value or "")
    if match is None:
        return None, False
    token = FormToken(match.group(1), int(match.group(2)))
    if not hmac.compare_digest(_sign(box, link_id, token), match.group(3)):
        return None, False
    age = (time.time() if now is None else now) - token.issued_at
    return token, -300 <= age <= MAX_AGE


def mailbox_token(box: SecretBox, session_token_hash: str) -> str:
    """The form token of an open mailbox: bound to its session, so only pages of that session
    can post to it."""
    return box.keyed_hash("mailbox-form", session_token_hash)


def check_mailbox_token(box: SecretBox, session_token_hash: str, sent: str) -> bool:
    return hmac.compare_digest(mailbox_token(box, session_token_hash), sent or "")
