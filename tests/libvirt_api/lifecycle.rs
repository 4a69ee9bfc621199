//! Five real desktops through the HTTP API: every operation, each checked
//! against libvirt itself, and libvirt changes made behind deskplane's back
//! showing up in the API (state truth).

use crate::api::{
    action, await_status, create, desktop, expect_status, finished_job, get_q, post, wait_job,
};
use crate::hv::{
    Hv, Leftovers, RUNNING_BOOTED, RUNNING_RESTORED, SHUTOFF_DESTROYED, SHUTOFF_SAVED,
    SHUTOFF_SHUTDOWN, await_console, console_count, desktop_dir,
};
use crate::real_env::{AGENT, BOOTED, data_dir, say, skip, test_guest, unavailable};
use crate::server::{IMAGE_AGENT, Server, Settings};
use crate::support::inode;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use virt::sys;

/// A boot of 5 guests at once under TCG on 2 cores takes 30-60 s on a quiet
/// host, 2 minutes when other builds share the cores.
const BOOT_BOUND: Duration = Duration::from_mins(6);
/// The reconciler runs every second here; a few passes at most.
const RECONCILE_BOUND: Duration = Duration::from_secs(20);
const POWERED_OFF: &str = "deskplane-test-guest: power button, powering off";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_real_desktops_every_operation_through_the_api() {
    const NAME: &str = "five_real_desktops_every_operation_through_the_api";
    if let Some(why) = unavailable() {
        return skip(NAME, &why);
    }
    let guest = test_guest();
    let data = data_dir();
    let s = Server::start(&Settings {
        guest: &guest,
        libvirt_data: data.path(),
        reconcile_secs: 1,
    });
    let hv = Hv::open();
    let all = Instant::now();

    let t = Instant::now();
    let job = wait_job(&s, &create(&s, 5, "kvm").await).await;
    let ids: Vec<String> = job["sub_jobs"]
        .as_array()
        .expect("sub_jobs")
        .iter()
        .map(|j| j["entities"]["desktop_id"].as_str().expect("id").to_owned())
        .collect();
    let _leftovers = Leftovers(ids.clone());
    assert_eq!(ids.len(), 5, "{job}");
    say(&format!(
        "    [api+libvirt] create 5: job SUCCESS after {:?}",
        t.elapsed()
    ));
    created(&s, &hv, data.path(), &ids).await;

    reboots_and_stops(&s, &hv, data.path(), &ids).await;
    hibernate_and_resume(&s, &hv, &ids).await;
    rebuild_and_logoff(&s, &hv, data.path(), &ids).await;
    state_truth_and_delete(&s, &hv, data.path(), &ids).await;
    say(&format!(
        "    [api+libvirt] whole lifecycle: {:?}",
        all.elapsed()
    ));
    s.stop();
}

/// Created: ACTIVE in the API, a running domain of the product's size with
/// its disks, and a guest that boots.
async fn created(s: &Server, hv: &Hv, data: &Path, ids: &[String]) {
    expect_status(s, ids, "ACTIVE").await;
    hv.expect(
        ids,
        sys::VIR_DOMAIN_RUNNING,
        Some(RUNNING_BOOTED),
        "created",
    );
    for id in ids {
        let info = hv.dom(id).get_info().expect("domain info");
        assert_eq!(
            (info.nr_virt_cpu, info.max_mem),
            (1, 128 * 1024),
            "product size of {id}"
        );
        let dir = desktop_dir(data, id);
        assert!(dir.join("system.qcow2").is_file() && dir.join("data-1.qcow2").is_file());
        let d = desktop(s, id).await;
        assert_eq!(d["login_status"], "REGISTERED", "{d}");
    }
    let took = await_console(data, ids, BOOTED, 1, BOOT_BOUND).await;
    say(&format!("    [api+libvirt] 5 guests booted {took:?} later"));
}

