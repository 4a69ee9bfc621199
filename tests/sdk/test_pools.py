"""Desktop pools and the pool action (seed 001), through the official SDK."""

from __future__ import annotations

import pytest
from huaweicloudsdkworkspace.v2 import (
    AuthorizedObjects,
    AutoscalePolicy,
    CreateDesktopPoolAuthorizedObjectsRequest,
    CreateDesktopPoolAuthorizedObjectsRequestBody,
    CreateDesktopPoolReq,
    CreateDesktopPoolRequest,
    DeleteDesktopPoolRequest,
    DeleteDesktopsReq,
    BatchDeleteDesktopsRequest,
    DesktopPoolActionReq,
    ExecuteDesktopPoolActionRequest,
    ExpandDesktopPoolReq,
    ExpandDesktopPoolRequest,
    ListDesktopPoolAuthorizedObjectsRequest,
    ListDesktopPoolsRequest,
    ListPoolDesktopsDetailRequest,
    ShowDesktopPoolDetailRequest,
    UpdateDesktopPoolAttributesReq,
    UpdateDesktopPoolRequest,
    BatchActionDesktopsReq,
    BatchRunDesktopsRequest,
)

from harness import wait
from harness.sdk import expect_error

PRODUCT = "workspace.x86.general.xlarge2"
IMAGE = "63aa8670-27ad-4747-8c44-6d8919e785a7"

# Pool op_type -> (status after success, login_status after success).
OPS = [
    ("os-stop", "SOFT", "SHUTOFF", "UNREGISTER"),
    ("os-start", "SOFT", "ACTIVE", "REGISTERED"),
    ("reboot", "SOFT", "ACTIVE", "REGISTERED"),
    ("reboot", "HARD", "ACTIVE", "REGISTERED"),
    ("hibernate", "SOFT", "HIBERNATED", "UNREGISTER"),
    ("os-start", "HARD", "ACTIVE", "REGISTERED"),
    ("os-stop", "HARD", "SHUTOFF", "UNREGISTER"),
    ("os-start", "SOFT", "ACTIVE", "REGISTERED"),
    ("hibernate", "HARD", "HIBERNATED", "UNREGISTER"),
    ("os-start", "SOFT", "ACTIVE", "REGISTERED"),
]


def create_pool(sdk, name: str, size: int, pool_type: str = "DYNAMIC", **extra) -> str:
    body = CreateDesktopPoolReq(
        name=name, type=pool_type, size=size, product_id=PRODUCT, image_id=IMAGE, image_type="gold", **extra
    )
    r = sdk.create_desktop_pool(CreateDesktopPoolRequest(body=body))
    job = wait.job_success(sdk, r.job_id, timeout=30)
    assert job.job_type == "createDesktopPool" and job.sub_jobs_total == size
    pools = sdk.list_desktop_pools(ListDesktopPoolsRequest(name=name)).desktop_pools
    assert [p.name for p in pools] == [name]
    return pools[0].id


def pool_desktops(sdk, pool_id: str) -> list:
    return sdk.list_pool_desktops_detail(ListPoolDesktopsDetailRequest(pool_id=pool_id, limit=1000)).pool_desktops


def act(sdk, pool_id: str, op: str, mode: str):
    r = sdk.execute_desktop_pool_action(
        ExecuteDesktopPoolActionRequest(pool_id=pool_id, body=DesktopPoolActionReq(op_type=op, type=mode))
    )
    return wait.job(sdk, r.job_id, timeout=30)


def test_a_pool_of_20_runs_every_action_soft_and_hard(sdk, names):
    pool_id = create_pool(sdk, names.computer("pool"), 20)
    detail = sdk.show_desktop_pool_detail(ShowDesktopPoolDetailRequest(pool_id=pool_id))
    assert (detail.desktop_count, detail.desktop_used, detail.type) == (20, 0, "DYNAMIC")
    assert detail.product.product_id == PRODUCT and detail.image_id == IMAGE
    desktops = pool_desktops(sdk, pool_id)
    assert len(desktops) == 20 and {d.desktop_type for d in desktops} == {"POOLED"}
    for op, mode, status, login in OPS:
        job = act(sdk, pool_id, op, mode)
        assert job.status == "SUCCESS", f"{op} {mode}: {job.fail_reason}"
        assert job.job_type == "executeDesktopsAction" and job.sub_jobs_total == 20
        for d in pool_desktops(sdk, pool_id):
            assert (d.status, d.task_status or "", d.login_status) == (status, "", login), f"{op} {mode}: {d}"


