//! Desktop pools: creation with their desktops (all or nothing), reads with
//! counts, changes, deletion of empty pools only; helpers for the pool cases.

use crate::harness::{desktop, disk, job, policy, project, run_all, tag};
use deskplane::domain::admission::Scope;
use deskplane::domain::desktop::{DesktopStatus, DesktopType};
use deskplane::domain::ids::{DesktopId, JobId, PoolId, ProjectId};
use deskplane::domain::job::{JobStatus, JobType};
use deskplane::domain::machine::{Operation, Settled};
use deskplane::store::{
    DesktopFilter, NewDesktop, NewJob, PoolDeletion, PoolFilter, PoolMember, PoolRow, PoolUpdate,
    Store, StoreError, SubJobFilter,
};
use std::collections::HashMap;

/// A pool row with plain defaults.
pub fn pool_row(project: &ProjectId, name: &str, pool_type: &str, created_ms: i64) -> PoolRow {
    PoolRow {
        id: PoolId::new(),
        project_id: project.clone(),
        name: name.to_owned(),
        pool_type: pool_type.to_owned(),
        description: format!("pool {name}"),
        product_id: "workspace.x86.general.xlarge2".into(),
        image_id: "63aa8670-27ad-4747-8c44-6d8919e785a7".into(),
        image_type: "gold".into(),
        availability_zone: "cn-north-4a".into(),
        root_volume: disk("SAS", 80),
        data_volumes: vec![disk("SSD", 10)],
        tags: vec![tag("k", Some("v"))],
        disconnected_retention_period: 10,
        enable_autoscale: false,
        autoscale_policy: None,
        created_ms,
        desktop_count: 0,
        desktop_used: 0,
    }
}

/// An authorized member.
pub fn member(object_type: &str, name: &str, created_ms: i64) -> PoolMember {
    PoolMember {
        object_type: object_type.to_owned(),
        object_id: format!("id-{name}"),
        object_name: name.to_owned(),
        user_group: Some("users".into()),
        created_ms,
    }
}

/// `n` pooled desktops for `pool`, named after it.
pub fn pool_desktops(pool: &PoolRow, n: usize) -> Vec<NewDesktop> {
    extra_desktops(pool, "", n)
}

/// `n` more pooled desktops for `pool`, named after it and `tag` (computer
/// names stay unique in the project).
pub fn extra_desktops(pool: &PoolRow, tag: &str, n: usize) -> Vec<NewDesktop> {
    (0..n)
        .map(|i| {
            let mut row = desktop(&pool.project_id, &format!("{}-{tag}{i}", pool.name));
            row.desktop_type = DesktopType::Pooled;
            row.pool_id = Some(pool.id);
            NewDesktop { row }
        })
        .collect()
}

/// The createDesktopPool job of `pool`.
pub fn pool_job(pool: &PoolRow) -> NewJob {
    NewJob {
        pool_id: Some(pool.id),
        ..job(&pool.project_id, JobType::CreateDesktopPool, 1_000)
    }
}

/// Create `pool` with one desktop per status in `states`, settled there;
/// returns the desktop ids in creation order.
pub async fn pool_in(
    store: &dyn Store,
    pool: &PoolRow,
    members: &[PoolMember],
    states: &[DesktopStatus],
) -> Vec<DesktopId> {
    let desktops = pool_desktops(pool, states.len());
    store
        .create_pool(pool, members, &pool_job(pool), &desktops)
        .await
        .expect("create_pool");
    let wanted: HashMap<DesktopId, DesktopStatus> = desktops
        .iter()
        .zip(states)
        .map(|(d, s)| (d.row.id, *s))
        .collect();
    run_all(store, 2_000, |c| {
        let s = wanted
            .get(&c.desktop_id)
            .copied()
            .unwrap_or(DesktopStatus::Active);
        Settled::Stays(s, s.idle_login())
    })
    .await;
    desktops.into_iter().map(|d| d.row.id).collect()
}

fn names(pools: &[PoolRow]) -> Vec<&str> {
    pools.iter().map(|p| p.name.as_str()).collect()
}

