"""The catalog (products, images, availability zones) through the SDK."""

from huaweicloudsdkworkspace.v2 import (
    ListAvailabilityZonesRequest,
    ListImagesRequest,
    ListProductsRequest,
)

from harness.desktops import DEFAULT_ZONE, LINUX_GOLD, OTHER_ZONE, PRIVATE_IMAGE, PRODUCT_ID, WINDOWS_GOLD
from harness.sdk import expect_error


def test_list_products_fills_the_product_model(sdk):
    resp = sdk.list_products(ListProductsRequest())
    assert resp.status_code == 200
    assert resp.total_count == len(resp.products) == 3
    by_id = {p.product_id: p for p in resp.products}
    p = by_id[PRODUCT_ID]
    assert (p.type, p.architecture, p.cpu, p.memory) == ("BASE", "x86", "2", "4")
    assert p.is_gpu is False
    assert (p.system_disk_type, p.system_disk_size) == ("SAS", "80")
    assert p.descriptions == "2 vCPUs | 4 GiB"
    assert (p.charge_mode, p.status, p.package_type) == ("1", "normal", "general")
    assert by_id["workspace.x86.enterprise.2xlarge4"].package_type == "enterprise"


def test_list_products_filters_and_pages(sdk):
    one = sdk.list_products(ListProductsRequest(product_id="workspace.x86.general.xlarge4"))
    assert [p.product_id for p in one.products] == ["workspace.x86.general.xlarge4"]
    assert one.total_count == 1
    general = sdk.list_products(ListProductsRequest(package_type="general"))
    assert {p.package_type for p in general.products} == {"general"}
    assert general.total_count == 2
    page = sdk.list_products(ListProductsRequest(limit=1, offset=1))
    everything = sdk.list_products(ListProductsRequest())
    assert page.total_count == 3
    assert [p.product_id for p in page.products] == [everything.products[1].product_id]


def test_list_products_rejects_a_bad_limit(sdk):
    expect_error(
        lambda: sdk.list_products(ListProductsRequest(limit=-1)),
        400,
        "WKS.00211102",
        'Invalid parameter limit: "-1" is not an integer in 0..=1000.',
    )


def test_list_images_fills_the_image_model(sdk):
    resp = sdk.list_images(ListImagesRequest())
    assert resp.status_code == 200
    assert resp.total_count == len(resp.images) == 3
    by_id = {i.id: i for i in resp.images}
    win = by_id[WINDOWS_GOLD]
    assert (win.image_type, win.os_type, win.architecture) == ("gold", "Windows", "x86")
    assert (win.name, win.os_version, win.disk_format) == ("Windows 10 Enterprise 64bit", "Windows 10", "qcow2")
    assert (win.min_ram, win.min_disk) == (0, 40)
    assert by_id[LINUX_GOLD].os_type == "Linux"
    assert by_id[PRIVATE_IMAGE].image_type == "private"


def test_list_images_filters(sdk):
    gold = sdk.list_images(ListImagesRequest(image_type="gold"))
    assert sorted(i.id for i in gold.images) == sorted([WINDOWS_GOLD, LINUX_GOLD])
    linux = sdk.list_images(ListImagesRequest(os_type="Linux"))
    assert [i.id for i in linux.images] == [LINUX_GOLD]
    by_id = sdk.list_images(ListImagesRequest(image_id=PRIVATE_IMAGE))
    assert [i.id for i in by_id.images] == [PRIVATE_IMAGE] and by_id.total_count == 1
    expect_error(
        lambda: sdk.list_images(ListImagesRequest(image_type="shiny")),
        400,
        "WKS.00211102",
        'Invalid parameter image_type: "shiny"; allowed: gold, private, market.',
    )


def test_list_availability_zones(sdk):
    resp = sdk.list_availability_zones(ListAvailabilityZonesRequest())
    assert resp.status_code == 200
    assert resp.total_count == 2
    zones = {z.availability_zone: z for z in resp.availability_zones}
    assert set(zones) == {DEFAULT_ZONE, OTHER_ZONE}
    assert zones[DEFAULT_ZONE].default_availability_zone is True
    assert zones[OTHER_ZONE].default_availability_zone is False
    assert (zones[DEFAULT_ZONE].display_name, zones[OTHER_ZONE].display_name) == ("AZ1", "AZ2")
    assert all(z.visible is True for z in resp.availability_zones)
