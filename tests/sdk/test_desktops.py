"""Desktops: create (desktops[] and size + desktop_name), list, detail, show, delete."""

import re

from huaweicloudsdkworkspace.v2 import (
    CreateDesktopReq,
    CreateDesktopRequest,
    DeleteDesktopRequest,
    Desktop,
    ListDesktopsDetailRequest,
    ListDesktopsRequest,
    ListItaSubJobsRequest,
    ListUsersRequest,
    ShowDesktopDetailRequest,
    Tag,
    Volume,
)

from harness import wait
from harness.desktops import LINUX_GOLD, OTHER_ZONE, PRODUCT_ID, WINDOWS_GOLD
from harness.sdk import expect_error
from harness.server import PROJECT_ID

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
JOB_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def create(sdk, **fields):
    resp = sdk.create_desktop(CreateDesktopRequest(body=CreateDesktopReq(product_id=PRODUCT_ID, **fields)))
    assert resp.status_code == 200 and resp.job_id, resp
    return resp.job_id


def test_create_with_desktops_fills_every_detail_field(sdk, names):
    user, computer = names.user(), names.computer()
    job_id = create(
        sdk,
        image_id=LINUX_GOLD,
        image_type="gold",
        availability_zone=OTHER_ZONE,
        root_volume=Volume(type="SSD", size=100),
        data_volumes=[Volume(type="SAS", size=20)],
        tags=[Tag(key="team", value="qa")],
        desktops=[Desktop(user_name=user, user_email=f"{user}@example.com", computer_name=computer)],
    )
    job = wait.job_success(sdk, job_id)
    assert (job.id, job.job_type, job.sub_jobs_total) == (job_id, "createDesktops", 1)
    assert JOB_TIME.match(job.begin_time) and JOB_TIME.match(job.end_time), job
    (sub,) = job.sub_jobs
    assert (sub.job_id, sub.job_type, sub.status, sub.project_id) == (job_id, "createDesktops", "SUCCESS", PROJECT_ID)
    assert (sub.entities.desktop_name, sub.entities.user_name, sub.entities.product_id) == (computer, user, PRODUCT_ID)
    desktop_id = sub.entities.desktop_id
    assert sub.entity == desktop_id and sub.attach_user == user and sub.process == 100

    d = sdk.show_desktop_detail(ShowDesktopDetailRequest(desktop_id=desktop_id)).desktop
    assert (d.desktop_id, d.computer_name, d.desktop_type) == (desktop_id, computer, "DEDICATED")
    assert (d.status, d.task_status, d.login_status) == ("ACTIVE", "", "REGISTERED")
    assert d.process is None, "no progress when idle"
    assert (d.user_name, d.user_list, d.attach_state) == (user, [user], "ATTACHED")
    assert [(a.user_name, a.type) for a in d.attach_user_infos] == [(user, "USER")]
    assert d.ipv4 and d.ip_addresses == [d.ipv4]
    assert [(a.addr, a.version) for nets in d.addresses.values() for a in nets] == [(d.ipv4, "4")]
    assert RFC3339.match(d.created), d.created
    assert (d.product_id, d.flavor.id, d.availability_zone) == (PRODUCT_ID, PRODUCT_ID, OTHER_ZONE)
    assert (d.product.product_id, d.product.cpu, d.product.memory, d.product.type) == (PRODUCT_ID, "2", "4", "BASE")
    assert d.metadata["metering.image_id"] == LINUX_GOLD
    assert d.metadata["metering.imagetype"] == "gold"
    assert d.metadata["image_name"] == "Ubuntu 22.04 Desktop" and d.metadata["os_type"] == "Linux"
    assert (d.root_volume.type, d.root_volume.size, d.root_volume.device) == ("SSD", 100, "/dev/vda")
    assert d.root_volume.id and d.root_volume.volume_id == d.root_volume.id
    assert d.root_volume.display_name == f"{computer}-system"
    assert [(v.type, v.size, v.device) for v in d.data_volumes] == [("SAS", 20, "/dev/vdb")]
    assert [(t.key, t.value) for t in d.tags] == [("team", "qa")]

    (simple,) = sdk.list_desktops(ListDesktopsRequest(desktop_id=[desktop_id])).desktops
    assert (simple.desktop_id, simple.project_id, simple.computer_name) == (desktop_id, PROJECT_ID, computer)
    assert (simple.status, simple.task_status, simple.connect_status) == ("ACTIVE", "", "REGISTERED")
    assert (simple.user_name, simple.ip_address, simple.created) == (user, d.ipv4, d.created)
    assert (simple.desktop_type, simple.availability_zone) == ("DEDICATED", OTHER_ZONE)
    assert [(a.user_name, a.type) for a in simple.attach_user_infos] == [(user, "USER")]
    assert [(t.key, t.value) for t in simple.tags] == [("team", "qa")]

    (u,) = sdk.list_users(ListUsersRequest(user_name=user)).users
    assert (u.user_email, u.total_desktops) == (f"{user}@example.com", 1), "create made the user"