pub async fn member_names(store: &dyn Store, pool_id: &PoolId) -> (Vec<String>, i64) {
    let (list, total) = store.list_pool_members(pool_id, 0, 100).await.unwrap();
    (list.into_iter().map(|m| m.object_name).collect(), total)
}

/// `got` is `pool` as written (counts aside).
fn same_pool(got: &PoolRow, pool: &PoolRow) {
    let text = |p: &PoolRow| {
        [
            &p.name,
            &p.pool_type,
            &p.description,
            &p.product_id,
            &p.image_id,
            &p.image_type,
            &p.availability_zone,
        ]
        .map(String::clone)
    };
    assert_eq!(text(got), text(pool));
    let ids = |p: &PoolRow| (p.id, p.project_id.clone());
    assert_eq!(ids(got), ids(pool));
    let disks_and_tags = |p: &PoolRow| {
        (
            p.root_volume.clone(),
            p.data_volumes.clone(),
            p.tags.clone(),
        )
    };
    assert_eq!(disks_and_tags(got), disks_and_tags(pool));
    let rest = |p: &PoolRow| {
        (
            p.disconnected_retention_period,
            p.enable_autoscale,
            p.autoscale_policy.clone(),
            p.created_ms,
        )
    };
    assert_eq!(rest(got), rest(pool));
}

pub async fn create_and_read(store: &dyn Store) {
    let p = project(store).await;
    let q = project(store).await;
    let mut pool = pool_row(&p, "pool-a", "DYNAMIC", 100);
    pool.enable_autoscale = true;
    pool.autoscale_policy = Some(policy(Some(1), None));
    let members = [
        member("USER", "alice", 100),
        member("USER_GROUP", "staff", 100),
    ];
    let desktops = pool_desktops(&pool, 3);
    let j = pool_job(&pool);
    store
        .create_pool(&pool, &members, &j, &desktops)
        .await
        .unwrap();

    let got = store.get_pool(&p, &pool.id).await.unwrap().expect("pool");
    same_pool(&got, &pool);
    assert_eq!((got.desktop_count, got.desktop_used), (3, 0));
    assert!(
        store.get_pool(&q, &pool.id).await.unwrap().is_none(),
        "another project's"
    );
    assert_eq!(store.pool_project(&pool.id).await.unwrap(), Some(p.clone()));
    assert_eq!(store.pool_project(&PoolId::new()).await.unwrap(), None);

    its_desktops(store, &pool, &j.id).await;
    let (list, total) = store.list_pool_members(&pool.id, 0, 10).await.unwrap();
    assert_eq!((list.as_slice(), total), (&members[..], 2));

    conflicts_write_nothing(store, &p, &q, &desktops[0].row.id).await;
}

