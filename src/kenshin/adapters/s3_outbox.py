"""Customer files in an S3 bucket, one key prefix per customer: ``{prefix}{customer}/{name}``.

A file is one PUT of its whole content. S3 makes an object visible only once its PUT
has completed, and a PUT over an existing key replaces it at once: a reader gets the old
object or the new one, never half of one. So no temporary object is written (there is
nothing to hide from listings or to clear after a crash), and an object, once its PUT
has succeeded, is durable. With a KMS key id, every object is encrypted under that key
(SSE-KMS); without one, the bucket's default encryption applies.

Names are checked as the local outbox checks them (one plain component, no dot name), so
a name cannot leave its customer's prefix. boto3 is the optional extra ``aws``: it is
imported when an outbox is made, not with this module.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from kenshin.adapters.outbox import plain_name
from kenshin.errors import ConfigError, ExportError

log = logging.getLogger(__name__)

# What S3 answers for a key that is not there (GetObject: NoSuchKey; a HEAD: 404).
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


class S3Client(Protocol):
    """The calls of a boto3 S3 client the outbox makes."""

    def put_object(self, **kwargs: object) -> Mapping[str, Any]:
        """Store an object."""

    def get_object(self, **kwargs: object) -> Mapping[str, Any]:
        """An object and its body."""

    def list_objects_v2(self, **kwargs: object) -> Mapping[str, Any]:
        """One page of the keys under a prefix."""

    def delete_object(self, **kwargs: object) -> Mapping[str, Any]:
        """Remove an object; removing a missing one succeeds."""


class S3Outbox:
    """An Outbox in an S3 bucket: files under ``{prefix}{customer}/``.

    ``prefix`` is empty or ends with ``/``; ``client`` is a boto3 S3 client (one is made
    from the environment's credentials and region if none is given).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        kms_key_id: str | None = None,
        client: S3Client | None = None,
    ) -> None:
        if prefix and not prefix.endswith("/"):
            raise ConfigError(f"the S3 outbox's prefix {prefix!r} must be empty or end with '/'")
        try:
            from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

            if client is None:
                import boto3  # type: ignore[import-untyped]

                client = boto3.client("s3")
        except ImportError as exc:
            raise ConfigError(
                f"the S3 outbox needs boto3, but {exc.name} is not installed:"
                " pip install 'kenshin[aws]'"
            ) from exc
        self._bucket = bucket
        self._prefix = prefix
        self._client: S3Client = client
        self._encryption: dict[str, object] = (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id} if kms_key_id else {}
        )
        self._errors: tuple[type[Exception], ...] = (ClientError, BotoCoreError)

    def publish(self, customer_id: str, name: str, content: bytes) -> None:
        """Put ``content`` whole under the file's key, replacing the file if it exists: S3
        shows the object only once the PUT has completed, so no temporary is needed."""
        key = self._key(customer_id, name)
        try:
            self._client.put_object(Bucket=self._bucket, Key=key, Body=content, **self._encryption)
        except self._errors as exc:
            raise self._failed("publish", customer_id, name, key, exc) from exc
        log.debug("published %s/%s (%d bytes) to %s", customer_id, name, len(content), key)

    def read(self, customer_id: str, name: str) -> bytes | None:
        """The published file's bytes, or None."""
        key = self._key(customer_id, name)
        try:
            found = self._client.get_object(Bucket=self._bucket, Key=key)
            content: bytes = found["Body"].read()
        except self._errors as exc:
            if _error_code(exc) in _MISSING:
                return None
            raise self._failed("read", customer_id, name, key, exc) from exc
        return content

    def list_files(self, customer_id: str) -> list[str]:
        """Names of the customer's published files, sorted; keys further down (``a/b``)
        and dot names, which no outbox publishes, are not listed."""
        folder = self._prefix + plain_name(customer_id, "customer id") + "/"
        names: list[str] = []
        pages: dict[str, object] = {}
        try:
            while True:
                page = self._client.list_objects_v2(
                    Bucket=self._bucket, Prefix=folder, Delimiter="/", **pages
                )
                names.extend(item["Key"][len(folder) :] for item in page.get("Contents", ()))
                if not page.get("IsTruncated"):
                    break
                pages = {"ContinuationToken": page["NextContinuationToken"]}
        except self._errors as exc:
            raise ExportError(
                f"could not list the files of {customer_id} in s3://{self._bucket}/{folder}: {exc}"
            ) from exc
        return sorted(n for n in names if n and not n.startswith("."))

    def remove(self, customer_id: str, name: str) -> None:
        """Remove a published file if it exists."""
        key = self._key(customer_id, name)
        try:
            self._client.delete_object(Bucket=self._bucket, Key=key)
        except self._errors as exc:
            raise self._failed("remove", customer_id, name, key, exc) from exc

    def _key(self, customer_id: str, name: str) -> str:
        customer = plain_name(customer_id, "customer id")
        return f"{self._prefix}{customer}/{plain_name(name, 'file name')}"

    def _failed(
        self, what: str, customer_id: str, name: str, key: str, exc: Exception
    ) -> ExportError:
        return ExportError(
            f"could not {what} {customer_id}/{name} (s3://{self._bucket}/{key}): {exc}"
        )


def _error_code(exc: Exception) -> str:
    """The error code S3 answered with ('' for an error of the client's own)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, Mapping):
        return ""
    return str(response.get("Error", {}).get("Code", ""))
