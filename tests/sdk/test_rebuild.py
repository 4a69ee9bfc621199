"""Seed 002: POST /desktops/rebuild (batch_rebuild_desktops_system_disk)."""

import re

import pytest
from huaweicloudsdkworkspace.v2 import (
    BatchActionDesktopsReq,
    BatchRebuildDesktopsSystemDiskRequest,
    BatchRunDesktopsRequest,
    RebuildDesktopsReq,
)

from harness import notifications, wait
from harness.desktops import LINUX_GOLD, PRIVATE_IMAGE, WINDOWS_GOLD, detail
from harness.sdk import expect_error
from harness.server import PROJECT_ID

JOB_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def rebuild(sdk, ids, image_id=LINUX_GOLD, image_type="gold", **more):
    return sdk.batch_rebuild_desktops_system_disk(
        BatchRebuildDesktopsSystemDiskRequest(
            body=RebuildDesktopsReq(desktop_ids=ids, image_id=image_id, image_type=image_type, **more)
        )
    )


def test_rebuild_recomposes_onto_the_new_image_and_tells_the_users(sdk, make_desktops):
    ids = make_desktops(2)
    before = {i: detail(sdk, i) for i in ids}
    assert all(d.metadata["metering.image_id"] == WINDOWS_GOLD for d in before.values())
    resp = rebuild(sdk, ids, message="Save your work now.")
    assert resp.status_code == 200 and resp.job_id
    assert (resp.error_code, resp.error_msg) == (None, None), "nothing was refused"
    job = wait.job_success(sdk, resp.job_id)
    assert (job.job_type, job.sub_jobs_total) == ("rebuildDesktops", 2)
    for desktop_id in ids:
        d = wait.idle(sdk, desktop_id, "ACTIVE")
        assert d.metadata["metering.image_id"] == LINUX_GOLD
        assert d.metadata["image_name"] == "Ubuntu 22.04 Desktop"
        assert d.login_status == "REGISTERED"
    records = notifications.for_desktops(sdk, [before[i].computer_name for i in ids])
    assert sorted((r.desktop_name, r.user_name) for r in records) == sorted(
        (d.computer_name, d.user_name) for d in before.values()
    )
    for r in records:
        assert (r.type, r.result, r.error_message, r.project_id) == (
            "MESSAGE",
            "success",
            "Save your work now.",
            PROJECT_ID,
        )
        assert JOB_TIME.match(r.operate_time), r.operate_time


def test_rebuild_keeps_a_stopped_desktop_stopped(sdk, make_desktops):
    (desktop_id,) = make_desktops(1)
    stop = sdk.batch_run_desktops(
        BatchRunDesktopsRequest(body=BatchActionDesktopsReq(desktop_ids=[desktop_id], op_type="os-stop", type="HARD"))
    )
    wait.job_success(sdk, stop.job_id)
    wait.job_success(sdk, rebuild(sdk, [desktop_id], image_id=PRIVATE_IMAGE, image_type="private").job_id)
    d = wait.idle(sdk, desktop_id, "SHUTOFF")
    assert (d.metadata["metering.image_id"], d.metadata["metering.imagetype"]) == (PRIVATE_IMAGE, "private")


def test_delay_time_gives_users_simulated_minutes(sdk, sim, make_desktops):
    (desktop_id,) = make_desktops(1)
    name = detail(sdk, desktop_id).computer_name
    start_ms = sim.clock_ms()
    resp = rebuild(sdk, [desktop_id], delay_time=5, message="Rebuild soon.")
    # Moving the simulated clock 10 s per poll: with the delay honoured the job
    # cannot finish before 5 simulated minutes have passed.
    job = wait.job(sdk, resp.job_id, between=lambda: sim.advance(10))
    assert job.status == "SUCCESS", job
    assert sim.clock_ms() - start_ms >= 300_000
    (record,) = notifications.for_desktops(sdk, [name])
    assert (record.type, record.error_message) == (
        "MESSAGE",
        "Your desktop will be rebuilt in 5 minutes: Rebuild soon.",
    )


def test_refused_desktops_are_named_in_the_200(sdk, make_desktops):
    (desktop_id,) = make_desktops(1)
    unknown = "4" * 32
    resp = rebuild(sdk, [desktop_id, unknown])
    assert resp.status_code == 200 and resp.job_id
    assert resp.error_code == "WKS.00010404"
    assert resp.error_msg == f"1 desktops not rebuilt: Desktop {unknown} does not exist."
    job = wait.job_success(sdk, resp.job_id)
    assert [s.entities.desktop_id for s in job.sub_jobs] == [desktop_id]


@pytest.mark.parametrize(
    ("more", "status", "code", "msg"),
    [
        (
            {"image_id": "5" * 32},
            400,
            "WKS.00211105",
            f"Image {'5' * 32} does not exist in the catalog.",
        ),
        (
            {"image_id": PRIVATE_IMAGE, "image_type": "gold"},
            400,
            "WKS.00211102",
            f"image_type gold does not match image {PRIVATE_IMAGE}, which is private.",
        ),
        (
            {"image_type": "shiny"},
            400,
            "WKS.00211102",
            'Invalid image_type "shiny"; allowed: gold, private, market.',
        ),
        ({"delay_time": 2000}, 400, "WKS.00211102", "delay_time 2000 must be 0 to 1440 minutes."),
        ({"message": "x" * 401}, 400, "WKS.00211102", "message must be at most 400 characters."),
        (
            {"encrypt_type": "ENCRYPTED"},
            400,
            "WKS.00211102",
            "kms_id is required with encrypt_type ENCRYPTED.",
        ),
        (
            {"os_type": "Windows"},
            400,
            "WKS.00211102",
            f"os_type Windows does not match image {LINUX_GOLD}, which is Linux.",
        ),
    ],
    ids=[
        "unknown-image",
        "image_type-mismatch",
        "bad-image_type",
        "delay-too-long",
        "message-too-long",
        "no-kms_id",
        "os_type-mismatch",
    ],
)
def test_validation(sdk, more, status, code, msg):
    expect_error(lambda: rebuild(sdk, ["6" * 32], **more), status, code, msg)


def test_only_unknown_desktops_is_404(sdk):
    unknown = "7" * 32
    expect_error(lambda: rebuild(sdk, [unknown]), 404, "WKS.00010404", f"Desktop {unknown} does not exist.")
