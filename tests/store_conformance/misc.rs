//! Notifications, the simulator's shared fault table, and the connection itself.

use crate::harness::project;
use deskplane::domain::error_code::Code;
use deskplane::domain::ids::{DesktopId, JobId, ProjectId, SubJobId};
use deskplane::store::{NotificationFilter, NotificationRow, SimApplied, SimFault, Store};

fn note(project: &ProjectId, desktop: DesktopId, kind: &str, n: i64) -> NotificationRow {
    NotificationRow {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project.clone(),
        desktop_id: desktop,
        desktop_name: format!("name-{desktop}"),
        user_name: (n % 2 == 0).then(|| format!("user-{n}")),
        user_email: None,
        kind: kind.to_owned(),
        message: format!("message {n}"),
        job_id: Some(JobId::new()),
        // Equal times: order comes from insertion, not the clock.
        created_ms: 7,
    }
}

pub async fn notifications(store: &dyn Store) {
    let p = project(store).await;
    let q = project(store).await;
    let (d1, d2) = (DesktopId::new(), DesktopId::new());
    store.insert_notifications(&[]).await.unwrap();
    let first = [note(&p, d1, "EMAIL", 0), note(&p, d2, "EMAIL", 1)];
    store.insert_notifications(&first).await.unwrap();
    store
        .insert_notifications(&[note(&p, d1, "MESSAGE", 2), note(&q, d1, "MESSAGE", 3)])
        .await
        .unwrap();
    let (all, total) = store
        .list_notifications(
            &p,
            &NotificationFilter {
                desktop_id: None,
                offset: 0,
                limit: 10,
                ..NotificationFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 3);
    let messages: Vec<&str> = all.iter().map(|n| n.message.as_str()).collect();
    assert_eq!(
        messages,
        ["message 2", "message 1", "message 0"],
        "newest first"
    );
    assert_eq!(all[0].kind, "MESSAGE");
    assert_eq!(all[0].desktop_name, format!("name-{d1}"));
    assert_eq!(all[0].user_name.as_deref(), Some("user-2"));
    assert_eq!(all[1].user_name, None);
    let job_0 = first[0].job_id.expect("note 0 names its job");
    assert_eq!(all[2].job_id, Some(job_0));
    assert_eq!(all[2].created_ms, 7);

    let (on_d1, total) = store
        .list_notifications(
            &p,
            &NotificationFilter {
                desktop_id: Some(d1.to_string()),
                offset: 0,
                limit: 10,
                ..NotificationFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 2);
    assert!(
        on_d1
            .iter()
            .all(|n| n.desktop_id == d1 && n.project_id == p)
    );
    let (page, total) = store
        .list_notifications(
            &p,
            &NotificationFilter {
                desktop_id: None,
                offset: 1,
                limit: 1,
                ..NotificationFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((page.len(), total), (1, 3));
    assert_eq!(page[0].message, "message 1");
}

pub async fn sim_faults(store: &dyn Store) {
    let d1 = &DesktopId::new();
    assert!(!store.any_sim_faults().await.unwrap());
    assert_eq!(store.get_sim_fault(d1).await.unwrap(), None);
    assert_eq!(store.take_sim_failure(d1, "os-stop").await.unwrap(), None);
    let fault = SimFault {
        desktop_id: *d1,
        fail_remaining: 2,
        fail_ops: Some("os-stop,reboot".into()),
        error_code: Some("WKS.X".into()),
        error_msg: Some("boom".into()),
        ignore_soft: true,
    };
    store.put_sim_fault(&fault).await.unwrap();
    assert!(store.any_sim_faults().await.unwrap());
    assert_eq!(
        store.get_sim_fault(d1).await.unwrap().as_ref(),
        Some(&fault)
    );

    assert_eq!(
        store.take_sim_failure(d1, "os-start").await.unwrap(),
        None,
        "not armed for this operation"
    );
    assert_eq!(
        store.take_sim_failure(d1, "os-sto").await.unwrap(),
        None,
        "whole names only"
    );
    for near in ["REBOOT", "os_stop", "%"] {
        assert_eq!(
            store.take_sim_failure(d1, near).await.unwrap(),
            None,
            "exact names only: {near}"
        );
    }
    let boom = Some(("WKS.X".to_owned(), "boom".to_owned()));
    assert_eq!(store.take_sim_failure(d1, "reboot").await.unwrap(), boom);
    let left = store.get_sim_fault(d1).await.unwrap().expect("fault");
    assert_eq!(left.fail_remaining, 1, "one failure consumed");
    assert_eq!(store.take_sim_failure(d1, "os-stop").await.unwrap(), boom);
    assert_eq!(
        store.take_sim_failure(d1, "os-stop").await.unwrap(),
        None,
        "used up"
    );

    // Replacing: any operation, default code and message.
    let any = SimFault {
        desktop_id: *d1,
        fail_remaining: 1,
        ..SimFault::default()
    };
    store.put_sim_fault(&any).await.unwrap();
    assert_eq!(store.get_sim_fault(d1).await.unwrap().as_ref(), Some(&any));
    assert_eq!(
        store.take_sim_failure(d1, "os-hibernate").await.unwrap(),
        Some((
            Code::DriverFailed.wire().to_owned(),
            "injected failure of os-hibernate".to_owned()
        ))
    );
    assert!(store.clear_sim_fault(d1).await.unwrap());
    assert!(!store.clear_sim_fault(d1).await.unwrap());
    assert!(!store.any_sim_faults().await.unwrap());
}

pub async fn sim_applied(store: &dyn Store) {
    let op: [SubJobId; 4] = std::array::from_fn(|_| SubJobId::new());
    let (d1, d2) = (DesktopId::new(), DesktopId::new());
    assert!(!store.sim_applied(&op[0]).await.unwrap());
    assert_eq!(
        store.list_sim_applied(None, 0, 10).await.unwrap(),
        (vec![], 0)
    );
    let record = |op: SubJobId, desktop: DesktopId, at_ms| SimApplied {
        op_id: op,
        desktop_id: desktop,
        operation: "os-stop".into(),
        node: "n1".into(),
        at_ms,
    };
    for (op, desktop, at) in [(op[0], d1, 10), (op[1], d2, 20), (op[2], d1, 30)] {
        store
            .record_sim_applied(&record(op, desktop, at))
            .await
            .unwrap();
    }
    assert!(store.sim_applied(&op[0]).await.unwrap());
    assert!(!store.sim_applied(&op[3]).await.unwrap());
    let (all, total) = store.list_sim_applied(None, 0, 10).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(
        all,
        [
            record(op[0], d1, 10),
            record(op[1], d2, 20),
            record(op[2], d1, 30)
        ]
    );
    let (on_d1, total) = store.list_sim_applied(Some(&d1), 1, 10).await.unwrap();
    assert_eq!(
        (on_d1, total),
        (vec![record(op[2], d1, 30)], 2),
        "oldest first, paged"
    );
}

/// The database answers until the store is closed, and not after.
pub async fn ping_and_close(store: &dyn Store) {
    store.ping().await.expect("a fresh store answers");
    store.close().await;
    assert!(
        store.ping().await.is_err(),
        "a closed store answers no more"
    );
}
