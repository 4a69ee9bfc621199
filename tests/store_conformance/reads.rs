//! Reads the API pages through: sub-job and notification filters, exact-name
//! desktop filters, lookups by many ids, edge cases of deletes, node order.

use crate::harness::{
    STOP, create, desktop, desktops_in, job, names_taken, pid, project, user_row,
};
use crate::pools::{pool_in, pool_row};
use deskplane::domain::admission::Scope;
use deskplane::domain::desktop::DesktopStatus;
use deskplane::domain::ids::{DesktopId, JobId, PoolId, ProjectId, UserId};
use deskplane::domain::job::JobType;
use deskplane::domain::machine::Operation;
use deskplane::store::{
    DesktopFilter, NewDesktop, NodeRow, NotificationFilter, NotificationRow, PoolFilter, Store,
    SubJobFilter, UserFilter, UserRow,
};

/// Sub-jobs of two projects: creates, a pool, then a stop and a rebuild waiting.
struct History {
    p: ProjectId,
    q: ProjectId,
    desktops: Vec<DesktopId>,
    pool_id: PoolId,
    stop: JobId,
    rebuild: JobId,
}

async fn history(store: &dyn Store) -> History {
    let p = project(store).await;
    let q = project(store).await;
    let d = desktops_in(store, &p, &[DesktopStatus::Active; 2]).await;
    desktops_in(store, &q, &[DesktopStatus::Active]).await;
    let pool = pool_row(&p, "pl", "STATIC", 10);
    pool_in(store, &pool, &[], &[DesktopStatus::Active]).await;
    let stop = job(&p, JobType::OperateDesktops, 3_000);
    store
        .submit_batch(&stop, STOP, false, Scope::Partial, &d[..1])
        .await
        .unwrap();
    let rebuild = job(&p, JobType::RebuildDesktops, 3_100);
    store
        .submit_batch(&rebuild, Operation::Rebuild, false, Scope::Partial, &d[1..])
        .await
        .unwrap();
    History {
        p,
        q,
        desktops: d,
        pool_id: pool.id,
        stop: stop.id,
        rebuild: rebuild.id,
    }
}

/// (job, desktop) of each sub-job listed, and the total.
async fn list(store: &dyn Store, f: SubJobFilter) -> (Vec<(JobId, DesktopId)>, i64) {
    let (rows, total) = store.list_sub_jobs(&f).await.unwrap();
    let jobs = rows.into_iter().map(|s| (s.job_id, s.desktop_id)).collect();
    (jobs, total)
}

/// `f` in `project`, 100 a page unless `f` says otherwise.
fn within(project: &ProjectId, mut f: SubJobFilter) -> SubJobFilter {
    f.project_id = project.clone();
    if f.limit == 0 {
        f.limit = 100;
    }
    f
}

pub async fn sub_job_order_and_paging(store: &dyn Store) {
    let h = history(store).await;
    let of = |f: SubJobFilter| within(&h.p, f);
    let (all, total) = list(store, of(SubJobFilter::default())).await;
    assert_eq!(total, 5);
    let jobs: Vec<JobId> = all.iter().map(|(j, _)| *j).collect();
    assert_eq!(&jobs[3..], [h.stop, h.rebuild], "submission order");
    let newest = SubJobFilter {
        newest_first: true,
        ..SubJobFilter::default()
    };
    let (newest, _) = list(store, of(newest)).await;
    assert_eq!(newest, all.iter().rev().copied().collect::<Vec<_>>());
    let page = SubJobFilter {
        offset: 1,
        limit: 2,
        ..SubJobFilter::default()
    };
    let (rows, total) = list(store, of(page.clone())).await;
    assert_eq!((rows.as_slice(), total), (&all[1..3], 5));
    let back = SubJobFilter {
        newest_first: true,
        ..page
    };
    assert_eq!(list(store, of(back)).await.0, [all[3], all[2]]);
    let (theirs, total) = list(store, within(&h.q, SubJobFilter::default())).await;
    assert_eq!((theirs.len(), total), (1, 1), "per project");
    let foreign = SubJobFilter {
        job_id: Some(h.stop.to_string()),
        ..SubJobFilter::default()
    };
    assert_eq!(
        list(store, within(&h.q, foreign)).await.1,
        0,
        "another project's job"
    );
    assert_eq!(
        list(store, within(&pid("none"), SubJobFilter::default())).await,
        (vec![], 0)
    );
}

