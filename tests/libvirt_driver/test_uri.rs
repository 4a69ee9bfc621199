//! The whole driver against libvirt's in-process `test:///default` driver:
//! every operation, disk files on the local file system, reconciliation.

use crate::support::{TEST_URI, expect_code, image, inode, lookup, mref, spec, unique_id};
use deskplane::domain::desktop::{DesktopStatus, PowerMode};
use deskplane::domain::error_code::Code;
use deskplane::drivers::libvirt::{LibvirtConfig, LibvirtDriver, PlacementPolicy};
use deskplane::drivers::{ComputeDriver, MachineRef, Observed};
use std::path::Path;
use std::process::Command;
use tempfile::TempDir;
use virt::domain::Domain;

fn config(data_dir: &Path) -> LibvirtConfig {
    LibvirtConfig {
        hosts: vec![TEST_URI.to_owned()],
        data_dir: data_dir.to_owned(),
        soft_stop_timeout_secs: 5,
        acpi_resend_secs: 1,
        ..LibvirtConfig::default()
    }
}

/// A driver on a fresh data directory, and a running desktop with one data volume.
async fn desktop() -> (TempDir, LibvirtDriver, String, Domain) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = LibvirtDriver::new(config(dir.path())).expect("driver");
    let id = unique_id();
    let placement = d
        .create(&spec(&id, image("img-a", None), vec![1]))
        .await
        .expect("create");
    assert_eq!(placement.host.as_deref(), Some(TEST_URI));
    let dom = lookup(TEST_URI, &id).expect("domain defined");
    (dir, d, id, dom)
}

fn m(id: &str, status: DesktopStatus) -> MachineRef {
    mref(id, TEST_URI, status)
}

#[tokio::test]
async fn test_driver_creates_files_domain_and_metadata() {
    let (_dir, d, id, dom) = desktop().await;
    let files = d.desktop_dir(&id);
    for f in ["system.qcow2", "data-1.qcow2", "domain.xml"] {
        assert!(files.join(f).is_file(), "{f} missing");
    }
    assert!(dom.is_active().expect("state"));
    let meta = dom
        .get_metadata(2, Some("urn:deskplane:libvirt:desktop:1"), 0)
        .expect("metadata");
    assert!(meta.contains(&format!("id=\"{id}\"")), "{meta}");
    assert_eq!(
        d.observe(&m(&id, DesktopStatus::Active)).await,
        Ok(Observed::Running)
    );
    assert!(
        d.observe_all()
            .await
            .contains(&(id.clone(), Observed::Running))
    );
    // A re-run of create (the job engine resumes after a crash) changes nothing.
    let before = inode(&files.join("system.qcow2"));
    d.create(&spec(&id, image("img-a", None), vec![1]))
        .await
        .expect("create again");
    assert_eq!(inode(&files.join("system.qcow2")), before);
    d.delete(&m(&id, DesktopStatus::Active))
        .await
        .expect("delete");
}

#[tokio::test]
async fn test_driver_power_operations() {
    let (_dir, d, id, dom) = desktop().await;
    let m = |status| m(&id, status);
    d.stop(&m(DesktopStatus::Active), PowerMode::Soft)
        .await
        .expect("soft stop");
    assert_eq!(
        d.observe(&m(DesktopStatus::Shutoff)).await,
        Ok(Observed::Off)
    );
    d.stop(&m(DesktopStatus::Shutoff), PowerMode::Soft)
        .await
        .expect("soft stop again is a no-op");
    d.start(&m(DesktopStatus::Shutoff)).await.expect("start");
    d.start(&m(DesktopStatus::Active))
        .await
        .expect("start again is a no-op");
    d.reboot(&m(DesktopStatus::Active), PowerMode::Soft)
        .await
        .expect("soft reboot");
    d.reboot(&m(DesktopStatus::Active), PowerMode::Hard)
        .await
        .expect("hard reboot");
    assert_eq!(
        d.observe(&m(DesktopStatus::Active)).await,
        Ok(Observed::Running)
    );

    d.hibernate(&m(DesktopStatus::Active))
        .await
        .expect("hibernate");
    assert!(
        dom.has_managed_save(0).expect("managed save query"),
        "managed save image"
    );
    assert_eq!(
        d.observe(&m(DesktopStatus::Hibernated)).await,
        Ok(Observed::Saved)
    );
    d.hibernate(&m(DesktopStatus::Hibernated))
        .await
        .expect("hibernate again is a no-op");
    d.start(&m(DesktopStatus::Hibernated))
        .await
        .expect("resume");
    assert!(
        !dom.has_managed_save(0).expect("managed save query"),
        "consumed by the resume"
    );
    // os-stop of a hibernated desktop discards the saved memory.
    d.hibernate(&m(DesktopStatus::Active))
        .await
        .expect("hibernate");
    d.stop(&m(DesktopStatus::Hibernated), PowerMode::Soft)
        .await
        .expect("stop hibernated");
    assert_eq!(
        d.observe(&m(DesktopStatus::Shutoff)).await,
        Ok(Observed::Off)
    );

    expect_code(
        d.reboot(&m(DesktopStatus::Shutoff), PowerMode::Soft).await,
        Code::DriverFailed,
    );
    expect_code(
        d.hibernate(&m(DesktopStatus::Shutoff)).await,
        Code::DriverFailed,
    );
    d.reboot(&m(DesktopStatus::Shutoff), PowerMode::Hard)
        .await
        .expect("hard reboot boots it");
    d.stop(&m(DesktopStatus::Active), PowerMode::Hard)
        .await
        .expect("hard stop");
    assert_eq!(
        d.observe(&m(DesktopStatus::Shutoff)).await,
        Ok(Observed::Off)
    );
    d.delete(&m(DesktopStatus::Shutoff)).await.expect("delete");
}

