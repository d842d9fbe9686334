"""TOTP against RFC 6238's appendix B test vectors (the SHA1 column) and the checks a
sign-in relies on: a window of one step either side, nothing else."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest

from kenshin.domain.totp import (
    base32,
    code_at,
    matching_step,
    new_secret,
    provisioning_uri,
    step_at,
)

RFC_SECRET = b"12345678901234567890"  # appendix B's SHA1 seed
RFC_VECTORS = [  # time (s), 8-digit TOTP, SHA1
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("now", "expected"), RFC_VECTORS)
def test_rfc6238_vectors_with_8_and_6_digits(now: int, expected: str) -> None:
    assert code_at(RFC_SECRET, now, digits=8) == expected
    assert code_at(RFC_SECRET, now) == expected[-6:]


def test_a_code_matches_its_step_and_one_either_side_only() -> None:
    now = 1234567890
    code = code_at(RFC_SECRET, now)
    assert matching_step(RFC_SECRET, code, now) == step_at(now)
    assert matching_step(RFC_SECRET, code, now + 30) == step_at(now)
    assert matching_step(RFC_SECRET, code, now - 30) == step_at(now)
    assert matching_step(RFC_SECRET, code, now + 90) is None
    assert matching_step(RFC_SECRET, code, now - 90) is None


FULL_WIDTH = "".join(chr(0xFF10 + d) for d in range(1, 7))  # digits, but not ASCII


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", FULL_WIDTH])
def test_malformed_codes_match_nothing(typed: str) -> None:
    assert matching_step(RFC_SECRET, typed, 59) is None


def test_provisioning_uri_names_the_issuer_and_the_secret() -> None:
    secret = new_secret()
    assert len(secret) == 20
    uri = urlsplit(provisioning_uri(secret, "alice"))
    assert (uri.scheme, uri.netloc, uri.path) == ("otpauth", "totp", "/kenshin:alice")
    query = parse_qs(uri.query)
    assert query["issuer"] == ["kenshin"]
    assert base64.b32decode(query["secret"][0]) == secret
    assert base32(secret) == query["secret"][0]
