"""Seed 003: POST /desktops/logoff (batch_logoff_desktops): 200 with no body,
all-or-nothing. User sessions are simulated through /sim/v1."""

from huaweicloudsdkworkspace.v2 import (
    BatchLogoffDesktopsRequest,
    BatchLogoffDesktopsResponse,
    ListItaSubJobsRequest,
    LogoffDesktopsReq,
)

from harness import notifications, wait
from harness.desktops import detail
from harness.sdk import expect_error


def logoff(sdk, ids, message=None):
    return sdk.batch_logoff_desktops(
        BatchLogoffDesktopsRequest(body=LogoffDesktopsReq(desktop_ids=ids, message=message))
    )


def logoff_sub_jobs(sdk, desktop_id):
    jobs = sdk.list_ita_sub_jobs(ListItaSubJobsRequest(job_type="logoffDesktops", limit=1000)).jobs
    return [j for j in jobs if j.entities.desktop_id == desktop_id]


def test_logoff_ends_sessions_and_messages_the_users(sdk, sim, make_desktops):
    connected, dropped, idle = make_desktops(3)
    sim.session(connected, "CONNECTED")
    sim.session(dropped, "DISCONNECTED")
    assert detail(sdk, connected).login_status == "CONNECTED"
    assert detail(sdk, dropped).login_status == "DISCONNECTED"
    resp = logoff(sdk, [connected, dropped, idle], message="Maintenance in 5 minutes.")
    assert resp.status_code == 200
    assert isinstance(resp, BatchLogoffDesktopsResponse) and resp.raw_content == b"", "200 with no body"
    (sub,) = logoff_sub_jobs(sdk, connected)
    job = wait.job_success(sdk, sub.job_id)
    assert (job.job_type, job.sub_jobs_total) == ("logoffDesktops", 3)
    assert sorted(s.entities.desktop_id for s in job.sub_jobs) == sorted([connected, dropped, idle])
    for desktop_id in (connected, dropped, idle):
        d = wait.idle(sdk, desktop_id, "ACTIVE")
        assert d.login_status == "REGISTERED", (desktop_id, d.login_status)
    names = {i: detail(sdk, i).computer_name for i in (connected, dropped, idle)}
    records = notifications.for_desktops(sdk, list(names.values()))
    assert sorted(r.desktop_name for r in records) == sorted([names[connected], names[dropped]]), (
        "only users in a session get the message"
    )
    assert {(r.type, r.error_message) for r in records} == {("MESSAGE", "Maintenance in 5 minutes.")}


def test_logoff_is_all_or_nothing(sdk, sim, make_desktops):
    (connected,) = make_desktops(1)
    sim.session(connected, "CONNECTED")
    unknown = "8" * 32
    expect_error(
        lambda: logoff(sdk, [connected, unknown], message="bye"),
        404,
        "WKS.00010404",
        f"Desktop {unknown} does not exist.",
    )
    assert detail(sdk, connected).login_status == "CONNECTED"
    assert logoff_sub_jobs(sdk, connected) == [], "nothing was queued"


def test_logoff_needs_desktop_ids(sdk):
    expect_error(lambda: logoff(sdk, None, message="everyone?"), 400, "WKS.00211102", "Missing parameter desktop_ids.")
    expect_error(lambda: logoff(sdk, []), 400, "WKS.00211102", "desktop_ids must not be empty.")
    expect_error(
        lambda: logoff(sdk, ["9" * 32], message="x" * 401),
        400,
        "WKS.00211102",
        "message must be at most 400 characters.",
    )
