"""Schemathesis hooks (SCHEMATHESIS_HOOKS): every request is signed by the
official SDK's own signer, and some generated ids are replaced by seeded ones.

Signing happens on the *prepared* request (a `requests` auth object), so the
signature covers exactly the method, path, query and body that go on the wire.
The query is re-encoded the way huaweicloudsdkcore sends it (`Signer.process_request_uri`),
as the SDK itself would: pairs escaped with only `~` safe.

Seeded ids (tests/schemathesis/seed.py, $DP_SEED) stand in for generated ones
for most cases, so that operations reach their handlers' real paths instead
of answering 404 every time: the project id always but one case in eight; a
desktop, pool, user or job id (also `desktop_ids` in bodies), and the tokens
of `/v3/auth/tokens`, two cases in three. DELETE and batch-delete use
desktops and users seeded to be deleted, so the others live through the run.
Which cases keep their generated values is fixed by a CRC of the generated
case, so a run is reproducible with the same --seed.
"""

from __future__ import annotations

import json
import os
import zlib
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests
import schemathesis
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

PROJECT = os.environ["DP_PROJECT"]
CREDENTIALS = BasicCredentials(os.environ["DP_AK"], os.environ["DP_SK"], PROJECT)
with open(os.environ["DP_SEED"], encoding="utf-8") as f:
    SEED = json.load(f)

# Headers the signer sets; generated values of them are dropped. (A generated
# X-Auth-Token may stay: the server reads it only without `Authorization`.)
AUTH_HEADERS = {"authorization", "x-sdk-date", "x-sdk-content-sha256"}


class SdkHmacAuth(requests.auth.AuthBase):
    """SDK-HMAC-SHA256, computed by huaweicloudsdkcore's Signer."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        url = urlsplit(r.url)
        for name in [h for h in r.headers if h.lower() in AUTH_HEADERS]:
            del r.headers[name]
        signed = {"X-Project-Id": PROJECT}
        if "Content-Type" in r.headers:
            signed["Content-Type"] = r.headers["Content-Type"]
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode()
        req = SdkRequest(
            method=r.method,
            schema=url.scheme,
            host=url.netloc,
            resource_path=url.path,
            query_params=parse_qsl(url.query, keep_blank_values=True),
            header_params=signed,
            body=body,
        )
        req = Signer(CREDENTIALS).sign(req)
        for name, value in req.header_params.items():
            r.headers[name] = value
        path, _, query = req.uri.partition("?")
        r.url = urlunsplit((url.scheme, url.netloc, path, query, ""))
        return r


AUTH = SdkHmacAuth()


def _crc(value: object) -> int:
    return zlib.crc32(json.dumps(value, sort_keys=True, default=str).encode())


def _pick(kind: str, case_crc: int, name: str, generated: object) -> object:
    """A seeded id of `kind` for two cases in three."""
    ids = SEED.get(kind) or []
    n = zlib.crc32(name.encode(), case_crc)
    if not ids or n % 3 == 0:
        return generated
    return ids[n % len(ids)]


def _ids_of(case) -> tuple[str, str]:
    """Which seeded desktops and users a case may use: disposable ones for deletes."""
    deleting = case.method.upper() == "DELETE" or case.path.endswith("/batch-delete")
    return ("desktops_disposable", "users_disposable") if deleting else ("desktops", "users")


@schemathesis.hook
def before_call(context, case, kwargs):
    kwargs["auth"] = AUTH
    # Which values are replaced depends on the whole generated case.
    n = _crc([case.method, case.path, case.path_parameters, case.query, case.body, case.headers])
    desktops, users = _ids_of(case)
    params = case.path_parameters or {}
    if "project_id" in params and n % 8 != 0:
        params["project_id"] = PROJECT
    for name, kind in (("desktop_id", desktops), ("pool_id", "pools"), ("user_id", users), ("job_id", "jobs")):
        if name in params:
            params[name] = _pick(kind, n, name, params[name])
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("desktop_ids"), list):
        body["desktop_ids"] = [_pick(desktops, n, str(i), d) for i, d in enumerate(body["desktop_ids"])]
    if case.path == "/v3/auth/tokens" and case.method.upper() in ("GET", "DELETE"):
        headers = case.headers if case.headers is not None else {}
        # The caller's own token must be valid to get past the first check;
        # the subject is a seeded token (revoked by the first DELETE that gets it)
        # or as generated.
        headers["X-Auth-Token"] = _pick("tokens", n, "token", headers.get("X-Auth-Token"))
        headers["X-Subject-Token"] = _pick("subject_tokens", n, "subject", headers.get("X-Subject-Token"))
        case.headers = headers


if os.environ.get("DP_TRACE"):
    import sys

    @schemathesis.hook
    def after_call(context, case, response):
        print(f"TRACE {response.status_code} {case.method} {response.request.url}", file=sys.stderr)
