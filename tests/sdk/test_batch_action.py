"""Seed 000: POST /desktops/action (batch_run_desktops) — every op_type with
SOFT and HARD, partial refusal, whole refusal, validation, busy desktops."""

import json

import pytest
from huaweicloudsdkworkspace.v2 import BatchActionDesktopsReq, BatchRunDesktopsRequest, ShowDesktopDetailRequest

from harness import wait
from harness.desktops import create
from harness.sdk import expect_error
from harness.server import PROJECT_ID


def run(sdk, ids, op_type, mode=None):
    return sdk.batch_run_desktops(
        BatchRunDesktopsRequest(body=BatchActionDesktopsReq(desktop_ids=ids, op_type=op_type, type=mode))
    )


def conflict(status, op, desktop_id):
    return (
        f"Operation conflict. The desktop current instance status is [{status}] "
        f"and deny operation [{op}], resource id [{desktop_id}]."
    )


# Every op_type with SOFT and HARD, in an order the state machine allows,
# with where the desktops rest afterwards (CONTRACT.md's table).
SEQUENCE = [
    ("os-stop", "SOFT", "SHUTOFF"),
    ("os-start", "SOFT", "ACTIVE"),
    ("reboot", "SOFT", "ACTIVE"),
    ("reboot", "HARD", "ACTIVE"),
    ("os-hibernate", "SOFT", "HIBERNATED"),
    ("os-start", "HARD", "ACTIVE"),
    ("os-hibernate", "HARD", "HIBERNATED"),
    ("os-stop", "HARD", "SHUTOFF"),
]


def test_every_op_type_soft_and_hard(sdk, make_desktops):
    ids = make_desktops(2)
    for op_type, mode, rests in SEQUENCE:
        resp = run(sdk, ids, op_type, mode)
        assert resp.status_code == 200
        assert resp.job_id and resp.failed_operation_list == [], (op_type, mode, resp)
        job = wait.job_success(sdk, resp.job_id)
        assert (job.job_type, job.sub_jobs_total) == ("operateDesktops", 2), (op_type, mode, job)
        assert sorted(s.entities.desktop_id for s in job.sub_jobs) == sorted(ids)
        assert all(s.job_id == resp.job_id and s.project_id == PROJECT_ID for s in job.sub_jobs)
        for desktop_id in ids:
            d = sdk.show_desktop_detail(ShowDesktopDetailRequest(desktop_id=desktop_id)).desktop
            assert (d.status, d.task_status) == (rests, ""), (op_type, mode, d.status, d.task_status)
            want_login = "REGISTERED" if rests == "ACTIVE" else "UNREGISTER"
            assert d.login_status == want_login, (op_type, mode, d.login_status)


def test_type_defaults_to_soft(sdk, make_desktops):
    (desktop_id,) = make_desktops(1)
    resp = run(sdk, [desktop_id], "reboot")
    wait.job_success(sdk, resp.job_id)
    assert wait.idle(sdk, desktop_id, "ACTIVE").status == "ACTIVE"


def test_refused_desktops_are_listed_and_the_rest_run(sdk, other_sdk, names, make_desktops):
    stopped, running = make_desktops(2)
    wait.job_success(sdk, run(sdk, [stopped], "os-stop", "HARD").job_id)
    foreign = create(other_sdk, names, 1, users=False)[0]
    unknown = "0" * 32
    resp = run(sdk, [stopped, running, unknown, foreign], "os-start")
    assert resp.status_code == 200 and resp.job_id
    refused = {r.desktop_id: r for r in resp.failed_operation_list}
    assert set(refused) == {running, unknown, foreign}
    assert (refused[running].error_code, refused[running].error_msg) == (
        "WKS.00010032",
        conflict("ACTIVE", "os-start", running),
    )
    assert refused[running].desktop_name, "a visible desktop is named"
    assert (refused[unknown].error_code, refused[unknown].error_msg) == (
        "WKS.00010404",
        f"Desktop {unknown} does not exist.",
    )
    assert (refused[foreign].error_code, refused[foreign].error_msg) == (
        "WKS.00081102",
        f"Desktop {foreign} belongs to another project.",
    )
    assert refused[foreign].desktop_name is None, "another project's desktop is not described"
    job = wait.job_success(sdk, resp.job_id)
    assert [s.entities.desktop_id for s in job.sub_jobs] == [stopped]
    assert wait.idle(sdk, stopped, "ACTIVE").status == "ACTIVE"


