"""Messages to units through AWS IoT Core's data plane (the CommandLink port), through
boto3's ``iot-data`` client: on AWS, where no broker of kenshin's runs, the units'
commands go this way.

Each message is published at QoS 1, retained or not, with MQTT 5's message expiry, as
the broker's link publishes it. The account's data endpoint (``iot:Data-ATS``) is asked
of IoT Core once, at the first publish, unless it is given. A message IoT Core does not
take (refused, throttled, out of reach) is False, its reason logged: the caller keeps it
to try again.

boto3 is the optional extra ``aws``: it is imported when the adapter is made.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from kenshin.adapters.iot_core import aws_reason
from kenshin.errors import ConfigError

log = logging.getLogger(__name__)

DATA_ENDPOINT = "iot:Data-ATS"  # the endpoint type of the data plane, Amazon Trust Services
# Each call fails in seconds, not minutes: a round must not wait on IoT Core out of reach.
CONNECT_TIMEOUT_S, READ_TIMEOUT_S, ATTEMPTS = 5, 10, 3


class DataClient(Protocol):
    """The call of a boto3 ``iot-data`` client the adapter makes."""

    def publish(self, **kwargs: object) -> Mapping[str, Any]:
        """Publish an MQTT message."""


class IotApi(Protocol):
    """The call of a boto3 ``iot`` client the adapter makes."""

    def describe_endpoint(self, **kwargs: object) -> Mapping[str, Any]:
        """An endpoint of the account."""


class IotDataPublisher:
    """Publishes to units through AWS IoT Core in ``region`` (empty: the environment's):
    at ``data_endpoint`` (an https:// URL) or, if none is given, at the account's own,
    which the IoT API (at ``endpoint``, or the region's) tells."""

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint: str | None = None,
        data_endpoint: str | None = None,
    ) -> None:
        try:
            import boto3  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]
            from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]
        except ImportError as exc:
            raise ConfigError(
                f"iot_core: kenshin reaches AWS IoT Core through boto3, but {exc.name} is not"
                " installed: pip install 'kenshin[aws]'"
            ) from exc
        self._errors: tuple[type[Exception], ...] = (ClientError, BotoCoreError)
        self._config = Config(
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
            retries={"max_attempts": ATTEMPTS, "mode": "standard"},
        )
        self._boto3 = boto3
        self._region = region
        self._endpoint = endpoint
        self._data_endpoint = data_endpoint
        self._client: DataClient | None = None
        self.where = f"AWS IoT Core ({region})" if region else "AWS IoT Core"

    def publish(self, topic: str, payload: bytes, *, retain: bool, expiry_s: int) -> bool:
        """Publish at QoS 1, expiring after ``expiry_s``: whether IoT Core took it."""
        try:
            self._data_client().publish(
                topic=topic, qos=1, retain=retain, payload=payload, messageExpiry=expiry_s
            )
        except self._errors as exc:
            log.warning("%s did not take the message on %s: %s", self.where, topic, aws_reason(exc))
            return False
        return True

    def _data_client(self) -> DataClient:
        """The data plane's client, made at the first call (the endpoint asked for then)."""
        if self._client is None:
            url = self._data_endpoint or self._described_endpoint()
            client: DataClient = self._boto3.client("iot-data", **self._options(url))
            self._client = client
        return self._client

    def _described_endpoint(self) -> str:
        """The account's data endpoint, as the IoT API tells it."""
        api: IotApi = self._boto3.client("iot", **self._options(self._endpoint))
        described = api.describe_endpoint(endpointType=DATA_ENDPOINT)
        return f"https://{described['endpointAddress']}"

    def _options(self, url: str | None) -> dict[str, object]:
        """A boto3 client's region, endpoint and timeouts."""
        return {"region_name": self._region, "endpoint_url": url, "config": self._config}
