"""Desktop users: create, list, detail, delete."""

import re

from huaweicloudsdkworkspace.v2 import (
    CreateDesktopUserRequest,
    CreateUserRequest,
    DeleteUserRequest,
    ListUserDetailRequest,
    ListUsersRequest,
)

from harness.desktops import detail
from harness.sdk import expect_error


def create_user(sdk, name, **fields):
    resp = sdk.create_desktop_user(CreateDesktopUserRequest(body=CreateUserRequest(user_name=name, **fields)))
    assert resp.status_code == 200
    assert re.fullmatch(r"[0-9a-f-]{32,36}", resp.id), resp
    return resp.id


def test_create_then_read_a_user(sdk, names):
    name = names.user()
    user_id = create_user(
        sdk, name, user_email=f"{name}@example.com", user_phone="13800000000", description="from the SDK suite"
    )
    shown = sdk.list_user_detail(ListUserDetailRequest(user_id=user_id))
    assert shown.status_code == 200
    u = shown.user_detail
    assert (u.id, u.user_name, u.user_email, u.user_phone) == (user_id, name, f"{name}@example.com", "13800000000")
    assert u.description == "from the SDK suite"
    assert u.total_desktops == 0 and u.account_type == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", u.when_created), u.when_created

    listed = sdk.list_users(ListUsersRequest(user_name=name))
    assert listed.total_count == 1
    (item,) = listed.users
    assert (item.id, item.user_name, item.user_email, item.total_desktops) == (user_id, name, f"{name}@example.com", 0)
    assert item.description == "from the SDK suite"


def test_list_users_matches_names_and_pages(sdk, names):
    tag = names.user("grp")
    ids = [create_user(sdk, f"{tag}{suffix}") for suffix in "abc"]
    everything = sdk.list_users(ListUsersRequest(user_name=tag))
    assert everything.total_count == 3
    assert [u.id for u in everything.users] == ids, "oldest first"
    page = sdk.list_users(ListUsersRequest(user_name=tag, offset=1, limit=1))
    assert page.total_count == 3
    assert [u.user_name for u in page.users] == [f"{tag}b"]
    assert sdk.list_users(ListUsersRequest(user_name=f"{tag}zz")).total_count == 0


def test_a_desktop_counts_against_its_user(sdk, make_desktops):
    (desktop_id,) = make_desktops(1)
    user_name = detail(sdk, desktop_id).user_name
    (user,) = sdk.list_users(ListUsersRequest(user_name=user_name)).users
    assert user.total_desktops == 1
    expect_error(
        lambda: sdk.delete_user(DeleteUserRequest(user_id=user.id)),
        409,
        "WKS.00010036",
        f"User {user_name} still has 1 desktops; delete them first.",
    )


def test_delete_user(sdk, names):
    user_id = create_user(sdk, names.user())
    resp = sdk.delete_user(DeleteUserRequest(user_id=user_id))
    assert resp.status_code == 204
    expect_error(
        lambda: sdk.list_user_detail(ListUserDetailRequest(user_id=user_id)),
        404,
        "WKS.00010406",
        f"User {user_id} does not exist.",
    )
    expect_error(lambda: sdk.delete_user(DeleteUserRequest(user_id=user_id)), 404, "WKS.00010406")


def test_user_errors(sdk, names):
    name = names.user()
    create_user(sdk, name)
    expect_error(
        lambda: create_user(sdk, name),
        409,
        "WKS.00010035",
        f"A user named {name} already exists.",
    )
    expect_error(
        lambda: create_user(sdk, "-bad name"),
        400,
        "WKS.00211102",
        'Invalid user_name "-bad name": use 1-64 letters, digits, - or _.',
    )
    expect_error(
        lambda: create_user(sdk, names.user(), user_email="not-an-address"),
        400,
        "WKS.00211102",
        'Invalid user_email "not-an-address".',
    )
    expect_error(
        lambda: sdk.create_desktop_user(CreateDesktopUserRequest(body=CreateUserRequest())),
        400,
        "WKS.00211102",
        "Missing parameter user_name.",
    )
