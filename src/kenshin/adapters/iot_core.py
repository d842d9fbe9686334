"""The units' things on AWS IoT Core (the Things port), through boto3.

kenshin's CA is registered with IoT Core by the stack (``infra/kenshin_infra/devices.py``).
Enrolling a unit registers its certificate with that CA (IoT Core gives it the CA's own
mode, DEFAULT or SNI_ONLY), inactive at first; then the unit's thing, named by its device
id, is made if it has none, and the certificate is attached to the units' policy and to
the thing, and only then made active. A certificate left part way by a failure is
inactive, and enrolling it again finishes the work. Revoking makes certificates inactive:
IoT Core refuses them at connect and disconnects, within a few minutes, the clients
connected with them. They stay attached to the thing and the policy, so that the thing
keeps the record of every certificate its unit had.

boto3 is the optional extra ``aws``: it is imported when the adapter is made.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from cryptography import x509

from kenshin.errors import ConfigError
from kenshin.ports.things import ThingsError

log = logging.getLogger(__name__)

THING_NAME = re.compile(r"[A-Za-z0-9:_-]{1,128}")  # what IoT Core takes as a thing's name
ACTIVE, INACTIVE = "ACTIVE", "INACTIVE"
_NOT_FOUND = "ResourceNotFoundException"
_CA_HINT = (
    "IoT Core does not take it as issued by kenshin's CA: is the CA (the data folder's"
    " pki/ca.pem) registered in this account and region? The stack registers it (docs/aws.md)"
)


class IotClient(Protocol):
    """The calls of a boto3 IoT client the adapter makes."""

    def register_certificate(self, **kwargs: object) -> Mapping[str, Any]:
        """Register a certificate issued by a registered CA."""

    def describe_thing(self, **kwargs: object) -> Mapping[str, Any]:
        """A thing, or ResourceNotFoundException."""

    def create_thing(self, **kwargs: object) -> Mapping[str, Any]:
        """Make a thing."""

    def attach_policy(self, **kwargs: object) -> Mapping[str, Any]:
        """Attach a policy to a certificate."""

    def attach_thing_principal(self, **kwargs: object) -> Mapping[str, Any]:
        """Attach a certificate to a thing."""

    def update_certificate(self, **kwargs: object) -> Mapping[str, Any]:
        """Set a certificate's status."""

    def list_thing_principals(self, **kwargs: object) -> Mapping[str, Any]:
        """One page of the principals (certificate ARNs) attached to a thing."""

    def describe_certificate(self, **kwargs: object) -> Mapping[str, Any]:
        """A certificate: its status and PEM."""


