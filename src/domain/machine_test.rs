use super::*;
use DesktopStatus as S;
use PowerMode::{Hard, Soft};

const OPS: [Operation; 10] = [
    Operation::Start,
    Operation::Stop(Soft),
    Operation::Stop(Hard),
    Operation::Reboot(Soft),
    Operation::Reboot(Hard),
    Operation::Hibernate,
    Operation::Rebuild,
    Operation::Logoff,
    Operation::Delete,
    Operation::Create,
];

fn idle(status: DesktopStatus) -> Snapshot {
    Snapshot {
        status,
        task: None,
        login: status.idle_login(),
    }
}

/// The CONTRACT.md table, row by row: `true` = may begin.
#[test]
fn every_cell_of_the_transition_table() {
    let table: [(DesktopStatus, [bool; 10]); 4] = [
        //          start  stopS  stopH  rebS   rebH   hib    rebuild logoff delete create
        (
            S::Active,
            [false, true, true, true, true, true, true, true, true, false],
        ),
        (
            S::Shutoff,
            [
                true, false, false, false, true, false, true, true, true, false,
            ],
        ),
        (
            S::Hibernated,
            [
                true, true, true, false, false, false, true, true, true, false,
            ],
        ),
        (
            S::Error,
            [
                false, true, true, false, true, false, true, false, true, true,
            ],
        ),
    ];
    for (status, row) in table {
        for (op, allowed) in OPS.iter().zip(row) {
            let got = op.check(idle(status), false);
            assert_eq!(got.is_ok(), allowed, "{status} x {op}: {got:?}");
            if let Err(r) = got {
                let expected = if status == S::Error {
                    Refusal::InError
                } else {
                    Refusal::WrongState(status)
                };
                assert_eq!(r, expected, "{status} x {op}");
            }
        }
    }
}

#[test]
fn a_busy_desktop_refuses_everything_but_force_delete() {
    for status in [S::Active, S::Shutoff, S::Hibernated, S::Error, S::Build] {
        let busy = Snapshot {
            task: Some(TaskStatus::PoweringOff),
            ..idle(status)
        };
        for op in OPS {
            assert_eq!(
                op.check(busy, false),
                Err(Refusal::Busy(TaskStatus::PoweringOff))
            );
        }
        assert_eq!(
            Operation::Delete.check(busy, true),
            Ok(TaskStatus::Deleting)
        );
        assert!(Operation::Start.check(busy, true).is_err());
    }
}

#[test]
fn soft_and_hard_reboot_show_distinct_task_statuses() {
    assert_eq!(Operation::Reboot(Soft).task_status().as_str(), "rebooting");
    assert_eq!(
        Operation::Reboot(Hard).task_status().as_str(),
        "rebooting_hard"
    );
    assert_eq!(Operation::Stop(Hard).task_status().as_str(), "powering-off");
    assert_eq!(Operation::Start.task_status().as_str(), "powering-on");
}

#[test]
fn success_settles_status_and_login_together() {
    let reg = LoginStatus::Registered;
    let unreg = LoginStatus::Unregister;
    assert_eq!(
        Operation::Stop(Soft).succeeded(S::Active, reg),
        Settled::Stays(S::Shutoff, unreg)
    );
    assert_eq!(
        Operation::Start.succeeded(S::Hibernated, unreg),
        Settled::Stays(S::Active, reg)
    );
    assert_eq!(
        Operation::Hibernate.succeeded(S::Active, reg),
        Settled::Stays(S::Hibernated, unreg)
    );
    assert_eq!(
        Operation::Reboot(Hard).succeeded(S::Shutoff, unreg),
        Settled::Stays(S::Active, reg)
    );
    assert_eq!(
        Operation::Rebuild.succeeded(S::Shutoff, unreg),
        Settled::Stays(S::Shutoff, unreg)
    );
    assert_eq!(
        Operation::Rebuild.succeeded(S::Active, reg),
        Settled::Stays(S::Active, reg)
    );
    assert_eq!(
        Operation::Rebuild.succeeded(S::Error, unreg),
        Settled::Stays(S::Active, reg)
    );
    assert_eq!(
        Operation::Logoff.succeeded(S::Active, LoginStatus::Connected),
        Settled::Stays(S::Active, reg)
    );
    assert_eq!(
        Operation::Logoff.succeeded(S::Shutoff, unreg),
        Settled::Stays(S::Shutoff, unreg)
    );
    assert_eq!(Operation::Delete.succeeded(S::Active, reg), Settled::Gone);
}

#[test]
fn failure_keeps_power_operations_and_breaks_disk_operations() {
    let reg = LoginStatus::Registered;
    assert_eq!(
        Operation::Stop(Soft).failed(S::Active, reg),
        Settled::Stays(S::Active, reg)
    );
    for op in [Operation::Create, Operation::Rebuild, Operation::Delete] {
        assert_eq!(
            op.failed(S::Active, reg),
            Settled::Stays(S::Error, LoginStatus::Unregister)
        );
    }
}

#[test]
fn stored_form_round_trips() {
    for op in OPS {
        assert_eq!(op.to_string().parse::<Operation>().unwrap(), op);
    }
    assert!("os-stop".parse::<Operation>().is_err());
}
