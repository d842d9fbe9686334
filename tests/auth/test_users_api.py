"""Users, tokens and the audit log through the API: roles refuse what they may not do
(a security event each), tokens work and end, every change is in the audit log once."""

from __future__ import annotations

from kenshin.domain.operators import Role

from .conftest import Console


def test_a_viewer_may_not_make_a_token(console: Console) -> None:
    console.add("val", Role.VIEWER)
    console.sign_in("val")
    answer = console.client.post(
        "/api/v1/tokens", json={"name": "script", "role": "viewer", "days": 30}
    )
    assert answer.status_code == 403
    assert console.kinds() == ["console_forbidden"]
    assert console.store.operators.list_tokens() == []


def test_a_token_works_until_it_expires_and_is_refused_after(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    console.sign_in("alice")
    made = console.client.post(
        "/api/v1/tokens", json={"name": "script", "role": "operator", "days": 1}
    )
    assert made.status_code == 201, made.text
    secret = made.json()["token"]
    assert secret.startswith("ksn_")
    assert "token" not in console.client.get("/api/v1/tokens").json()[0]
    console.client.cookies.clear()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert console.client.get("/api/v1/audit", headers=bearer).status_code == 200
    assert console.client.get("/api/v1/users", headers=bearer).status_code == 403
    console.now[0] += 86_400
    assert console.client.get("/api/v1/audit", headers=bearer).status_code == 401
    assert console.kinds() == ["console_forbidden", "console_token_refused"]


def test_an_admin_token_may_not_manage_users_or_tokens(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    console.sign_in("alice")
    made = console.client.post("/api/v1/tokens", json={"name": "ci", "role": "admin", "days": 9})
    assert made.status_code == 201, made.text
    console.client.cookies.clear()
    bearer = {"Authorization": f"Bearer {made.json()['token']}"}
    new = {"name": "next", "role": "admin", "days": 365}
    user = {"name": "mallory", "role": "admin", "password": "a long enough password"}
    answers = [
        console.client.post("/api/v1/tokens", json=new, headers=bearer),
        console.client.get("/api/v1/tokens", headers=bearer),
        console.client.delete(f"/api/v1/tokens/{made.json()['id']}", headers=bearer),
        console.client.post("/api/v1/users", json=user, headers=bearer),
        console.client.get("/api/v1/users", headers=bearer),
        console.client.delete("/api/v1/users/alice", headers=bearer),
        console.client.post("/api/v1/users/alice/reset-totp", headers=bearer),
    ]
    assert [a.status_code for a in answers] == [403] * 7
    assert answers[0].json() == {
        "detail": "users and tokens are managed by a person signed in, not by a token"
    }
    assert console.kinds() == ["console_forbidden"] * 7
    assert [t.name for t in console.store.operators.list_tokens()] == ["ci"]
    assert [o.name for o in console.store.operators.list_operators()] == ["alice"]
    assert console.client.get("/api/v1/audit", headers=bearer).status_code == 200


def test_a_token_is_at_most_its_makers_role_and_lasts_a_year_at_most(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    console.sign_in("alice")
    long = console.client.post("/api/v1/tokens", json={"name": "s", "role": "viewer", "days": 366})
    assert long.status_code == 422


def test_every_change_is_in_the_audit_log_once(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    console.sign_in("alice")
    client = console.client
    body = {"name": "bob", "role": "operator", "password": "a long enough password"}
    assert client.post("/api/v1/users", json=body).status_code == 201
    assert client.post("/api/v1/users", json=body).status_code == 409
    assert client.post("/api/v1/users/bob/reset-totp").status_code == 200
    token = client.post("/api/v1/tokens", json={"name": "s", "role": "viewer", "days": 7}).json()
    assert client.delete(f"/api/v1/tokens/{token['id']}").status_code == 204
    assert client.delete("/api/v1/users/bob").status_code == 204
    assert client.delete("/api/v1/users/bob").status_code == 404
    entries = client.get("/api/v1/audit").json()
    assert [(e["who"], e["action"], e["key"]) for e in entries] == [
        ("cli:test", "users.add", "alice"),
        ("alice", "users.add", "bob"),
        ("alice", "users.reset_totp", "bob"),
        ("alice", "tokens.add", token["id"]),
        ("alice", "tokens.revoke", token["id"]),
        ("alice", "users.remove", "bob"),
    ]
    assert all(e["source"] == "testclient" or e["who"] == "cli:test" for e in entries)
    assert "password" not in entries[1]["after"]
    csv = client.get("/api/v1/audit.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.count("\r\n") == 7


def _token(console: Console, name: str, role: str = "operator") -> tuple[int, dict[str, str]]:
    made = console.client.post("/api/v1/tokens", json={"name": name, "role": role, "days": 9})
    return made.status_code, made.json()


def test_a_live_tokens_name_is_not_given_to_another(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    console.sign_in("alice")
    first_status, first = _token(console, "ci")
    again_status, again = _token(console, "ci", "viewer")
    assert (first_status, again_status) == (201, 409)
    assert again["detail"] == (
        "an API token named 'ci' exists already: revoke it first, or give another name"
    )
    assert [t.name for t in console.store.operators.list_tokens()] == ["ci"]
    assert console.client.delete(f"/api/v1/tokens/{first['id']}").status_code == 204
    assert _token(console, "ci")[0] == 201  # the name is free once its token is revoked
    console.now[0] += 10 * 86_400
    console.sign_in("alice")
    assert _token(console, "ci")[0] == 201  # and once it has expired


def test_the_only_admin_cannot_be_removed_until_there_is_another(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    console.sign_in("alice")
    refused = console.client.delete("/api/v1/users/alice")
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("alice is the only admin: add another admin first")
    assert [o.name for o in console.store.operators.list_operators()] == ["alice"]
    assert console.client.get("/api/v1/users").status_code == 200  # still signed in
    body = {"name": "root", "role": "admin", "password": "a long enough password"}
    assert console.client.post("/api/v1/users", json=body).status_code == 201
    assert console.client.delete("/api/v1/users/alice").status_code == 204
    assert [o.name for o in console.store.operators.list_operators()] == ["root"]
