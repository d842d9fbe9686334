"""The units' certificate authority: real files, real certificates, real TLS handshakes."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
import warnings
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, VerificationError
from cryptography.x509.verification import Store as TrustStore
from hypothesis import given, settings
from hypothesis import strategies as st

from kenshin.adapters.pki import (
    CA_VALID_DAYS,
    Credentials,
    LocalCertificateAuthority,
    PkiError,
    check_names,
    server_ssl_context,
)
from kenshin.adapters.pki_files import write_device_files
from kenshin.bootstrap import init_project
from kenshin.domain.model import DEVICE_ID
from kenshin.entrypoints.mqtt.peer import admitted_device, device_id_of, serial_of

DAY = 86_400
DER = Encoding.DER


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder made by init_project, as ``kenshin init`` makes it."""
    site = tmp_path_factory.mktemp("pki") / "site"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "gethostname", lambda: "meter-server")
        init_project(site, hostnames=["meters.example.com"], ips=["192.0.2.7"])
    return site


@pytest.fixture(scope="module")
def ca(site: Path) -> LocalCertificateAuthority:
    return LocalCertificateAuthority.load(site / "pki")


def certificate(pem_or_path: bytes | Path) -> x509.Certificate:
    data = pem_or_path.read_bytes() if isinstance(pem_or_path, Path) else pem_or_path
    return x509.load_pem_x509_certificate(data)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


# the files kenshin init writes
def test_init_writes_the_ca_and_endpoint_files_with_private_keys_0600(site: Path) -> None:
    pki = site / "pki"
    assert sorted(p.name for p in pki.iterdir()) == ["ca.key", "ca.pem", "server.key", "server.pem"]
    assert {p.name: mode(p) for p in pki.iterdir()} == {
        "ca.key": 0o600,
        "ca.pem": 0o644,
        "server.key": 0o600,
        "server.pem": 0o644,
    }
    assert mode(pki) == 0o700


def test_the_ca_is_a_p256_ca_for_twenty_years_that_signs_certificates_only(site: Path) -> None:
    cert = certificate(site / "pki" / "ca.pem")
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert (constraints.critical, constraints.value.ca, constraints.value.path_length) == (
        True,
        True,
        0,
    )
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.key_cert_sign, usage.crl_sign, usage.digital_signature) == (True, True, False)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == timedelta(days=CA_VALID_DAYS, hours=1)  # it starts an hour back
    cert.verify_directly_issued_by(cert)


def test_the_endpoint_certificate_names_localhost_this_machine_and_the_names_given(
    site: Path,
) -> None:
    cert = certificate(site / "pki" / "server.pem")
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = names.get_values_for_type(x509.DNSName)
    assert dns == ["localhost", "meter-server", "meters.example.com"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == [
        "127.0.0.1",
        "::1",
        "192.0.2.7",
    ]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    cert.verify_directly_issued_by(certificate(site / "pki" / "ca.pem"))


def test_a_machine_name_a_certificate_cannot_hold_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "my_box")
    init_project(tmp_path / "site")
    cert = certificate(tmp_path / "site" / "pki" / "server.pem")
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]


def test_init_keeps_a_certificate_authority_it_finds(tmp_path: Path) -> None:
    site = tmp_path / "site"
    init_project(site)
    before = {p.name: p.read_bytes() for p in (site / "pki").iterdir()}
    (site / "kenshin.toml").unlink()  # a data folder set up again
    init_project(site)
    assert {p.name: p.read_bytes() for p in (site / "pki").iterdir()} == before
    (site / "kenshin.toml").unlink()
    init_project(site, hostnames=["meters.example.com"])  # a new name: a new endpoint certificate
    after = {p.name: p.read_bytes() for p in (site / "pki").iterdir()}
    assert (after["ca.pem"], after["ca.key"]) == (before["ca.pem"], before["ca.key"])
    names = certificate(after["server.pem"]).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "meters.example.com" in names.value.get_values_for_type(x509.DNSName)


def test_init_refuses_a_bad_name_before_it_makes_anything(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match=r"'192\.0\.2\.300' does not appear to be an IPv4 or IPv6"):
        init_project(tmp_path / "site", ips=["192.0.2.300"])
    with pytest.raises(PkiError, match="'bad name' is not a host name"):
        init_project(tmp_path / "site", hostnames=["bad name"])
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize(
    ("name", "taken"),
    [
        ("meters.example.com", True),
        ("a-1.example.", True),
        ("x" * 63, True),
        ("x" * 64, False),  # a label has 63 characters at most
        ("a..b", False),
        ("-a.example", False),
        ("my_box", False),
        ("a" * 200 + "!", False),
    ],
)
def test_only_host_names_a_certificate_can_hold_are_taken(name: str, taken: bool) -> None:
    if taken:
        assert check_names([name], ["2001:db8::1"]) == [ipaddress.ip_address("2001:db8::1")]
    else:
        with pytest.raises(PkiError, match="is not a host name: expected letters, digits"):
            check_names([name], [])


