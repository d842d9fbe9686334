"""Settings of the watching side: alert rules, channels and routes, the daily report.

Declared as data like the rest of ``config``; docs/alerts.md and docs/report.md
describe every key. Secrets (an SMTP password, a Slack webhook URL) are best
given as files (``password_file``, ``url_file``), relative to ``data_dir``, so that
the config file itself can be shared.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kenshin.domain.alerts import Notification, Severity
from kenshin.domain.observations import Thresholds
from kenshin.domain.slots import zone

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Channel(_Section):
    """What every channel has."""

    timeout_s: float = Field(10.0, gt=0, le=300)
    ca_file: str = ""


class EmailChannelConfig(_Channel):
    """An email channel (SMTP): ``[alerts.channels.<name>]`` with ``type = "email"``."""

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password_file: str = ""
    sender: str = Field(min_length=1)
    recipients: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _login_safe(self) -> EmailChannelConfig:
        if bool(self.username) != bool(self.password_file):
            raise ValueError("username and password_file: give both or neither")
        if self.security == "none" and self.username:
            raise ValueError(
                "security: a login without TLS would send the password in clear;"
                " use 'starttls' or 'tls'"
            )
        return self


class _UrlChannel(_Channel):
    """A channel that posts to a URL, given as ``url`` or, as it is a secret, ``url_file``."""

    url: str = ""
    url_file: str = ""
    allow_http: bool = False

    @model_validator(mode="after")
    def _one_url(self) -> _UrlChannel:
        if bool(self.url) == bool(self.url_file):
            raise ValueError("url or url_file: give one of them")
        return self


class SlackChannelConfig(_UrlChannel):
    """A Slack incoming webhook: ``type = "slack"``."""

    type: Literal["slack"]


class WebhookChannelConfig(_UrlChannel):
    """A generic JSON webhook: ``type = "webhook"``, with extra ``headers``."""

    type: Literal["webhook"]
    headers: dict[str, str] = Field(default_factory=dict)


class SesChannelConfig(_Channel):
    """Amazon SES, with the credentials of the process (a Lambda function's role):
    ``type = "ses"``. ``region``: SES's region, empty for the environment's."""

    type: Literal["ses"]
    sender: str = Field(min_length=1)
    to: list[str] = Field(min_length=1)
    region: str = Field("", pattern=r"^([a-z]{2}(-[a-z]+)+-\d)?$")


# One model per type, picked by ``type``; a key another type has is refused, named.
ChannelConfig = Annotated[
    EmailChannelConfig | SlackChannelConfig | WebhookChannelConfig | SesChannelConfig,
    Field(discriminator="type"),
]
CHANNEL_TYPES = ("email", "slack", "webhook", "ses")
MAIL_TYPES = ("email", "ses")  # the channels that send mail, and so the daily report


class RouteConfig(_Section):
    """Which alerts go to a channel: ``[[alerts.routes]]``."""

    channel: str
    min_severity: Severity = Severity.INFO
    customers: tuple[str, ...] = ()

    def takes(self, note: Notification) -> bool:
        """Whether the notification goes to this route's channel: at or above
        ``min_severity`` and, if ``customers`` lists any, of one of them."""
        alert = note.alert
        if _RANK[alert.severity] < _RANK[self.min_severity]:
            return False
        return not self.customers or alert.customer in self.customers


class AlertsConfig(_Section):
    """Alert rules, channels and routes (docs/alerts.md); the alerting service takes it as
    it is. That every route names a channel is checked with the whole settings."""

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
    routes: tuple[RouteConfig, ...] = Field((), description="which alerts go to which channel")

    @property
    def thresholds(self) -> Thresholds:
        """When the rules fire, as the domain takes them."""
        return Thresholds(
            silent_hours=self.silent_hours,
            silent_hours_by_customer=dict(self.silent_hours_by_customer),
            dead_letters=self.dead_letters,
            dead_letter_window_minutes=self.dead_letter_window_minutes,
            ingest_stall_minutes=self.ingest_stall_minutes,
            disk_min_free_bytes=self.disk_min_free_mb * 1024 * 1024,
            disk_min_free_percent=self.disk_min_free_percent,
            security_window_minutes=self.security_window_minutes,
            certificate_expiry_days=self.certificate_expiry_days,
        )


class ReportConfig(_Section):
    """The daily data-quality report (docs/report.md)."""

    enabled: bool = Field(True, description="send the daily report from kenshin serve")
    time: str = Field("08:00", description="local time the report is sent, HH:MM")
    timezone: str = Field("Asia/Tokyo", description="the zone of that time and of the day")
    channel: str = Field(
        "", description="the email or ses channel it goes through; empty: not sent"
    )
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

    @field_validator("time")
    @classmethod
    def _time_valid(cls, value: str) -> str:
        if not _TIME.match(value):
            raise ValueError(f"expected HH:MM (00:00 to 23:59), got {value!r}")
        return value


def check_names(alerts: AlertsConfig, report: ReportConfig) -> None:
    """ValueError naming the key of a route or of the report that names no channel of
    ``alerts.channels`` (the report: no channel that sends mail)."""
    for number, route in enumerate(alerts.routes, start=1):
        if route.channel not in alerts.channels:
            known = ", ".join(sorted(alerts.channels)) or "none is configured"
            raise ValueError(
                f"alerts.routes[{number}].channel: no channel {route.channel!r} ({known});"
                " add [alerts.channels.<name>] or fix the route"
            )
    mails = [n for n, c in alerts.channels.items() if c.type in MAIL_TYPES]
    if report.channel and report.channel not in mails:
        raise ValueError(
            f"report.channel: {report.channel!r} is not an email or ses channel of"
            f" alerts.channels (those that send mail: {', '.join(mails) or 'none'})"
        )
