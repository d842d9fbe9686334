"""The devices commands with certificates: add --out, revoke, list, as an operator runs them."""

from __future__ import annotations

import shutil
import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from conftest import kenshin, make_site
from kenshin.adapters.pki import LocalCertificateAuthority, server_ssl_context
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.devices import DeviceCertificate
from kenshin.entrypoints.mqtt.peer import admitted_device, device_id_of
from kenshin.services.device_admin import certificate_state
from test_pki import DER, client_context, handshake

DISCONNECT = "a unit connected with one is disconnected within seconds"


def certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def until(path: Path) -> str:
    """The UTC date the certificate at ``path`` ends, as the list shows it."""
    return certificate(path).not_valid_after_utc.date().isoformat()


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def listed(site: Path, *args: str) -> list[list[str]]:
    """The rows of ``kenshin devices list``, each split in its columns."""
    lines = kenshin(site, "devices", "list", *args).output.splitlines()
    assert lines[0].split() == [
        "id",
        "customer",
        "last_seen",
        "firmware",
        "signal_dbm",
        "certificate",
    ]
    return [[*cells[:2], cells[5]] for cells in (line.split(None, 5) for line in lines[1:])]


def test_add_out_writes_each_units_certificate_key_and_the_ca(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    out = tmp_path / "certs"
    done = kenshin(site, "devices", "add", "U-1", "U-2", "--customer", "C-001", "--out", str(out))
    assert done.exit_code == 0, done.output
    end = until(out / "U-1.pem")
    assert done.output == (
        "added 2 device(s) to C-001; 0 already there\n"
        f"wrote 2 certificate(s) valid until {end} to {out}: ID.pem, ID.key (keep it secret)"
        " and ca.pem\n"
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "U-1.key",
        "U-1.pem",
        "U-2.key",
        "U-2.pem",
        "ca.pem",
    ]
    assert {p.name: p.stat().st_mode & 0o777 for p in out.iterdir() if p.suffix == ".key"} == {
        "U-1.key": 0o600,
        "U-2.key": 0o600,
    }
    assert (out / "ca.pem").read_bytes() == (site / "pki" / "ca.pem").read_bytes()
    cn = certificate(out / "U-2.pem").subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [a.value for a in cn] == ["U-2"]
    assert listed(site) == [
        ["U-1", "C-001", f"valid until {end}"],
        ["U-2", "C-001", f"valid until {end}"],
    ]


@pytest.mark.integration
def test_the_files_written_get_a_unit_through_the_endpoint_until_it_is_revoked(
    tmp_path: Path,
) -> None:
    site = make_site(tmp_path, "site")
    out = tmp_path / "certs"
    assert (
        kenshin(site, "devices", "add", "U-1", "--customer", "C-001", "--out", str(out)).exit_code
        == 0
    )
    ca = LocalCertificateAuthority.load(site / "pki")
    peer = handshake(
        server_ssl_context(site / "pki"), client_context(ca, (out / "U-1.pem", out / "U-1.key"))
    )
    assert device_id_of(peer) == "U-1"
    store = SqliteStore(site / "kenshin.db")  # as the endpoint sees the store
    try:
        assert admitted_device(peer, store.certificates.is_revoked) == "U-1"
        revoked = kenshin(site, "devices", "revoke", "U-1")
        assert revoked.output == f"U-1: revoked 1 certificate(s); {DISCONNECT}\n"
        assert admitted_device(peer, store.certificates.is_revoked) is None
        assert store.certificates.revoked_serials() == {certificate(out / "U-1.pem").serial_number}
    finally:
        store.close()


def test_without_out_no_certificate_is_made(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    done = kenshin(site, "devices", "add", "U-1", "--customer", "C-001")
    assert done.output == "added 1 device(s) to C-001; 0 already there\n"
    assert listed(site) == [["U-1", "C-001", "none"]]
    assert kenshin(site, "devices", "revoke", "U-1").output == (
        "U-1: no certificate to revoke ('kenshin devices add --out' issues one)\n"
    )


def test_a_file_of_ids_with_out_gives_every_unit_its_files(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    ids = tmp_path / "units.csv"
    ids.write_text("device,note\nU-1,a\n# spare\nU-2,b\n")
    out = tmp_path / "certs"
    args = ["devices", "add", "U-0", "--customer", "C-001", "--file", str(ids), "--out", str(out)]
    assert kenshin(site, *args).exit_code == 0
    assert sorted(p.stem for p in out.glob("*.key")) == ["U-0", "U-1", "U-2"]
    assert [row[2].split()[0] for row in listed(site)] == ["valid", "valid", "valid"]


def test_out_refuses_files_there_already_unless_forced(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    out = tmp_path / "certs"
    add = ["devices", "add", "U-1", "U-2", "--customer", "C-001", "--out", str(out)]
    assert kenshin(site, *add[:3], *add[4:]).exit_code == 0  # U-1 only
    before = (out / "U-1.key").read_bytes()
    refused = kenshin(site, *add)
    assert refused.exit_code == 2
    assert (
        f"{out} has files of these devices already: U-1.pem, U-1.key; give --force to replace"
        " them (their certificates stay valid until revoked)" in refused.output
    )
    assert (out / "U-1.key").read_bytes() == before
    assert not (out / "U-2.pem").exists()
    assert listed(site) == [
        ["U-1", "C-001", f"valid until {until(out / 'U-1.pem')}"]
    ]  # U-2 not added
    forced = kenshin(site, *add, "--force")
    assert forced.exit_code == 0, forced.output
    assert (out / "U-1.key").read_bytes() != before
    store = SqliteStore(site / "kenshin.db")
    assert [c.device for c in store.certificates.list_certificates()] == ["U-1", "U-1", "U-2"]
    store.close()


def test_out_refuses_a_folder_with_another_authoritys_ca(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    out = tmp_path / "certs"
    LocalCertificateAuthority.create(tmp_path / "other").export_cert(out)
    refused = kenshin(site, "devices", "add", "U-1", "--customer", "C-001", "--out", str(out))
    assert refused.exit_code == 2
    assert f"{out / 'ca.pem'} is another certificate authority's: use another --out folder" in (
        refused.output
    )
    assert listed(site) == []


def test_force_needs_out_and_ca_is_no_name_for_a_units_files(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    forced = kenshin(site, "devices", "add", "U-1", "--customer", "C-001", "--force")
    assert forced.exit_code == 2
    assert "--force replaces certificate files: give --out DIR too" in forced.output
    named = kenshin(
        site, "devices", "add", "CA", "--customer", "C-001", "--out", str(tmp_path / "o")
    )
    assert named.exit_code == 2
    assert "a device named 'ca' cannot get files by --out: ca.pem is the CA's" in named.output
    assert listed(site) == []


def test_valid_days_sets_how_long_a_certificate_lasts(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    out = tmp_path / "certs"
    args = ["devices", "add", "U-1", "--customer", "C-001", "--out", str(out), "--valid-days", "30"]
    assert kenshin(site, *args).exit_code == 0
    cert = certificate(out / "U-1.pem")
    assert (
        cert.not_valid_after_utc - cert.not_valid_before_utc
    ).total_seconds() == 30 * 86_400 + 3600


def test_revoke_once_then_again_then_an_unknown_device(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    out = tmp_path / "certs"
    assert (
        kenshin(
            site, "devices", "add", "U-1", "U-2", "--customer", "C-001", "--out", str(out)
        ).exit_code
        == 0
    )
    assert (
        kenshin(site, "devices", "revoke", "U-1").output
        == f"U-1: revoked 1 certificate(s); {DISCONNECT}\n"
    )
    assert (
        kenshin(site, "devices", "revoke", "U-1").output
        == f"U-1: revoked {today()}; nothing to do\n"
    )
    assert listed(site) == [
        ["U-1", "C-001", f"revoked {today()}"],
        ["U-2", "C-001", f"valid until {until(out / 'U-2.pem')}"],
    ]
    unknown = kenshin(site, "devices", "revoke", "U-2", "U-9")
    assert unknown.exit_code == 2
    assert "no device 'U-9'; 'kenshin devices list' shows the devices" in unknown.output
    assert listed(site)[1][2].startswith("valid until")  # U-2 was not revoked either


@pytest.mark.integration
def test_a_new_certificate_after_a_revocation_lets_the_unit_in_again(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    out = tmp_path / "certs"
    add = ["devices", "add", "U-1", "--customer", "C-001", "--out", str(out)]
    assert kenshin(site, *add).exit_code == 0
    assert kenshin(site, "devices", "revoke", "U-1").exit_code == 0
    assert kenshin(site, *add, "--force").output.startswith("added 0 device(s) to C-001; 1 already")
    assert listed(site) == [["U-1", "C-001", f"valid until {until(out / 'U-1.pem')}"]]


def test_a_site_without_its_certificate_authority_says_what_is_missing(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    shutil.rmtree(site / "pki")
    failed = kenshin(
        site, "devices", "add", "U-1", "--customer", "C-001", "--out", str(tmp_path / "o")
    )
    assert failed.exit_code == 1
    assert failed.output.startswith(f"Error: {site.resolve() / 'pki' / 'ca.pem'} is missing: ")
    assert listed(site) == []  # nothing was added


def test_init_says_where_the_certificate_authority_is(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = kenshin(site, "init", str(site), "--hostname", "meters.example.com", "--ip", "192.0.2.7")
    assert (
        done.output.splitlines()[1]
        == "units' certificate authority and the endpoint's certificate: pki/ in the data folder"
    )
    der = certificate(site / "pki" / "server.pem").public_bytes(DER)
    assert device_id_of(der) is None


def test_the_state_listed_weighs_every_certificate_of_a_device() -> None:
    now, day = 1_800_000_000, 86_400  # 2027-01-15 08:00 UTC
    valid = DeviceCertificate("U-1", 1, now + 30 * day, now - 9 * day)
    revoked = DeviceCertificate("U-1", 2, now + 30 * day, now - 9 * day, now - 2 * day)
    expired = DeviceCertificate("U-1", 3, now - 5 * day, now - 99 * day)
    assert certificate_state([], now) == "none"
    assert certificate_state([revoked, valid, expired], now) == "valid until 2027-02-14"
    assert certificate_state([expired, revoked], now) == "revoked 2027-01-13"
    assert certificate_state([expired], now) == "expired 2027-01-10"
    assert certificate_state([valid], now + 30 * day) == "valid until 2027-02-14"  # its last second
    assert certificate_state([valid], now + 30 * day + 1) == "expired 2027-02-14"


@pytest.mark.integration
def test_server_cert_issues_the_endpoint_a_certificate_for_a_new_host_name(
    tmp_path: Path,
) -> None:
    site = make_site(tmp_path, "site")
    out = tmp_path / "certs"
    assert (
        kenshin(site, "devices", "add", "U-1", "--customer", "C-001", "--out", str(out)).exit_code
        == 0
    )
    ca = LocalCertificateAuthority.load(site / "pki")
    unit = client_context(ca, (out / "U-1.pem", out / "U-1.key"))
    with pytest.raises(ssl.SSLError):  # the name is not in its certificate
        handshake(server_ssl_context(site / "pki"), unit, "mqtt.example.org")
    done = kenshin(site, "server-cert", "--hostname", "mqtt.example.org", "--ip", "192.0.2.7")
    assert done.exit_code == 0, done.output
    cert = certificate(site / "pki" / "server.pem")
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    hosts = names.get_values_for_type(x509.DNSName)
    assert {"localhost", "mqtt.example.org"} <= set(hosts)
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == [
        "127.0.0.1",
        "::1",
        "192.0.2.7",
    ]
    assert done.output.splitlines() == [
        f"issued the endpoint's certificate {site / 'pki' / 'server.pem'}, valid until"
        f" {until(site / 'pki' / 'server.pem')} (UTC), for: {', '.join(hosts)}, 127.0.0.1,"
        " ::1, 192.0.2.7",
        "restart 'kenshin serve' to present it; units keep trusting the same ca.pem",
    ]
    served = handshake(server_ssl_context(site / "pki"), unit, "mqtt.example.org")
    assert device_id_of(served) == "U-1"  # the unit, with its same ca.pem, got through
    more = kenshin(site, "server-cert", "--host", "mqtt2.example.org", "--valid-days", "30")
    assert more.exit_code == 0, more.output
    again = certificate(site / "pki" / "server.pem").extensions
    kept = again.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"mqtt.example.org", "mqtt2.example.org"} <= set(kept.get_values_for_type(x509.DNSName))
    bad = kenshin(site, "server-cert", "--host", "bad name")
    assert (bad.exit_code, "'bad name' is not a host name" in bad.output) == (2, True)