/// The desktops of a new pool are an ordinary create job, tagged with the pool.
async fn its_desktops(store: &dyn Store, pool: &PoolRow, job_id: &JobId) {
    let p = &pool.project_id;
    let written = store.get_job(p, job_id).await.unwrap().expect("pool job");
    assert_eq!(
        (written.job_type, written.status, written.total),
        (JobType::CreateDesktopPool, JobStatus::Waiting, 3)
    );
    let in_pool = DesktopFilter {
        pool_ids: vec![pool.id.to_string()],
        limit: 10,
        ..DesktopFilter::default()
    };
    let (rows, total) = store.list_desktops(p, &in_pool).await.unwrap();
    assert_eq!(total, 3);
    let rows: Vec<_> = rows
        .iter()
        .map(|d| (d.computer_name.as_str(), d.status, d.desktop_type))
        .collect();
    assert_eq!(
        rows,
        [
            ("pool-a-0", DesktopStatus::Build, DesktopType::Pooled),
            ("pool-a-1", DesktopStatus::Build, DesktopType::Pooled),
            ("pool-a-2", DesktopStatus::Build, DesktopType::Pooled),
        ]
    );
    let (subs, total) = store
        .list_sub_jobs(&SubJobFilter {
            project_id: p.clone(),
            pool_id: Some(pool.id.to_string()),
            limit: 10,
            ..SubJobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 3);
    assert!(
        subs.iter()
            .all(|s| s.job_id == *job_id && s.operation == Operation::Create)
    );
}

/// A taken name, or a failure while writing the desktops, leaves no trace.
async fn conflicts_write_nothing(
    store: &dyn Store,
    p: &ProjectId,
    q: &ProjectId,
    taken_id: &DesktopId,
) {
    let dup = pool_row(p, "pool-a", "STATIC", 200);
    let dup_job = pool_job(&dup);
    let r = store
        .create_pool(
            &dup,
            &[member("USER", "bob", 200)],
            &dup_job,
            &extra_desktops(&dup, "x", 2),
        )
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict(ref n)) if n == "pool-a"),
        "name taken in the project: {r:?}"
    );
    assert_eq!(store.pool_project(&dup.id).await.unwrap(), None);
    assert!(
        store.get_job(p, &dup_job.id).await.unwrap().is_none(),
        "no job"
    );
    assert_eq!(member_names(store, &dup.id).await.1, 0, "no members");
    let everything = DesktopFilter {
        limit: 100,
        ..DesktopFilter::default()
    };
    assert_eq!(
        store.list_desktops(p, &everything).await.unwrap().1,
        3,
        "no desktops"
    );

    let elsewhere = pool_row(q, "pool-a", "STATIC", 200);
    store
        .create_pool(
            &elsewhere,
            &[],
            &pool_job(&elsewhere),
            &pool_desktops(&elsewhere, 1),
        )
        .await
        .expect("the same name in another project");

    a_taken_name_fails_the_pool(store, p).await;

    // One desktop id is taken: the whole pool fails, nothing of it stays.
    let broken = pool_row(p, "pool-b", "STATIC", 300);
    let mut clash = pool_desktops(&broken, 2);
    clash[1].row.id = *taken_id;
    let broken_job = pool_job(&broken);
    let r = store
        .create_pool(&broken, &[member("USER", "bob", 300)], &broken_job, &clash)
        .await;
    assert!(r.is_err(), "a desktop id clash fails the pool");
    assert_eq!(
        store.pool_project(&broken.id).await.unwrap(),
        None,
        "atomic"
    );
    assert_eq!(member_names(store, &broken.id).await.1, 0);
    assert!(store.get_job(p, &broken_job.id).await.unwrap().is_none());
    let again = pool_row(p, "pool-b", "STATIC", 300);
    store
        .create_pool(&again, &[], &pool_job(&again), &pool_desktops(&again, 1))
        .await
        .expect("the name is free again");
}

pub async fn list_and_update(store: &dyn Store) {
    let p = project(store).await;
    let q = project(store).await;
    let specs = [
        ("web-1", "DYNAMIC", 10),
        ("Web_2", "STATIC", 20),
        ("db", "DYNAMIC", 20),
        ("webx", "STATIC", 30),
    ];
    let mut ids = HashMap::new();
    for (i, (name, kind, at)) in specs.into_iter().enumerate() {
        let pool = pool_row(&p, name, kind, at);
        // Pool i has i+1 desktops, the first of them assigned to a user.
        let mut desktops = pool_desktops(&pool, i + 1);
        desktops[0].row.user_name = Some("alice".into());
        store
            .create_pool(&pool, &[], &pool_job(&pool), &desktops)
            .await
            .unwrap();
        ids.insert(name, pool.id);
    }
    let theirs = pool_row(&q, "web-9", "DYNAMIC", 5);
    store
        .create_pool(&theirs, &[], &pool_job(&theirs), &pool_desktops(&theirs, 1))
        .await
        .unwrap();

    let list = async |name: Option<&str>, kind: Option<&str>, offset, limit| {
        let f = PoolFilter {
            name: name.map(str::to_owned),
            pool_type: kind.map(str::to_owned),
            offset,
            limit,
        };
        store.list_pools(&p, &f).await.unwrap()
    };
    let (all, total) = list(None, None, 0, 100).await;
    assert_eq!(total, 4);
    assert_eq!(
        names(&all),
        ["web-1", "Web_2", "db", "webx"],
        "by creation, then name in byte order"
    );
    let counts: Vec<(i64, i64)> = all
        .iter()
        .map(|p| (p.desktop_count, p.desktop_used))
        .collect();
    assert_eq!(counts, [(1, 1), (2, 1), (3, 1), (4, 1)]);
    let (page, total) = list(None, None, 1, 2).await;
    assert_eq!((names(&page), total), (vec!["Web_2", "db"], 4));
    let (l, total) = list(Some("WEB"), None, 0, 100).await;
    assert_eq!(
        (names(&l), total),
        (vec!["web-1", "Web_2", "webx"], 3),
        "substring, any case"
    );
    let (l, total) = list(Some("b_"), None, 0, 100).await;
    assert_eq!((names(&l), total), (vec!["Web_2"], 1), "`_` is literal");
    assert_eq!(list(Some("%"), None, 0, 100).await.1, 0, "`%` is literal");
    let (l, total) = list(None, Some("STATIC"), 0, 100).await;
    assert_eq!((names(&l), total), (vec!["Web_2", "webx"], 2));
    let (l, _) = list(Some("web"), Some("DYNAMIC"), 0, 100).await;
    assert_eq!(names(&l), ["web-1"]);

    updates(store, &p, &q, &ids["web-1"]).await;
}

