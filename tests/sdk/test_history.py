"""A desktop's action history (list_desktop_actions) and the notification
records list (list_notification_records)."""

import re

from huaweicloudsdkworkspace.v2 import (
    BatchActionDesktopsReq,
    BatchDeleteDesktopsRequest,
    BatchRunDesktopsRequest,
    DeleteDesktopsReq,
    ListDesktopActionsRequest,
    ListNotificationRecordsRequest,
)

from harness import wait
from harness.sdk import expect_error
from harness.server import ACCESS_KEY

JOB_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def act(sdk, desktop_id, op_type, mode=None):
    resp = sdk.batch_run_desktops(
        BatchRunDesktopsRequest(body=BatchActionDesktopsReq(desktop_ids=[desktop_id], op_type=op_type, type=mode))
    )
    wait.job_success(sdk, resp.job_id)
    return resp.job_id


def test_actions_are_listed_newest_first_naming_who_asked(sdk, make_desktops):
    (desktop_id,) = make_desktops(1)
    stop_job = act(sdk, desktop_id, "os-stop", "HARD")
    start_job = act(sdk, desktop_id, "os-start")
    resp = sdk.list_desktop_actions(ListDesktopActionsRequest(desktop_id=desktop_id))
    assert resp.status_code == 200 and resp.total_count == 3
    assert [a.action for a in resp.desktop_actions] == ["os-start", "os-stop (HARD)", "create"]
    assert all(a.result == "SUCCESS" and a.traceback is None for a in resp.desktop_actions)
    start, stop, create = resp.desktop_actions
    assert start.message == f"requested by {ACCESS_KEY} in job {start_job} (operateDesktops), attempt 1"
    assert stop.message == f"requested by {ACCESS_KEY} in job {stop_job} (operateDesktops), attempt 1"
    assert create.message.startswith(f"requested by {ACCESS_KEY} in job ") and "(createDesktops)" in create.message
    for a in resp.desktop_actions:
        assert JOB_TIME.match(a.start_time) and JOB_TIME.match(a.finish_time), a
        assert a.start_time <= a.finish_time
    page = sdk.list_desktop_actions(ListDesktopActionsRequest(desktop_id=desktop_id, offset=1, limit=1))
    assert page.total_count == 3 and [a.action for a in page.desktop_actions] == ["os-stop (HARD)"]


def test_a_failed_action_carries_its_reason(sdk, sim, make_desktops):
    (desktop_id,) = make_desktops(1)
    sim.put_fault(desktop_id, fail_next=1, ops=["os-hibernate"], error_msg="no room to save memory")
    resp = sdk.batch_run_desktops(
        BatchRunDesktopsRequest(body=BatchActionDesktopsReq(desktop_ids=[desktop_id], op_type="os-hibernate"))
    )
    assert wait.job(sdk, resp.job_id).status == "FAIL"
    newest = sdk.list_desktop_actions(ListDesktopActionsRequest(desktop_id=desktop_id)).desktop_actions[0]
    assert (newest.action, newest.result, newest.traceback) == ("os-hibernate", "FAILED", "no room to save memory")
    assert wait.idle(sdk, desktop_id, "ACTIVE").status == "ACTIVE", "a failed hibernate leaves it running"


def test_actions_of_an_unknown_desktop(sdk):
    unknown = "c" * 32
    expect_error(
        lambda: sdk.list_desktop_actions(ListDesktopActionsRequest(desktop_id=unknown)),
        404,
        "WKS.00010404",
        f"Desktop {unknown} does not exist.",
    )


def test_notification_records_page(sdk, make_desktops):
    ids = make_desktops(2)
    resp = sdk.batch_delete_desktops(BatchDeleteDesktopsRequest(body=DeleteDesktopsReq(desktop_ids=ids)))
    wait.job_success(sdk, resp.job_id)
    everything = sdk.list_notification_records(ListNotificationRecordsRequest())
    assert everything.total_count == len(everything.notification_records) >= 2
    page = sdk.list_notification_records(ListNotificationRecordsRequest(offset=1, limit=1))
    assert page.total_count == everything.total_count
    (second,) = page.notification_records
    assert second.to_dict() == everything.notification_records[1].to_dict()
    newest = everything.notification_records[0]
    assert (newest.type, newest.result, newest.error_message) == ("EMAIL", "success", "Your desktop has been deleted.")