async fn reboots_and_stops(s: &Server, hv: &Hv, data: &Path, ids: &[String]) {
    // SOFT reboot: the guest powers off on the ACPI button and libvirt restarts
    // it in the same qemu process, so the same console log shows a second boot.
    let t = Instant::now();
    wait_job(s, &action(s, ids, "reboot", "SOFT").await).await;
    expect_status(s, ids, "ACTIVE").await;
    await_console(data, ids, BOOTED, 2, BOOT_BOUND).await;
    for id in ids {
        assert_eq!(
            console_count(data, id, POWERED_OFF),
            1,
            "{id} answered the ACPI reboot"
        );
    }
    hv.expect(ids, sys::VIR_DOMAIN_RUNNING, None, "after SOFT reboot");
    say(&format!(
        "    [api+libvirt] SOFT reboot: all booted again after {:?}",
        t.elapsed()
    ));

    // HARD reboot is a reset: a third boot, with no power-button press.
    let t = Instant::now();
    wait_job(s, &action(s, ids, "reboot", "HARD").await).await;
    expect_status(s, ids, "ACTIVE").await;
    await_console(data, ids, BOOTED, 3, BOOT_BOUND).await;
    for id in ids {
        assert_eq!(
            console_count(data, id, POWERED_OFF),
            1,
            "{id} was reset, not asked"
        );
    }
    say(&format!(
        "    [api+libvirt] HARD reboot: all booted again after {:?}",
        t.elapsed()
    ));

    // SOFT stop: the guest powers itself off (reason "shutdown", not "destroyed").
    let t = Instant::now();
    wait_job(s, &action(s, ids, "os-stop", "SOFT").await).await;
    say(&format!(
        "    [api+libvirt] SOFT stop (ACPI): {:?}",
        t.elapsed()
    ));
    expect_status(s, ids, "SHUTOFF").await;
    hv.expect(
        ids,
        sys::VIR_DOMAIN_SHUTOFF,
        Some(SHUTOFF_SHUTDOWN),
        "after SOFT stop",
    );
    for id in ids {
        assert_eq!(
            console_count(data, id, POWERED_OFF),
            2,
            "{id} answered the ACPI stop"
        );
        assert_eq!(desktop(s, id).await["login_status"], "UNREGISTER");
    }

    let t = Instant::now();
    wait_job(s, &action(s, ids, "os-start", "SOFT").await).await;
    say(&format!("    [api+libvirt] os-start: {:?}", t.elapsed()));
    expect_status(s, ids, "ACTIVE").await;
    hv.expect(
        ids,
        sys::VIR_DOMAIN_RUNNING,
        Some(RUNNING_BOOTED),
        "after os-start",
    );
}

async fn hibernate_and_resume(s: &Server, hv: &Hv, ids: &[String]) {
    let t = Instant::now();
    wait_job(s, &action(s, ids, "os-hibernate", "SOFT").await).await;
    say(&format!(
        "    [api+libvirt] os-hibernate (managed save): {:?}",
        t.elapsed()
    ));
    expect_status(s, ids, "HIBERNATED").await;
    hv.expect(
        ids,
        sys::VIR_DOMAIN_SHUTOFF,
        Some(SHUTOFF_SAVED),
        "after hibernate",
    );
    for id in ids {
        assert!(hv.has_managed_save(id), "{id} has a managed-save image");
    }

    let t = Instant::now();
    wait_job(s, &action(s, ids, "os-start", "SOFT").await).await;
    say(&format!(
        "    [api+libvirt] os-start (resume): {:?}",
        t.elapsed()
    ));
    expect_status(s, ids, "ACTIVE").await;
    hv.expect(
        ids,
        sys::VIR_DOMAIN_RUNNING,
        Some(RUNNING_RESTORED),
        "resumed",
    );
    for id in ids {
        assert!(
            !hv.has_managed_save(id),
            "{id}: the managed-save image is used up"
        );
    }
}

async fn rebuild_and_logoff(s: &Server, hv: &Hv, data: &Path, ids: &[String]) {
    let files = |id: &str| {
        let dir = desktop_dir(data, id);
        (dir.join("system.qcow2"), dir.join("data-1.qcow2"))
    };
    let before: Vec<(u64, u64)> = ids
        .iter()
        .map(|id| {
            let (sys_disk, data_disk) = files(id);
            (inode(&sys_disk), inode(&data_disk))
        })
        .collect();
    let t = Instant::now();
    let body = json!({"desktop_ids": ids, "image_id": IMAGE_AGENT, "image_type": "gold"});
    let r = post(s, "desktops/rebuild", &body, 200).await;
    assert!(r.get("error_code").is_none(), "nothing refused: {r}");
    wait_job(s, r["job_id"].as_str().expect("job_id")).await;
    say(&format!(
        "    [api+libvirt] rebuild (running desktops): {:?}",
        t.elapsed()
    ));
    expect_status(s, ids, "ACTIVE").await;
    hv.expect(
        ids,
        sys::VIR_DOMAIN_RUNNING,
        Some(RUNNING_BOOTED),
        "rebuilt, running again",
    );
    for (id, (sys_before, data_before)) in ids.iter().zip(before) {
        let (sys_disk, data_disk) = files(id);
        assert_ne!(inode(&sys_disk), sys_before, "{id}: a new system overlay");
        assert_eq!(
            inode(&data_disk),
            data_before,
            "{id}: the data volume is kept"
        );
        let xml = hv.dom(id).get_xml_desc(0).expect("domain XML");
        assert!(
            xml.contains("deskplane.agent"),
            "{id} boots the new image: {xml}"
        );
        let d = desktop(s, id).await;
        assert_eq!(d["metadata"]["metering.image_id"], IMAGE_AGENT, "{d}");
    }
    let took = await_console(data, ids, AGENT, 1, BOOT_BOUND).await;
    say(&format!(
        "    [api+libvirt] rebuilt guests run the agent {took:?} later"
    ));
    await_agents(hv, ids).await;

    // Logoff reaches each guest through its agent, which runs the configured
    // command: it writes the message to the console.
    let t = Instant::now();
    let body = json!({"desktop_ids": ids, "message": "kvm-test-bye"});
    assert_eq!(
        post(s, "desktops/logoff", &body, 200).await,
        serde_json::Value::Null
    );
    let subs = get_q(
        s,
        "workspace-sub-jobs",
        &[("job_type", "logoffDesktops".into())],
    )
    .await;
    let job_id = subs["jobs"][0]["job_id"]
        .as_str()
        .expect("logoff job")
        .to_owned();
    wait_job(s, &job_id).await;
    say(&format!(
        "    [api+libvirt] logoff through the guest agent: {:?}",
        t.elapsed()
    ));
    for id in ids {
        assert_eq!(
            console_count(data, id, "deskplane-test-guest: logoff: kvm-test-bye"),
            1,
            "{id} ran the logoff command"
        );
    }
    expect_status(s, ids, "ACTIVE").await;
}

