"""A Mosquitto 2 broker as the units' endpoint, configured from kenshin's certificate
authority and registry. Part of bootstrap: the one place that picks adapters.

The folder written holds ``mosquitto.conf`` (a TLS listener that requires a client
certificate of kenshin's CA, the certificate's CN as user name), ``acl`` (each unit
publishes under ``dt/kenshin/<its id>/`` and reads ``cmd/kenshin/<its id>/`` only; the
workers read every unit's data and send commands), ``crl.pem`` (the revoked units'
certificates), the broker's certificate and the workers' client certificate.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kenshin.adapters.pki import CA_CERT, LocalCertificateAuthority, check_names
from kenshin.adapters.pki_files import certificate_end, write_file
from kenshin.bootstrap import App, machine_hostnames
from kenshin.errors import KenshinError

# The workers' user name at the broker: a space, which no device id holds, so that no
# unit's certificate can ever carry the workers' rights.
WORKER_NAME = "kenshin worker"
CONFIG, ACL, CRL = "mosquitto.conf", "acl", "crl.pem"
BROKER_CERT, BROKER_KEY = "broker.pem", "broker.key"
WORKER_CERT, WORKER_KEY = "worker.pem", "worker.key"
DATA = "data"
DEFAULT_PORT = 8883


class BrokerConfigError(KenshinError):
    """The broker's configuration cannot be written as asked."""


@dataclass(frozen=True)
class BrokerFiles:
    """What ``write_mosquitto`` did: the folder, the files it wrote (by name) and how
    many certificates the CRL names."""

    folder: Path
    written: list[str]
    revoked: int


def write_mosquitto(
    app: App,
    out: Path,
    *,
    port: int = DEFAULT_PORT,
    hostnames: Sequence[str] = (),
    ips: Sequence[str] = (),
    user: str = "mosquitto",
    crl_only: bool = False,
) -> BrokerFiles:
    """Write (or bring up to date) the Mosquitto configuration in ``out``. The CRL is
    written when the revoked certificates changed (or it is half through its time);
    the broker's and the workers' certificates are issued when missing (the broker's
    again when names are given); with ``crl_only``, only the CRL is looked at."""
    ca = LocalCertificateAuthority.load(app.pki_dir)
    serials = app.store.certificates.revoked_serials()
    if crl_only:
        if not (out / CONFIG).is_file():
            raise BrokerConfigError(
                f"{out / CONFIG} is missing: run 'kenshin broker-config mosquitto --out {out}'"
                " once without --crl-only"
            )
        written = [CRL] if ca.write_crl(out / CRL, serials) else []
        return BrokerFiles(out, written, len(serials))
    check_names(hostnames, ips)
    owner = _owner(user)
    (out / DATA).mkdir(mode=0o700, parents=True, exist_ok=True)
    written = _credentials(ca, out, hostnames, ips)
    if ca.write_crl(out / CRL, serials):
        written.append(CRL)
    write_file(out / CA_CERT, ca.cert_pem, 0o644, replace=True)
    write_file(out / ACL, acl_text().encode(), 0o644, replace=True)
    write_file(out / CONFIG, config_text(out.resolve(), port, user).encode(), 0o644, replace=True)
    written += [CA_CERT, ACL, CONFIG]
    if owner is not None:  # the broker reads its key again on SIGHUP, as that user
        for path in (out / BROKER_KEY, out / DATA):
            os.chown(path, *owner)
    return BrokerFiles(out, written, len(serials))


def _credentials(
    ca: LocalCertificateAuthority, out: Path, hostnames: Sequence[str], ips: Sequence[str]
) -> list[str]:
    """Issue the broker's certificate (missing, or names given) and the workers' (missing)."""
    written = []
    if hostnames or ips or certificate_end(out / BROKER_CERT) is None:
        names = list(dict.fromkeys([*machine_hostnames(), *hostnames]))
        files = (out / BROKER_CERT, out / BROKER_KEY)
        ca.issue_server(names, list(dict.fromkeys(ips)), files=files)
        written += [BROKER_CERT, BROKER_KEY]
    if certificate_end(out / WORKER_CERT) is None:
        worker = ca.issue_client(WORKER_NAME)
        write_file(out / WORKER_KEY, worker.key_pem, 0o600, replace=True)
        write_file(out / WORKER_CERT, worker.cert_pem, 0o644, replace=True)
        written += [WORKER_CERT, WORKER_KEY]
    return written


def _owner(user: str) -> tuple[int, int] | None:
    """The user and group ids to give the broker's key and data folder when this runs
    as root (the broker drops to ``user``); None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError as exc:
        raise BrokerConfigError(
            f"there is no user {user!r} for the broker to run as: install Mosquitto"
            " (it adds the user 'mosquitto') or name another with --user"
        ) from exc
    return entry.pw_uid, entry.pw_gid


def config_text(folder: Path, port: int, user: str) -> str:
    """mosquitto.conf for the files in ``folder`` (an absolute path)."""
    return f"""\
# Written by 'kenshin broker-config mosquitto': run it again rather than editing this.
# Units connect with their certificate from kenshin's CA; its CN is their user name.
per_listener_settings false
allow_anonymous false
user {user}
persistence true
# A worker that restarts finds every message the broker kept for it meanwhile: Mosquitto's
# default of 1,000 queued messages per client would drop the rest, acknowledged to units.
max_queued_messages 10000000
# Mosquitto keeps messages in memory and writes them out every so often (its default:
# 30 minutes): a crash loses what came since, which gap recovery must then ask for.
autosave_interval 60
persistence_location {folder / DATA}/
acl_file {folder / ACL}

listener {port}
protocol mqtt
tls_version tlsv1.2
cafile {folder / CA_CERT}
certfile {folder / BROKER_CERT}
keyfile {folder / BROKER_KEY}
crlfile {folder / CRL}
require_certificate true
use_identity_as_username true
"""


def acl_text() -> str:
    """The ACL: each unit its own topics (%u is its certificate's CN, its device id);
    the workers every unit's data, shared subscriptions included, and the commands."""
    return f"""\
# Written by 'kenshin broker-config mosquitto': run it again rather than editing this.
user {WORKER_NAME}
topic read dt/kenshin/+/#
topic read $share/kenshin/dt/kenshin/+/#
topic write cmd/kenshin/#
topic read $SYS/broker/store/messages/count

pattern write dt/kenshin/%u/#
pattern read cmd/kenshin/%u/#
"""
