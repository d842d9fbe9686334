"""The identity provider of AWS Transfer Family: customers' logins to its server, checked
against their kenshin accounts (``kenshin.entrypoints.aws_lambda.identity.handler``).

Transfer Family calls the function with each login: ``username``, ``password`` (absent
when a key is tried), ``protocol`` (``SFTP``, ``FTPS`` or ``FTP``), ``serverId`` and
``sourceIp``. A password is checked by the rules of kenshin's own file servers
(``services.accounts.Logins``): argon2 hashes, allow-lists, the failures of each address
counted in the store and its lockout, a security event for each refusal. A login over
plain FTP is refused. A key tried gets the account's registered keys, which Transfer
Family checks itself (it does not say whether one matched, so key tries are not
counted). Accepted, the answer gives the role the session takes, the customer's prefix
of the files bucket as its one folder and a session policy that lets it list and read
that prefix and nothing else; refused, it is empty. A refusal is answered at once: the
delay kenshin's servers add would be billed as the function's time and hold one of its
concurrent runs, while the lockout, counted in the store, holds a guesser back.

The pieces are built once per cold start, from the environment: ``KENSHIN_CONFIG`` (the
settings, hence the store; other ``KENSHIN_*`` variables override settings as anywhere),
``KENSHIN_AWS_TRANSFER_ROLE_ARN``, ``KENSHIN_AWS_FILES_BUCKET``,
``KENSHIN_AWS_FILES_PREFIX`` (empty, or ending in ``/``) and ``KENSHIN_AWS_FILES_KMS_KEY``
(the files' key, which the session may decrypt with): like every ``KENSHIN_AWS_*``
variable, no settings.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kenshin.bootstrap import open_app
from kenshin.config import find_config
from kenshin.domain.security_kinds import SecurityEventKind
from kenshin.entrypoints.aws_lambda.runtime import make_data_dir
from kenshin.errors import ConfigError, StoreError
from kenshin.ports import Store
from kenshin.services.accounts import Logins, shown
from kenshin.services.alerting import SecurityEventBuffer
from kenshin.services.login_guard import LoginPolicy, settings_policy
from kenshin.services.security import SecurityLog

log = logging.getLogger(__name__)

ROLE, BUCKET = "KENSHIN_AWS_TRANSFER_ROLE_ARN", "KENSHIN_AWS_FILES_BUCKET"
PREFIX, KMS_KEY = "KENSHIN_AWS_FILES_PREFIX", "KENSHIN_AWS_FILES_KMS_KEY"
WITH_TLS = frozenset({"SFTP", "FTPS"})  # plain FTP would carry the password in clear
MAX_POLICY = 2048  # the longest session policy Transfer Family takes


@dataclass(frozen=True)
class Home:
    """Where the customers' files are, ``{prefix}{customer}/`` in ``bucket``, and the
    role their sessions take."""

    role_arn: str
    bucket: str
    prefix: str = ""
    kms_key_arn: str = ""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Home:
        """From the function's environment; ConfigError naming a variable missing or wrong."""
        for name in (ROLE, BUCKET):
            if not environ.get(name):
                raise ConfigError(f"{name} is not set: the stack gives it to the function")
        prefix = environ.get(PREFIX, "")
        if prefix and not prefix.endswith("/"):
            raise ConfigError(f"{PREFIX}: {prefix!r} must be empty or end with '/'")
        return cls(environ[ROLE], environ[BUCKET], prefix, environ.get(KMS_KEY, ""))

    def answer(self, customer: str, keys: Sequence[str] = ()) -> dict[str, Any]:
        """Transfer Family's answer letting ``customer`` in (to check one of ``keys``)."""
        folder = f"{self.prefix}{customer}"
        home = [{"Entry": "/", "Target": f"/{self.bucket}/{folder}"}]
        policy = json.dumps(self.session_policy(customer), separators=(",", ":"))
        if len(policy) > MAX_POLICY:
            raise ConfigError(f"{PREFIX}: the session policy of {customer} is too long")
        answer: dict[str, Any] = {
            "Role": self.role_arn,
            "HomeDirectoryType": "LOGICAL",
            "HomeDirectoryDetails": json.dumps(home),
            "Policy": policy,
        }
        if keys:
            answer["PublicKeys"] = list(keys)
        return answer

    def session_policy(self, customer: str) -> dict[str, Any]:
        """What the customer's session may do: list its prefix, read the files under it
        and decrypt them with the files' key."""
        folder = f"{self.prefix}{customer}"
        parts = self.role_arn.split(":")
        bucket = f"arn:{parts[1] if len(parts) > 1 else 'aws'}:s3:::{self.bucket}"
        statements: list[dict[str, Any]] = [
            {
                "Sid": "ListOwnFolder",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket,
                "Condition": {"StringLike": {"s3:prefix": [f"{folder}/", f"{folder}/*"]}},
            },
            {
                "Sid": "ReadOwnFiles",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"{bucket}/{folder}/*",
            },
        ]
        if self.kms_key_arn:
            statements.append(
                {
                    "Sid": "DecryptFiles",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": self.kms_key_arn,
                }
            )
        return {"Version": "2012-10-17", "Statement": statements}


class IdentityProvider:
    """Transfer Family's logins answered from the store's accounts, by the rules of
    kenshin's file servers; the security events of each are stored after it."""

    def __init__(
        self,
        store: Store,
        policy: LoginPolicy,
        home: Home,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._events = SecurityEventBuffer()
        self._security = SecurityLog(self._events, clock)
        self._logins = Logins(store.deliveries, self._security, policy, clock)
        self._home = home

    def __call__(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The answer to one login: the customer's role, folder and policy, or {}."""
        try:
            return self._answer(event)
        finally:
            self._keep_events()

    def _answer(self, event: Mapping[str, Any]) -> dict[str, Any]:
        customer = str(event.get("username") or "")
        address = str(event.get("sourceIp") or "unknown")
        protocol = str(event.get("protocol") or "").upper()
        if protocol not in WITH_TLS:
            detail = f"{protocol.lower() or 'unknown protocol'}: login without TLS"
            self._security.record(SecurityEventKind.LOGIN_FAILED, shown(customer), address, detail)
            return {}
        password = event.get("password")
        if password is None:  # a key tried: Transfer Family checks it against those given
            account = self._logins.admitted(customer, address, protocol.lower())
            if not account or not account.ssh_keys:
                return {}
            return self._home.answer(customer, account.ssh_keys)
        if not self._logins.password(customer, str(password), address, protocol.lower()):
            return {}
        log.info("%s logged in over %s from %s", customer, protocol, address)
        return self._home.answer(customer)

    def _keep_events(self) -> None:
        """Store the security events held; if the store fails, they wait for the next."""
        try:
            self._events.flush(self._store.alerts)
        except StoreError:
            log.exception("security events not stored yet: they are kept for the next login")

    def close(self) -> None:
        """Release the store."""
        self._store.close()


def build(environ: Mapping[str, str]) -> IdentityProvider:
    """The identity provider of the function's environment: its settings, store and home."""
    make_data_dir(environ)
    app = open_app(find_config(None, environ), environ=environ)
    try:
        home = Home.from_environment(environ)
    except ConfigError:
        app.close()
        raise
    return IdentityProvider(app.store, settings_policy(app.settings.deliveries), home)


_built: list[IdentityProvider] = []  # this cold start's, once built


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Lambda's entry: Transfer Family's answer to one login."""
    if not _built:
        _built.append(build(os.environ))
    return _built[0](event)