pub async fn sub_job_filters(store: &dyn Store) {
    let h = history(store).await;
    let d = &h.desktops;
    let count = async |f: SubJobFilter| list(store, within(&h.p, f)).await.1;
    let by_type = |t: JobType| SubJobFilter {
        job_type: Some(t.as_str().into()),
        ..SubJobFilter::default()
    };
    let only_stop = vec![(h.stop, d[0])];
    assert_eq!(
        list(store, within(&h.p, by_type(JobType::OperateDesktops))).await,
        (only_stop.clone(), 1)
    );
    assert_eq!(count(by_type(JobType::RebuildDesktops)).await, 1);
    assert_eq!(count(by_type(JobType::CreateDesktops)).await, 2);
    assert_eq!(count(by_type(JobType::CreateDesktopPool)).await, 1);
    let waiting = SubJobFilter {
        status: Some("WAITING".into()),
        ..SubJobFilter::default()
    };
    assert_eq!(count(waiting).await, 2);
    let on_d0 = SubJobFilter {
        desktop_id: Some(d[0].to_string()),
        ..SubJobFilter::default()
    };
    let (rows, total) = list(store, within(&h.p, on_d0.clone())).await;
    assert_eq!(total, 2);
    assert_eq!(rows[1], only_stop[0], "its create, then its stop");
    let newest_on_d0 = SubJobFilter {
        newest_first: true,
        limit: 1,
        ..on_d0.clone()
    };
    assert_eq!(list(store, within(&h.p, newest_on_d0)).await.0, only_stop);
    let in_pool = SubJobFilter {
        pool_id: Some(h.pool_id.to_string()),
        ..SubJobFilter::default()
    };
    assert_eq!(count(in_pool).await, 1, "jobs on the pool only");
    let both = SubJobFilter {
        job_type: Some(JobType::RebuildDesktops.as_str().into()),
        ..on_d0
    };
    assert_eq!(count(both).await, 0, "filters combine");
    let of_job = SubJobFilter {
        job_id: Some(h.rebuild.to_string()),
        ..SubJobFilter::default()
    };
    let rebuilt = vec![(h.rebuild, d[1])];
    assert_eq!(list(store, within(&h.p, of_job)).await, (rebuilt, 1));
}

fn note(
    project: &ProjectId,
    desktop: DesktopId,
    name: &str,
    user: Option<&str>,
    kind: &str,
) -> NotificationRow {
    NotificationRow {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project.clone(),
        desktop_id: desktop,
        desktop_name: name.to_owned(),
        user_name: user.map(str::to_owned),
        user_email: user.map(|u| format!("{u}@example.com")),
        kind: kind.to_owned(),
        message: format!("to {name}"),
        job_id: None,
        created_ms: 7,
    }
}

pub async fn notification_filters(store: &dyn Store) {
    let p = project(store).await;
    let [d1, d2, d3]: [DesktopId; 3] = std::array::from_fn(|_| DesktopId::new());
    let notes = [
        note(&p, d1, "pc-Alpha", Some("Ann"), "EMAIL"),
        note(&p, d2, "pc-beta", None, "MESSAGE"),
        note(&p, d1, "pc-Alpha", Some("bob_x"), "MESSAGE"),
        note(&p, d3, "web_1", Some("ann"), "EMAIL"),
    ];
    store.insert_notifications(&notes).await.unwrap();
    let ids = |idx: &[usize]| idx.iter().map(|i| notes[*i].id.clone()).collect::<Vec<_>>();
    let list = async |f: NotificationFilter| {
        let (rows, total) = store
            .list_notifications(&p, &NotificationFilter { limit: 100, ..f })
            .await
            .unwrap();
        (rows.into_iter().map(|n| n.id).collect::<Vec<_>>(), total)
    };
    let f = NotificationFilter::default;
    assert_eq!(list(f()).await, (ids(&[3, 2, 1, 0]), 4), "newest first");
    assert_eq!(
        list(NotificationFilter {
            oldest_first: true,
            ..f()
        })
        .await,
        (ids(&[0, 1, 2, 3]), 4)
    );
    let page = NotificationFilter {
        oldest_first: true,
        offset: 1,
        ..f()
    };
    let (rows, total) = store
        .list_notifications(&p, &NotificationFilter { limit: 2, ..page })
        .await
        .unwrap();
    assert_eq!(
        (rows.iter().map(|n| n.id.clone()).collect::<Vec<_>>(), total),
        (ids(&[1, 2]), 4)
    );
    assert_eq!(rows[0].user_email, None);
    let name = |n: &str| NotificationFilter {
        desktop_name: Some(n.into()),
        ..f()
    };
    assert_eq!(
        list(name("ALPHA")).await,
        (ids(&[2, 0]), 2),
        "substring, any case"
    );
    assert_eq!(list(name("b_")).await, (ids(&[3]), 1), "`_` is literal");
    let user = |u: &str| NotificationFilter {
        user_name: Some(u.into()),
        ..f()
    };
    assert_eq!(list(user("ANN")).await, (ids(&[3, 0]), 2));
    assert_eq!(list(user("%")).await.1, 0, "`%` is literal");
    let kind = |k: &str| NotificationFilter {
        kind: Some(k.into()),
        ..f()
    };
    assert_eq!(list(kind("EMAIL")).await, (ids(&[3, 0]), 2));
    assert_eq!(list(kind("email")).await.1, 0, "exact kind");
    let both = NotificationFilter {
        kind: Some("MESSAGE".into()),
        desktop_name: Some("alpha".into()),
        ..f()
    };
    assert_eq!(list(both).await, (ids(&[2]), 1));
}

