"""The units' things on AWS IoT Core and the link that sends them their commands there,
built from the settings (``[iot_core]``), and the certificates handed out as files that
``kenshin devices sync-iot`` registers there. Part of bootstrap: the one place that
reads settings and picks adapters."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from kenshin.adapters.iot_core import IotCoreThings
from kenshin.adapters.iot_data import IotDataPublisher
from kenshin.adapters.pki_files import device_file_paths
from kenshin.bootstrap import App
from kenshin.ports.broker import CommandLink
from kenshin.ports.things import Things
from kenshin.services.things import CertificateFile


def unit_things(app: App) -> Things | None:
    """The units' things on AWS IoT Core where ``iot_core.enabled``, else None; ConfigError
    if boto3 is missing or no region is set, PkiError if kenshin's CA cannot be read."""
    config = app.settings.iot_core
    if not config.enabled:
        return None
    return IotCoreThings(
        config.policy,
        app.certificate_authority().cert_pem,
        region=config.region or None,
        endpoint=config.endpoint or None,
    )


def unit_commands(app: App) -> CommandLink | None:
    """What publishes the units' commands on AWS IoT Core where ``iot_core.enabled``, else
    None; ConfigError if boto3 is missing."""
    config = app.settings.iot_core
    if not config.enabled:
        return None
    return IotDataPublisher(
        region=config.region or None,
        endpoint=config.endpoint or None,
        data_endpoint=config.data_endpoint or None,
    )


def certificate_files(folder: Path) -> CertificateFile:
    """The certificate of a device in ``folder`` as ``kenshin devices add --out`` wrote it
    (``<id>.pem``): its serial and PEM, or None if there is none or it is no certificate."""

    def found(device_id: str) -> tuple[int, bytes] | None:
        path = device_file_paths(folder, device_id)[0]
        try:
            pem = path.read_bytes()
            return x509.load_pem_x509_certificate(pem).serial_number, pem
        except (FileNotFoundError, ValueError):
            return None

    return found
