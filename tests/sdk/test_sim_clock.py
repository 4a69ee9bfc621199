"""Transitional states, observed deterministically: a server whose simulated
clock all but stands still (one simulated second per 10^5 real seconds), so
every operation waits until the test moves the clock through /sim/v1."""

import pytest
from huaweicloudsdkworkspace.v2 import (
    BatchActionDesktopsReq,
    BatchRunDesktopsRequest,
    CreateDesktopReq,
    CreateDesktopRequest,
    ListDesktopsRequest,
    ShowDesktopDetailRequest,
    ShowJobRequest,
)

from harness import wait
from harness.desktops import PRODUCT_ID, WINDOWS_GOLD
from harness.sdk import client, expect_error
from harness.server import ACCESS_KEY, PROJECT_ID, SECRET_KEY
from harness.sim import SimApi


@pytest.fixture(scope="module")
def frozen(start_server):
    s = start_server("frozen", DESKPLANE_SIM__TIME_SCALE="100000")
    return client(s.url, ACCESS_KEY, SECRET_KEY, PROJECT_ID), SimApi(s.url)


def test_the_clock_moves_only_when_advanced(frozen):
    _, sim = frozen
    before = sim.clock_ms()
    after = sim.advance(5)
    assert 5000 <= after - before <= 5001
    assert sim.clock_ms() - after <= 1


def test_a_desktop_being_created_is_build_spawning_and_busy(frozen, names):
    sdk, sim = frozen
    name = names.computer("bld")
    resp = sdk.create_desktop(
        CreateDesktopRequest(
            body=CreateDesktopReq(product_id=PRODUCT_ID, image_id=WINDOWS_GOLD, size=1, desktop_name=name)
        )
    )
    job = sdk.show_job(ShowJobRequest(job_id=resp.job_id))
    assert job.status in ("WAITING", "RUNNING") and job.end_time is None, job
    (sub,) = job.sub_jobs
    assert sub.status in ("WAITING", "RUNNING") and sub.end_time is None, sub
    desktop_id = sub.entities.desktop_id

    d = sdk.show_desktop_detail(ShowDesktopDetailRequest(desktop_id=desktop_id)).desktop
    assert (d.status, d.task_status, d.login_status) == ("BUILD", "spawning", "UNREGISTER")
    assert d.process is not None and 0 <= d.process < 100
    (simple,) = sdk.list_desktops(ListDesktopsRequest(computer_name=name)).desktops
    assert (simple.status, simple.task_status) == ("BUILD", "spawning")
    expect_error(
        lambda: sdk.batch_run_desktops(
            BatchRunDesktopsRequest(body=BatchActionDesktopsReq(desktop_ids=[desktop_id], op_type="os-stop"))
        ),
        409,
        "WKS.00010033",
        f"Desktop {desktop_id} is under another operation (task_status spawning); os-stop refused.",
    )

    # 150 ms of simulated creation time, released by moving the clock.
    done = wait.job_success(sdk, resp.job_id, between=lambda: sim.advance(0.2))
    assert done.end_time is not None
    d = sdk.show_desktop_detail(ShowDesktopDetailRequest(desktop_id=desktop_id)).desktop
    assert (d.status, d.task_status, d.login_status, d.process) == ("ACTIVE", "", "REGISTERED", None)


def test_a_power_action_shows_its_task_status_while_it_runs(frozen, names):
    sdk, sim = frozen
    (desktop_id,) = create_with_clock(sdk, sim, names)
    for op_type, mode, task, rests in [
        ("reboot", "SOFT", "rebooting", "ACTIVE"),
        ("reboot", "HARD", "rebooting_hard", "ACTIVE"),
        ("os-hibernate", "SOFT", "hibernating", "HIBERNATED"),
        ("os-start", "SOFT", "powering-on", "ACTIVE"),
        ("os-stop", "HARD", "powering-off", "SHUTOFF"),
    ]:
        resp = sdk.batch_run_desktops(
            BatchRunDesktopsRequest(body=BatchActionDesktopsReq(desktop_ids=[desktop_id], op_type=op_type, type=mode))
        )
        d = sdk.show_desktop_detail(ShowDesktopDetailRequest(desktop_id=desktop_id)).desktop
        assert d.task_status == task, (op_type, mode, d.task_status)
        wait.job_success(sdk, resp.job_id, between=lambda: sim.advance(0.1))
        d = sdk.show_desktop_detail(ShowDesktopDetailRequest(desktop_id=desktop_id)).desktop
        assert (d.status, d.task_status) == (rests, ""), (op_type, mode)


def create_with_clock(sdk, sim, names):
    resp = sdk.create_desktop(
        CreateDesktopRequest(
            body=CreateDesktopReq(
                product_id=PRODUCT_ID, image_id=WINDOWS_GOLD, size=1, desktop_name=names.computer("clk")
            )
        )
    )
    job = wait.job_success(sdk, resp.job_id, between=lambda: sim.advance(0.2))
    return [s.entities.desktop_id for s in job.sub_jobs]


def test_sigterm_stops_a_server_with_an_operation_held_and_a_restart_resumes_it(start_server, names):
    s = start_server("held", DESKPLANE_SIM__TIME_SCALE="100000", DESKPLANE_JOBS__SHUTDOWN_GRACE_SECS="1")
    sdk = client(s.url, ACCESS_KEY, SECRET_KEY, PROJECT_ID)
    resp = sdk.create_desktop(
        CreateDesktopRequest(
            body=CreateDesktopReq(product_id=PRODUCT_ID, image_id=WINDOWS_GOLD, size=1, desktop_name=names.computer())
        )
    )
    wait.until(
        lambda: sdk.show_job(ShowJobRequest(job_id=resp.job_id)).status,
        lambda status: status == "RUNNING",
        "the create to be running",
    )
    # The create waits on the frozen clock: the stop must not wait for it.
    assert s.stop(timeout=15) == 0, s.log_tail()
    assert any("shutdown grace elapsed" in line for line in s.log_lines("WARN")), s.log_tail()
    assert s.log_lines("ERROR") == [], "the stop with a held sub-job logged errors"
    s.start()
    sdk = client(s.url, ACCESS_KEY, SECRET_KEY, PROJECT_ID)
    sim = SimApi(s.url)
    job = wait.job_success(sdk, resp.job_id, between=lambda: sim.advance(0.2))
    (sub,) = job.sub_jobs
    assert wait.idle(sdk, sub.entities.desktop_id, "ACTIVE").login_status == "REGISTERED"
