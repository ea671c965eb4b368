"""TOTP codes are accepted once and within the drift; password rules refuse guessable ones."""

from __future__ import annotations

import pyotp
import pytest

from klankbord import totp
from klankbord.passwords import password_problem

NOW = 1_800_000_015.0  # inside step 60_000_000
STEP = int(NOW // 30)


def _code(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).at(step * 30)


def test_totp_current_code_accepted_with_its_step():
    secret = totp.new_secret()
    assert totp.accepted_step(secret, _code(secret, STEP), last_step=None, now=NOW) == STEP


def test_totp_reused_code_refused():
    secret = totp.new_secret()
    code = _code(secret, STEP)
    step = totp.accepted_step(secret, code, last_step=None, now=NOW)
    assert totp.accepted_step(secret, code, last_step=step, now=NOW) is None
    assert totp.accepted_step(secret, code, last_step=step, now=NOW + 20) is None  # next step


def test_totp_older_code_after_newer_refused():
    secret = totp.new_secret()
    assert totp.accepted_step(secret, _code(secret, STEP - 1), last_step=STEP, now=NOW) is None


@pytest.mark.parametrize(("offset", "accepted"), [(-2, False), (-1, True), (1, True), (2, False)])
def test_totp_drift_one_step(offset, accepted):
    secret = totp.new_secret()
    step = totp.accepted_step(secret, _code(secret, STEP + offset), last_step=None, now=NOW)
    assert (step == STEP + offset) if accepted else step is None


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_totp_malformed_refused(typed):
    assert totp.accepted_step(totp.new_secret(), typed, last_step=None, now=NOW) is None


def test_totp_spaces_allowed():
    secret = totp.new_secret()
    code = _code(secret, STEP)
    assert totp.accepted_step(secret, f"{code[:3]} {code[3:]}", last_step=None, now=NOW) == STEP


def test_totp_enrolment_qr_is_inline_svg_of_the_uri():
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, account="anna@example.org")
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg") and "http" not in svg.split(">", 1)[1]


def test_recovery_codes_distinct_and_normalised():
    codes = totp.new_recovery_codes()
    assert len(set(codes)) == totp.RECOVERY_CODES
    code = codes[0]
    assert totp.normalise_recovery_code(code.upper().replace("-", " ")) == code
    assert totp.normalise_recovery_code(code.replace("-", "")) == code


@pytest.mark.parametrize(
    ("password", "personal", "problem"),
    [
        ("short pass", (), "password.too_short"),
        ("x" * 257, (), "password.too_long"),
        ("password1234", (), "password.too_guessable"),
        ("qwertyuiopasdf", (), "password.too_guessable"),
        ("annadevries12", ("anna.devries@example.org", "Anna de Vries"), "password.too_guessable"),
        ("AnnaDeVries!!", ("anna.devries@example.org", "Anna de Vries"), "password.too_guessable"),
        ("zonnebloem-kade-71-fiets", ("anna.devries@example.org", "Anna de Vries"), None),
        ("a long enough passphrase", (), None),
    ],
)
def test_password_problem(password, personal, problem):
    assert password_problem(password, personal) == problem
