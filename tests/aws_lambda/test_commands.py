"""The units' commands on AWS: the export function's round asks a unit for the readings
its meter lacks (gap recovery's ``resend``) and sends the command through AWS IoT Core
(moto's) on the unit's command topic, retained for a day, as the cluster's leader sends
it through the broker; IoT Core refusing it fails nothing, the command waiting in the
store for the next round."""

from __future__ import annotations

import json
import sys
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from aws_lambda.conftest import Aws, iot_body, lambda_site
from conftest import kenshin
from kenshin.domain.commands import RESEND, command_topic
from kenshin.domain.devices import Command
from kenshin.domain.slots import iso_utc
from kenshin.entrypoints.aws_lambda import export, ingest, runtime
from kenshin.errors import ConfigError
from kenshin.iot_setup import unit_commands
from moto_s3 import REGION

HOUR = 3600
NOW = int(datetime(2026, 11, 27, 6, tzinfo=UTC).timestamp())
HOLE = NOW - 10 * HOUR  # a half hour M-1 has no reading of, its unit heard since
# moto serves IoT Core's data plane at boto3's own endpoint for it, not at the account's.
DATA_ENDPOINT = f"https://data-ats.iot.{REGION}.amazonaws.com"
IOT_CORE = {
    "ENABLED": "true",
    "REGION": REGION,
    "POLICY": "kenshin-staging-kenshin-unit",
    "DATA_ENDPOINT": DATA_ENDPOINT,
}


@dataclass(frozen=True)
class Sent:
    """A request to IoT Core's data plane, as it went: its operation, topic and query."""

    operation: str
    host: str
    topic: str
    query: dict[str, list[str]]


