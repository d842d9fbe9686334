"""Settings of the customers' side: the FTPS and SFTP servers they collect their files
from, their logins and when their files must be collected.

Declared as data like the rest of ``config``; docs/configuration.md and
docs/delivery.md describe every key.
"""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FtpsConfig(_Section):
    """Customers collect their files over FTPS (explicit TLS) in ``kenshin serve``."""

    enabled: bool = Field(True, description="run the FTPS server")
    host: str = Field("0.0.0.0", description="address to listen on; 0.0.0.0 is every interface")  # noqa: S104 - customers connect from the network; TLS and logins guard it
    port: int = Field(2121, ge=0, le=65535, description="control port (0: any free port)")
    passive_ports: str = Field(
        "50000-50099",
        pattern=r"^\d{1,5}-\d{1,5}$",
        description="range of passive data ports, FIRST-LAST; open them in the firewall",
    )
    announce_address: str = Field(
        "",
        description="IPv4 address announced in PASV replies (behind NAT); empty: the server's own",
    )
    active_mode: bool = Field(
        False,
        description="allow PORT/EPRT, only to the client's own address and ports 1024 and up",
    )
    allow_plain: bool = Field(
        False,
        description="allow logins without TLS: only on an already private network (VPN)",
    )
    certificate: str = Field(
        "", description="PEM certificate chain, relative to data_dir; empty: pki/server.pem"
    )
    key: str = Field("", description="PEM private key of the certificate; empty: pki/server.key")
    idle_timeout_s: int = Field(300, ge=10, le=86_400, description="idle control connection closed")
    max_connections: int = Field(
        256, ge=2, le=10_000, description="connections at once, logged in or not"
    )
    max_connections_per_address: int = Field(
        10, ge=1, le=10_000, description="connections at once from one address"
    )
    login_timeout_s: int = Field(
        30, ge=1, le=600, description="time a new connection has to log in before it is closed"
    )

    @field_validator("passive_ports")
    @classmethod
    def _port_range(cls, value: str) -> str:
        first, last = (int(p) for p in value.split("-"))
        if not 1024 <= first <= last <= 65535:
            raise ValueError("expected FIRST-LAST with 1024 <= FIRST <= LAST <= 65535")
        return value

    @field_validator("announce_address")
    @classmethod
    def _ipv4_address(cls, value: str) -> str:
        if value:
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                raise ValueError(
                    f"expected an IPv4 address such as 203.0.113.10 (PASV replies carry one),"
                    f" got {value!r}; empty: the address the client connected to"
                ) from None
        return value

    @property
    def passive_range(self) -> range:
        """The passive data ports."""
        first, last = (int(p) for p in self.passive_ports.split("-"))
        return range(first, last + 1)


class SftpConfig(_Section):
    """Customers collect their files over SFTP in ``kenshin serve``."""

    enabled: bool = Field(True, description="run the SFTP server")
    host: str = Field("0.0.0.0", description="address to listen on; 0.0.0.0 is every interface")  # noqa: S104 - customers connect from the network; logins guard it
    port: int = Field(2222, ge=0, le=65535, description="TCP port (0: any free port)")
    host_key: str = Field(
        "ssh/host_key", description="the server's SSH host key, relative to data_dir"
    )
    max_new_connections_per_minute: int = Field(
        30, ge=1, le=100_000, description="new connections one address may open a minute"
    )


class DeliveriesConfig(_Section):
    """Logins of customers to the file servers, and collection of their files."""

    max_failed_logins: int = Field(
        5, ge=1, le=1000, description="failed logins from one address before it is locked"
    )
    failure_window_minutes: int = Field(
        15, ge=1, le=24 * 60, description="span in which failed logins are counted"
    )
    lockout_minutes: int = Field(
        15, ge=1, le=7 * 24 * 60, description="how long a locked address stays locked"
    )
    failed_login_delay_ms: int = Field(
        2000,
        ge=0,
        le=60_000,
        description="delay before a failed login is answered; it doubles with each further"
        " failure of the account from the address",
    )
    max_failed_login_delay_ms: int = Field(
        60_000,
        ge=0,
        le=3_600_000,
        description="the most the delay of a failed login grows to",
    )
    collect_by_hours: int = Field(
        12,
        ge=1,
        le=24 * 31,
        description="hours after a local day ends by which its final file must be collected",
    )