/// Fields given change, the others are kept.
async fn updates(store: &dyn Store, p: &ProjectId, q: &ProjectId, id: &PoolId) {
    let change = |u: PoolUpdate| async move { store.update_pool(p, id, &u).await };
    let desc = PoolUpdate {
        description: Some("new words".into()),
        ..PoolUpdate::default()
    };
    assert!(change(desc).await.unwrap());
    let got = store.get_pool(p, id).await.unwrap().expect("pool");
    assert_eq!(
        (got.name.as_str(), got.description.as_str()),
        ("web-1", "new words")
    );
    assert_eq!(
        (got.tags, got.disconnected_retention_period),
        (vec![tag("k", Some("v"))], 10)
    );
    assert_eq!(
        (got.enable_autoscale, got.autoscale_policy),
        (false, None),
        "unset fields kept"
    );

    let all = PoolUpdate {
        name: Some("web-one".into()),
        description: Some(String::new()),
        tags: Some(Vec::new()),
        disconnected_retention_period: Some(0),
        enable_autoscale: Some(true),
        autoscale_policy: Some(policy(Some(2), Some(5))),
    };
    assert!(change(all).await.unwrap());
    let got = store.get_pool(p, id).await.unwrap().expect("pool");
    assert_eq!(
        (
            got.name.as_str(),
            got.description.as_str(),
            got.tags.as_slice()
        ),
        ("web-one", "", &[][..])
    );
    assert_eq!(
        (got.disconnected_retention_period, got.enable_autoscale),
        (0, true)
    );
    assert_eq!(got.autoscale_policy, Some(policy(Some(2), Some(5))));
    assert_eq!(
        (got.pool_type.as_str(), got.created_ms, got.desktop_count),
        ("DYNAMIC", 10, 1),
        "not changeable"
    );

    renames(store, p, q, id).await;
}

