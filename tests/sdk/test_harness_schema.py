"""The strict type check (harness/schema.py) itself: it must catch what the
Python SDK's lenient deserialization lets through."""

from harness.schema import mismatches


def test_a_number_where_the_model_declares_a_string_is_caught():
    body = {"desktop": {"desktop_id": "d1", "addresses": {"net": [{"addr": "10.0.0.1", "version": 4}]}}}
    assert mismatches(body, "ShowDesktopDetailResponse") == [
        "$.desktop.addresses.net[0].version: 4 is a int, the SDK declares str"
    ]
    body["desktop"]["addresses"]["net"][0]["version"] = "4"
    assert mismatches(body, "ShowDesktopDetailResponse") == []


def test_booleans_lists_and_nested_models_are_checked():
    assert mismatches({"total_count": True, "desktops": []}, "ListDesktopsResponse") == [
        "$.total_count: true is a bool, the SDK declares int"
    ]
    assert mismatches({"desktops": {"desktop_id": "x"}}, "ListDesktopsResponse") == [
        "$.desktops: dict where the SDK declares list[SimpleDesktopInfo]"
    ]
    assert mismatches({"sub_jobs": [{"entities": {"desktop_id": 7}}]}, "ShowJobResponse") == [
        "$.sub_jobs[0].entities.desktop_id: 7 is a int, the SDK declares str"
    ]


def test_nulls_and_fields_unknown_to_the_sdk_pass():
    assert mismatches({"job_id": None, "deskplane_only": 1}, "BatchDeleteDesktopsResponse") == []
