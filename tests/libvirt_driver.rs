//! The libvirt compute driver, end to end.
//!
//! - `test_uri`: against libvirt's in-process `test:///default` driver (no KVM,
//!   no daemon); runs everywhere the crate builds with `--features libvirt`.
//! - `real_guest`: against `qemu:///system` with a real guest (a Debian kernel
//!   and a busybox initramfs built by `scripts/build-test-guest.sh`, whose init
//!   powers off on the ACPI power button and can run the QEMU guest agent).
//!   Needs libvirtd and virtlogd running; without them each test prints a SKIP
//!   line saying why and passes. Environment:
//!   `DESKPLANE_TEST_GUEST_DIR` a prebuilt guest (default: built, idempotently,
//!   into /var/tmp/deskplane-test-guest); `DESKPLANE_TEST_DOMAIN_TYPE` = auto |
//!   kvm | qemu; `DESKPLANE_SKIP_KVM_TESTS` set: skip them.
#![cfg(feature = "libvirt")]

#[path = "libvirt_driver/real_env.rs"]
mod real_env;
#[path = "libvirt_driver/real_guest.rs"]
mod real_guest;
#[path = "libvirt_driver/support.rs"]
mod support;
#[path = "libvirt_driver/test_uri.rs"]
mod test_uri;