pub async fn exact_names(store: &dyn Store) {
    let p = project(store).await;
    let mut rows: Vec<_> = (0..3).map(|i| desktop(&p, &format!("pc-{i}"))).collect();
    rows[0].user_name = Some("ann".into());
    rows[1].user_name = Some("Ann".into());
    rows[2].computer_name = "PC-2".into();
    create(store, &p, &rows).await;
    let names = async |f: DesktopFilter| {
        let (list, total) = store
            .list_desktops(&p, &DesktopFilter { limit: 100, ..f })
            .await
            .unwrap();
        (
            list.into_iter()
                .map(|d| d.computer_name)
                .collect::<Vec<_>>(),
            total,
        )
    };
    let users = |u: &[&str]| DesktopFilter {
        user_names: u.iter().map(|s| (*s).to_owned()).collect(),
        ..DesktopFilter::default()
    };
    assert_eq!(
        names(users(&["ann"])).await,
        (vec!["pc-0".into()], 1),
        "exact, case kept"
    );
    assert_eq!(names(users(&["Ann", "ann", "zed"])).await.1, 2);
    let computers = |c: &[&str]| DesktopFilter {
        computer_names: c.iter().map(|s| (*s).to_owned()).collect(),
        ..DesktopFilter::default()
    };
    assert_eq!(names(computers(&["pc-2"])).await.1, 0, "exact, case kept");
    assert_eq!(
        names(computers(&["PC-2", "pc-0"])).await,
        (vec!["pc-0".into(), "PC-2".into()], 2)
    );
    assert_eq!(
        names_taken(store, &p, &["pc-2"]).await,
        None,
        "uniqueness is checked by exact name"
    );
    assert!(store.get_desktops(&[]).await.unwrap().is_empty());
}

/// More ids than one SQLite statement takes.
pub async fn many_ids(store: &dyn Store) {
    let p = project(store).await;
    let q = project(store).await;
    let mine = desktop(&p, "mine");
    create(store, &p, std::slice::from_ref(&mine)).await;
    let many: Vec<NewDesktop> = (0..1_200)
        .map(|i| NewDesktop {
            row: desktop(&q, &format!("m-{i:04}")),
        })
        .collect();
    let j = job(&q, JobType::CreateDesktops, 1_000);
    store.submit_create(&j, &many, &[]).await.unwrap();
    let mut ids: Vec<DesktopId> = many.iter().map(|d| d.row.id).collect();
    ids.push(mine.id);
    let mut got: Vec<DesktopId> = store
        .get_desktops(&ids)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids, "every one, whichever project");
    let names: Vec<&str> = many.iter().map(|d| d.row.computer_name.as_str()).collect();
    assert_eq!(
        names_taken(store, &q, &names).await,
        Some(names.iter().map(|n| (*n).to_owned()).collect()),
        "every one taken, however many"
    );
}

pub async fn deletes_stay_in_their_project(store: &dyn Store) {
    let p = project(store).await;
    let q = project(store).await;
    let u = UserRow {
        description: "d".into(),
        ..user_row(&p, "kim", 1)
    };
    store.insert_user(&u).await.unwrap();
    assert!(
        !store.delete_user(&q, &u.id).await.unwrap(),
        "another project's user"
    );
    assert!(store.get_user(&p, &u.id).await.unwrap().is_some());
    assert!(!store.delete_user(&p, &UserId::new()).await.unwrap());
    let mut d = desktop(&p, "kims");
    d.user_name = Some("kim".into());
    create(store, &p, &[d]).await;
    assert_eq!(store.count_user_desktops(&p, "kim").await.unwrap(), 1);
    assert_eq!(
        store.count_user_desktops(&p, "KIM").await.unwrap(),
        0,
        "exact name"
    );
    assert_eq!(store.count_user_desktops(&q, "kim").await.unwrap(), 0);
    let lee = UserRow {
        id: UserId::new(),
        user_name: "lee".into(),
        ..u.clone()
    };
    store.insert_user(&lee).await.unwrap();
    assert!(store.delete_user(&p, &lee.id).await.unwrap());
    assert!(store.get_user(&p, &lee.id).await.unwrap().is_none());
    assert!(
        store.get_user(&p, &u.id).await.unwrap().is_some(),
        "only that one"
    );
    store
        .insert_user(&lee)
        .await
        .expect("the name is free again");
}

