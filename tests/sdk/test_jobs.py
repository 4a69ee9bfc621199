"""Jobs: show_job, list_ita_sub_jobs (filters, paging) and
run_actions_on_workspace_job (retry of failed sub-jobs, in place)."""

import re

import pytest
from huaweicloudsdkworkspace.v2 import (
    BatchActionDesktopsReq,
    BatchRunDesktopsRequest,
    JobActionsReq,
    ListDesktopActionsRequest,
    ListItaSubJobsRequest,
    RunActionsOnWorkspaceJobRequest,
    ShowJobRequest,
)

from harness import wait
from harness.sdk import expect_error


def run(sdk, ids, op_type, mode="HARD"):
    resp = sdk.batch_run_desktops(
        BatchRunDesktopsRequest(body=BatchActionDesktopsReq(desktop_ids=ids, op_type=op_type, type=mode))
    )
    assert resp.failed_operation_list == [], resp
    return resp.job_id


def retry(sdk, job_id, op_type="retry"):
    return sdk.run_actions_on_workspace_job(
        RunActionsOnWorkspaceJobRequest(job_id=job_id, body=JobActionsReq(op_type=op_type))
    )


def test_sub_jobs_filter_by_job_type_and_status_and_page(sdk, make_desktops):
    ids = make_desktops(3)
    job_id = run(sdk, ids, "reboot")
    job = wait.job_success(sdk, job_id)
    listed = sdk.list_ita_sub_jobs(ListItaSubJobsRequest(job_id=job_id))
    assert listed.status_code == 200 and listed.total_count == 3
    assert [s.id for s in listed.jobs] == [s.id for s in job.sub_jobs]
    for s in listed.jobs:
        assert (s.job_id, s.job_type, s.status, s.error_code) == (job_id, "operateDesktops", "SUCCESS", None)
        assert s.entities.desktop_id in ids and s.entity == s.entities.desktop_id
        assert s.entities.desktop_name and s.begin_time and s.end_time and s.host
    page = sdk.list_ita_sub_jobs(ListItaSubJobsRequest(job_id=job_id, offset=1, limit=1))
    assert page.total_count == 3 and [s.id for s in page.jobs] == [listed.jobs[1].id]
    typed = sdk.list_ita_sub_jobs(ListItaSubJobsRequest(job_id=job_id, job_type="operateDesktops", status="SUCCESS"))
    assert typed.total_count == 3
    assert sdk.list_ita_sub_jobs(ListItaSubJobsRequest(job_id=job_id, job_type="createDesktops")).total_count == 0
    assert sdk.list_ita_sub_jobs(ListItaSubJobsRequest(job_id=job_id, status="FAILED")).total_count == 0
    creates = sdk.list_ita_sub_jobs(ListItaSubJobsRequest(job_type="createDesktops", limit=1000))
    assert creates.total_count >= 3 and {s.job_type for s in creates.jobs} == {"createDesktops"}


def test_retry_requeues_the_failed_sub_jobs_of_the_same_job(sdk, sim, make_desktops):
    healthy, flaky = make_desktops(2)
    sim.put_fault(flaky, fail_next=1, ops=["reboot"], error_code="WKS.00211403", error_msg="injected reboot failure")
    job_id = run(sdk, [healthy, flaky], "reboot")
    job = wait.job(sdk, job_id)
    assert job.status == "FAIL"
    assert job.job_error_code == "WKS.00211403"
    assert job.fail_reason == "1 of 2 sub-jobs failed; first: injected reboot failure", job.fail_reason
    by_desktop = {s.entities.desktop_id: s for s in job.sub_jobs}
    assert by_desktop[healthy].status == "SUCCESS"
    failed = by_desktop[flaky]
    assert (failed.status, failed.error_code, failed.fail_reason) == (
        "FAILED",
        "WKS.00211403",
        "injected reboot failure",
    )
    only_failed = sdk.list_ita_sub_jobs(ListItaSubJobsRequest(job_id=job_id, status="FAILED"))
    assert [s.id for s in only_failed.jobs] == [failed.id]

    resp = retry(sdk, job_id)
    assert resp.status_code == 200 and resp.job_id == job_id, "retried in place"
    again = wait.job_success(sdk, job_id)
    assert again.fail_reason is None and again.job_error_code is None
    assert {s.id for s in again.sub_jobs} == {s.id for s in job.sub_jobs}, "same sub-jobs"
    assert wait.idle(sdk, flaky, "ACTIVE").login_status == "REGISTERED"
    newest = sdk.list_desktop_actions(ListDesktopActionsRequest(desktop_id=flaky)).desktop_actions[0]
    assert (newest.action, newest.result) == ("reboot (HARD)", "SUCCESS")
    assert newest.message.endswith("attempt 2"), newest.message
    assert sim.get_fault(flaky)["fail_next"] == 0, "the injected failure was used up"

    expect_error(
        lambda: retry(sdk, job_id),
        409,
        "WKS.00010032",
        f"Job {job_id} has no failed sub-jobs to retry.",
    )


def test_retry_waits_for_the_job_to_finish(sdk, sim, make_desktops):
    (desktop_id,) = make_desktops(1)
    sim.put_fault(desktop_id, ignore_soft=True)
    try:
        job_id = run(sdk, [desktop_id], "os-stop", "SOFT")
        expect_error(
            lambda: retry(sdk, job_id),
            409,
            "WKS.00010037",
            f"Job {job_id} has not finished; retry it once it has.",
        )
        job = wait.job(sdk, job_id, between=lambda: sim.advance(61))
        assert job.status == "FAIL"
    finally:
        sim.clear_fault(desktop_id)
    assert retry(sdk, job_id).job_id == job_id
    wait.job_success(sdk, job_id)
    assert wait.idle(sdk, desktop_id, "SHUTOFF").status == "SHUTOFF"


@pytest.mark.parametrize(
    ("op_type", "msg"),
    [("again", 'Invalid op_type "again"; allowed: retry.'), (None, "Missing parameter op_type.")],
    ids=["unknown-op_type", "no-op_type"],
)
def test_retry_validation(sdk, make_desktops, op_type, msg):
    (desktop_id,) = make_desktops(1)
    job_id = run(sdk, [desktop_id], "reboot")
    wait.job_success(sdk, job_id)
    expect_error(lambda: retry(sdk, job_id, op_type), 400, "WKS.00211102", msg)


def test_unknown_jobs(sdk):
    unknown = "b" * 32
    expect_error(
        lambda: sdk.show_job(ShowJobRequest(job_id=unknown)), 404, "WKS.00010405", f"Job {unknown} does not exist."
    )
    expect_error(lambda: retry(sdk, unknown), 404, "WKS.00010405", f"Job {unknown} does not exist.")
    expect_error(
        lambda: sdk.list_ita_sub_jobs(ListItaSubJobsRequest(job_type="makeCoffee")),
        400,
        "WKS.00211102",
        re.compile(r'^Invalid parameter job_type: "makeCoffee"; allowed: createDesktops, .*operateDesktops'),
    )