def test_nothing_queued_is_one_error_with_every_reason(sdk, raw, other_sdk, make_desktops):
    (running,) = make_desktops(1)
    expect_error(lambda: run(sdk, [running], "os-start"), 409, "WKS.00010032", conflict("ACTIVE", "os-start", running))
    unknown = ["1" * 32, "2" * 32]
    expect_error(
        lambda: run(sdk, unknown, "os-stop"),
        404,
        "WKS.00010404",
        f"os-stop refused for 2 desktops; first: Desktop {unknown[0]} does not exist.",
    )
    # The reasons per desktop travel in error_detail, which the SDK does not
    # surface: read it from the raw answer.
    r = raw.request("POST", "/desktops/action", {"desktop_ids": [running, unknown[0]], "op_type": "os-start"})
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error_code"] == "WKS.00010032"
    detail = {e["desktop_id"]: e for e in json.loads(body["error_detail"])}
    assert detail[running]["error_code"] == "WKS.00010032"
    assert detail[unknown[0]]["error_code"] == "WKS.00010404"


def test_only_other_project_desktops_is_403(sdk, other_sdk, names):
    foreign = create(other_sdk, names, 1, users=False)[0]
    expect_error(
        lambda: run(sdk, [foreign, "3" * 32], "reboot"),
        403,
        "WKS.00081102",
        f"reboot refused for 2 desktops; first: Desktop {foreign} belongs to another project.",
    )


@pytest.mark.parametrize(
    ("body", "code", "msg"),
    [
        ({"desktop_ids": [], "op_type": "os-stop"}, "WKS.00211102", "desktop_ids must not be empty."),
        ({"op_type": "os-stop"}, "WKS.00211102", "Missing parameter desktop_ids."),
        ({"desktop_ids": ["a", "a"], "op_type": "os-stop"}, "WKS.00211102", "desktop_ids contains a more than once."),
        (
            {"desktop_ids": [f"{i:032x}" for i in range(101)], "op_type": "os-stop"},
            "WKS.00211104",
            "desktop_ids has 101 ids; at most 100 are allowed per request.",
        ),
        (
            {"desktop_ids": ["a"], "op_type": "explode"},
            "WKS.00211102",
            'Invalid op_type "explode"; allowed: os-start, os-stop, reboot, os-hibernate.',
        ),
        (
            {"desktop_ids": ["a"], "op_type": "reboot", "type": "GENTLE"},
            "WKS.00211102",
            'Invalid type "GENTLE"; allowed: SOFT, HARD.',
        ),
        ({"desktop_ids": ["a"]}, "WKS.00211102", "Missing parameter op_type."),
    ],
    ids=["empty", "absent", "duplicates", "over-limit", "bad-op_type", "bad-type", "no-op_type"],
)
def test_validation(sdk, body, code, msg):
    expect_error(
        lambda: run(sdk, body.get("desktop_ids"), body.get("op_type"), body.get("type")),
        400,
        code,
        msg,
    )


def test_a_busy_desktop_is_refused_until_its_operation_ends(sdk, sim, make_desktops):
    (desktop_id,) = make_desktops(1)
    # A guest that ignores SOFT requests holds the stop until the soft timeout
    # (60 s of simulated time): the desktop is busy, deterministically.
    sim.put_fault(desktop_id, ignore_soft=True)
    try:
        job_id = run(sdk, [desktop_id], "os-stop", "SOFT").job_id
        wait.desktop(sdk, desktop_id, lambda d: d.task_status == "powering-off", "powering-off")
        busy = "Desktop {} is under another operation (task_status powering-off); {} refused."
        expect_error(
            lambda: run(sdk, [desktop_id], "reboot", "HARD"),
            409,
            "WKS.00010033",
            busy.format(desktop_id, "reboot"),
        )
        d = sdk.show_desktop_detail(ShowDesktopDetailRequest(desktop_id=desktop_id)).desktop
        assert (d.status, d.task_status) == ("ACTIVE", "powering-off")
        assert d.process is not None and 0 <= d.process <= 100
        job = wait.job(sdk, job_id, between=lambda: sim.advance(61))
    finally:
        sim.clear_fault(desktop_id)
    assert job.status == "FAIL"
    (sub,) = job.sub_jobs
    assert (sub.status, sub.error_code) == ("FAILED", "WKS.00211402")
    assert "ignored the SOFT os-stop" in sub.fail_reason
    assert job.job_error_code == "WKS.00211402"
    assert job.fail_reason.startswith("1 of 1 sub-jobs failed; first: "), job.fail_reason
    d = wait.idle(sdk, desktop_id, "ACTIVE")
    assert d.login_status == "REGISTERED", "a failed stop leaves the desktop as it was"