/// A rename to a name taken in the project is a `Conflict`; to its own is not.
async fn renames(store: &dyn Store, p: &ProjectId, q: &ProjectId, id: &PoolId) {
    let change = |u: PoolUpdate| async move { store.update_pool(p, id, &u).await };
    let rename = |n: &str| PoolUpdate {
        name: Some(n.to_owned()),
        ..PoolUpdate::default()
    };
    let r = change(rename("db")).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(ref n)) if n == "db"),
        "taken: {r:?}"
    );
    assert_eq!(
        store.get_pool(p, id).await.unwrap().expect("pool").name,
        "web-one"
    );
    assert!(change(rename("web-one")).await.unwrap(), "its own name");
    assert!(
        change(rename("web-9")).await.unwrap(),
        "taken in another project only"
    );
    assert!(
        change(PoolUpdate::default()).await.unwrap(),
        "nothing to change: still found"
    );
    assert!(
        !store.update_pool(q, id, &rename("x")).await.unwrap(),
        "another project's"
    );
    assert!(
        !store
            .update_pool(p, &PoolId::new(), &rename("x"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_pool(p, id).await.unwrap().expect("pool").name,
        "web-9"
    );
}

pub async fn delete_only_empty(store: &dyn Store) {
    let p = project(store).await;
    let q = project(store).await;
    let pool = pool_row(&p, "doomed", "STATIC", 10);
    let ids = pool_in(
        store,
        &pool,
        &[member("USER", "alice", 10)],
        &[DesktopStatus::Active; 2],
    )
    .await;
    assert_eq!(
        store.delete_pool(&q, &pool.id).await.unwrap(),
        PoolDeletion::NotFound
    );
    assert_eq!(
        store.delete_pool(&p, &PoolId::new()).await.unwrap(),
        PoolDeletion::NotFound
    );
    assert_eq!(
        store.delete_pool(&p, &pool.id).await.unwrap(),
        PoolDeletion::NotEmpty(2)
    );
    assert_eq!(
        member_names(store, &pool.id).await.1,
        1,
        "refused: untouched"
    );

    let del = async |id: &DesktopId| {
        let j = job(&p, JobType::DeleteDesktops, 3_000);
        let out = store
            .submit_batch(
                &j,
                Operation::Delete,
                false,
                Scope::Partial,
                std::slice::from_ref(id),
            )
            .await
            .unwrap();
        assert_eq!(out.accepted.len(), 1);
    };
    del(&ids[0]).await;
    assert_eq!(
        store.delete_pool(&p, &pool.id).await.unwrap(),
        PoolDeletion::NotEmpty(2),
        "a desktop being deleted still counts"
    );
    run_all(store, 4_000, |c| {
        c.operation.succeeded(c.prev_status, c.prev_login)
    })
    .await;
    assert_eq!(
        store.delete_pool(&p, &pool.id).await.unwrap(),
        PoolDeletion::NotEmpty(1)
    );
    del(&ids[1]).await;
    run_all(store, 5_000, |c| {
        c.operation.succeeded(c.prev_status, c.prev_login)
    })
    .await;
    assert_eq!(
        store.delete_pool(&p, &pool.id).await.unwrap(),
        PoolDeletion::Deleted
    );
    gone_for_good(store, &pool).await;
}

/// A deleted pool is gone with its members; its name is free, its jobs stay.
async fn gone_for_good(store: &dyn Store, pool: &PoolRow) {
    let p = &pool.project_id;
    assert!(store.get_pool(p, &pool.id).await.unwrap().is_none());
    assert_eq!(store.pool_project(&pool.id).await.unwrap(), None);
    assert_eq!(
        member_names(store, &pool.id).await.1,
        0,
        "members go with it"
    );
    assert_eq!(
        store.delete_pool(p, &pool.id).await.unwrap(),
        PoolDeletion::NotFound
    );
    let (_, total) = store
        .list_sub_jobs(&SubJobFilter {
            project_id: p.clone(),
            pool_id: Some(pool.id.to_string()),
            limit: 10,
            ..SubJobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 2, "the pool's job history stays");
    let again = pool_row(p, "doomed", "STATIC", 20);
    store
        .create_pool(&again, &[], &pool_job(&again), &pool_desktops(&again, 1))
        .await
        .expect("the name is free again");
}

/// One computer name is taken: the whole pool fails, naming it.
async fn a_taken_name_fails_the_pool(store: &dyn Store, p: &ProjectId) {
    let named = pool_row(p, "pool-c", "STATIC", 300);
    let mut clash = pool_desktops(&named, 2);
    clash[1].row.computer_name = "pool-a-1".into();
    let r = store
        .create_pool(&named, &[], &pool_job(&named), &clash)
        .await;
    assert!(
        matches!(r, Err(StoreError::NamesTaken(ref n)) if n == &["pool-a-1"]),
        "{r:?}"
    );
    assert_eq!(store.pool_project(&named.id).await.unwrap(), None);
}
