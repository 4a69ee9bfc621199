"""Seed the server schemathesis runs against, through the official SDK, and
print the ids (JSON) that tests/schemathesis/hooks.py substitutes for
generated ones.

Usage: seed.py URL   (credentials in $DP_PROJECT, $DP_AK, $DP_SK; the API
user for tokens in $DP_API_USER / $DP_API_PASSWORD)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import requests
from huaweicloudsdkworkspace.v2 import (
    AuthorizedObjects,
    CreateDesktopPoolReq,
    CreateDesktopPoolRequest,
    CreateDesktopUserRequest,
    CreateUserRequest,
    ListDesktopPoolsRequest,
    ListPoolDesktopsDetailRequest,
    ListUsersRequest,
)

# The SDK suite's harness: clients, catalog constants, bounded waits.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sdk"))
from harness import desktops, sdk as sdk_harness, wait  # noqa: E402


def token(url: str, project: str) -> str:
    """An X-Auth-Token of the API user."""
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": os.environ["DP_API_USER"], "password": os.environ["DP_API_PASSWORD"]}},
            },
            "scope": {"project": {"id": project}},
        }
    }
    r = requests.post(f"{url}/v3/auth/tokens", json=body, timeout=10)
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


def main(url: str) -> None:
    project = os.environ["DP_PROJECT"]
    sdk = sdk_harness.client(url, os.environ["DP_AK"], os.environ["DP_SK"], project)
    names = desktops.Names()

    # Desktops with users, for every operation but deletes; and ones to delete.
    stable = desktops.create(sdk, names, 4)
    disposable = desktops.create(sdk, names, 4, users=False)
    users_of_stable = [u.id for u in sdk.list_users(ListUsersRequest()).users if u.total_desktops > 0]

    # Users without desktops: DELETE /users/{id} succeeds on them.
    loose = []
    for _ in range(3):
        r = sdk.create_desktop_user(CreateDesktopUserRequest(body=CreateUserRequest(user_name=names.user("loose"))))
        loose.append(r.id)

    # A STATIC pool of two desktops, one authorized user.
    member = names.user("member")
    pool_name = names.computer("pool")
    r = sdk.create_desktop_pool(
        CreateDesktopPoolRequest(
            body=CreateDesktopPoolReq(
                name=pool_name,
                type="STATIC",
                size=2,
                product_id=desktops.PRODUCT_ID,
                image_id=desktops.WINDOWS_GOLD,
                image_type="gold",
                authorized_objects=[AuthorizedObjects(object_type="USER", object_name=member)],
            )
        )
    )
    pool_job = wait.job_success(sdk, r.job_id, timeout=30)
    (pool,) = sdk.list_desktop_pools(ListDesktopPoolsRequest(name=pool_name)).desktop_pools
    pool_desktops = sdk.list_pool_desktops_detail(ListPoolDesktopsDetailRequest(pool_id=pool.id)).pool_desktops
    for d in pool_desktops:
        wait.idle(sdk, d.desktop_id, "ACTIVE")

    json.dump(
        {
            "desktops": stable + [d.desktop_id for d in pool_desktops],
            "desktops_disposable": disposable,
            "users": users_of_stable,
            "users_disposable": loose,
            "pools": [pool.id],
            "jobs": [pool_job.id],
            "tokens": [token(url, project)],
            "subject_tokens": [token(url, project) for _ in range(2)],
        },
        sys.stdout,
        indent=1,
    )


if __name__ == "__main__":
    main(sys.argv[1])
