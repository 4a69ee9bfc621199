"""Bounded polling: every wait ends, and a timeout reports what was last seen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from huaweicloudsdkworkspace.v2 import ShowDesktopDetailRequest, ShowJobRequest

T = TypeVar("T")

FINISHED = ("SUCCESS", "FAIL")


def until(
    read: Callable[[], T],
    done: Callable[[T], bool],
    what: str,
    timeout: float = 20.0,
    interval: float = 0.03,
    between: Callable[[], object] | None = None,
) -> T:
    """Call `read` until `done(value)`; fail after `timeout` seconds with the last value.
    `between` runs after each unsuccessful read (e.g. to move the simulated clock)."""
    deadline = time.monotonic() + timeout
    last: T = read()
    while not done(last):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {last}")
        if between is not None:
            between()
        time.sleep(interval)
        last = read()
    return last


def job(sdk, job_id: str, timeout: float = 20.0, between: Callable[[], object] | None = None):
    """The ShowJobResponse of `job_id` once it has finished (SUCCESS or FAIL)."""
    return until(
        lambda: sdk.show_job(ShowJobRequest(job_id=job_id)),
        lambda j: j.status in FINISHED,
        f"job {job_id} to finish",
        timeout=timeout,
        between=between,
    )


def job_success(sdk, job_id: str, timeout: float = 20.0, between: Callable[[], object] | None = None):
    """Like `job`, and the job and every sub-job must have succeeded."""
    j = job(sdk, job_id, timeout, between)
    assert j.status == "SUCCESS", f"job {job_id} ended {j.status}: {j.fail_reason}; {j}"
    assert j.sub_jobs_total == len(j.sub_jobs) > 0, j
    assert all(s.status == "SUCCESS" for s in j.sub_jobs), j
    return j


def desktop(sdk, desktop_id: str, done: Callable[[object], bool], what: str, timeout: float = 20.0):
    """The DesktopDetailInfo of `desktop_id` once `done(desktop)`."""
    return until(
        lambda: sdk.show_desktop_detail(ShowDesktopDetailRequest(desktop_id=desktop_id)).desktop,
        done,
        f"desktop {desktop_id}: {what}",
        timeout=timeout,
    )


def idle(sdk, desktop_id: str, status: str, timeout: float = 20.0):
    """Wait for `desktop_id` to rest in `status` with no task."""
    return desktop(
        sdk,
        desktop_id,
        lambda d: d.status == status and d.task_status == "",
        f"{status} and idle",
        timeout,
    )