/// The agent starts before libvirt sees it connected: ping it through
/// libvirt (bounded) so that the logoff is not a race.
async fn await_agents(hv: &Hv, ids: &[String]) {
    let t = Instant::now();
    for id in ids {
        let dom = hv.dom(id);
        while dom
            .qemu_agent_command(r#"{"execute":"guest-ping"}"#, 5, 0)
            .is_err()
        {
            assert!(
                t.elapsed() < Duration::from_mins(1),
                "{id}: no guest agent within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

async fn state_truth_and_delete(s: &Server, hv: &Hv, data: &Path, ids: &[String]) {
    let (rest, victim) = (&ids[..4], &ids[4]);
    // Powered off behind deskplane's back: SHUTOFF through the API.
    hv.dom(victim)
        .destroy()
        .expect("destroy behind deskplane's back");
    let took = await_status(s, victim, "SHUTOFF", RECONCILE_BOUND).await;
    say(&format!(
        "    [api+libvirt] domain destroyed behind our back: SHUTOFF after {took:?}"
    ));

    let t = Instant::now();
    wait_job(s, &action(s, rest, "os-stop", "HARD").await).await;
    say(&format!("    [api+libvirt] HARD stop: {:?}", t.elapsed()));
    expect_status(s, rest, "SHUTOFF").await;
    hv.expect(
        rest,
        sys::VIR_DOMAIN_SHUTOFF,
        Some(SHUTOFF_DESTROYED),
        "after HARD stop",
    );

    // Undefined behind deskplane's back: ERROR through the API, and only that one.
    hv.dom(victim)
        .undefine()
        .expect("undefine behind deskplane's back");
    let took = await_status(s, victim, "ERROR", RECONCILE_BOUND).await;
    say(&format!(
        "    [api+libvirt] domain undefined behind our back: ERROR after {took:?}"
    ));
    expect_status(s, rest, "SHUTOFF").await;
    // An ERROR desktop refuses os-start (409 WKS.00010034).
    let body = json!({"desktop_ids": [victim], "op_type": "os-start"});
    let r = s
        .client
        .post(
            &format!("/v2/{}/desktops/action", crate::server::PROJECT),
            &body,
        )
        .await
        .expect("request");
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json().expect("JSON")["error_code"], "WKS.00010034");

    let t = Instant::now();
    let body = json!({"desktop_ids": ids, "email_notification": false});
    let r = post(s, "desktops/batch-delete", &body, 202).await;
    let job = finished_job(s, r["job_id"].as_str().expect("job_id")).await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    say(&format!(
        "    [api+libvirt] batch-delete: {:?}",
        t.elapsed()
    ));
    for id in ids {
        assert!(hv.domain(id).is_none(), "{id}: domain undefined");
        assert!(
            !desktop_dir(data, id).exists(),
            "{id}: desktop directory removed"
        );
        let save = format!("/var/lib/libvirt/qemu/save/deskplane-{id}.save");
        assert!(
            !Path::new(&save).exists(),
            "{id}: no managed-save image left"
        );
        let r = s
            .client
            .get(
                &format!("/v2/{}/desktops/{id}", crate::server::PROJECT),
                &[],
            )
            .await
            .expect("request");
        assert_eq!(r.status, 404, "{id} is gone from the API");
    }
}
