"""Requests the SDK cannot make (a chosen X-Request-Id, reading `error_detail`),
signed by the SDK's own signer and sent with `requests`."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer


class RawClient:
    """Signs like huaweicloudsdkcore (SDK-HMAC-SHA256) and returns the raw response."""

    def __init__(self, base_url: str, ak: str, sk: str, project_id: str, timeout: float = 10.0):
        self._base = base_url.rstrip("/")
        self._host = urlsplit(self._base).netloc
        self._creds = BasicCredentials(ak, sk, project_id)
        self.project_id = project_id
        self._timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        body: object | None = None,
        query: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        sign: bool = True,
        send_body: bytes | None = None,
    ) -> requests.Response:
        """`path` is relative to `/v2/{project_id}`. Extra `headers` are set before
        signing, so the signer covers them as it covers every header the SDK sets.
        `send_body` replaces the signed body on the wire (a tampered request)."""
        data = b"" if body is None else json.dumps(body).encode()
        header_params = {"Content-Type": "application/json", "X-Project-Id": self.project_id}
        header_params.update(headers or {})
        req = SdkRequest(
            method=method,
            schema="http",
            host=self._host,
            resource_path=f"/v2/{self.project_id}{path}",
            query_params=list(query or []),
            header_params=header_params,
            body=data,
        )
        if sign:
            req = Signer(self._creds).sign(req)
            uri = req.uri
        else:
            uri = req.resource_path
        return requests.request(
            method,
            self._base + uri,
            headers=req.header_params,
            data=(data if send_body is None else send_body) or None,
            timeout=self._timeout,
        )
