"""Adding a device through the admin API: its credentials downloaded once, by whoever
added it, within 15 minutes; what the zip holds is what a unit needs to connect."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from api_fleet import STAND_IN, as_role, fleet_site, recent_day
from kenshin.bootstrap import open_app
from kenshin.domain.operators import Actor, Role
from kenshin.entrypoints.api.app import make_api
from kenshin.entrypoints.api.auth import current_principal
from kenshin.entrypoints.api.context import ApiContext
from kenshin.services.api_tokens import make_token, revoke_token
from kenshin.services.operators import keeping_of

CLI = Actor("cli:test", "cli", "cli")


def test_a_device_added_gets_its_credentials_once_and_they_verify(tmp_path: Path) -> None:
    site = fleet_site(tmp_path, recent_day(), export=False)
    app = open_app(site / "kenshin.toml")
    clock = [time.time()]
    who = ["ops"]
    try:
        api = make_api(ApiContext(app, clock=lambda: clock[0]))
        api.dependency_overrides[current_principal] = lambda: as_role(Role.OPERATOR, who[0])
        with TestClient(api, headers=STAND_IN) as client:
            added = client.post("/api/v1/devices", json={"id": "U-7", "customer": "C-001"})
            url = added.json()["bundle_url"]
            who[0] = "another"
            other = client.get(url)
            who[0] = "ops"
            first, again = client.get(url), client.get(url)
            unknown = client.get("/api/v1/devices/U-7/bundle", params={"ticket": "x" * 43})
            taken = client.post("/api/v1/devices", json={"id": "U-1", "customer": "C-002"})
            late = client.post("/api/v1/devices", json={"id": "U-8", "customer": "C-001"})
            clock[0] += 15 * 60
            expired = client.get(late.json()["bundle_url"])
            listed = {d["id"]: d for d in client.get("/api/v1/devices").json()}
        entries = app.store.audit.entries()
        ca = x509.load_pem_x509_certificate((app.pki_dir / "ca.pem").read_bytes())
    finally:
        app.close()
    assert added.status_code == 201, added.text
    assert url.startswith("/api/v1/devices/U-7/bundle?ticket=")
    assert (other.status_code, first.status_code, again.status_code) == (404, 200, 410)
    assert unknown.status_code == 404
    assert taken.status_code == 422  # no customer C-002
    assert expired.status_code == 410
    assert first.headers["content-type"] == "application/zip"
    files = zipfile.ZipFile(io.BytesIO(first.content))
    assert sorted(files.namelist()) == ["U-7.key", "U-7.pem", "ca.pem"]
    assert files.read("ca.pem") == ca.public_bytes(serialization.Encoding.PEM)
    certificate = x509.load_pem_x509_certificate(files.read("U-7.pem"))
    certificate.verify_directly_issued_by(ca)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "U-7"
    key = serialization.load_pem_private_key(files.read("U-7.key"), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.public_key().public_bytes(*spki) == certificate.public_key().public_bytes(*spki)
    assert (files.getinfo("U-7.key").external_attr >> 16) & 0o777 == 0o600
    assert listed["U-7"]["certificate"].startswith("valid until ")
    assert [(e.who, e.action, e.key) for e in entries if e.who == "ops"] == [
        ("ops", "devices.add", "U-7"),
        ("ops", "devices.add", "U-8"),
    ]


def test_a_device_of_another_customer_is_refused(tmp_path: Path) -> None:
    site = fleet_site(tmp_path, recent_day(), export=False)
    app = open_app(site / "kenshin.toml")
    try:
        api = make_api(ApiContext(app))
        api.dependency_overrides[current_principal] = lambda: as_role(Role.ADMIN)
        with TestClient(api, headers=STAND_IN) as client:
            client.post("/api/v1/customers", json={"id": "C-002", "name": "B", "timezone": "UTC"})
            moved = client.post("/api/v1/devices", json={"id": "U-1", "customer": "C-002"})
            bad = client.post("/api/v1/devices", json={"id": "U 1", "customer": "C-001"})
    finally:
        app.close()
    assert moved.status_code == 409, moved.text
    assert "another customer" in moved.json()["detail"]
    assert bad.status_code == 422


def test_a_bundle_is_for_the_token_that_added_the_device_not_another_of_its_name(
    tmp_path: Path,
) -> None:
    site = fleet_site(tmp_path, recent_day(), export=False)
    app = open_app(site / "kenshin.toml")
    kept = keeping_of(app.store)

    def token() -> tuple[dict[str, str], str]:
        secret, made = make_token(
            kept, CLI, name="ci", role=Role.OPERATOR, maker_role=Role.ADMIN, days=9
        )
        return {"Authorization": f"Bearer {secret}"}, made.id

    try:
        with TestClient(make_api(ApiContext(app))) as client:
            first, first_id = token()
            added = client.post(
                "/api/v1/devices", json={"id": "U-7", "customer": "C-001"}, headers=first
            )
            revoke_token(kept, CLI, first_id)
            second, _ = token()
            taken = client.get(added.json()["bundle_url"], headers=second)
    finally:
        app.close()
    assert added.status_code == 201, added.text
    assert taken.status_code == 404  # another token, though of the same name
