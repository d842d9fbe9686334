"""Building the watching side from the settings: alert rules and channels, the daily
report and where it goes. Part of bootstrap: the one place that reads settings and
picks adapters.

Secrets come from files (``password_file``, ``url_file``) relative to ``data_dir``;
a file that cannot be read stops start-up with the key and the path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, time
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from kenshin.adapters.channels import MAIL_CHANNELS, build_channel
from kenshin.config import Settings
from kenshin.domain.model import SecurityEvent
from kenshin.domain.report import DailyReport, UnitInfo
from kenshin.domain.slots import zone
from kenshin.errors import ConfigError
from kenshin.ports import AlertChannel, Alerts, ChannelError, Registry, Store, UnitClocks
from kenshin.services.export import ExportSettings
from kenshin.services.report import ReportError, ReportSettings, gather_report

REPORT_STATE = "report-last-sent"  # in data_dir: the last day whose report went out


class MailSettings(Protocol):
    """Who a mail channel sends as, and to."""

    @property
    def sender(self) -> str:
        """The From address."""

    @property
    def recipients(self) -> tuple[str, ...]:
        """Where its notifications go."""


class MailChannel(Protocol):
    """A channel that sends whole mails: an email (SMTP) or ses channel."""

    @property
    def name(self) -> str:
        """The channel's name in the configuration."""

    @property
    def settings(self) -> MailSettings:
        """Who it sends as, and to."""

    def deliver(self, message: EmailMessage) -> None:
        """Send ``message`` to its own recipients; ChannelError saying why it failed."""


def alert_channels(settings: Settings, data_dir: Path) -> dict[str, AlertChannel]:
    """Every configured channel by name; ConfigError naming the key of one that is wrong."""
    site = settings.alerts.site
    channels: dict[str, AlertChannel] = {}
    for name, config in settings.alerts.channels.items():
        try:
            channels[name] = build_channel(name, config, data_dir, site)
        except (ConfigError, ChannelError) as exc:
            raise ConfigError(f"alerts.channels.{name}: {exc}") from exc
    return channels


def report_settings(settings: Settings, channels: Mapping[str, AlertChannel]) -> ReportSettings:
    """The daily report's settings from ``[report]``; its sender and default recipients are
    those of its channel."""
    r = settings.report
    channel = report_channel(settings, channels)
    hour, minute = map(int, r.time.split(":"))
    recipients = tuple(r.recipients) or (channel.settings.recipients if channel else ())
    try:
        return ReportSettings(
            at=time(hour, minute),
            timezone=r.timezone,
            recipients=recipients,
            sender=channel.settings.sender if channel else ReportSettings().sender,
            silent_hours=r.silent_hours,
            collect_by_hours=settings.deliveries.collect_by_hours,
            shown_meters=r.shown_meters,
        )
    except ReportError as exc:
        raise ConfigError(f"report: {exc}") from exc


def report_channel(settings: Settings, channels: Mapping[str, AlertChannel]) -> MailChannel | None:
    """The mail channel (email or ses) the report goes through, None if none is set;
    ConfigError if ``report.channel`` names none (loading the settings checked it already)."""
    name = settings.report.channel
    if not name:
        return None
    channel = channels.get(name)
    if not isinstance(channel, MAIL_CHANNELS):
        mails = [n for n, c in channels.items() if isinstance(c, MAIL_CHANNELS)]
        raise ConfigError(
            f"report.channel: {name!r} is not an email or ses channel of alerts.channels"
            f" (those that send mail: {', '.join(mails) or 'none'})"
        )
    return channel


def last_report_day(data_dir: Path) -> date | None:
    """The last day whose report went out, as kept in the data folder."""
    try:
        return date.fromisoformat((data_dir / REPORT_STATE).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def keep_report_day(data_dir: Path, day: date) -> None:
    """Remember that the report of ``day`` went out (written whole, then renamed)."""
    path = data_dir / REPORT_STATE
    part = path.with_suffix(".part")
    part.write_text(day.isoformat() + "\n", encoding="ascii")
    part.replace(path)


class WatchPorts(Protocol):
    """What the watch reads: devices, the units' clocks and statuses, security events.
    A ``Store`` is one."""

    @property
    def registry(self) -> Registry:
        """Customers, devices and meters."""

    @property
    def unit_clocks(self) -> UnitClocks:
        """Each unit's last-seen time, clock offset and status messages."""

    @property
    def alerts(self) -> Alerts:
        """Alert state, the notification queue and security events."""


def unit_infos(
    store: WatchPorts, statuses: Mapping[str, tuple[int, bytes]] | None = None
) -> list[UnitInfo]:
    """Every device with when it was last heard and, from its last status message (a JSON
    object with ``firmware`` and ``rsrp`` in dBm, see the wire contract), its firmware
    and signal."""
    seen = store.unit_clocks.last_seen()
    # The ones stored, and those the endpoint of this process holds (newer if anything).
    statuses = {**store.unit_clocks.statuses(), **(statuses or {})}
    infos = []
    for device in store.registry.list_devices():
        firmware, rsrp = unit_status(statuses.get(device.id, (0, b""))[1])
        infos.append(UnitInfo(device.id, device.customer, firmware, rsrp, seen.get(device.id)))
    return infos


def unit_status(payload: bytes) -> tuple[str | None, float | None]:
    """Firmware and RSRP (dBm) from a unit's status message; None for what it lacks."""
    try:
        document = json.loads(payload)
    except ValueError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    firmware, rsrp = document.get("firmware"), document.get("rsrp")
    return (
        firmware if isinstance(firmware, str) and firmware else None,
        float(rsrp) if isinstance(rsrp, int | float) and not isinstance(rsrp, bool) else None,
    )


def day_events(store: WatchPorts, day: date, timezone: str) -> list[SecurityEvent]:
    """The security events kept from the start of local ``day`` on (the report keeps
    those of the day)."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone(timezone))
    return store.alerts.security_events(int(start.timestamp()))


def site_report(
    store: Store,
    export: ExportSettings,
    settings: ReportSettings,
    day: date,
    *,
    now: int,
    customer_id: str | None = None,
) -> DailyReport:
    """The data-quality report of local ``day`` (every customer, or ``customer_id``) at
    ``now``, with the units' firmware and signal and the day's security events, as the
    command line prints it and the admin API answers it; ReportError for an unknown
    customer."""
    return gather_report(
        store,
        day,
        now=now,
        export=export,
        settings=settings,
        units=unit_infos(store),
        events=day_events(store, day, settings.timezone),
        customer_id=customer_id,
    )
