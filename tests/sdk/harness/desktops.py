"""Catalog constants, unique names, and making desktops to test on."""

from __future__ import annotations

import itertools
import threading

from huaweicloudsdkworkspace.v2 import (
    CreateDesktopReq,
    CreateDesktopRequest,
    Desktop,
    ListDesktopsDetailRequest,
)

from . import wait

# The default catalog (src/catalog.rs).
PRODUCT_ID = "workspace.x86.general.xlarge2"
WINDOWS_GOLD = "63aa8670-27ad-4747-8c44-6d8919e785a7"
LINUX_GOLD = "a9f8cd6e-4e5b-4c8e-9d0c-6f3f1a7b2c11"
PRIVATE_IMAGE = "d7c0a5b4-7b60-4a4e-8a43-1f0b6e2f9c3d"
DEFAULT_ZONE = "cn-north-4a"
OTHER_ZONE = "cn-north-4b"


class Names:
    """Names unique within the session's database (computer names: at most 15
    characters of letters, digits and `-`)."""

    def __init__(self) -> None:
        self._n = itertools.count(1)
        self._lock = threading.Lock()

    def _next(self) -> int:
        with self._lock:
            return next(self._n)

    def computer(self, prefix: str = "pc") -> str:
        return f"{prefix}{self._next():05d}"

    def user(self, prefix: str = "user") -> str:
        return f"{prefix}{self._next():05d}"


def create(sdk, names: Names, n: int, users: bool = True) -> list[str]:
    """Create `n` desktops (each with its own new user when `users`), wait for
    the createDesktops job to succeed; their ids in request order."""
    wanted = [
        Desktop(
            user_name=names.user() if users else None,
            computer_name=names.computer(),
        )
        for _ in range(n)
    ]
    if users:
        for d in wanted:
            d.user_email = f"{d.user_name}@example.com"
    resp = sdk.create_desktop(
        CreateDesktopRequest(
            body=CreateDesktopReq(
                product_id=PRODUCT_ID,
                image_id=WINDOWS_GOLD,
                image_type="gold",
                desktops=wanted,
            )
        )
    )
    assert resp.status_code == 200 and resp.job_id, resp
    job = wait.job_success(sdk, resp.job_id)
    assert job.job_type == "createDesktops", job
    by_name = {s.entities.desktop_name: s.entities.desktop_id for s in job.sub_jobs}
    ids = [by_name[d.computer_name] for d in wanted]
    for desktop_id in ids:
        wait.idle(sdk, desktop_id, "ACTIVE")
    return ids


def detail(sdk, desktop_id: str):
    """The DesktopDetailInfo of one desktop, through the list API's id filter."""
    resp = sdk.list_desktops_detail(ListDesktopsDetailRequest(desktop_id=[desktop_id]))
    assert resp.total_count == 1 and len(resp.desktops) == 1, resp
    return resp.desktops[0]
