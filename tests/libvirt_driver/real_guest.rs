//! The driver against `qemu:///system` with a real guest that answers the
//! ACPI power button (and, on the `tiny-agent` image, runs the QEMU guest
//! agent). KVM when it can boot ordinary kernels here, TCG otherwise.

use crate::real_env::{AGENT, BOOTED, Guest, config, data_dir, say, skip, test_guest, unavailable};
use crate::support::{SYSTEM_URI, expect_code, image, inode, lookup, mref, spec, unique_id};
use deskplane::domain::desktop::{DesktopStatus, PowerMode};
use deskplane::domain::error_code::Code;
use deskplane::drivers::libvirt::{LibvirtConfig, LibvirtDriver};
use deskplane::drivers::{ComputeDriver, Observed};
use std::path::Path;
use std::time::{Duration, Instant};
use virt::connect::Connect;
use virt::domain::Domain;
use virt::sys;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_guest_answers_every_operation() {
    if let Some(why) = unavailable() {
        return skip("real_guest_answers_every_operation", &why);
    }
    let guest = test_guest();
    let data = data_dir();
    let d = LibvirtDriver::new(config(data.path(), &guest)).expect("driver");
    say(&format!(
        "    [libvirt] domain type: {}",
        d.host_domain_type(SYSTEM_URI).await.expect("type")
    ));
    let id = unique_id();
    let (files, log) = (d.desktop_dir(&id), d.desktop_dir(&id).join("console.log"));
    let g = Guest { d, id, files, log };
    let t = Instant::now();
    g.d.create(&spec(&g.id, image("tiny", None), vec![1]))
        .await
        .expect("create");
    let created = t.elapsed();
    say(&format!(
        "    [libvirt] create: {created:?}, booted {:?} later",
        g.wait_for(BOOTED, 1).await
    ));

    acpi_reboot_and_stop(&g).await;
    hard_reboot_hibernate_resume(&g).await;
    rebuild_onto_the_agent_image(&g).await;
    delete_hibernated(&g).await;
}

async fn acpi_reboot_and_stop(g: &Guest) {
    let t = Instant::now();
    g.d.reboot(&g.m(DesktopStatus::Active), PowerMode::Soft)
        .await
        .expect("soft reboot");
    g.wait_for(BOOTED, 2).await;
    say(&format!(
        "    [libvirt] SOFT reboot (ACPI): booted again after {:?}",
        t.elapsed()
    ));
    assert!(g.dom().is_active().expect("state"));

    let t = Instant::now();
    g.d.stop(&g.m(DesktopStatus::Active), PowerMode::Soft)
        .await
        .expect("soft stop answered by the guest");
    say(&format!(
        "    [libvirt] SOFT stop (ACPI): {:?}",
        t.elapsed()
    ));
    assert_eq!(
        g.state(),
        (sys::VIR_DOMAIN_SHUTOFF, 1),
        "shut off by the guest (reason shutdown)"
    );
    assert!(
        std::fs::read_to_string(&g.log)
            .unwrap_or_default()
            .contains("power button, powering off")
    );
    assert_eq!(
        g.d.observe(&g.m(DesktopStatus::Shutoff)).await,
        Ok(Observed::Off)
    );

    g.d.start(&g.m(DesktopStatus::Shutoff))
        .await
        .expect("start");
    g.wait_for(BOOTED, 1).await;
    let e = expect_code(
        g.d.logoff(&g.m(DesktopStatus::Active), Some("bye")).await,
        Code::NoGuestAgent,
    );
    say(&format!(
        "    [libvirt] logoff without an agent: {}",
        e.message
    ));
}

