"""The ingest function: the queue's messages stored, what cannot be read kept as a dead
letter (handled, not failed), and every message of a batch whose commit failed reported
failed, so that the queue gives it again and nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aws_lambda.conftest import Aws, iot_body, lambda_site, metrics
from conftest import kenshin
from kenshin.entrypoints.aws_lambda import ingest
from kenshin.entrypoints.aws_lambda.runtime import ColdStart
from kenshin.errors import StoreError
from test_ingest import T0, message

STATUS = b'{"firmware": "1.4.2", "rsrp": -95}'


@pytest.fixture
def site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws: Aws, store_env: dict[str, str]
) -> Path:
    site = lambda_site(tmp_path, monkeypatch, store_env)
    assert kenshin(site, "devices", "add", "U-1", "--customer", "C-001").exit_code == 0
    return site


def stored(cold: ColdStart, meter: str = "M-1") -> list[int | None]:
    """The forward registers stored of the meter at T0."""
    found = cold.app.store.readings.readings_between([meter], T0 - 1, T0 + 1)
    return [r.fwd for _, readings in found for r in readings]


def test_a_batch_of_readings_and_a_status_is_stored_and_nothing_fails(
    site: Path, aws: Aws, cold: ColdStart
) -> None:
    aws.send([iot_body("U-1", message(fwd=123), T0 + 10), iot_body("U-1", STATUS, T0, "status")])
    assert aws.drain(ingest.handler) == []
    assert stored(cold) == [123]
    assert cold.app.store.unit_clocks.statuses() == {"U-1": (T0, STATUS)}
    assert cold.app.store.unit_clocks.last_seen() == {"U-1": T0 + 10}  # a live message
    assert cold.app.store.dead_letters.count_dead_letters() == 0


def poison() -> list[str]:
    """Bodies the topic rule never writes, and a message of a device never registered."""
    good = json.loads(iot_body("U-1", message(), T0))
    return [
        "not JSON",
        json.dumps(["a", "list"]),
        json.dumps({**good, "payload": "%%% not base64"}),
        json.dumps({**good, "received": "yesterday"}),
        json.dumps({**good, "topic": "dt/kenshin/U-2/readings"}),
        iot_body("U-9", message(device="U-9"), T0),
    ]


def test_a_poison_message_is_a_dead_letter_with_its_reason_and_not_a_failure(
    site: Path, aws: Aws, cold: ColdStart, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.send([*poison(), iot_body("U-1", message(fwd=7), T0)])
    assert aws.drain(ingest.handler) == []  # each handled: none comes back from the queue
    counted = [int(str(line["DeadLetters"])) for line in metrics(capsys.readouterr().out)]
    assert sum(counted) == 6  # the metric the dead letters' alarm watches
    assert stored(cold) == [7]
    letters = cold.app.store.dead_letters.list_dead_letters()
    reasons = "\n".join(letter.reason for letter in letters)
    assert len(letters) == 6
    assert "is not one IoT Core's topic rule writes: Expecting value" in reasons
    assert "expected a JSON object with topic, device, payload and received" in reasons
    assert "payload: not base64" in reasons
    assert "received: expected epoch milliseconds, got 'yesterday'" in reasons
    assert "topic 'dt/kenshin/U-2/readings' is not device 'U-1'" in reasons
    assert "unknown device 'U-9': register it with 'kenshin devices add U-9" in reasons
    assert b"not JSON" in {letter.payload for letter in letters}


def test_when_the_commit_fails_every_record_of_the_batch_is_reported_failed_and_comes_again(
    site: Path, aws: Aws, cold: ColdStart, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings = type(cold.app.store.readings)

    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise StoreError("the store is down")

    with monkeypatch.context() as broken:
        broken.setattr(readings, "add_readings", down)
        aws.send([iot_body("U-1", message(fwd=5), T0), "not JSON"])
        failed = aws.drain(ingest.handler)
    assert sorted(r["body"] for r in failed) == sorted(
        ["not JSON", iot_body("U-1", message(fwd=5), T0)]
    )
    assert stored(cold) == []
    assert cold.app.store.dead_letters.count_dead_letters() == 0
    aws.give_again(failed)
    assert aws.drain(ingest.handler) == []  # the store back: both come again, and are kept
    assert stored(cold) == [5]
    assert cold.app.store.dead_letters.count_dead_letters() == 1


def test_a_binary_payload_reaches_ingest_byte_for_byte(
    site: Path, aws: Aws, cold: ColdStart
) -> None:
    frame = bytes(range(256))  # not UTF-8, nor a frame ECHONET Lite decodes
    aws.send([iot_body("U-1", frame, T0, "echonet")])
    assert aws.drain(ingest.handler) == []
    [letter] = cold.app.store.dead_letters.list_dead_letters()
    assert (letter.payload, letter.device, letter.received_at) == (frame, "U-1", T0)
    assert letter.source == "iot:U-1"
