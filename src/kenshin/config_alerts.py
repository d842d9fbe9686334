"""Settings of the watching side: alert rules, channels and routes, the daily report.

Declared as data like the rest of ``config``; docs/alerts.md and docs/report.md
describe every key. Secrets (an SMTP password, a Slack webhook URL) are best
given as files (``password_file``, ``url_file``), relative to ``data_dir``, so that
the config file itself can be shared.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kenshin.domain.slots import zone

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelType(StrEnum):
    """How an alert channel sends."""

    EMAIL = "email"
    SLACK = "slack"
    WEBHOOK = "webhook"


class ChannelConfig(_Section):
    """One alert channel: ``[alerts.channels.<name>]``."""

    type: ChannelType
    # email
    host: str = ""
    port: int = Field(587, ge=1, le=65535)
    security: str = Field("starttls", pattern="^(starttls|tls|none)$")
    username: str = ""
    password_file: str = ""
    sender: str = ""
    recipients: list[str] = Field(default_factory=list)
    # slack and webhook
    url: str = ""
    url_file: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    allow_http: bool = False
    # every channel
    timeout_s: float = Field(10.0, gt=0, le=300)
    ca_file: str = ""

    @model_validator(mode="after")
    def _complete(self) -> ChannelConfig:
        if self.type is ChannelType.EMAIL:
            missing = [k for k in ("host", "sender", "recipients") if not getattr(self, k)]
            if missing:
                raise ValueError(f"an email channel needs {', '.join(missing)}")
        elif bool(self.url) == bool(self.url_file):
            raise ValueError(f"a {self.type} channel needs url or url_file (one of them)")
        return self


class RouteConfig(_Section):
    """Which alerts go to a channel: ``[[alerts.routes]]``."""

    channel: str
    min_severity: str = Field("info", pattern="^(info|warning|critical)$")
    customers: list[str] = Field(default_factory=list)


class AlertsConfig(_Section):
    """Alert rules, channels and routes (docs/alerts.md)."""

    enabled: bool = Field(True, description="evaluate alert rules in kenshin serve")
    site: str = Field("kenshin", min_length=1, description="the name in every subject")
    evaluate_seconds: int = Field(60, ge=5, le=3600, description="seconds between evaluations")
    repeat_minutes: int = Field(240, ge=1, le=7 * 24 * 60, description="re-notify interval")
    silent_hours: float = Field(6.0, gt=0, le=24 * 31, description="a unit silent longer alerts")
    silent_hours_by_customer: dict[str, float] = Field(
        default_factory=dict, description="a customer's own silent_hours"
    )
    dead_letters: int = Field(10, ge=0, description="more dead letters within the window alert")
    dead_letter_window_minutes: int = Field(60, ge=1, le=24 * 60)
    ingest_stall_minutes: int = Field(10, ge=1, le=24 * 60)
    disk_min_free_mb: int = Field(1024, ge=0)
    disk_min_free_percent: float = Field(5.0, ge=0, le=100)
    security_window_minutes: int = Field(60, ge=1, le=7 * 24 * 60)
    security_retention_days: int = Field(30, ge=1, le=3660)
    certificate_expiry_days: int = Field(
        30, ge=1, le=3660, description="warn this many days before a certificate ends"
    )
    rate_limit_messages: int = Field(10, ge=1, le=10_000)
    rate_limit_minutes: int = Field(10, ge=1, le=24 * 60)
    digest_max: int = Field(100, ge=1, le=10_000)
    retry_first_seconds: int = Field(30, ge=1, le=3600)
    retry_max_seconds: int = Field(900, ge=1, le=24 * 3600)
    channel_down_minutes: int = Field(5, ge=1, le=24 * 60)
    channels: dict[str, ChannelConfig] = Field(
        default_factory=dict, description="channels by name (docs/alerts.md)"
    )
    routes: list[RouteConfig] = Field(
        default_factory=list, description="which alerts go to which channel"
    )

    @model_validator(mode="after")
    def _routes_name_channels(self) -> AlertsConfig:
        for number, route in enumerate(self.routes, start=1):
            if route.channel not in self.channels:
                known = ", ".join(sorted(self.channels)) or "none is configured"
                raise ValueError(
                    f"routes[{number}].channel: no channel {route.channel!r} ({known});"
                    " add [alerts.channels.<name>] or fix the route"
                )
        return self


class ReportConfig(_Section):
    """The daily data-quality report (docs/report.md)."""

    enabled: bool = Field(True, description="send the daily report from kenshin serve")
    time: str = Field("08:00", description="local time the report is sent, HH:MM")
    timezone: str = Field("Asia/Tokyo", description="the zone of that time and of the day")
    channel: str = Field("", description="the email channel it goes through; empty: not sent")
    recipients: list[str] = Field(
        default_factory=list, description="its recipients; empty: the channel's"
    )
    silent_hours: int = Field(6, ge=1, le=24, description="a unit silent this long is listed")
    shown_meters: int = Field(20, ge=1, le=10_000, description="meters listed in the mail")

    @field_validator("timezone")
    @classmethod
    def _zone_known(cls, value: str) -> str:
        zone(value)  # a name the report's schedule could not use fails now, named
        return value

    @model_validator(mode="after")
    def _time_valid(self) -> ReportConfig:
        if not _TIME.match(self.time):
            raise ValueError(f"time: expected HH:MM (00:00 to 23:59), got {self.time!r}")
        return self
