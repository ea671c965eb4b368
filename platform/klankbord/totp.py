"""Time-based one-time codes (RFC 6238) for staff sign-in, and recovery codes.

A code is accepted once: the caller stores the time step of the last accepted code and
passes it back, and a code of that step or an earlier one is refused (a code seen over a
shoulder or in a proxy log is useless afterwards). One step of clock drift either way is
allowed. The enrolment QR code is an inline SVG made here: no third-party service sees the
secret.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time

import pyotp
import segno

STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, account: str, issuer: str = "Klankbord") -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as an SVG QR code, for inline use in a page (no XML declaration)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, title="QR"))


def accepted_step(
    secret: str, code: str, *, last_step: int | None, now: float | None = None
) -> int | None:
    """The time step `code` belongs to when it is valid and newer than `last_step`, else None."""
    code = re.sub(r"\s", "", code)
    if not re.fullmatch(r"\d{6}", code):
        return None
    moment = time.time() if now is None else now
    current = int(moment // STEP_SECONDS)
    totp = pyotp.TOTP(secret)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Codes like 'k7m2p-x9qrt' (about 49 bits each), shown once, stored as keyed hashes."""

    def one() -> str:
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        return f"{raw[:5]}-{raw[5:]}"

    return [one() for _ in range(count)]


def normalise_recovery_code(code: str) -> str:
    """What a person types ('K7M2P X9QRT', 'k7m2px9qrt') in the form codes are stored in."""
    raw = re.sub(r"[^0-9a-z]", "", code.lower())
    return f"{raw[:5]}-{raw[5:]}" if len(raw) == 10 else raw