def test_an_action_that_does_not_apply_fails_honestly_per_desktop(sdk, names):
    pool_id = create_pool(sdk, names.computer("pool"), 4)
    ids = [d.desktop_id for d in pool_desktops(sdk, pool_id)]
    # Stop two desktops directly; the pool-wide stop then applies to only two.
    r = sdk.batch_run_desktops(BatchRunDesktopsRequest(body=BatchActionDesktopsReq(desktop_ids=ids[:2], op_type="os-stop", type="HARD")))
    wait.job_success(sdk, r.job_id)
    job = act(sdk, pool_id, "os-stop", "SOFT")
    assert job.status == "FAIL" and job.sub_jobs_total == 4
    assert job.fail_reason.startswith("2 of 4 sub-jobs failed"), job.fail_reason
    by_desktop = {s.entities.desktop_id: s for s in job.sub_jobs}
    for i in ids[:2]:
        assert (by_desktop[i].status, by_desktop[i].error_code) == ("FAILED", "WKS.00010032")
    for i in ids[2:]:
        assert by_desktop[i].status == "SUCCESS"
    assert {d.status for d in pool_desktops(sdk, pool_id)} == {"SHUTOFF"}


def test_pool_action_errors(sdk, other_sdk, names):
    pool_id = create_pool(sdk, names.computer("pool"), 1)
    call = lambda op, pid=pool_id, c=sdk: c.execute_desktop_pool_action(  # noqa: E731
        ExecuteDesktopPoolActionRequest(pool_id=pid, body=DesktopPoolActionReq(op_type=op))
    )
    e = expect_error(lambda: call("os-hibernate"), 400, "WKS.00211102", "Invalid op_type \"os-hibernate\"; allowed: os-start, os-stop, reboot, hibernate.")
    assert e.error_msg
    expect_error(lambda: call("os-stop", "5b0c6c8e-0000-4000-8000-000000000000"), 404, "WKS.00010407")
    expect_error(lambda: call("os-stop", pool_id, other_sdk), 403, "WKS.00081102")
    empty = create_pool(sdk, names.computer("empty"), 1)
    ids = [d.desktop_id for d in pool_desktops(sdk, empty)]
    r = sdk.batch_delete_desktops(BatchDeleteDesktopsRequest(body=DeleteDesktopsReq(desktop_ids=ids)))
    wait.job_success(sdk, r.job_id)
    expect_error(lambda: call("os-stop", empty), 409, "WKS.00010041")
    sdk.delete_desktop_pool(DeleteDesktopPoolRequest(pool_id=empty))
    expect_error(lambda: sdk.show_desktop_pool_detail(ShowDesktopPoolDetailRequest(pool_id=empty)), 404, "WKS.00010407")