#[tokio::test]
async fn test_driver_rebuild_replaces_only_the_system_disk() {
    let (_dir, d, id, dom) = desktop().await;
    let m = |status| m(&id, status);
    let files = d.desktop_dir(&id);
    let (sys, data) = (files.join("system.qcow2"), files.join("data-1.qcow2"));
    let (sys_before, data_before) = (inode(&sys), inode(&data));
    d.rebuild(&m(DesktopStatus::Active), &image("img-b", None))
        .await
        .expect("rebuild");
    assert_ne!(inode(&sys), sys_before, "system overlay replaced");
    assert_eq!(inode(&data), data_before, "data volume kept");
    assert_eq!(
        d.observe(&m(DesktopStatus::Active)).await,
        Ok(Observed::Running)
    );
    let xml = std::fs::read_to_string(files.join("domain.xml")).expect("domain.xml");
    assert!(
        xml.contains("image_id=\"img-b\""),
        "the record names the new image"
    );

    // A hibernated desktop is rebuilt powered off, its stale saved memory gone.
    d.hibernate(&m(DesktopStatus::Active))
        .await
        .expect("hibernate");
    d.rebuild(&m(DesktopStatus::Hibernated), &image("img-a", None))
        .await
        .expect("rebuild");
    assert_eq!(
        d.observe(&m(DesktopStatus::Shutoff)).await,
        Ok(Observed::Off)
    );
    assert!(!dom.has_managed_save(0).expect("query"));
    d.delete(&m(DesktopStatus::Shutoff)).await.expect("delete");
}

#[tokio::test]
async fn test_driver_follows_libvirt_and_repairs_a_vanished_domain() {
    let (_dir, d, id, dom) = desktop().await;
    let m = |status| m(&id, status);
    let e = expect_code(
        d.logoff(&m(DesktopStatus::Active), Some("bye")).await,
        Code::NoGuestAgent,
    );
    assert!(
        e.message.contains("no guest agent answered"),
        "{}",
        e.message
    );

    // A guest that powered itself off is off...
    dom.shutdown().expect("shutdown behind the driver's back");
    assert_eq!(
        d.observe(&m(DesktopStatus::Active)).await,
        Ok(Observed::Off)
    );
    // ...a domain undefined behind our back is missing (the server marks it ERROR)...
    dom.undefine().expect("undefine behind the driver's back");
    assert_eq!(
        d.observe(&m(DesktopStatus::Shutoff)).await,
        Ok(Observed::Missing)
    );
    assert!(!d.observe_all().await.iter().any(|(i, _)| *i == id));
    expect_code(d.start(&m(DesktopStatus::Error)).await, Code::DriverFailed);
    // ...and a HARD reboot (or a rebuild) defines it again from domain.xml.
    d.reboot(&m(DesktopStatus::Error), PowerMode::Hard)
        .await
        .expect("hard reboot repairs");
    assert_eq!(
        d.observe(&m(DesktopStatus::Error)).await,
        Ok(Observed::Running)
    );
    d.delete(&m(DesktopStatus::Active)).await.expect("delete");
}