def test_create_by_size_names_desktops_from_desktop_name(sdk, names):
    single = names.computer("one")
    job = wait.job_success(sdk, create(sdk, image_id=WINDOWS_GOLD, size=1, desktop_name=single))
    (sub,) = job.sub_jobs
    d = sdk.show_desktop_detail(ShowDesktopDetailRequest(desktop_id=sub.entities.desktop_id)).desktop
    assert (d.computer_name, d.user_name, d.user_list, d.attach_state) == (single, None, [], "UNATTACH")
    assert d.availability_zone == "cn-north-4a", "the default zone"
    assert (d.root_volume.type, d.root_volume.size) == ("SAS", 80), "the product's system disk"

    prefix = names.computer("many")
    job = wait.job_success(sdk, create(sdk, image_id=WINDOWS_GOLD, size=3, desktop_name=prefix))
    assert job.sub_jobs_total == 3
    listed = sdk.list_desktops_detail(ListDesktopsDetailRequest(computer_name=prefix))
    assert listed.total_count == 3
    assert {d.desktop_id for d in listed.desktops} == {s.entities.desktop_id for s in job.sub_jobs}
    assert all(d.computer_name.startswith(prefix) and len(d.computer_name) == 15 for d in listed.desktops)


def test_list_filters_sort_and_pages(sdk, names, make_desktops):
    prefix, tag = names.computer("flt"), names.user("tag")
    job = wait.job_success(
        sdk,
        create(sdk, image_id=WINDOWS_GOLD, size=3, desktop_name=prefix, tags=[Tag(key=tag, value="x")]),
    )
    ids = sorted(s.entities.desktop_id for s in job.sub_jobs)
    mine = sdk.list_desktops_detail(ListDesktopsDetailRequest(computer_name=prefix, sort_field="computer_name"))
    names_asc = [d.computer_name for d in mine.desktops]
    assert mine.total_count == 3 and names_asc == sorted(names_asc)
    desc = sdk.list_desktops_detail(
        ListDesktopsDetailRequest(computer_name=prefix, sort_field="computer_name", sort_type="DESC")
    )
    assert [d.computer_name for d in desc.desktops] == names_asc[::-1]
    page = sdk.list_desktops_detail(
        ListDesktopsDetailRequest(computer_name=prefix, sort_field="computer_name", offset=1, limit=1)
    )
    assert page.total_count == 3 and [d.computer_name for d in page.desktops] == names_asc[1:2]
    simple_page = sdk.list_desktops(ListDesktopsRequest(computer_name=prefix, offset=2, limit=5))
    assert simple_page.total_count == 3 and len(simple_page.desktops) == 1

    by_tag = sdk.list_desktops(ListDesktopsRequest(tag=f"{tag}=x"))
    assert sorted(d.desktop_id for d in by_tag.desktops) == ids
    assert sdk.list_desktops(ListDesktopsRequest(tag=f"{tag}=y")).total_count == 0
    two = sdk.list_desktops_detail(ListDesktopsDetailRequest(desktop_id=ids[:2]))
    assert sorted(d.desktop_id for d in two.desktops) == ids[:2] and two.total_count == 2
    first = two.desktops[0]
    by_ip = sdk.list_desktops(ListDesktopsRequest(desktop_ip=first.ipv4, computer_name=prefix))
    assert [d.desktop_id for d in by_ip.desktops] == [first.desktop_id]
    assert (
        sdk.list_desktops_detail(
            ListDesktopsDetailRequest(computer_name=prefix, image_id=WINDOWS_GOLD, availability_zone="cn-north-4a")
        ).total_count
        == 3
    )
    assert (
        sdk.list_desktops_detail(ListDesktopsDetailRequest(computer_name=prefix, image_id=LINUX_GOLD)).total_count == 0
    )
    assert sdk.list_desktops(ListDesktopsRequest(computer_name=prefix, desktop_type="DEDICATED")).total_count == 3
    assert sdk.list_desktops(ListDesktopsRequest(computer_name=prefix, status="SHUTOFF")).total_count == 0
    assert sdk.list_desktops_detail(ListDesktopsDetailRequest(computer_name=prefix, status="ACTIVE")).total_count == 3

    (with_user,) = make_desktops(1)
    user = sdk.show_desktop_detail(ShowDesktopDetailRequest(desktop_id=with_user)).desktop.user_name
    by_user = sdk.list_desktops_detail(ListDesktopsDetailRequest(user_name=user))
    assert [d.desktop_id for d in by_user.desktops] == [with_user]
    assert [d.desktop_id for d in sdk.list_desktops(ListDesktopsRequest(user_name=[user])).desktops] == [with_user]


