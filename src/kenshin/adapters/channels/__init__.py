"""Alert channels, one module per type, registered here by the ``type`` of their config.

Each channel sends one message per call (one notification, or several as a digest) and
raises ChannelError when it could not, so that the sender keeps them queued.

To add a channel type: its config model in ``kenshin.config_alerts`` (a member of
``ChannelConfig``, its name in ``CHANNEL_TYPES``), a module here with the channel and
``build`` (the channel from that model), its line in ``BUILDERS``, tests, and its keys
in docs/alerts.md.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kenshin.adapters.channels import email, ses, slack, webhook
from kenshin.config_alerts import ChannelConfig
from kenshin.ports import AlertChannel

# type -> build(name, config of that type, data_dir, site)
BUILDERS: dict[str, Callable[[str, Any, Path, str], AlertChannel]] = {
    "email": email.build,
    "slack": slack.build,
    "webhook": webhook.build,
    "ses": ses.build,
}
# The channels that send whole mails (``deliver``), and so may carry the daily report.
MAIL_CHANNELS = (email.SmtpChannel, ses.SesChannel)


def build_channel(name: str, config: ChannelConfig, data_dir: Path, site: str) -> AlertChannel:
    """The channel ``[alerts.channels.<name>]`` describes; secrets and the CA file are read
    relative to ``data_dir``. ConfigError (or ChannelError) saying what is wrong."""
    return BUILDERS[config.type](name, config, data_dir, site)
