"""Settings of the device endpoint of ``kenshin serve`` and of ingest."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestConfig(_Section):
    """Ingest."""

    batch_messages: int = Field(2000, ge=1, le=1_000_000, description="messages per transaction")


class MqttConfig(_Section):
    """The device endpoint of ``kenshin serve``: MQTT over TLS with client certificates."""

    host: str = Field("0.0.0.0", description="address to listen on; 0.0.0.0 is every interface")  # noqa: S104 - devices connect from the network; TLS and client certificates guard it
    port: int = Field(8883, ge=0, le=65535, description="TCP port (0: any free port)")
    batch_window_ms: int = Field(
        50, ge=1, le=10_000, description="longest wait to fill a batch before it is committed"
    )
    connect_timeout_s: int = Field(
        10, ge=1, le=600, description="time from accept to CONNECT, the TLS handshake included"
    )
    revocation_check_s: int = Field(
        2, ge=1, le=60, description="how often connected units are checked for revocation"
    )
    connecting_per_address: int = Field(
        100, ge=1, le=100_000, description="connections from one address still before CONNECT"
    )
    connecting_per_certificate: int = Field(
        4, ge=1, le=1000, description="connections with one certificate still before CONNECT"
    )
    report_spread_s: int = Field(
        1800, ge=0, le=1800, description="window of units' reporting offsets (0: all at :00/:30)"
    )
    processes: int = Field(
        0, ge=0, le=64, description="endpoint processes (0: one per core; 1: in the server's)"
    )
