//! Helpers shared by the libvirt driver tests.

use deskplane::domain::desktop::DesktopStatus;
use deskplane::domain::error_code::Code;
use deskplane::drivers::{DriverError, ImageSpec, MachineRef, MachineSpec};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use virt::connect::Connect;
use virt::domain::Domain;

/// libvirt's in-process test driver.
pub const TEST_URI: &str = "test:///default";
/// The local libvirtd.
pub const SYSTEM_URI: &str = "qemu:///system";

/// A desktop id no other test uses (tests share `test:///default`).
pub fn unique_id() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A catalog image.
pub fn image(id: &str, disk: Option<PathBuf>) -> ImageSpec {
    ImageSpec {
        image_id: id.to_owned(),
        name: format!("image {id}"),
        disk_path: disk,
    }
}

/// A small desktop: 1 vCPU, 128 MiB, 1 GiB system disk.
pub fn spec(id: &str, image: ImageSpec, data_gib: Vec<u32>) -> MachineSpec {
    MachineSpec {
        op_id: String::new(),
        desktop_id: id.to_owned(),
        computer_name: format!("pc-{id}"),
        vcpus: 1,
        memory_mib: 128,
        image,
        root_gib: 1,
        data_gib,
    }
}

/// A machine on `host`, in `status`.
pub fn mref(id: &str, host: &str, status: DesktopStatus) -> MachineRef {
    MachineRef {
        op_id: String::new(),
        desktop_id: id.to_owned(),
        host: Some(host.to_owned()),
        status,
    }
}

/// A file's inode: a replaced file has a new one.
pub fn inode(p: &Path) -> u64 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .ino()
}

/// Asserts that an operation failed with `code`, and returns the error.
pub fn expect_code(r: Result<(), DriverError>, code: Code) -> DriverError {
    let e = r.expect_err("the operation should fail");
    assert_eq!(e.code, code.wire(), "unexpected error: {e:?}");
    e
}

/// The desktop's domain, asked of libvirt directly (not through the driver).
pub fn lookup(uri: &str, id: &str) -> Option<Domain> {
    let mut conn = Connect::open(Some(uri)).expect("libvirt connection");
    let dom = Domain::lookup_by_name(&conn, &format!("deskplane-{id}")).ok();
    // The domain keeps its own reference to the connection.
    let _ = conn.close();
    dom
}
