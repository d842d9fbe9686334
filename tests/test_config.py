"""Settings: defaults, environment overrides, clear errors, and every key documented."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel

from conftest import kenshin, make_site
from kenshin.config import DEFAULT_CONFIG_TEXT, Settings, load_settings
from kenshin.config_alerts import ChannelConfig, EmailChannelConfig, WebhookChannelConfig
from kenshin.errors import ConfigError

DOCS = Path(__file__).parent.parent / "docs" / "configuration.md"
MAIL = (
    "[alerts.channels.ops-mail]\ntype = 'email'\nhost = 'smtp.example.org'\n"
    "sender = 'kenshin@example.org'\nrecipients = ['ops@example.org']\n"
)
HOOK = "[alerts.channels.hook]\ntype = 'webhook'\nurl = 'https://hooks.example.com/k'\n"


def keys_of(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(keys_of(annotation, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [key for key in keys_of(Settings) if f"`{key}`" not in text]
    assert missing == []


def test_every_key_of_every_channel_type_is_documented() -> None:
    text = (DOCS.parent / "alerts.md").read_text(encoding="utf-8")
    models = get_args(get_args(ChannelConfig)[0])
    keys = {key for model in models for key in model.model_fields}
    assert [key for key in sorted(keys) if f"| `{key}` |" not in text] == []


def test_default_file_is_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "kenshin.toml"
    path.write_text(DEFAULT_CONFIG_TEXT)
    assert load_settings(path, environ={}) == Settings()


def test_the_default_file_names_every_key() -> None:
    """What ``kenshin init`` writes: every key at its default, but the alert channels and
    routes, which are the site's own (an example of each is in a comment)."""
    written = tomllib.loads(DEFAULT_CONFIG_TEXT)

    def missing(model: type[BaseModel], found: dict[str, object], where: str) -> list[str]:
        keys = []
        for name, field in model.model_fields.items():
            kind = field.annotation
            if isinstance(kind, type) and issubclass(kind, BaseModel) and name in found:
                keys += missing(kind, found[name], f"{where}{name}.")  # type: ignore[arg-type]
            elif name not in found:
                keys.append(where + name)
        return keys

    assert missing(Settings, written, "") == ["alerts.channels", "alerts.routes"]


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kenshin.toml"
    path.write_text(DEFAULT_CONFIG_TEXT)
    settings = load_settings(path, environ={"KENSHIN_EXPORT__GRACE_HOURS": "12"})
    assert settings.export.grace_hours == 12