#[tokio::test]
async fn test_driver_delete_removes_domain_saved_state_and_files() {
    let (_dir, d, id, _dom) = desktop().await;
    d.hibernate(&m(&id, DesktopStatus::Active))
        .await
        .expect("hibernate");
    d.delete(&m(&id, DesktopStatus::Hibernated))
        .await
        .expect("delete");
    assert!(lookup(TEST_URI, &id).is_none(), "domain undefined");
    assert!(!d.desktop_dir(&id).exists(), "files removed");
    d.delete(&m(&id, DesktopStatus::Error))
        .await
        .expect("delete again is a no-op");
    assert_eq!(
        d.observe(&m(&id, DesktopStatus::Error)).await,
        Ok(Observed::Missing)
    );
}

#[tokio::test]
async fn test_driver_layers_the_system_disk_on_its_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("base.qcow2");
    let out = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&base)
        .arg("2G")
        .output();
    assert!(out.is_ok_and(|o| o.status.success()), "qemu-img create");
    let d = LibvirtDriver::new(config(&dir.path().join("data"))).expect("driver");
    let id = unique_id();
    d.create(&spec(&id, image("base", Some(base.clone())), vec![]))
        .await
        .expect("create");
    let info = Command::new("qemu-img")
        .args(["info", "-U"])
        .arg(d.desktop_dir(&id).join("system.qcow2"))
        .output()
        .expect("qemu-img info");
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.contains(&format!("backing file: {}", base.display())),
        "{info}"
    );
    assert!(
        info.contains("virtual size: 2 GiB"),
        "overlay as large as its image: {info}"
    );
    d.delete(&m(&id, DesktopStatus::Active))
        .await
        .expect("delete");

    // A base disk that is not there is a clear error, and leaves nothing behind.
    let id = unique_id();
    let gone = dir.path().join("nope.qcow2");
    let e = d
        .create(&spec(&id, image("gone", Some(gone.clone())), vec![]))
        .await
        .expect_err("no base");
    assert_eq!(e.code, Code::DriverFailed.wire());
    assert!(
        e.message.contains(&gone.display().to_string()),
        "{}",
        e.message
    );
    assert!(lookup(TEST_URI, &id).is_none() && !d.desktop_dir(&id).exists());
}

#[tokio::test]
async fn test_driver_places_round_robin_and_keeps_desktops_on_their_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A second, independent test-driver host: a node file with no domains.
    let node = dir.path().join("node.xml");
    std::fs::write(&node, "<node></node>\n").expect("node file");
    let second = format!("test://{}", node.display());
    let config = LibvirtConfig {
        hosts: vec![TEST_URI.to_owned(), second.clone()],
        placement: PlacementPolicy::RoundRobin,
        ..config(&dir.path().join("data"))
    };
    let d = LibvirtDriver::new(config).expect("driver");
    let (a, b) = (unique_id(), unique_id());
    let pa = d
        .create(&spec(&a, image("i", None), vec![]))
        .await
        .expect("create a");
    let pb = d
        .create(&spec(&b, image("i", None), vec![]))
        .await
        .expect("create b");
    let hosts = [
        pa.host.clone().expect("host"),
        pb.host.clone().expect("host"),
    ];
    assert!(
        hosts.contains(&TEST_URI.to_owned()) && hosts.contains(&second),
        "{hosts:?}"
    );
    // A re-run of create finds the desktop where it is.
    assert_eq!(
        d.create(&spec(&a, image("i", None), vec![]))
            .await
            .expect("re-run")
            .host,
        pa.host
    );
    // Without a recorded host, the driver finds it; on another host, it is missing there.
    let unplaced = MachineRef {
        op_id: String::new(),
        desktop_id: b.clone(),
        host: None,
        status: DesktopStatus::Active,
    };
    assert_eq!(d.observe(&unplaced).await, Ok(Observed::Running));
    let other = if pb.host.as_deref() == Some(TEST_URI) {
        second.clone()
    } else {
        TEST_URI.to_owned()
    };
    assert_eq!(
        d.observe(&mref(&b, &other, DesktopStatus::Active)).await,
        Ok(Observed::Missing)
    );
    let all = d.observe_all().await;
    assert!(
        all.contains(&(a.clone(), Observed::Running))
            && all.contains(&(b.clone(), Observed::Running))
    );
    for (id, p) in [(&a, &pa), (&b, &pb)] {
        let m = MachineRef {
            op_id: String::new(),
            desktop_id: id.clone(),
            host: p.host.clone(),
            status: DesktopStatus::Active,
        };
        d.delete(&m).await.expect("delete");
    }
    let unknown = mref(&a, "qemu+ssh://elsewhere/system", DesktopStatus::Active);
    expect_code(d.start(&unknown).await, Code::DriverFailed);
}
