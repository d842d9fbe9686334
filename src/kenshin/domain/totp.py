"""Time-based one-time passwords (RFC 6238 on RFC 4226's HOTP): HMAC-SHA1, 30-second
steps, 6 digits, as authenticator apps make them by default.

A code is checked against the step of now and one step either side (a phone's clock a
little off, a code typed as it turned over); the step that matched is returned so that
the caller can refuse that step, or an earlier one, the next time (a code works once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct

STEP_S = 30
DIGITS = 6
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation for HMAC-SHA1
WINDOW = 1  # steps accepted either side of now
ISSUER = "kenshin"


def new_secret() -> bytes:
    """A new shared secret: 20 random bytes."""
    return secrets.token_bytes(SECRET_BYTES)


def step_at(now: float) -> int:
    """The time step of ``now`` (UTC epoch s)."""
    return int(now) // STEP_S


def hotp(secret: bytes, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226's HOTP value of ``counter``: ``digits`` decimal digits."""
    mac = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFF_FFFF
    return str(number % 10**digits).zfill(digits)


def code_at(secret: bytes, now: float, digits: int = DIGITS) -> str:
    """The TOTP code of ``secret`` at ``now`` (UTC epoch s)."""
    return hotp(secret, step_at(now), digits)


def matching_step(secret: bytes, code: str, now: float) -> int | None:
    """The step (now's or one either side) whose code is ``code``; None when none is.
    Every candidate is compared in constant time."""
    typed = code.strip().replace(" ", "")
    if len(typed) != DIGITS or not (typed.isascii() and typed.isdigit()):
        return None
    found = None
    current = step_at(now)
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(hotp(secret, step), typed):
            found = step
    return found


def base32(secret: bytes) -> str:
    """The secret as authenticator apps take it typed in: base32 without padding."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def provisioning_uri(secret: bytes, account: str) -> str:
    """The ``otpauth://totp/`` URI an authenticator app reads from a QR code; characters
    of ``account`` outside letters, digits and ``.-_@`` are percent-encoded."""
    label = "".join(
        c if c.isascii() and (c.isalnum() or c in ".-_@") else _escaped(c) for c in account
    )
    return (
        f"otpauth://totp/{ISSUER}:{label}?secret={base32(secret)}&issuer={ISSUER}"
        f"&algorithm=SHA1&digits={DIGITS}&period={STEP_S}"
    )


def _escaped(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode())