class IotCoreThings:
    """The Things port on AWS IoT Core: ``policy`` is the units' IoT policy, ``ca_pem``
    kenshin's CA certificate; ``client`` a boto3 IoT client (one is made for ``region``
    and ``endpoint``, from the environment's credentials, if none is given)."""

    def __init__(
        self,
        policy: str,
        ca_pem: bytes,
        *,
        region: str | None = None,
        endpoint: str | None = None,
        client: IotClient | None = None,
    ) -> None:
        try:
            from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

            if client is None:
                import boto3  # type: ignore[import-untyped]

                client = boto3.client("iot", region_name=region, endpoint_url=endpoint)
        except ImportError as exc:
            raise ConfigError(
                f"iot_core: kenshin reaches AWS IoT Core through boto3, but {exc.name} is not"
                " installed: pip install 'kenshin[aws]'"
            ) from exc
        except BotoCoreError as exc:  # no region anywhere, or a malformed endpoint
            raise ConfigError(f"iot_core: {exc}: set iot_core.region (docs/aws.md)") from exc
        self._client: IotClient = client
        self._policy = policy
        self._ca_pem = ca_pem.decode("ascii")
        self._errors: tuple[type[Exception], ...] = (ClientError, BotoCoreError)
        self._client_error: type[Exception] = ClientError
        named = region or getattr(getattr(client, "meta", None), "region_name", None)
        self.where = f"AWS IoT Core ({named or 'no region'})"

    def unfit(self, device_ids: Sequence[str]) -> list[str]:
        """The ids that IoT Core does not take as a thing's name (a dot, for one)."""
        return [i for i in device_ids if not THING_NAME.fullmatch(i)]

    def enrol(self, device_id: str, certificate_pem: bytes) -> None:
        """Register the certificate (inactive), make the thing, attach the certificate to
        the policy and the thing, then make it active; each step is a no-op done again."""
        refused = {"CertificateValidationException": _CA_HINT}
        with self._step(device_id, "registering its certificate", refused):
            certificate_id, arn = self._register(certificate_pem.decode("ascii"))
        with self._step(device_id, "making its thing"):
            self._make_thing(device_id)
        missing_policy = (
            f"there is no IoT policy {self._policy!r}: set iot_core.policy to the units' policy"
            " the stack made, <stack name>-kenshin-unit (docs/aws.md)"
        )
        with self._step(device_id, "attaching the policy", {_NOT_FOUND: missing_policy}):
            self._client.attach_policy(policyName=self._policy, target=arn)
        with self._step(device_id, "attaching its certificate to its thing"):
            self._client.attach_thing_principal(thingName=device_id, principal=arn)
        with self._step(device_id, "making its certificate active"):
            self._client.update_certificate(certificateId=certificate_id, newStatus=ACTIVE)
        log.info("%s: certificate %s active on %s", device_id, certificate_id, self.where)

    def active_serials(self, device_id: str) -> set[int]:
        """The serials of the thing's active certificates."""
        with self._step(device_id, "reading its certificates"):
            held = self._certificates(device_id)
        return {serial for _, status, serial in held if status == ACTIVE and serial is not None}

    def revoke(self, device_id: str, keep: Collection[int] = ()) -> int:
        """Make the thing's active certificates inactive, but those with serials in
        ``keep``: how many."""
        with self._step(device_id, "reading its certificates"):
            held = self._certificates(device_id)
        count = 0
        for certificate_id, status, serial in held:
            if status != ACTIVE or serial in keep:
                continue
            with self._step(device_id, f"making its certificate {certificate_id} inactive"):
                self._client.update_certificate(certificateId=certificate_id, newStatus=INACTIVE)
            log.info("%s: certificate %s inactive on %s", device_id, certificate_id, self.where)
            count += 1
        return count

    def _register(self, pem: str) -> tuple[str, str]:
        """The certificate's id and ARN, registered now (inactive) or before."""
        try:
            made = self._client.register_certificate(
                certificatePem=pem, caCertificatePem=self._ca_pem, status=INACTIVE
            )
        except self._client_error as exc:
            answer = getattr(exc, "response", {})
            if _code(exc) != "ResourceAlreadyExistsException" or "resourceArn" not in answer:
                raise
            return str(answer["resourceId"]), str(answer["resourceArn"])
        return str(made["certificateId"]), str(made["certificateArn"])

    def _make_thing(self, device_id: str) -> None:
        try:
            self._client.describe_thing(thingName=device_id)
        except self._client_error as exc:
            if _code(exc) != _NOT_FOUND:
                raise
            self._client.create_thing(thingName=device_id)

    def _certificates(self, device_id: str) -> list[tuple[str, str, int | None]]:
        """(id, status, serial) of each certificate attached to the thing; none if there
        is no thing. A serial is None when IoT Core's copy cannot be read."""
        principals: list[str] = []
        page: dict[str, object] = {}
        while True:
            try:
                answer = self._client.list_thing_principals(thingName=device_id, **page)
            except self._client_error as exc:
                if _code(exc) == _NOT_FOUND:
                    return []
                raise
            principals.extend(answer.get("principals", ()))
            if not answer.get("nextToken"):
                break
            page = {"nextToken": answer["nextToken"]}
        held = []
        for arn in principals:
            if ":cert/" not in arn:
                continue
            certificate_id = arn.rsplit("/", 1)[1]
            found = self._client.describe_certificate(certificateId=certificate_id)
            description = found["certificateDescription"]
            serial = _serial(description.get("certificatePem", ""))
            held.append((certificate_id, str(description["status"]), serial))
        return held

    @contextmanager
    def _step(
        self, device_id: str, doing: str, hints: Mapping[str, str] | None = None
    ) -> Iterator[None]:
        """Turn boto3's errors into a ThingsError naming the device, the step and why;
        ``hints`` say what to do about an error, by its AWS code."""
        try:
            yield
        except self._errors as exc:
            hint = (hints or {}).get(_code(exc))
            raise ThingsError(
                f"{device_id}: {doing} on {self.where} failed: {aws_reason(exc)}"
                + (f"; {hint}" if hint else "")
            ) from exc


def _code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError ('' for other errors)."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def aws_reason(exc: Exception) -> str:
    """What went wrong, as AWS or botocore says it."""
    code = _code(exc)
    if code:
        message = getattr(exc, "response", {}).get("Error", {}).get("Message", "")
        return f"{message} ({code})" if message else code
    if type(exc).__name__ == "NoCredentialsError":
        return (
            "no AWS credentials found: give them as the AWS command line takes them"
            " (AWS_PROFILE, ~/.aws/credentials, an instance or task role)"
        )
    return str(exc)


def _serial(pem: str) -> int | None:
    """The serial of the certificate in ``pem``; None if it cannot be read."""
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii")).serial_number
    except ValueError:
        return None
