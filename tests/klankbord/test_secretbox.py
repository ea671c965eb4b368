"""Sealed values open only with the same key and context; keyed hashes separate purposes."""

from __future__ import annotations

import base64

import pytest

from klankbord.secretbox import SealedValueInvalid, SecretBox

KEY = "k" * 40


def test_secretbox_round_trip_and_fresh_nonce():
    box = SecretBox(KEY)
    first = box.seal("JBSWY3DPEHPK3PXP", context="totp:1")
    second = box.seal("JBSWY3DPEHPK3PXP", context="totp:1")
    assert first != second
    assert "JBSWY3DPEHPK3PXP" not in first
    assert box.open(first, context="totp:1") == "JBSWY3DPEHPK3PXP"


def test_secretbox_other_context_refused():
    box = SecretBox(KEY)
    sealed = box.seal("secret", context="totp:1")
    with pytest.raises(SealedValueInvalid):
        box.open(sealed, context="totp:2")


def test_secretbox_other_key_refused():
    sealed = SecretBox(KEY).seal("secret", context="c")
    with pytest.raises(SealedValueInvalid):
        SecretBox("x" * 40).open(sealed, context="c")


@pytest.mark.parametrize("flip", [0, 5, 20, -1])
def test_secretbox_tampered_refused(flip):
    box = SecretBox(KEY)
    raw = bytearray(base64.urlsafe_b64decode(box.seal("secret", context="c")))
    raw[flip] ^= 0x01
    with pytest.raises(SealedValueInvalid):
        box.open(base64.urlsafe_b64encode(bytes(raw)).decode(), context="c")


@pytest.mark.parametrize("garbage", ["", "not base64!", "AAAA"])
def test_secretbox_garbage_refused(garbage):
    with pytest.raises(SealedValueInvalid):
        SecretBox(KEY).open(garbage, context="c")


def test_secretbox_short_key_refused():
    with pytest.raises(ValueError, match="32"):
        SecretBox("short")


def test_keyed_hash_stable_per_key_and_purpose():
    box = SecretBox(KEY)
    value = box.keyed_hash("address", "192.0.2.1")
    assert value == SecretBox(KEY).keyed_hash("address", "192.0.2.1")
    assert value != box.keyed_hash("account", "192.0.2.1")
    assert value != SecretBox("x" * 40).keyed_hash("address", "192.0.2.1")
    assert "192.0.2.1" not in value and len(value) == 64
