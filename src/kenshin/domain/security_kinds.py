"""The kinds of security event: each a refusal that may be an attack, with its severity,
what it is and what to do about it (the security alert says them).

A new kind is one member here; its value is what the store and the metrics keep.
"""

from __future__ import annotations

from enum import StrEnum

from kenshin.domain.alerts import Severity

_FIREWALL = "if the address is not one of yours, block it at the firewall."
_SCAN = "Usually a scanner probing the port: " + _FIREWALL


class SecurityEventKind(StrEnum):
    """A kind of security event; its value is the name stored and counted, ``severity``
    the alert's, ``what`` names the events (plural), ``advice`` says what to do."""

    severity: Severity
    what: str
    advice: str

    def __new__(cls, value: str, severity: Severity, what: str, advice: str) -> SecurityEventKind:
        member = str.__new__(cls, value)
        member._value_ = value
        member.severity = severity
        member.what = what
        member.advice = advice
        return member

    # A TLS handshake of the device endpoint that failed, by why.
    TLS_NO_CERTIFICATE = (
        "tls_no_certificate",
        Severity.WARNING,
        "connections to the device endpoint without a client certificate",
        "Something that is not a kenshin unit tries to connect: " + _FIREWALL,
    )
    TLS_CERTIFICATE_REFUSED = (
        "tls_certificate_refused",
        Severity.WARNING,
        "client certificates refused (another CA's, expired or not yet valid)",
        "Check the certificate's issuer and dates in the detail; reissue an expired one with"
        " `kenshin devices add`; " + _FIREWALL,
    )
    TLS_VERSION_REFUSED = (
        "tls_version_refused",
        Severity.WARNING,
        "TLS handshakes below TLS 1.2 refused",
        "Update the unit's firmware to TLS 1.2 or later; " + _FIREWALL,
    )
    TLS_NOT_TLS = (
        "tls_not_tls",
        Severity.INFO,
        "connections that did not speak TLS",
        _SCAN,
    )
    TLS_HANDSHAKE_TIMEOUT = (
        "tls_handshake_timeout",
        Severity.INFO,
        "connections that made no TLS handshake in time",
        _SCAN,
    )
    TLS_HANDSHAKE_ABANDONED = (
        "tls_handshake_abandoned",
        Severity.INFO,
        "TLS handshakes closed by the other end",
        _SCAN,
    )
    TLS_HANDSHAKE_FAILED = (
        "tls_handshake_failed",
        Severity.WARNING,
        "TLS handshakes that failed",
        "Read OpenSSL's reason in the detail; " + _FIREWALL,
    )
    # A unit refused after its handshake, or something it sent, by why.
    CERTIFICATE_REFUSED = (
        "certificate_refused",
        Severity.CRITICAL,
        "connections with a revoked certificate (or one naming no device, or a device"
        " not registered)",
        "A revoked unit is trying to connect: make sure it was taken out of service; if it"
        " should report, issue it a new certificate with `kenshin devices add`.",
    )
    REVOKED_WHILE_CONNECTED = (
        "revoked_while_connected",
        Severity.WARNING,
        "connections closed because the unit's certificate was revoked",
        "Expected after `kenshin devices revoke`; if nobody revoked it, find out who did.",
    )
    CONNECTIONS_LIMITED = (
        "connections_limited",
        Severity.WARNING,
        "connections closed as too many from one address or certificate were still connecting",
        "Many units behind one address reconnecting together (a carrier's NAT) can do it:"
        " raise mqtt.connecting_per_address; otherwise someone is holding connections"
        " open: " + _FIREWALL,
    )
    CONNECT_TIMEOUT = (
        "connect_timeout",
        Severity.INFO,
        "connections that sent no CONNECT within mqtt.connect_timeout_s",
        "A unit on a very slow link may need a longer mqtt.connect_timeout_s; many at once"
        " from one address are someone holding connections open: " + _FIREWALL,
    )
    MALFORMED_PACKET = (
        "malformed_packet",
        Severity.WARNING,
        "MQTT packets that broke the protocol",
        "Check the unit's firmware version; a unit that keeps doing it may be tampered with.",
    )
    CLIENT_ID_MISMATCH = (
        "client_id_mismatch",
        Severity.CRITICAL,
        "connections whose MQTT client id is not the device their certificate names",
        "A unit presents another identity: inspect it, and revoke its certificate"
        " (`kenshin devices revoke`) if it was copied.",
    )
    QOS_REFUSED = (
        "qos_refused",
        Severity.INFO,
        "publishes at QoS 2, which is not supported",
        "Configure the unit's firmware to publish at QoS 1.",
    )
    PAYLOAD_TOO_LARGE = (
        "payload_too_large",
        Severity.WARNING,
        "payloads larger than allowed",
        "Check the unit's firmware: its messages should be far smaller.",
    )
    TOPIC_REFUSED = (
        "topic_refused",
        Severity.WARNING,
        "publishes to topics outside the unit's own",
        "Check the unit's firmware configuration; a unit that insists may be tampered with.",
    )
    SUBSCRIBE_REFUSED = (
        "subscribe_refused",
        Severity.WARNING,
        "subscriptions to topics outside the unit's own",
        "Check the unit's firmware configuration; a unit that insists may be tampered with.",
    )
    PAYLOAD_NAMES_ANOTHER_DEVICE = (
        "payload_names_another_device",
        Severity.CRITICAL,
        "payloads naming another device than the unit that sent them",
        "A unit sends readings for a device that is not its own: inspect it, and revoke its"
        " certificate (`kenshin devices revoke`) if it was copied or tampered with.",
    )
    # A login to the file servers (FTPS, SFTP) that was refused, by why.
    LOGIN_FAILED = (
        "login_failed",
        Severity.WARNING,
        "failed logins to the file servers (FTPS, SFTP)",
        "If it is the customer, check its credentials (`kenshin customers credentials`);"
        " otherwise someone is guessing passwords: " + _FIREWALL,
    )
    LOGIN_LOCKED = (
        "login_locked",
        Severity.WARNING,
        "password logins refused from an address locked after repeated failures",
        "Only that address is held back (a customer's SSH key still works). If it is the"
        " customer's own, check its credentials with it and clear the lock (`kenshin"
        " customers unlock`); otherwise " + _FIREWALL,
    )
    LOGIN_ADDRESS_REFUSED = (
        "login_address_refused",
        Severity.WARNING,
        "logins from an address outside the account's allow-list",
        "If the customer moved its collecting host, add its network to the account's"
        " allow-list; otherwise someone else holds its credentials: change them.",
    )
    FTP_BOUNCE_REFUSED = (
        "ftp_bounce_refused",
        Severity.CRITICAL,
        "FTP active-mode connections to another address (a bounce attack)",
        "The account is being used to attack other hosts: change its credentials and " + _FIREWALL,
    )
    # A request to the admin API or the console that was refused, by why.
    CONSOLE_LOGIN_FAILED = (
        "console_login_failed",
        Severity.WARNING,
        "failed sign-ins to the console (wrong name, password or TOTP code)",
        "If it is one of your operators, have them check their password and their"
        " authenticator's clock (an admin can `kenshin users reset-totp`); otherwise someone"
        " is guessing passwords: " + _FIREWALL,
    )
    CONSOLE_LOGIN_LOCKED = (
        "console_login_locked",
        Severity.WARNING,
        "sign-ins to the console refused as the account is locked after repeated failures",
        "The account opens again by itself after a quarter of an hour; if its owner did not"
        " cause the failures, someone is guessing its password: " + _FIREWALL,
    )
    CONSOLE_TOTP_REPLAYED = (
        "console_totp_replayed",
        Severity.CRITICAL,
        "sign-ins with a TOTP code that was already used",
        "Someone holds the operator's password and saw a code of theirs: change the password"
        " (`kenshin users remove` and `add`) and reset the TOTP (`kenshin users reset-totp`).",
    )
    CONSOLE_SESSION_REFUSED = (
        "console_session_refused",
        Severity.INFO,
        "requests with an unknown or expired console session",
        "Usually a browser that kept an old cookie; many from one address are someone"
        " guessing session ids: " + _FIREWALL,
    )
    CONSOLE_TOKEN_REFUSED = (
        "console_token_refused",
        Severity.WARNING,
        "API requests with an unknown, revoked or expired token",
        "If it is one of your scripts, make it a new token (`POST /api/v1/tokens`); otherwise"
        " someone is guessing tokens: " + _FIREWALL,
    )
    CONSOLE_CSRF_REFUSED = (
        "console_csrf_refused",
        Severity.WARNING,
        "changing requests of a console session without its CSRF token",
        "Another site tried to act through an operator's browser (cross-site request"
        " forgery): find out which page the operator had open.",
    )
    CONSOLE_FORBIDDEN = (
        "console_forbidden",
        Severity.WARNING,
        "requests refused as the operator's or token's role does not allow them",
        "Give the operator the role they need, or find out why they tried.",
    )
