"""Reading notification records (ListNotificationRecords) per desktop."""

from __future__ import annotations

from huaweicloudsdkworkspace.v2 import ListNotificationRecordsRequest


def for_desktops(sdk, desktop_names: list[str]) -> list:
    """Every record about these desktops, newest first. Selected client-side:
    the shared server holds every test's records."""
    resp = sdk.list_notification_records(ListNotificationRecordsRequest(limit=1000))
    assert resp.status_code == 200
    assert resp.total_count >= len(resp.notification_records)
    wanted = set(desktop_names)
    return [r for r in resp.notification_records if r.desktop_name in wanted]
