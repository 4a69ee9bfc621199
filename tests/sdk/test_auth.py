"""Authentication through the SDK: SDK-HMAC-SHA256 signatures, the request's
date, the project of the path, and request ids."""

import datetime as dt
import json

import pytest
import requests
from huaweicloudsdkcore.signer import signer as sdk_signer
from huaweicloudsdkworkspace.v2 import ListDesktopsRequest, ListProductsRequest, ShowDesktopDetailRequest

from harness.sdk import REQUEST_ID, client, expect_error
from harness.server import ACCESS_KEY, PROJECT_ID, SECRET_KEY

SIGNATURE_FAIL = "Incorrect IAM authentication information: verify aksk signature fail"


def test_a_signed_request_is_accepted(sdk):
    assert sdk.list_products(ListProductsRequest()).status_code == 200


def test_a_wrong_secret_key_is_401(server):
    wrong = client(server.url, ACCESS_KEY, "x" * 40, PROJECT_ID)
    expect_error(lambda: wrong.list_desktops(ListDesktopsRequest()), 401, "APIGW.0301", SIGNATURE_FAIL)


def test_an_unknown_access_key_is_401(server):
    stranger = client(server.url, "NOSUCHACCESSKEY00000", SECRET_KEY, PROJECT_ID)
    expect_error(
        lambda: stranger.list_desktops(ListDesktopsRequest()),
        401,
        "APIGW.0301",
        "Incorrect IAM authentication information: ak not exist",
    )


def test_a_body_changed_after_signing_is_401(raw, make_desktops):
    (desktop_id,) = make_desktops(1)
    signed = {"desktop_ids": [desktop_id], "op_type": "reboot", "type": "SOFT"}
    sent = json.dumps({"desktop_ids": [desktop_id], "op_type": "os-stop", "type": "HARD"}).encode()
    r = raw.request("POST", "/desktops/action", signed, send_body=sent)
    assert r.status_code == 401, r.text
    assert r.json()["error_code"] == "APIGW.0301" and r.json()["error_msg"] == SIGNATURE_FAIL
    untouched = raw.request("GET", f"/desktops/{desktop_id}").json()["desktop"]
    assert (untouched["status"], untouched["task_status"]) == ("ACTIVE", ""), "nothing was queued"


class _Clock:
    """Shift the clock the SDK's signer reads (X-Sdk-Date) by `offset`."""

    def __init__(self, offset: dt.timedelta):
        real = dt.datetime

        class Shifted(real):
            @classmethod
            def utcnow(cls):
                return real.utcnow() + offset

        self.datetime = Shifted


@pytest.mark.parametrize("minutes", [-20, 20])
def test_a_stale_or_future_date_is_401(sdk, monkeypatch, minutes):
    monkeypatch.setattr(sdk_signer, "datetime", _Clock(dt.timedelta(minutes=minutes)).datetime)
    expect_error(
        lambda: sdk.list_desktops(ListDesktopsRequest()),
        401,
        "APIGW.0301",
        "Incorrect IAM authentication information: x-sdk-date expired",
    )


def test_a_date_within_the_allowed_skew_is_accepted(sdk, monkeypatch):
    monkeypatch.setattr(sdk_signer, "datetime", _Clock(dt.timedelta(minutes=-10)).datetime)
    assert sdk.list_desktops(ListDesktopsRequest()).status_code == 200


def test_another_projects_credential_is_403_on_this_project(server, other_credentials):
    c = other_credentials
    intruder = client(server.url, c["access_key"], c["secret_key"], PROJECT_ID)
    expect_error(
        lambda: intruder.list_desktops(ListDesktopsRequest()),
        403,
        "WKS.00081102",
        f"The credential is not allowed to act on project {PROJECT_ID}.",
    )


def test_an_unknown_project_is_404(server):
    unknown = "d" * 32
    lost = client(server.url, ACCESS_KEY, SECRET_KEY, unknown)
    expect_error(
        lambda: lost.list_desktops(ListDesktopsRequest()), 404, "WKS.00010408", f"Project {unknown} does not exist."
    )


def test_credentials_without_a_project_id_get_a_clear_400(server):
    # With explicit endpoints and no region the SDK does not ask IAM: it sends
    # the literal `/v2/{project_id}/...` path.
    projectless = client(server.url, ACCESS_KEY, SECRET_KEY, None)
    expect_error(
        lambda: projectless.list_desktops(ListDesktopsRequest()),
        400,
        "WKS.00211109",
        "The path has no project id (it reads {project_id}): give the SDK credentials a project_id.",
    )


def test_projects_do_not_see_each_others_desktops(sdk, other_sdk, make_desktops):
    (mine,) = make_desktops(1)
    theirs = other_sdk.list_desktops(ListDesktopsRequest(limit=1000))
    assert mine not in {d.desktop_id for d in theirs.desktops}
    assert all(d.project_id != PROJECT_ID for d in theirs.desktops)
    expect_error(
        lambda: other_sdk.show_desktop_detail(ShowDesktopDetailRequest(desktop_id=mine)),
        404,
        "WKS.00010404",
        f"Desktop {mine} does not exist.",
    )


def test_gateway_errors_carry_the_request_id_in_header_and_body(server):
    r = requests.get(f"{server.url}/v2/{PROJECT_ID}/desktops", timeout=10)
    assert r.status_code == 401
    body = r.json()
    assert set(body) == {"error_code", "error_msg", "request_id"}
    assert body["error_code"] == "APIGW.0301"
    assert REQUEST_ID.match(r.headers["X-Request-Id"])
    assert body["request_id"] == r.headers["X-Request-Id"]


def test_a_clients_request_id_is_echoed(raw):
    ok = raw.request("GET", "/desktops", headers={"X-Request-Id": "trace-0001"})
    assert ok.status_code == 200 and ok.headers["X-Request-Id"] == "trace-0001"
    failed = raw.request("GET", "/desktops/" + "e" * 32, headers={"X-Request-Id": "trace-0002"})
    assert failed.status_code == 404 and failed.headers["X-Request-Id"] == "trace-0002"
    assert failed.json() == {"error_code": "WKS.00010404", "error_msg": f"Desktop {'e' * 32} does not exist."}
    minted = raw.request("GET", "/desktops", headers={"X-Request-Id": "has spaces"})
    assert REQUEST_ID.match(minted.headers["X-Request-Id"]), "an insane id is replaced"