@pytest.mark.parametrize(
    ("recipients", "hours"),
    [
        ("ops@example.com, oncall@example.com", '{ "C-001" = 4 }'),
        ('["ops@example.com", "oncall@example.com"]', '{"C-001": 4}'),
    ],
)
def test_any_setting_can_be_given_in_the_environment(
    tmp_path: Path, recipients: str, hours: str
) -> None:
    """Each variable is text: a setting that is not takes it as TOML or JSON (a list of
    text also as items separated by commas); a text setting keeps it as it is."""
    path = tmp_path / "kenshin.toml"
    path.write_text(DEFAULT_CONFIG_TEXT)
    environ = {
        "KENSHIN_VEE__DEFAULTS__WRITE_ESTIMATES": "false",
        "KENSHIN_VEE__DEFAULTS__INTERPOLATION_MAX_SLOTS": "2",
        "KENSHIN_VEE__CUSTOMERS": '{ "C-001" = { like_day_weeks = 5 } }',
        "KENSHIN_REPORT__RECIPIENTS": recipients,
        "KENSHIN_ALERTS__SILENT_HOURS_BY_CUSTOMER": hours,
        "KENSHIN_EXPORT__OUTBOX": "2026",  # text, though it reads as a number
        # A channel's settings, by the kind of channel: text stays text, a list is read.
        "KENSHIN_ALERTS__CHANNELS__OPS__TYPE": "email",
        "KENSHIN_ALERTS__CHANNELS__OPS__HOST": "mail.example.com",
        "KENSHIN_ALERTS__CHANNELS__OPS__SENDER": "kenshin@example.com",
        "KENSHIN_ALERTS__CHANNELS__OPS__RECIPIENTS": recipients,
        "KENSHIN_ALERTS__CHANNELS__OPS__USERNAME": "100234",
        "KENSHIN_ALERTS__CHANNELS__OPS__PASSWORD_FILE": "true",
    }
    settings = load_settings(path, environ=environ)
    ops = settings.alerts.channels["ops"]
    assert isinstance(ops, EmailChannelConfig)
    assert (ops.username, ops.password_file) == ("100234", "true")
    assert ops.recipients == ["ops@example.com", "oncall@example.com"]
    defaults = settings.vee.settings_for("")
    assert (defaults.write_estimates, defaults.interpolation_max_slots) == (False, 2)
    assert settings.vee.settings_for("C-001").like_day_weeks == 5
    assert settings.report.recipients == ["ops@example.com", "oncall@example.com"]
    assert settings.alerts.silent_hours_by_customer == {"C-001": 4}
    assert settings.export.outbox == "2026"


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        (
            "[export]\ngrace_hours = 'soon'\n",
            {},
            "export.grace_hours (KENSHIN_EXPORT__GRACE_HOURS)",
        ),
        ("[export]\nretention = 45\n", {}, "export.retention: unknown setting"),
        ("colour = 'red'\n", {}, "colour: unknown setting"),
        ("", {"KENSHIN_METERS__MAX_DEMAND_KW": "0"}, "greater than or equal to 1"),
        ("[store\n", {}, "is not valid TOML"),
        (
            "[report]\ntimezone = 'Mars/Olympus'\n",
            {},
            "report.timezone (KENSHIN_REPORT__TIMEZONE): Value error, unknown time zone"
            " 'Mars/Olympus': use an IANA name such as 'Asia/Tokyo'",
        ),
        (
            "[report]\ntime = '8:00'\n",
            {},
            "report.time (KENSHIN_REPORT__TIME): Value error, expected HH:MM (00:00 to 23:59),"
            " got '8:00'",
        ),
        ("", {"KENSHIN_REPORT__TIME": "24:00"}, "report.time (KENSHIN_REPORT__TIME)"),
        ("[mqtt]\nport = 65536\n", {}, "mqtt.port (KENSHIN_MQTT__PORT): Input should be less"),
        (
            "[store]\nreadings_retention_days = -1\n",
            {},
            "store.readings_retention_days (KENSHIN_STORE__READINGS_RETENTION_DAYS): Input"
            " should be greater than or equal to 0",
        ),
        (
            "[export]\nretention_days = 90\n",
            {"KENSHIN_STORE__READINGS_RETENTION_DAYS": "120"},
            "store.readings_retention_days: 120 days would drop readings that exports still"
            " read: give 0 (kept forever) or at least 150 (export.retention_days + 60",
        ),
        ("", {"KENSHIN_SFTP__PORT": "-1"}, "sftp.port (KENSHIN_SFTP__PORT): Input should be"),
        ("[http]\nport = 'web'\n", {}, "http.port (KENSHIN_HTTP__PORT): Input should be"),
        ("[ftps]\nport = 99999\n", {}, "ftps.port (KENSHIN_FTPS__PORT)"),
        (
            "[ftps]\npassive_ports = '21-30'\n",
            {},
            "ftps.passive_ports (KENSHIN_FTPS__PASSIVE_PORTS): Value error, expected FIRST-LAST"
            " with 1024 <= FIRST <= LAST <= 65535",
        ),
        (
            "[ftps]\nannounce_address = 'not-an-ip'\n",
            {},
            "ftps.announce_address (KENSHIN_FTPS__ANNOUNCE_ADDRESS): Value error, expected an"
            " IPv4 address such as 203.0.113.10 (PASV replies carry one), got 'not-an-ip';"
            " empty: the address the client connected to",
        ),
        ("", {"KENSHIN_FTPS__ANNOUNCE_ADDRESS": "2001:db8::1"}, "got '2001:db8::1'"),
        (
            MAIL + "port = 0\n",
            {},
            "alerts.channels.ops-mail.port (KENSHIN_ALERTS__CHANNELS__OPS-MAIL__PORT):"
            " Input should be greater than or equal to 1",
        ),
    ],
)
def test_bad_config_names_the_key_and_the_fix(
    tmp_path: Path, text: str, environ: dict[str, str], expected: str
) -> None:
    path = tmp_path / "kenshin.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ)
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            MAIL + "url = 'https://hooks.example.com/k'\n",
            "alerts.channels.ops-mail.url: not a setting of channels of type 'email'",
        ),
        (
            "[alerts.channels.chat]\ntype = 'slack'\nurl_file = 'u'\nheaders = { A = 'b' }\n",
            "alerts.channels.chat.headers: not a setting of channels of type 'slack'",
        ),
        (HOOK + "recipients = ['a@b']\n", "alerts.channels.hook.recipients: not a setting"),
        (
            "[alerts.channels.x]\ntype = 'sms'\n",
            "alerts.channels.x (KENSHIN_ALERTS__CHANNELS__X):"
            " Input tag 'sms' found using 'type' does not match any of the expected tags",
        ),
        (
            "[alerts.channels.ops-mail]\ntype = 'email'\nhost = 'smtp.example.org'\n",
            "alerts.channels.ops-mail.sender (KENSHIN_ALERTS__CHANNELS__OPS-MAIL__SENDER):"
            " Field required",
        ),
        (MAIL + "security = 'ssl'\n", "alerts.channels.ops-mail.security"),
        (MAIL + "username = 'k'\n", "username and password_file: give both or neither"),
        (HOOK.replace("url = ", "url_file = 'f'\nurl = "), "url or url_file: give one of them"),
        ("[[alerts.routes]]\nchannel = 'ops'\n", "alerts.routes[1].channel: no channel 'ops'"),
        (
            HOOK + "[report]\nchannel = 'hook'\n",
            "report.channel: 'hook' is not an email or ses channel of alerts.channels",
        ),
    ],
)
def test_a_wrong_alert_channel_is_refused_when_the_file_is_read_naming_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "kenshin.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert expected in str(caught.value)