async fn hard_reboot_hibernate_resume(g: &Guest) {
    let t = Instant::now();
    g.d.reboot(&g.m(DesktopStatus::Active), PowerMode::Hard)
        .await
        .expect("hard reboot");
    g.wait_for(BOOTED, 2).await;
    say(&format!(
        "    [libvirt] HARD reboot: booted again after {:?}",
        t.elapsed()
    ));

    let t = Instant::now();
    g.d.hibernate(&g.m(DesktopStatus::Active))
        .await
        .expect("hibernate");
    say(&format!(
        "    [libvirt] hibernate (managed save): {:?}",
        t.elapsed()
    ));
    let dom = g.dom();
    assert!(
        dom.has_managed_save(0).expect("query"),
        "managed-save image present"
    );
    assert_eq!(
        dom.get_state().expect("state"),
        (sys::VIR_DOMAIN_SHUTOFF, 5),
        "shut off, reason saved"
    );
    assert_eq!(
        g.d.observe(&g.m(DesktopStatus::Hibernated)).await,
        Ok(Observed::Saved)
    );

    let t = Instant::now();
    g.d.start(&g.m(DesktopStatus::Hibernated))
        .await
        .expect("resume");
    say(&format!(
        "    [libvirt] start (resume from managed save): {:?}",
        t.elapsed()
    ));
    assert_eq!(
        dom.get_state().expect("state"),
        (sys::VIR_DOMAIN_RUNNING, 3),
        "running, reason restored"
    );
    assert!(!dom.has_managed_save(0).expect("query"));
    // The restored guest is alive: it still answers the power button.
    g.d.stop(&g.m(DesktopStatus::Active), PowerMode::Soft)
        .await
        .expect("soft stop after resume");
    assert_eq!(
        dom.get_state().expect("state"),
        (sys::VIR_DOMAIN_SHUTOFF, 1)
    );
}

async fn rebuild_onto_the_agent_image(g: &Guest) {
    let (sys_disk, data) = (g.files.join("system.qcow2"), g.files.join("data-1.qcow2"));
    let (sys_before, data_before) = (inode(&sys_disk), inode(&data));
    g.d.rebuild(&g.m(DesktopStatus::Shutoff), &image("tiny", None))
        .await
        .expect("rebuild while off");
    assert_ne!(inode(&sys_disk), sys_before, "overlay replaced");
    assert!(
        !g.dom().is_active().expect("state"),
        "a SHUTOFF desktop stays off"
    );

    g.d.start(&g.m(DesktopStatus::Shutoff))
        .await
        .expect("start");
    g.wait_for(BOOTED, 1).await;
    let sys_before = inode(&sys_disk);
    let t = Instant::now();
    g.d.rebuild(&g.m(DesktopStatus::Active), &image("tiny-agent", None))
        .await
        .expect("rebuild");
    g.wait_for(AGENT, 1).await;
    say(&format!(
        "    [libvirt] rebuild while running: agent up after {:?}",
        t.elapsed()
    ));
    assert_ne!(inode(&sys_disk), sys_before, "overlay replaced");
    assert_eq!(inode(&data), data_before, "data volume kept");

    // The agent connects a moment after it starts: poll, with a bound.
    let t = Instant::now();
    loop {
        match g
            .d
            .logoff(&g.m(DesktopStatus::Active), Some("see you"))
            .await
        {
            Ok(()) => break,
            Err(e)
                if e.code == Code::NoGuestAgent.wire() && t.elapsed() < Duration::from_secs(30) =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("logoff through the agent failed: {e:?}"),
        }
    }
    g.wait_for("deskplane-test-guest: logoff: see you", 1).await;
    say(&format!(
        "    [libvirt] logoff through the guest agent: {:?}",
        t.elapsed()
    ));

    // With an agent, libvirt shuts down through it rather than by ACPI.
    let t = Instant::now();
    g.d.stop(&g.m(DesktopStatus::Active), PowerMode::Soft)
        .await
        .expect("soft stop through the agent");
    say(&format!(
        "    [libvirt] SOFT stop (agent): {:?}",
        t.elapsed()
    ));
    assert!(
        std::fs::read_to_string(&g.log)
            .unwrap_or_default()
            .contains("agent shutdown")
    );
}