pub async fn nodes_tie_in_byte_order(store: &dyn Store) {
    assert!(store.list_nodes().await.unwrap().is_empty());
    let node = |id: &str, heartbeat_ms| NodeRow {
        id: id.to_owned(),
        incarnation: format!("{id}#1"),
        address: "127.0.0.1:1".into(),
        started_ms: 1,
        heartbeat_ms,
    };
    for (id, at) in [("node-b", 5), ("Node-c", 5), ("node-a", 9)] {
        store.upsert_node(&node(id, at)).await.unwrap();
    }
    let order: Vec<String> = store
        .list_nodes()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(
        order,
        ["node-a", "Node-c", "node-b"],
        "latest first, then id in byte order"
    );
}

/// Pool `Ärzte` with desktop `pc-é` of user `Émile`, and a notice to
/// `Émile` about desktop `pc-É`.
async fn names_beyond_ascii(store: &dyn Store, p: &ProjectId) {
    let pool = pool_row(p, "Ärzte", "STATIC", 10);
    let mut d = desktop(p, "pc-é");
    d.user_name = Some("Émile".into());
    d.pool_id = Some(pool.id);
    store
        .create_pool(
            &pool,
            &[],
            &crate::pools::pool_job(&pool),
            &[NewDesktop { row: d }],
        )
        .await
        .unwrap();
    store.insert_user(&user_row(p, "Émile", 1)).await.unwrap();
    store
        .insert_notifications(&[note(p, DesktopId::new(), "pc-É", Some("Émile"), "EMAIL")])
        .await
        .unwrap();
}

/// Substring filters ignore ASCII case only, as SQLite's LIKE does: names may
/// hold other letters (pool names do), which match exactly.
pub async fn substring_filters_fold_ascii_only(store: &dyn Store) {
    let p = project(store).await;
    names_beyond_ascii(store, &p).await;
    // (pools, desktops by user, desktops by name, users, notifications by desktop, by user)
    let hits = async |s: &str| {
        let pools = PoolFilter {
            name: Some(s.into()),
            limit: 10,
            ..PoolFilter::default()
        };
        let by_user = DesktopFilter {
            user_name: Some(s.into()),
            limit: 10,
            ..DesktopFilter::default()
        };
        let by_name = DesktopFilter {
            computer_name: Some(s.into()),
            limit: 10,
            ..DesktopFilter::default()
        };
        let users = UserFilter {
            user_name: Some(s.into()),
            limit: 10,
            ..UserFilter::default()
        };
        let on_desktop = NotificationFilter {
            desktop_name: Some(s.into()),
            limit: 10,
            ..NotificationFilter::default()
        };
        let to_user = NotificationFilter {
            user_name: Some(s.into()),
            limit: 10,
            ..NotificationFilter::default()
        };
        [
            store.list_pools(&p, &pools).await.unwrap().1,
            store.list_desktops(&p, &by_user).await.unwrap().1,
            store.list_desktops(&p, &by_name).await.unwrap().1,
            store.list_users(&p, &users).await.unwrap().1,
            store.list_notifications(&p, &on_desktop).await.unwrap().1,
            store.list_notifications(&p, &to_user).await.unwrap().1,
        ]
    };
    assert_eq!(
        hits("ÄRZTE").await,
        [1, 0, 0, 0, 0, 0],
        "Ä as written, RZTE any case"
    );
    assert_eq!(hits("ärzte").await, [0; 6], "ä is not Ä");
    assert_eq!(hits("ÉMILE").await, [0, 1, 0, 1, 0, 1]);
    assert_eq!(hits("émile").await, [0; 6], "é is not É");
    assert_eq!(hits("PC-É").await, [0, 0, 0, 0, 1, 0]);
    assert_eq!(
        hits("pc-é").await,
        [0, 0, 1, 0, 0, 0],
        "the desktop is pc-é, the notice pc-É"
    );
}