def test_each_channel_type_has_its_own_model(tmp_path: Path) -> None:
    path = tmp_path / "kenshin.toml"
    path.write_text(MAIL + HOOK + "[[alerts.routes]]\nchannel = 'ops-mail'\n")
    channels = load_settings(path, environ={}).alerts.channels
    assert isinstance(channels["ops-mail"], EmailChannelConfig)
    assert isinstance(channels["hook"], WebhookChannelConfig)
    assert channels["ops-mail"].recipients == ["ops@example.org"]


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="kenshin init"):
        load_settings(tmp_path / "nope.toml", environ={})


@pytest.mark.parametrize(
    ("outbox", "holds"),
    [
        ("", "the data folder"),
        (".", "the data folder"),
        ("..", "the data folder"),
        ("pki", "the units' certificate authority"),
        ("ssh", "sftp.host_key"),
    ],
)
def test_an_outbox_holding_the_data_folder_or_a_secret_stops_every_command(
    tmp_path: Path, outbox: str, holds: str
) -> None:
    """Each folder of the outbox is a customer's, served to it: with the outbox on the data
    folder, a customer named 'pki' would collect the units' certificate authority."""
    site = make_site(tmp_path, "site")
    config = site / "kenshin.toml"
    text = config.read_text()
    assert 'outbox = "outbox"\n' in text
    config.write_text(text.replace('outbox = "outbox"\n', f'outbox = "{outbox}"\n'))
    refused = kenshin(site, "customers", "add", "pki", "--name", "Intruder")
    assert refused.exit_code != 0
    assert f"export.outbox: '{outbox}'" in refused.output
    assert f"holds {holds}" in refused.output
    assert "give the outbox a folder of its own, such as 'outbox'" in refused.output
    config.write_text(text.replace('outbox = "outbox"\n', 'outbox = "files"\n'))
    assert kenshin(site, "customers", "add", "pki", "--name", "A customer").exit_code == 0