def test_list_parameter_errors(sdk):
    expect_error(
        lambda: sdk.list_desktops(ListDesktopsRequest(status="RUNNING")),
        400,
        "WKS.00211102",
        'Invalid parameter status: "RUNNING"; allowed: ACTIVE, SHUTOFF, HIBERNATED, ERROR, BUILD.',
    )
    expect_error(
        lambda: sdk.list_desktops_detail(ListDesktopsDetailRequest(limit=1001)),
        400,
        "WKS.00211102",
        re.compile(r"^Invalid parameter limit: \"1001\""),
    )
    expect_error(
        lambda: sdk.list_desktops(ListDesktopsRequest(tag="no-equals-sign")),
        400,
        "WKS.00211102",
        'Invalid parameter tag: "no-equals-sign" is not key=value.',
    )


def test_create_errors(sdk, names):
    expect_error(
        lambda: create(sdk, image_id="0" * 32, size=1, desktop_name=names.computer()),
        400,
        "WKS.00211105",
        f"Image {'0' * 32} does not exist in the catalog.",
    )
    expect_error(
        lambda: sdk.create_desktop(
            CreateDesktopRequest(
                body=CreateDesktopReq(product_id="nope", image_id=WINDOWS_GOLD, size=1, desktop_name="x")
            )
        ),
        400,
        "WKS.00211106",
        "Product nope does not exist in the catalog.",
    )
    expect_error(
        lambda: create(sdk, image_id=WINDOWS_GOLD, image_type="private", size=1, desktop_name=names.computer()),
        400,
        "WKS.00211102",
        f"image_type private does not match image {WINDOWS_GOLD}, which is gold.",
    )
    expect_error(
        lambda: create(sdk, image_id=WINDOWS_GOLD, availability_zone="mars-1a", size=1, desktop_name=names.computer()),
        400,
        "WKS.00211107",
        "Availability zone mars-1a does not exist.",
    )
    expect_error(
        lambda: create(sdk, image_id=WINDOWS_GOLD),
        400,
        "WKS.00211102",
        "Missing parameter desktops (or size with desktop_name).",
    )
    taken = names.computer()
    wait.job_success(sdk, create(sdk, image_id=WINDOWS_GOLD, size=1, desktop_name=taken))
    expect_error(
        lambda: create(sdk, image_id=WINDOWS_GOLD, desktops=[Desktop(computer_name=taken)]),
        409,
        "WKS.00010040",
        f"A desktop named {taken} already exists in this project.",
    )


def newest_sub_job(sdk, desktop_id, job_type):
    """The newest sub-job of `job_type` acting on `desktop_id` (the SDK's
    ListItaSubJobs cannot filter by desktop, so look through the type's list)."""
    jobs = sdk.list_ita_sub_jobs(ListItaSubJobsRequest(job_type=job_type, limit=1000)).jobs
    mine = [j for j in jobs if j.entities.desktop_id == desktop_id]
    assert mine, f"no {job_type} sub-job for {desktop_id}"
    return mine[-1]


def test_delete_desktop(sdk, make_desktops):
    keep_user, drop_user = make_desktops(2)
    users = {
        i: sdk.show_desktop_detail(ShowDesktopDetailRequest(desktop_id=i)).desktop.user_name
        for i in (keep_user, drop_user)
    }
    resp = sdk.delete_desktop(DeleteDesktopRequest(desktop_id=keep_user))
    assert resp.status_code == 204
    resp = sdk.delete_desktop(DeleteDesktopRequest(desktop_id=drop_user, delete_users=True))
    assert resp.status_code == 204
    for desktop_id in (keep_user, drop_user):
        sub = newest_sub_job(sdk, desktop_id, "deleteDesktops")
        job = wait.job_success(sdk, sub.job_id)
        assert job.job_type == "deleteDesktops" and job.sub_jobs_total == 1
        expect_error(
            lambda desktop_id=desktop_id: sdk.show_desktop_detail(ShowDesktopDetailRequest(desktop_id=desktop_id)),
            404,
            "WKS.00010404",
            f"Desktop {desktop_id} does not exist.",
        )
    (kept,) = sdk.list_users(ListUsersRequest(user_name=users[keep_user])).users
    assert kept.total_desktops == 0
    assert sdk.list_users(ListUsersRequest(user_name=users[drop_user])).total_count == 0, "delete_users"
    expect_error(
        lambda: sdk.delete_desktop(DeleteDesktopRequest(desktop_id=keep_user)),
        404,
        "WKS.00010404",
        f"Desktop {keep_user} does not exist.",
    )
