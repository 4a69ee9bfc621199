"""Seed 004: POST /desktops/batch-delete (batch_delete_desktops): 202 with a
job, all-or-nothing, e-mail notification records, forced delete of a busy desktop."""

import re

from huaweicloudsdkworkspace.v2 import (
    BatchActionDesktopsReq,
    BatchDeleteDesktopsRequest,
    BatchRunDesktopsRequest,
    DeleteDesktopsReq,
    ListItaSubJobsRequest,
    ListUsersRequest,
    ShowDesktopDetailRequest,
)

from harness import notifications, wait
from harness.desktops import detail
from harness.sdk import expect_error
from harness.server import PROJECT_ID

JOB_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def delete(sdk, ids, **flags):
    return sdk.batch_delete_desktops(BatchDeleteDesktopsRequest(body=DeleteDesktopsReq(desktop_ids=ids, **flags)))


def assert_gone(sdk, desktop_id):
    expect_error(
        lambda: sdk.show_desktop_detail(ShowDesktopDetailRequest(desktop_id=desktop_id)),
        404,
        "WKS.00010404",
        f"Desktop {desktop_id} does not exist.",
    )


def test_batch_delete_removes_desktops_and_emails_their_users(sdk, make_desktops):
    ids = make_desktops(2)
    before = {i: detail(sdk, i) for i in ids}
    resp = delete(sdk, ids)
    assert resp.status_code == 202 and resp.job_id
    job = wait.job_success(sdk, resp.job_id)
    assert (job.job_type, job.sub_jobs_total) == ("deleteDesktops", 2)
    assert sorted(s.entities.desktop_id for s in job.sub_jobs) == sorted(ids)
    for desktop_id in ids:
        assert_gone(sdk, desktop_id)
        (user,) = sdk.list_users(ListUsersRequest(user_name=before[desktop_id].user_name)).users
        assert user.total_desktops == 0, "users stay unless delete_users"
    records = notifications.for_desktops(sdk, [d.computer_name for d in before.values()])
    assert sorted((r.desktop_name, r.user_name) for r in records) == sorted(
        (d.computer_name, d.user_name) for d in before.values()
    )
    for r in records:
        assert (r.type, r.result, r.project_id) == ("EMAIL", "success", PROJECT_ID)
        assert r.error_message == "Your desktop has been deleted."
        assert JOB_TIME.match(r.operate_time), r.operate_time


def test_no_email_and_delete_users(sdk, make_desktops):
    (desktop_id,) = make_desktops(1)
    before = detail(sdk, desktop_id)
    resp = delete(sdk, [desktop_id], email_notification=False, delete_users=True)
    wait.job_success(sdk, resp.job_id)
    assert_gone(sdk, desktop_id)
    assert notifications.for_desktops(sdk, [before.computer_name]) == []
    assert sdk.list_users(ListUsersRequest(user_name=before.user_name)).total_count == 0


def test_batch_delete_is_all_or_nothing(sdk, make_desktops):
    (desktop_id,) = make_desktops(1)
    unknown = "a" * 32
    expect_error(lambda: delete(sdk, [desktop_id, unknown]), 404, "WKS.00010404", f"Desktop {unknown} does not exist.")
    assert wait.idle(sdk, desktop_id, "ACTIVE").desktop_id == desktop_id
    jobs = sdk.list_ita_sub_jobs(ListItaSubJobsRequest(job_type="deleteDesktops", limit=1000)).jobs
    assert desktop_id not in {j.entities.desktop_id for j in jobs}, "nothing was queued"
    expect_error(lambda: delete(sdk, []), 400, "WKS.00211102", "desktop_ids must not be empty.")


def test_a_busy_desktop_needs_a_forced_delete(sdk, sim, make_desktops):
    (desktop_id,) = make_desktops(1)
    sim.put_fault(desktop_id, ignore_soft=True)
    stop = sdk.batch_run_desktops(
        BatchRunDesktopsRequest(body=BatchActionDesktopsReq(desktop_ids=[desktop_id], op_type="os-stop", type="SOFT"))
    )
    wait.desktop(sdk, desktop_id, lambda d: d.task_status == "powering-off", "powering-off")
    expect_error(
        lambda: delete(sdk, [desktop_id]),
        409,
        "WKS.00010033",
        f"Desktop {desktop_id} is under another operation (task_status powering-off); delete refused.",
    )
    resp = delete(sdk, [desktop_id], is_force_delete=True)
    assert resp.status_code == 202
    wait.job_success(sdk, resp.job_id)
    assert_gone(sdk, desktop_id)
    stopped = wait.job(sdk, stop.job_id)
    assert stopped.status == "FAIL"
    (sub,) = stopped.sub_jobs
    assert (sub.status, sub.error_code) == ("FAILED", "WKS.00211405"), "cancelled by the forced delete"
