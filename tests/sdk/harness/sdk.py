"""Official-SDK clients and the checks every error answer must pass."""

from __future__ import annotations

import re
from collections.abc import Callable

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkworkspace.v2 import WorkspaceClient

from .schema import check_response

# What deskplane generates when the client sends no X-Request-Id (a simple UUID).
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


def client(url: str, ak: str, sk: str, project_id: str | None) -> WorkspaceClient:
    """A WorkspaceClient exactly as a user builds one, with bounded timeouts,
    whose every successful response is also checked against the SDK's types."""
    config = HttpConfig.get_default_config()
    config.timeout = (5, 30)
    creds = BasicCredentials(ak, sk, project_id) if project_id else BasicCredentials(ak, sk)
    c = WorkspaceClient.new_builder().with_http_config(config).with_credentials(creds).with_endpoints([url]).build()
    deserialize = c.sync_response_handler

    def strictly(response, response_type, response_headers, progress_callback):
        # Errors were raised before this point; successes must match the
        # model's declared JSON types exactly (harness/schema.py says why).
        check_response(response.content, response_type)
        return deserialize(response, response_type, response_headers, progress_callback)

    c.sync_response_handler = strictly
    return c


def expect_error(
    call: Callable[[], object],
    status: int,
    code: str,
    msg: str | re.Pattern | None = None,
) -> ClientRequestException:
    """Run `call`, which must fail as the SDK's ClientRequestException with this
    status, error_code and (exact text, or pattern searched in) error_msg.

    huaweicloudsdkcore (exception_handler.DefaultExceptionHandler) takes
    `error_code`/`error_msg` from the JSON body, falling back to the HTTP status
    as the code and the raw text as the message, and the request id from the
    `X-Request-Id` header only; so these checks fail if any of the three is not
    where the SDK looks.
    """
    try:
        got = call()
    except ClientRequestException as e:
        where = f"{e.status_code} {e.error_code} {e.error_msg!r} (request {e.request_id})"
        assert e.status_code == status, f"status {where}"
        assert e.error_code == code, f"error_code {where}"
        assert isinstance(e.error_msg, str) and e.error_msg, f"error_msg {where}"
        if isinstance(msg, str):
            assert e.error_msg == msg, f"error_msg {where}, wanted {msg!r}"
        elif msg is not None:
            assert msg.search(e.error_msg), f"error_msg {where}, wanted /{msg.pattern}/"
        assert e.request_id and REQUEST_ID.match(e.request_id), f"request_id {where}"
        return e
    raise AssertionError(f"expected {status} {code}, but the call succeeded: {got}")