@pytest.fixture
def sent(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> list[Sent]:
    """The IoT requests the functions make from now on (moto keeps only a publish's topic
    and payload, not its QoS, retain flag or expiry)."""
    import boto3  # type: ignore[import-untyped]

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # put back after the test
    boto3.setup_default_session()
    seen: list[Sent] = []

    def record(request: Any, event_name: str, **_: Any) -> None:
        url = urlsplit(request.url)
        topic = unquote(url.path.split("/topics/", 1)[1]) if "/topics/" in url.path else ""
        seen.append(Sent(event_name.rsplit(".", 1)[1], url.netloc, topic, parse_qs(url.query)))

    for event in ("before-send.iot-data.Publish", "before-send.iot.DescribeEndpoint"):
        boto3.DEFAULT_SESSION.events.register(event, record)
    return seen


def readings_message(start: int, end: int, skip: Collection[int] = ()) -> bytes:
    """U-1's message of M-1's half-hourly readings from ``start`` to ``end``, less ``skip``."""
    readings = [
        {"t": iso_utc(t), "fwd": (t - start) // 1800, "rev": 0}
        for t in range(start, end + 1, 1800)
        if t not in skip
    ]
    meter = {"meter": "M-1", "unit": "0.1kWh", "coefficient": 1, "digits": 6}
    document = {"v": 1, "device": "U-1", "seq": 1, "sent": iso_utc(end + 4)}
    return json.dumps({**document, "meters": [{**meter, "readings": readings}]}).encode()


@pytest.fixture
def site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws: Aws, store_env: dict[str, str]
) -> Path:
    """A site on IoT Core whose unit U-1 sent M-1's readings of the day but one."""
    for key, value in IOT_CORE.items():
        monkeypatch.setenv(f"KENSHIN_IOT_CORE__{key}", value)
    site = lambda_site(tmp_path, monkeypatch, store_env)
    assert kenshin(site, "devices", "add", "U-1", "--customer", "C-001").exit_code == 0
    day = readings_message(NOW - 24 * HOUR, NOW - 2 * HOUR, {HOLE})
    aws.send([iot_body("U-1", day, NOW - 2 * HOUR + 10)])
    assert aws.drain(ingest.handler) == []
    return site


def export_at(at: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The export function run by its schedule at ``at``."""
    monkeypatch.setattr(runtime, "clock", lambda: at)
    done: dict[str, Any] = export.handler({"source": "aws.events"}, None)
    assert done["failures"] == {}
    return done


def resends(cold: runtime.ColdStart) -> list[Command]:
    """The resend commands queued for U-1, acknowledged or not."""
    return cold.app.store.commands.commands_named(RESEND, 0)


def refused(*_args: Any, **_kwargs: Any) -> None:
    """IoT Core refusing a publish, as it does one the function's role may not make."""
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError("UnauthorizedException", "not authorized to publish on this topic")
    error.code = 401
    raise error


def test_a_unit_s_missing_readings_are_asked_for_through_iot_core_retained_once(
    site: Path,
    aws: Aws,
    cold: runtime.ColdStart,
    sent: list[Sent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert export_at(NOW, monkeypatch)["commands_sent"] == 1
    [command] = resends(cold)
    body = json.loads(command.payload)
    assert body == {
        "v": 1,
        "command": RESEND,
        "id": command.id,
        "from": iso_utc(HOLE),
        "to": iso_utc(HOLE),
    }
    topic = command_topic("U-1", RESEND)
    assert topic == "cmd/kenshin/U-1/resend"
    assert aws.published() == [(topic, command.payload)]  # the payload the broker gets
    [publish] = sent  # at the data endpoint given: none asked for
    assert (publish.operation, publish.host, publish.topic) == ("Publish", DATA_ENDPOINT[8:], topic)
    assert publish.query == {"qos": ["1"], "retain": ["true"], "messageExpiry": ["86400"]}
    assert (command.acknowledged_at, command.sent_count) == (NOW, 1)
    assert cold.app.store.commands.pending_commands("U-1") == []
    # Half an hour on, the unit is not asked again yet, nor the command sent again.
    assert export_at(NOW + 1800, monkeypatch)["commands_sent"] == 0
    assert aws.published() == [(topic, command.payload)]
    assert len(resends(cold)) == 1


def test_iot_core_refusing_fails_no_export_and_the_command_goes_at_the_next_round(
    site: Path,
    aws: Aws,
    cold: runtime.ColdStart,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from moto.iotdata.models import IoTDataPlaneBackend

    with monkeypatch.context() as iot_core:
        iot_core.setattr(IoTDataPlaneBackend, "publish", refused)
        done = export_at(NOW, monkeypatch)
    assert done["commands_sent"] == 0
    assert done["written"]  # the round did its work all the same
    [command] = cold.app.store.commands.pending_commands("U-1")
    assert command.acknowledged_at is None
    assert aws.published() == []
    logged = caplog.text
    assert "did not take the message on cmd/kenshin/U-1/resend" in logged
    assert "not authorized to publish on this topic (UnauthorizedException)" in logged
    assert "0 command(s) went to the units through AWS IoT Core; 1 wait" in logged
    assert export_at(NOW + 1800, monkeypatch)["commands_sent"] == 1
    assert aws.published() == [("cmd/kenshin/U-1/resend", command.payload)]
    assert cold.app.store.commands.pending_commands("U-1") == []
    assert len(resends(cold)) == 1  # the same command, not a new one


def test_without_iot_core_the_commands_wait_in_the_store(
    site: Path, aws: Aws, cold: runtime.ColdStart, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KENSHIN_IOT_CORE__ENABLED", "false")
    cold.reset()  # a function started with it
    assert export_at(NOW, monkeypatch)["commands_sent"] == 0
    assert [c.name for c in cold.app.store.commands.pending_commands("U-1")] == [RESEND]
    assert aws.published() == []


def test_the_account_s_data_endpoint_is_asked_for_once(
    site: Path, aws: Aws, cold: runtime.ColdStart, sent: list[Sent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KENSHIN_IOT_CORE__DATA_ENDPOINT", "")
    cold.reset()  # a function started with it
    link = unit_commands(cold.app)
    assert link is not None
    import boto3
    from botocore.awsrequest import AWSResponse  # type: ignore[import-untyped]
    from moto.iot.models import FakeEndpoint

    described = FakeEndpoint.__init__

    def named(endpoint: FakeEndpoint, endpoint_type: str, region_name: str) -> None:
        """moto names the endpoint at random, and sends a publish to a name that holds
        another service's ("s3", "sqs", ...) to that service: one name, of none."""
        described(endpoint, endpoint_type, region_name)
        endpoint.endpoint = f"a1b2c4d5e6f7g8-ats.iot.{region_name}.amazonaws.com"

    monkeypatch.setattr(FakeEndpoint, "__init__", named)

    class Empty:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield b""

    def accepted(request: Any, **_: Any) -> Any:
        """IoT Core's answer to a publish: moto serves no account's data endpoint."""
        return AWSResponse(request.url, 200, {}, Empty())

    boto3.DEFAULT_SESSION.events.register("before-send.iot-data.Publish", accepted)
    for _ in range(2):
        link.publish("cmd/kenshin/U-1/resend", b"{}", retain=True, expiry_s=60)
    assert [s.operation for s in sent] == ["DescribeEndpoint", "Publish", "Publish"]
    hosts = {s.host for s in sent[1:]}
    assert len(hosts) == 1
    assert hosts == {f"a1b2c4d5e6f7g8-ats.iot.{REGION}.amazonaws.com"}  # the account's own


def test_without_boto3_it_says_what_to_install(
    site: Path, cold: runtime.ColdStart, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = cold.app
    for name in [n for n in sys.modules if n.split(".")[0] in ("boto3", "botocore")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "boto3", None)  # None: "import boto3" fails
    with pytest.raises(ConfigError, match=r"is not installed: pip install 'kenshin\[aws\]'"):
        unit_commands(app)
