"""Keystone-style tokens (`POST /v3/auth/tokens`, `X-Auth-Token`), rate limits
and request ids. The official SDKs sign with AK/SK only, so tokens are driven
with plain HTTP, as curl and Terraform-style clients do."""

from __future__ import annotations

import time

import requests

from harness.server import PROJECT_ID
from conftest import OTHER_PROJECT_ID

PASSWORD = "correct horse battery"


def token_body(user: str, password: str, project: str) -> dict:
    return {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": {"name": user, "password": password, "domain": {"name": "d"}}}},
            "scope": {"project": {"id": project}},
        }
    }


def issue(server, user: str, password: str = PASSWORD, project: str = PROJECT_ID) -> requests.Response:
    return requests.post(f"{server.url}/v3/auth/tokens", json=token_body(user, password, project), timeout=10)


def desktops(server, token: str, project: str = PROJECT_ID) -> requests.Response:
    return requests.get(f"{server.url}/v2/{project}/desktops", headers={"X-Auth-Token": token}, timeout=10)


def add_user(server, name: str, project: str = PROJECT_ID) -> None:
    server.cli("api-users", "create", "--project", project, "--name", name, "--password", PASSWORD)


def test_a_token_authenticates_v2_requests_for_its_project(server, names, other_credentials):
    user = names.user("ops")
    add_user(server, user)
    r = issue(server, user)
    assert r.status_code == 201, r.text
    token = r.headers["X-Subject-Token"]
    body = r.json()["token"]
    assert body["project"]["id"] == PROJECT_ID and body["user"]["name"] == user
    assert body["expires_at"] > body["issued_at"]
    ok = desktops(server, token)
    assert ok.status_code == 200 and "total_count" in ok.json()
    # Another (existing) project with this token: 403.
    other = desktops(server, token, OTHER_PROJECT_ID)
    assert (other.status_code, other.json()["error_code"]) == (403, "WKS.00081102")


def test_wrong_password_unknown_user_and_bad_token_are_refused(server, names):
    user = names.user("ops")
    add_user(server, user)
    for r in (issue(server, user, "wrong password"), issue(server, "nobody-" + user)):
        assert (r.status_code, r.json()["error_code"]) == (401, "WKS.00211302"), r.text
        assert "X-Subject-Token" not in r.headers
    bad = desktops(server, "dpt_not-a-token")
    assert (bad.status_code, bad.json()["error_code"]) == (401, "APIGW.0301")
    assert bad.json()["error_msg"].endswith("decrypt token fail")
    assert bad.json()["request_id"] == bad.headers["X-Request-Id"]
    missing = requests.post(f"{server.url}/v3/auth/tokens", json={"auth": {"identity": {"methods": ["password"]}}}, timeout=10)
    assert (missing.status_code, missing.json()["error_code"]) == (400, "WKS.00211102")


def test_revoked_and_expired_tokens_stop_working(server, start_server, names):
    user = names.user("ops")
    add_user(server, user)
    keep, drop = (issue(server, user).headers["X-Subject-Token"] for _ in range(2))
    r = requests.delete(f"{server.url}/v3/auth/tokens", headers={"X-Auth-Token": keep, "X-Subject-Token": drop}, timeout=10)
    assert r.status_code == 204, r.text
    revoked = desktops(server, drop)
    assert (revoked.status_code, revoked.json()["error_code"]) == (401, "APIGW.0301")
    assert "revoked" in revoked.json()["error_msg"]
    assert desktops(server, keep).status_code == 200

    short = start_server("short-tokens", DESKPLANE_AUTH__TOKEN_TTL_SECS="1")
    add_user(short, "ops")
    token = issue(short, "ops").headers["X-Subject-Token"]
    assert desktops(short, token).status_code == 200
    time.sleep(1.2)
    expired = desktops(short, token)
    assert (expired.status_code, expired.json()["error_code"]) == (401, "APIGW.0301")
    assert "expired" in expired.json()["error_msg"]


def test_rate_limits_answer_429_with_retry_after(start_server):
    s = start_server("rate-limited", DESKPLANE_RATE_LIMIT__ENABLED="true", DESKPLANE_RATE_LIMIT__BURST="3",
                     DESKPLANE_RATE_LIMIT__REQUESTS_PER_SECOND="0.5")
    add_user(s, "ops")
    token = issue(s, "ops").headers["X-Subject-Token"]
    codes = [desktops(s, token).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    limited = desktops(s, token)
    assert (limited.status_code, limited.json()["error_code"]) == (429, "WKS.00000429")
    assert int(limited.headers["Retry-After"]) >= 1


def test_request_ids_are_echoed_or_generated(server, names):
    user = names.user("ops")
    add_user(server, user)
    token = issue(server, user).headers["X-Subject-Token"]
    echoed = requests.get(f"{server.url}/v2/{PROJECT_ID}/desktops", headers={"X-Auth-Token": token, "X-Request-Id": "trace-123"}, timeout=10)
    assert echoed.headers["X-Request-Id"] == "trace-123"
    generated = desktops(server, token)
    assert len(generated.headers["X-Request-Id"]) == 32
