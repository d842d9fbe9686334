"""The MQTT 5 reason codes the endpoint sends, and the refusal that ends a session.

MQTT 3.1.1 has no codes for most of them: the endpoint then closes the connection.
"""

from __future__ import annotations

from kenshin.errors import ProtocolError

MQTT5 = 5  # protocol level of MQTT 5.0
NORMAL = 0x00
UNSPECIFIED_ERROR = 0x80
NOT_AUTHORIZED = 0x87
SERVER_SHUTTING_DOWN = 0x8B
BAD_AUTHENTICATION_METHOD = 0x8C
KEEP_ALIVE_TIMEOUT = 0x8D
SESSION_TAKEN_OVER = 0x8E
TOPIC_ALIAS_INVALID = 0x94
PACKET_TOO_LARGE = 0x95
RETAIN_NOT_SUPPORTED = 0x9A
QOS_NOT_SUPPORTED = 0x9B


class Refused(ProtocolError):
    """The connection must end: ``code`` (its ``reason_code``) goes in a DISCONNECT to an
    MQTT 5 unit."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason, code)
        self.code = code