def test_expand_bind_update_and_delete(sdk, sim, names):
    name = names.computer("pool")
    bob = names.user("bob")
    pool_id = create_pool(
        sdk, name, 3, authorized_objects=[AuthorizedObjects(object_type="USER", object_name=bob)], disconnected_retention_period=0
    )
    expect_error(
        lambda: sdk.create_desktop_pool(CreateDesktopPoolRequest(body=CreateDesktopPoolReq(
            name=name, type="STATIC", size=1, product_id=PRODUCT, image_id=IMAGE))),
        409, "WKS.00010039",
    )
    r = sdk.expand_desktop_pool(ExpandDesktopPoolRequest(pool_id=pool_id, body=ExpandDesktopPoolReq(size=2)))
    assert wait.job_success(sdk, r.job_id).job_type == "expandDesktopPool"
    assert sdk.show_desktop_pool_detail(ShowDesktopPoolDetailRequest(pool_id=pool_id)).desktop_count == 5

    # Members.
    carol = names.user("carol")
    sdk.create_desktop_pool_authorized_objects(CreateDesktopPoolAuthorizedObjectsRequest(
        pool_id=pool_id,
        body=CreateDesktopPoolAuthorizedObjectsRequestBody(objects=[AuthorizedObjects(object_type="USER", object_name=carol)], action="ADD"),
    ))
    members = sdk.list_desktop_pool_authorized_objects(ListDesktopPoolAuthorizedObjectsRequest(pool_id=pool_id))
    assert sorted(o.object_name for o in members.objects) == sorted([bob, carol]) and members.total_count == 2

    # A DYNAMIC pool binds a connecting user, and unbinds them once disconnected (retention 0).
    bound = sim._call("POST", f"/desktop-pools/{pool_id}/connect", {"user_name": bob})
    assert sdk.show_desktop_pool_detail(ShowDesktopPoolDetailRequest(pool_id=pool_id)).desktop_used == 1
    d = wait.desktop(sdk, bound["desktop_id"], lambda d: d.login_status == "CONNECTED", "bob connected")
    assert d.user_name == bob
    again = sim._call("POST", f"/desktop-pools/{pool_id}/connect", {"user_name": bob})
    assert again["desktop_id"] == bound["desktop_id"], "a user keeps their desktop while bound"
    sim.session(bound["desktop_id"], "DISCONNECTED")
    wait.until(
        lambda: sdk.show_desktop_pool_detail(ShowDesktopPoolDetailRequest(pool_id=pool_id)).desktop_used,
        lambda used: used == 0,
        "the DYNAMIC pool to unbind bob",
        timeout=10,
    )
    sim._call("POST", f"/desktop-pools/{pool_id}/connect", {"user_name": "mallory"}, want=403)

    # Update; a pool with desktops cannot be deleted; once empty it can.
    sdk.update_desktop_pool(UpdateDesktopPoolRequest(pool_id=pool_id, body=UpdateDesktopPoolAttributesReq(description="renamed")))
    assert sdk.show_desktop_pool_detail(ShowDesktopPoolDetailRequest(pool_id=pool_id)).description == "renamed"
    expect_error(lambda: sdk.delete_desktop_pool(DeleteDesktopPoolRequest(pool_id=pool_id)), 409, "WKS.00010038")
    ids = [d.desktop_id for d in pool_desktops(sdk, pool_id)]
    r = sdk.batch_delete_desktops(BatchDeleteDesktopsRequest(body=DeleteDesktopsReq(desktop_ids=ids)))
    wait.job_success(sdk, r.job_id)
    sdk.delete_desktop_pool(DeleteDesktopPoolRequest(pool_id=pool_id))
    assert sdk.list_desktop_pools(ListDesktopPoolsRequest(name=name)).total_count == 0


def test_a_static_pool_keeps_the_binding(sdk, sim, names):
    ann = names.user("ann")
    pool_id = create_pool(sdk, names.computer("static"), 2, pool_type="STATIC",
                          authorized_objects=[AuthorizedObjects(object_type="USER_GROUP", object_name="staff")])
    bound = sim._call("POST", f"/desktop-pools/{pool_id}/connect", {"user_name": ann})
    sim.session(bound["desktop_id"], "DISCONNECTED")
    sim.advance(3600)
    # Two upkeep rounds (1 s each) would have unbound a DYNAMIC pool's user.
    import time
    time.sleep(2.5)
    assert sdk.show_desktop_pool_detail(ShowDesktopPoolDetailRequest(pool_id=pool_id)).desktop_used == 1
    again = sim._call("POST", f"/desktop-pools/{pool_id}/connect", {"user_name": ann})
    assert again["desktop_id"] == bound["desktop_id"]


def test_autoscale_keeps_min_idle_within_max(sdk, sim, names):
    pool_id = create_pool(sdk, names.computer("auto"), 2,
                          authorized_objects=[AuthorizedObjects(object_type="USER_GROUP", object_name="all")])
    sdk.update_desktop_pool(UpdateDesktopPoolRequest(pool_id=pool_id, body=UpdateDesktopPoolAttributesReq(
        enable_autoscale=True, autoscale_policy=AutoscalePolicy(min_idle=3, max_auto_created=2))))
    # 2 free desktops < min_idle 3: one is created; binding a user makes another shortfall, and
    # autoscale stops at max_auto_created = 2.
    wait.until(lambda: sdk.show_desktop_pool_detail(ShowDesktopPoolDetailRequest(pool_id=pool_id)).desktop_count,
               lambda n: n == 3, "autoscale to reach 3 desktops", timeout=15)
    wait.until(lambda: [d.status for d in pool_desktops(sdk, pool_id)], lambda s: s == ["ACTIVE"] * 3,
               "the new desktop to be ACTIVE", timeout=15)
    for user in (names.user("u"), names.user("u")):
        sim._call("POST", f"/desktop-pools/{pool_id}/connect", {"user_name": user})
    wait.until(lambda: sdk.show_desktop_pool_detail(ShowDesktopPoolDetailRequest(pool_id=pool_id)).desktop_count,
               lambda n: n == 4, "autoscale to reach 4 desktops", timeout=15)
    import time
    time.sleep(2.5)
    assert sdk.show_desktop_pool_detail(ShowDesktopPoolDetailRequest(pool_id=pool_id)).desktop_count == 4, "never beyond max_auto_created"