async fn delete_hibernated(g: &Guest) {
    g.d.start(&g.m(DesktopStatus::Shutoff))
        .await
        .expect("start");
    g.wait_for(BOOTED, 1).await;
    g.d.hibernate(&g.m(DesktopStatus::Active))
        .await
        .expect("hibernate");
    let t = Instant::now();
    g.d.delete(&g.m(DesktopStatus::Hibernated))
        .await
        .expect("delete");
    say(&format!("    [libvirt] delete: {:?}", t.elapsed()));
    assert!(lookup(SYSTEM_URI, &g.id).is_none(), "domain undefined");
    assert!(!g.files.exists(), "files removed");
    let save = format!("/var/lib/libvirt/qemu/save/deskplane-{}.save", g.id);
    assert!(!Path::new(&save).exists(), "managed-save image removed");
    assert_eq!(
        g.d.observe(&g.m(DesktopStatus::Error)).await,
        Ok(Observed::Missing)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_guest_ignoring_acpi_fails_the_soft_stop() {
    if let Some(why) = unavailable() {
        return skip("real_guest_ignoring_acpi_fails_the_soft_stop", &why);
    }
    let data = data_dir();
    let config = LibvirtConfig {
        soft_stop_timeout_secs: 3,
        acpi_resend_secs: 1,
        ..config(data.path(), Path::new("/nonexistent"))
    };
    let d = LibvirtDriver::new(config).expect("driver");
    let id = unique_id();

    // A bare domain (no disk, no kernel): the firmware finds nothing to boot
    // and nobody handles the ACPI power button.
    let domain_type = d.host_domain_type(SYSTEM_URI).await.expect("domain type");
    let xml = format!(
        "<domain type='{domain_type}'><name>deskplane-{id}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64'>hvm</type></os><features><acpi/></features><devices/></domain>"
    );
    let mut conn = Connect::open(Some(SYSTEM_URI)).expect("connect");
    let dom = Domain::define_xml(&conn, &xml).expect("define bare domain");
    let _ = conn.close();
    dom.create().expect("start bare domain");
    let m = mref(&id, SYSTEM_URI, DesktopStatus::Active);
    let t = Instant::now();
    let e = expect_code(d.stop(&m, PowerMode::Soft).await, Code::OperationTimeout);
    let took = t.elapsed();
    say(&format!(
        "    [libvirt] SOFT stop ignored: failed after {took:?}: {}",
        e.message
    ));
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert!(
        dom.is_active().expect("state"),
        "no fallback: the domain still runs"
    );
    d.stop(&m, PowerMode::Hard).await.expect("hard stop");
    assert_eq!(
        dom.get_state().expect("state"),
        (sys::VIR_DOMAIN_SHUTOFF, 2),
        "destroyed"
    );
    d.delete(&m).await.expect("delete");
    assert!(lookup(SYSTEM_URI, &id).is_none());
}

#[tokio::test]
async fn real_host_refuses_images_it_cannot_boot() {
    if let Some(why) = unavailable() {
        return skip("real_host_refuses_images_it_cannot_boot", &why);
    }
    let data = data_dir();
    let d = LibvirtDriver::new(config(data.path(), Path::new("/nonexistent"))).expect("driver");
    let id = unique_id();
    let e = d
        .create(&spec(&id, image("plain", None), vec![]))
        .await
        .expect_err("no disk, no kernel");
    assert!(e.message.contains("has no base disk"), "{}", e.message);
    let e = d
        .create(&spec(
            &id,
            image("gone", Some("/nonexistent/base.qcow2".into())),
            vec![],
        ))
        .await;
    assert!(
        e.expect_err("missing base")
            .message
            .contains("/nonexistent/base.qcow2")
    );
    let e = d
        .create(&spec(&id, image("tiny", None), vec![]))
        .await
        .expect_err("missing kernel");
    assert!(e.message.contains("/nonexistent/vmlinuz"), "{}", e.message);
    assert!(lookup(SYSTEM_URI, &id).is_none() && !d.desktop_dir(&id).exists());
}
