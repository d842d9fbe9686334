"""Settings of a cluster: the MQTT broker the workers read the units' messages from, and
what the workers expect of each other (docs/cluster.md)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_BROKER_PORT = 8883


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerConfig(_Section):
    """The MQTT 5 broker ``kenshin worker`` subscribes to (``kenshin serve`` has its own
    endpoint and does not use it)."""

    url: str = Field("", description="mqtts://HOST:PORT of the broker; empty: no broker")
    certificate: str = Field(
        "broker/worker.pem", description="the workers' client certificate, relative to data_dir"
    )
    key: str = Field("broker/worker.key", description="its private key, relative to data_dir")
    ca: str = Field("pki/ca.pem", description="the CA the broker's certificate is checked against")
    share: str = Field(
        "kenshin", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="the shared subscriptions' name"
    )
    session_expiry_s: int = Field(
        7 * 86400,
        ge=60,
        le=2**32 - 2,
        description="how long the broker keeps an absent worker's session and its messages",
    )
    receive_maximum: int = Field(
        2000, ge=1, le=65535, description="messages a worker takes before acknowledging any"
    )

    @field_validator("url")
    @classmethod
    def _mqtts_url(cls, url: str) -> str:
        if not url:
            return url
        parts = urlsplit(url)
        if parts.scheme != "mqtts" or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError(
                f"{url!r} is no broker URL: give mqtts://HOST:PORT (TLS is required;"
                " the workers present broker.certificate)"
            )
        try:
            parts.port  # noqa: B018 - checks it
        except ValueError as exc:
            raise ValueError(f"{url!r}: the port is no number from 0 to 65535") from exc
        return url

    @property
    def host(self) -> str:
        """The broker's host name or address."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """The broker's port (8883 when the URL names none)."""
        return urlsplit(self.url).port or DEFAULT_BROKER_PORT


class ClusterConfig(_Section):
    """What the processes of a cluster expect of each other."""

    workers: int = Field(
        0, ge=0, le=10_000, description="workers that should run; fewer is an alert (0: no check)"
    )
    heartbeat_s: int = Field(
        5, ge=1, le=300, description="how often each process says it is alive in the store"
    )
    leader_check_s: int = Field(
        5, ge=1, le=60, description="how often a worker tries to become the leader"
    )