# issuing
def test_a_device_certificate_names_the_device_and_verifies_against_the_ca(
    ca: LocalCertificateAuthority,
) -> None:
    now = int(time.time())
    issued = ca.issue_device("U-1:a_b.c", valid_days=30, now=now)
    cert = certificate(issued.cert_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "U-1:a_b.c"
    assert cert.serial_number == issued.serial == serial_of(issued.cert_pem)
    assert issued.serial.bit_length() > 64  # random, 159 bits: more than an int64 holds
    assert issued.not_after == now + 30 * DAY == int(cert.not_valid_after_utc.timestamp())
    assert int(cert.not_valid_before_utc.timestamp()) == now - 3600
    verifier = PolicyBuilder().store(TrustStore([certificate(ca.cert_pem)]))
    verified = verifier.build_client_verifier().verify(cert, [])
    assert [str(s.value) for s in verified.subjects or []] == ["urn:kenshin:device:U-1:a_b.c"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    key = x509.load_pem_x509_certificate(issued.cert_pem).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"


def test_each_certificate_gets_its_own_serial_and_key(ca: LocalCertificateAuthority) -> None:
    issued = [ca.issue_device("U-1") for _ in range(20)]
    assert len({i.serial for i in issued}) == len({i.key_pem for i in issued}) == 20


def test_another_cas_certificate_does_not_verify(
    ca: LocalCertificateAuthority, tmp_path: Path
) -> None:
    other = LocalCertificateAuthority.create(tmp_path / "other").issue_device("U-1")
    verifier = PolicyBuilder().store(TrustStore([certificate(ca.cert_pem)]))
    with pytest.raises(VerificationError, match="candidates exhausted"):
        verifier.build_client_verifier().verify(certificate(other.cert_pem), [])


def test_a_certificate_never_outlives_its_ca(tmp_path: Path) -> None:
    now = int(time.time())
    old = LocalCertificateAuthority.create(tmp_path / "pki", now=now - (CA_VALID_DAYS - 10) * DAY)
    issued = old.issue_device("U-1", valid_days=3650, now=now)
    assert issued.not_after == now + 10 * DAY


@pytest.mark.parametrize("bad", ["", "-U1", "U/1", "U 1", "U+1", "x" * 65, "é"])
def test_only_a_device_id_is_made_a_certificate(ca: LocalCertificateAuthority, bad: str) -> None:
    with pytest.raises(PkiError, match="is not a device id"):
        ca.issue_device(bad)


def test_a_validity_under_a_day_is_refused(ca: LocalCertificateAuthority) -> None:
    with pytest.raises(PkiError, match="valid for 1 day or more, not 0"):
        ca.issue_device("U-1", valid_days=0)


@settings(max_examples=25, deadline=None)
@given(device=st.from_regex(DEVICE_ID, fullmatch=True))
def test_any_device_id_comes_back_from_its_certificate(
    ca: LocalCertificateAuthority, device: str
) -> None:
    issued = ca.issue_device(device)
    der = certificate(issued.cert_pem).public_bytes(DER)
    assert device_id_of(der) == device
    assert serial_of(der) == issued.serial


# what the endpoint reads from a peer certificate
def test_device_id_of_is_none_for_a_certificate_that_names_no_device(
    ca: LocalCertificateAuthority, site: Path
) -> None:
    server = certificate(site / "pki" / "server.pem").public_bytes(DER)
    assert device_id_of(server) is None  # CN "kenshin endpoint" has a space
    assert device_id_of(b"\x30\x03\x02\x01\x00") is None
    assert device_id_of(b"") is None


def test_admitted_device_refuses_a_revoked_serial(ca: LocalCertificateAuthority) -> None:
    issued = ca.issue_device("U-7")
    der = certificate(issued.cert_pem).public_bytes(DER)
    assert admitted_device(der, lambda serial: False) == "U-7"
    assert admitted_device(der, {issued.serial}.__contains__) is None
    assert admitted_device(der, {issued.serial + 1}.__contains__) == "U-7"
    assert admitted_device(None, lambda serial: False) is None


# keeping the CA safe
def test_an_existing_ca_is_never_overwritten(site: Path) -> None:
    before = {p.name: p.read_bytes() for p in (site / "pki").iterdir()}
    with pytest.raises(PkiError, match=r"pki/ca\.pem exists already: .* never overwritten"):
        LocalCertificateAuthority.create(site / "pki")
    assert {p.name: p.read_bytes() for p in (site / "pki").iterdir()} == before


def test_a_lone_ca_key_is_not_overwritten_either(tmp_path: Path) -> None:
    (tmp_path / "ca.key").write_bytes(b"precious")
    with pytest.raises(PkiError, match=r"ca\.key exists already"):
        LocalCertificateAuthority.create(tmp_path)
    assert (tmp_path / "ca.key").read_bytes() == b"precious"
    assert not (tmp_path / "ca.pem").exists()


def test_missing_or_corrupt_files_are_named_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match=r"nowhere/ca\.pem is missing: .* made by 'kenshin init'"):
        LocalCertificateAuthority.load(tmp_path / "nowhere")
    folder = tmp_path / "pki"
    LocalCertificateAuthority.create(folder)
    key = (folder / "ca.key").read_bytes()
    (folder / "ca.key").write_bytes(key[:60])
    with pytest.raises(PkiError, match=r"ca\.key is not an unencrypted PEM private key .* backup"):
        LocalCertificateAuthority.load(folder)
    LocalCertificateAuthority.create(tmp_path / "other")
    (folder / "ca.key").write_bytes((tmp_path / "other" / "ca.key").read_bytes())
    with pytest.raises(PkiError, match=r"ca\.key is not the key of .*ca\.pem"):
        LocalCertificateAuthority.load(folder)
    (folder / "ca.pem").write_text("not a certificate")
    with pytest.raises(PkiError, match=r"ca\.pem is not a PEM certificate"):
        LocalCertificateAuthority.load(folder)


def test_the_endpoint_context_names_a_missing_file(tmp_path: Path) -> None:
    LocalCertificateAuthority.create(tmp_path)
    with pytest.raises(PkiError, match=r"server\.pem is missing: 'kenshin init' creates"):
        server_ssl_context(tmp_path)


def test_device_files_are_written_0600_and_0644_whatever_was_there(
    ca: LocalCertificateAuthority, tmp_path: Path
) -> None:
    (tmp_path / "U-1.key").write_bytes(b"old")
    (tmp_path / "U-1.key").chmod(0o666)
    issued = ca.issue_device("U-1")
    write_device_files(tmp_path, "U-1", issued)
    assert (mode(tmp_path / "U-1.key"), mode(tmp_path / "U-1.pem")) == (0o600, 0o644)
    assert (tmp_path / "U-1.key").read_bytes() == issued.key_pem
    assert sorted(p.name for p in tmp_path.iterdir()) == ["U-1.key", "U-1.pem"]


# TLS: the endpoint's context against real clients
def test_the_endpoint_context_trusts_our_ca_only_and_wants_tls12(site: Path) -> None:
    context = server_ssl_context(site / "pki")
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.verify_mode is ssl.CERT_REQUIRED
    anchors = context.get_ca_certs()
    assert [a["subject"] for a in anchors] == [((("commonName", "kenshin device CA"),),)]


@pytest.mark.integration
def test_a_unit_with_its_certificate_completes_the_handshake(
    ca: LocalCertificateAuthority, tmp_path: Path
) -> None:
    client = client_context(ca, credentials(tmp_path, ca.issue_device("U-1")))
    peer = handshake(ca.ssl_context_for_server(), client)
    assert device_id_of(peer) == "U-1"


@pytest.mark.integration
def test_a_unit_checks_the_endpoint_by_its_address_too(
    ca: LocalCertificateAuthority, tmp_path: Path
) -> None:
    client = client_context(ca, credentials(tmp_path, ca.issue_device("U-1")))
    for name in ("127.0.0.1", "meters.example.com"):
        assert device_id_of(handshake(ca.ssl_context_for_server(), client, name)) == "U-1"
    with pytest.raises(ssl.SSLError, match="alert"):  # the unit refuses a name not in it
        handshake(ca.ssl_context_for_server(), client, "other.example.com")


@pytest.mark.integration
def test_a_certificate_of_another_ca_is_refused(
    ca: LocalCertificateAuthority, tmp_path: Path
) -> None:
    stranger = LocalCertificateAuthority.create(tmp_path / "other").issue_device("U-1")
    client = client_context(ca, credentials(tmp_path, stranger))
    with pytest.raises(ssl.SSLError, match="unable to get local issuer certificate"):
        handshake(ca.ssl_context_for_server(), client)


@pytest.mark.integration
def test_an_expired_certificate_is_refused(ca: LocalCertificateAuthority, tmp_path: Path) -> None:
    expired = ca.issue_device("U-1", valid_days=1, now=int(time.time()) - 3 * DAY)
    client = client_context(ca, credentials(tmp_path, expired))
    with pytest.raises(ssl.SSLError, match="certificate has expired"):
        handshake(ca.ssl_context_for_server(), client)


@pytest.mark.integration
def test_a_unit_without_a_certificate_is_refused(ca: LocalCertificateAuthority) -> None:
    with pytest.raises(ssl.SSLError, match="peer did not return a certificate"):
        handshake(ca.ssl_context_for_server(), client_context(ca, None))


@pytest.mark.integration
def test_the_endpoints_own_certificate_is_no_unit_certificate(
    ca: LocalCertificateAuthority, site: Path
) -> None:
    own = (site / "pki" / "server.pem", site / "pki" / "server.key")
    with pytest.raises(ssl.SSLError, match="unsuitable certificate purpose"):
        handshake(ca.ssl_context_for_server(), client_context(ca, own))


@pytest.mark.integration
def test_tls_1_1_is_refused_by_the_endpoint(ca: LocalCertificateAuthority, tmp_path: Path) -> None:
    client = client_context(ca, credentials(tmp_path, ca.issue_device("U-1")))
    with warnings.catch_warnings():  # TLS 1.1 is deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        client.minimum_version = ssl.TLSVersion.TLSv1
        client.maximum_version = ssl.TLSVersion.TLSv1_1
        client.set_ciphers("DEFAULT:@SECLEVEL=0")
        lenient = ca.ssl_context_for_server()
        lenient.minimum_version = ssl.TLSVersion.TLSv1
        lenient.set_ciphers("DEFAULT:@SECLEVEL=0")
    # The same client gets through where TLS 1.1 is allowed: the refusal is the endpoint's.
    assert device_id_of(handshake(lenient, client)) == "U-1"
    with pytest.raises(ssl.SSLError, match="UNSUPPORTED_PROTOCOL"):
        handshake(ca.ssl_context_for_server(), client)


# helpers
def credentials(folder: Path, issued: Credentials) -> tuple[Path, Path]:
    """Write a unit's certificate and key into ``folder``; their paths."""
    write_device_files(folder, "unit", issued)
    return folder / "unit.pem", folder / "unit.key"


def client_context(
    ca: LocalCertificateAuthority, files: tuple[Path, Path] | None
) -> ssl.SSLContext:
    """A unit's TLS context: trusts the CA, presents ``files`` (certificate, key) if given."""
    context = ssl.create_default_context(cadata=ca.cert_pem.decode())
    if files is not None:
        context.load_cert_chain(*files)
    return context


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, name: str = "localhost") -> bytes:
    """Connect ``client`` to ``server`` on 127.0.0.1; the certificate the server got (DER),
    or the SSLError of whichever side failed, the server's first."""
    outcome: list[bytes | Exception] = []
    client_error: list[Exception] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)
        thread = threading.Thread(target=_serve, args=(listener, server, outcome))
        thread.start()
        try:
            with (
                socket.create_connection(listener.getsockname()[:2], timeout=5) as raw,
                client.wrap_socket(raw, server_hostname=name) as tls,
            ):
                tls.recv(1)  # TLS 1.3 sends the server's verdict on the client after the handshake
        except (ssl.SSLError, OSError) as exc:
            client_error.append(exc)
        finally:
            thread.join(10)
    for result in (*outcome, *client_error):
        if isinstance(result, Exception):
            raise result
    assert isinstance(outcome[0], bytes)
    return outcome[0]


def _serve(
    listener: socket.socket, context: ssl.SSLContext, outcome: list[bytes | Exception]
) -> None:
    try:
        connection, _ = listener.accept()
    except OSError as exc:
        outcome.append(exc)
        return
    with connection:
        connection.settimeout(5)
        try:
            with context.wrap_socket(connection, server_side=True) as tls:
                outcome.append(tls.getpeercert(binary_form=True) or b"")
                tls.sendall(b"!")
        except (ssl.SSLError, OSError) as exc:
            outcome.append(exc)
