"""What every TLS server of kenshin offers: Mozilla's "intermediate" profile.

TLS 1.2 or newer. For TLS 1.2 only AEAD suites with forward secrecy: ECDHE with
ECDSA or RSA keys, AES-GCM or ChaCha20-Poly1305; no CBC, no static RSA key
exchange, no SHA-1 MACs. TLS 1.3 suites are all AEAD with forward secrecy, and
OpenSSL's defaults are kept. The client picks among these suites (every one is
strong; a phone or a small unit without AES instructions prefers ChaCha20), as
the profile advises.
"""

from __future__ import annotations

import ssl

TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
"""The TLS 1.2 cipher suites offered, as an OpenSSL cipher string."""


def harden(context: ssl.SSLContext) -> None:
    """Limit ``context`` to TLS 1.2 or newer and the suites of TLS12_CIPHERS (TLS 1.3:
    OpenSSL's, all AEAD); no compression (CRIME) and no renegotiation."""
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
