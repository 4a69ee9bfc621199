//! Pool sessions: binding users to desktops, unbinding them after the
//! retention, and what autoscale asks for.

use crate::harness::{STOP, desktops_in, get, job, policy, project, raw_execute, run_all};
use crate::pools::{extra_desktops, pool_in, pool_row};
use deskplane::domain::admission::Scope;
use deskplane::domain::desktop::{DesktopStatus, LoginStatus};
use deskplane::domain::ids::{DesktopId, PoolId, ProjectId};
use deskplane::domain::job::JobType;
use deskplane::domain::pool::AutoscalePolicy;
use deskplane::store::{NewJob, PoolRow, PoolUpdate, Store, StoreError};

/// Bind `user`; the id of the desktop they got, if any.
async fn bind(store: &dyn Store, pool: &PoolId, user: &str) -> Option<DesktopId> {
    store
        .bind_pool_user(pool, user)
        .await
        .unwrap()
        .map(|d| d.id)
}

/// Hold `id` with a stop that nobody runs yet.
async fn hold(store: &dyn Store, project: &ProjectId, id: &DesktopId) {
    let j = job(project, JobType::OperateDesktops, 3_000);
    let out = store
        .submit_batch(&j, STOP, false, Scope::Partial, std::slice::from_ref(id))
        .await
        .unwrap();
    assert_eq!(out.accepted.len(), 1);
}

pub async fn bind_own_else_oldest_free(store: &dyn Store) {
    use DesktopStatus as S;
    let p = project(store).await;
    let pool = pool_row(&p, "binds", "DYNAMIC", 10);
    let states = [
        S::Active,
        S::Active,
        S::Shutoff,
        S::Active,
        S::Active,
        S::Active,
    ];
    let d = pool_in(store, &pool, &[], &states).await;
    let other = pool_row(&p, "other", "DYNAMIC", 10);
    let spare = pool_in(store, &other, &[], &[S::Active]).await;
    hold(store, &p, &d[0]).await;

    let got = store
        .bind_pool_user(&pool.id, "zoe")
        .await
        .unwrap()
        .expect("a free desktop");
    assert_eq!(got.id, d[1], "the oldest idle ACTIVE one");
    assert_eq!(
        (got.user_name.as_deref(), got.login_status),
        (Some("zoe"), LoginStatus::Connected)
    );
    assert_eq!((got.status, got.pool_id), (S::Active, Some(pool.id)));
    let stored = get(store, &p, &d[1]).await;
    assert_eq!(
        (stored.user_name.as_deref(), stored.login_status),
        (Some("zoe"), LoginStatus::Connected)
    );
    assert_eq!(bind(store, &pool.id, "yan").await.as_ref(), Some(&d[3]));
    assert_eq!(
        bind(store, &pool.id, "zoe").await.as_ref(),
        Some(&d[1]),
        "her own again"
    );
    assert_eq!(bind(store, &pool.id, "xia").await.as_ref(), Some(&d[4]));
    assert_eq!(bind(store, &pool.id, "wu").await.as_ref(), Some(&d[5]));
    assert_eq!(
        bind(store, &pool.id, "vic").await,
        None,
        "busy, SHUTOFF and bound ones are not free"
    );
    assert_eq!(
        get(store, &p, &spare[0]).await.user_name,
        None,
        "another pool's desktop"
    );
    let counts = store.get_pool(&p, &pool.id).await.unwrap().expect("pool");
    assert_eq!((counts.desktop_count, counts.desktop_used), (6, 4));

    // A disconnected user gets their desktop back, connected.
    assert!(
        store
            .set_login_status(&p, &d[3], LoginStatus::Disconnected, 5_000)
            .await
            .unwrap()
    );
    assert_eq!(bind(store, &pool.id, "yan").await.as_ref(), Some(&d[3]));
    assert_eq!(
        get(store, &p, &d[3]).await.login_status,
        LoginStatus::Connected
    );

    own_desktop_unavailable(store, &pool, &d).await;
}

/// `xia` (bound to `d[4]`) gets no other desktop while hers is SHUTOFF.
async fn own_desktop_unavailable(store: &dyn Store, pool: &PoolRow, d: &[DesktopId]) {
    use DesktopStatus as S;
    let p = &pool.project_id;
    hold(store, p, &d[4]).await;
    run_all(store, 6_000, |c| {
        c.operation.succeeded(c.prev_status, c.prev_login)
    })
    .await;
    assert_eq!(get(store, p, &d[0]).await.status, S::Shutoff);
    assert_eq!(get(store, p, &d[4]).await.status, S::Shutoff);
    let back = extra_desktops(pool, "more", 1);
    store
        .submit_create(&job(p, JobType::ExpandDesktopPool, 7_000), &back, &[])
        .await
        .unwrap();
    run_all(store, 7_000, |c| {
        c.operation.succeeded(c.prev_status, c.prev_login)
    })
    .await;
    assert_eq!(
        bind(store, &pool.id, "xia").await,
        None,
        "her desktop is SHUTOFF"
    );
    let fresh = get(store, p, &back[0].row.id).await;
    assert_eq!(
        (fresh.status, fresh.user_name),
        (S::Active, None),
        "left free"
    );
    assert_eq!(
        bind(store, &pool.id, "vic").await.as_ref(),
        Some(&back[0].row.id)
    );
    assert_eq!(bind(store, &PoolId::new(), "vic").await, None);
}

pub async fn one_free_desktop_two_users_at_once(store: &dyn Store) {
    let p = project(store).await;
    for round in 0..10 {
        let pool = pool_row(&p, &format!("race-{round}"), "DYNAMIC", 10);
        let d = pool_in(store, &pool, &[], &[DesktopStatus::Active]).await;
        // Two transactions at once (PostgreSQL: two connections of the pool).
        let (a, b) = tokio::join!(bind(store, &pool.id, "ann"), bind(store, &pool.id, "bo"));
        let winner = match (&a, &b) {
            (Some(id), None) if *id == d[0] => "ann",
            (None, Some(id)) if *id == d[0] => "bo",
            other => panic!("round {round}: exactly one user gets the desktop: {other:?}"),
        };
        assert_eq!(
            get(store, &p, &d[0]).await.user_name.as_deref(),
            Some(winner)
        );
    }
}

pub async fn unbind_after_retention(store: &dyn Store) {
    let p = project(store).await;
    let (dynamic, d, s, i) = sessions(store, &p).await;
    // Retention 10 minutes: not a millisecond early.
    assert_eq!(store.unbind_expired(99_999).await.unwrap(), 0);
    assert_eq!(
        store.unbind_expired(100_000).await.unwrap(),
        1,
        "retention 0: at once"
    );
    let freed = get(store, &p, &i[0]).await;
    assert_eq!(
        (freed.user_name, freed.login_status),
        (None, LoginStatus::Registered)
    );
    assert_eq!(store.unbind_expired(699_999).await.unwrap(), 0);
    assert_eq!(store.unbind_expired(700_000).await.unwrap(), 1);
    let freed = get(store, &p, &d[0]).await;
    assert_eq!(
        (freed.user_name, freed.login_status),
        (None, LoginStatus::Registered)
    );
    assert_eq!(
        store.unbind_expired(10_000_000).await.unwrap(),
        0,
        "nothing else expires"
    );
    let kept = [
        (&d[1], "b", LoginStatus::Connected),
        (&d[2], "c", LoginStatus::Connected),
        (&d[3], "e", LoginStatus::Disconnected),
        (&s[0], "s", LoginStatus::Disconnected),
    ];
    for (id, user, login) in kept {
        let row = get(store, &p, id).await;
        assert_eq!(
            (row.user_name.as_deref(), row.login_status),
            (Some(user), login),
            "{user} keeps their desktop"
        );
    }
    let counts = store
        .get_pool(&p, &dynamic.id)
        .await
        .unwrap()
        .expect("pool");
    assert_eq!(counts.desktop_used, 3);
    // The freed desktop is the next one handed out.
    assert_eq!(bind(store, &dynamic.id, "f").await.as_ref(), Some(&d[0]));

    longer_retention(store, &dynamic, &d[1]).await;
}

/// A longer retention counts from the disconnection.
async fn longer_retention(store: &dyn Store, dynamic: &PoolRow, id: &DesktopId) {
    let p = &dynamic.project_id;
    run_all(store, 800_000, |c| {
        c.operation.succeeded(c.prev_status, c.prev_login)
    })
    .await;
    assert!(
        store
            .set_login_status(p, id, LoginStatus::Disconnected, 1_000_000)
            .await
            .unwrap()
    );
    let longer = PoolUpdate {
        disconnected_retention_period: Some(20),
        ..PoolUpdate::default()
    };
    assert!(store.update_pool(p, &dynamic.id, &longer).await.unwrap());
    assert_eq!(store.unbind_expired(2_199_999).await.unwrap(), 0);
    assert_eq!(store.unbind_expired(2_200_000).await.unwrap(), 1);
    assert_eq!(get(store, p, id).await.user_name, None);
}

/// Pools `dyn` (retention 10 min, desktops of a, b, c, e), `fixed` (STATIC, of
/// s) and `instant` (retention 0, of i); a, e, s and i disconnected at 100,000
/// (e's desktop then held), b reconnected.
async fn sessions(
    store: &dyn Store,
    p: &ProjectId,
) -> (PoolRow, Vec<DesktopId>, Vec<DesktopId>, Vec<DesktopId>) {
    use DesktopStatus as S;
    let dynamic = pool_row(p, "dyn", "DYNAMIC", 10);
    let d = pool_in(store, &dynamic, &[], &[S::Active; 4]).await;
    let fixed = pool_row(p, "fixed", "STATIC", 10);
    let s = pool_in(store, &fixed, &[], &[S::Active]).await;
    let mut instant = pool_row(p, "instant", "DYNAMIC", 10);
    instant.disconnected_retention_period = 0;
    let i = pool_in(store, &instant, &[], &[S::Active]).await;
    for (pool, id, user) in [
        (&dynamic, &d[0], "a"),
        (&dynamic, &d[1], "b"),
        (&dynamic, &d[2], "c"),
        (&dynamic, &d[3], "e"),
        (&fixed, &s[0], "s"),
        (&instant, &i[0], "i"),
    ] {
        assert_eq!(bind(store, &pool.id, user).await.as_ref(), Some(id));
    }
    let disconnect = async |id: &DesktopId, at| {
        assert!(
            store
                .set_login_status(p, id, LoginStatus::Disconnected, at)
                .await
                .unwrap()
        );
    };
    disconnect(&d[0], 100_000).await;
    disconnect(&d[1], 100_000).await;
    assert!(
        store
            .set_login_status(p, &d[1], LoginStatus::Connected, 150_000)
            .await
            .unwrap(),
        "back again"
    );
    // d[2] stays connected.
    disconnect(&d[3], 100_000).await;
    hold(store, p, &d[3]).await;
    disconnect(&s[0], 100_000).await;
    disconnect(&i[0], 100_000).await;
    (dynamic, d, s, i)
}

fn autoscaled(
    project: &ProjectId,
    name: &str,
    created_ms: i64,
    policy: Option<AutoscalePolicy>,
) -> PoolRow {
    PoolRow {
        enable_autoscale: true,
        autoscale_policy: policy,
        ..pool_row(project, name, "DYNAMIC", created_ms)
    }
}

/// Grow `pool` by `n` desktops (named after `tag`) as `who` asks (`autoscale` or a person).
async fn grow(store: &dyn Store, pool: &PoolRow, tag: &str, n: usize, who: &str) {
    let j = NewJob {
        requested_by: who.to_owned(),
        pool_id: Some(pool.id),
        ..job(&pool.project_id, JobType::ExpandDesktopPool, 9_000)
    };
    store
        .submit_create(&j, &extra_desktops(pool, tag, n), &[])
        .await
        .unwrap();
}

async fn needs(store: &dyn Store) -> Vec<(String, usize)> {
    store
        .autoscale_needs()
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.pool.name, n.create))
        .collect()
}

pub async fn autoscale_needs(store: &dyn Store) {
    use DesktopStatus as S;
    let p = project(store).await;
    let a = autoscale_pool(store, &p).await;
    let off = PoolRow {
        enable_autoscale: false,
        ..autoscaled(&p, "off", 11, Some(policy(Some(5), Some(5))))
    };
    pool_in(store, &off, &[], &[S::Active]).await;
    pool_in(
        store,
        &autoscaled(&p, "no-policy", 12, None),
        &[],
        &[S::Active],
    )
    .await;
    let no_max = autoscaled(&p, "no-max", 13, Some(policy(Some(5), None)));
    pool_in(store, &no_max, &[], &[S::Active]).await;
    let capped = autoscaled(&p, "capped", 20, Some(policy(Some(5), Some(2))));
    pool_in(store, &capped, &[], &[S::Active]).await;
    bind(store, &capped.id, "u").await.expect("bound");
    let dedicated = desktops_in(store, &p, &[S::Active]).await;
    assert_eq!(dedicated.len(), 1);

    // a: 2 free of 4 (one bound, one in ERROR), wants 3.
    assert_eq!(
        needs(store).await,
        [("a".into(), 1), ("capped".into(), 2)],
        "by creation time"
    );
    let need = store.autoscale_needs().await.unwrap().remove(0);
    assert_eq!((need.pool.id, need.pool.project_id), (a.id, p.clone()));

    // Desktops still being built are free already: a shortfall is filled once.
    grow(store, &capped, "g", 2, "autoscale").await;
    grow(store, &a, "h", 1, "AKTEST").await;
    assert!(needs(store).await.is_empty());
    // Only autoscale's own desktops count toward its maximum.
    let more = PoolUpdate {
        autoscale_policy: Some(policy(Some(9), Some(4))),
        ..PoolUpdate::default()
    };
    store.update_pool(&p, &a.id, &more).await.unwrap();
    assert_eq!(
        needs(store).await,
        [("a".into(), 4)],
        "9 wanted, 3 free, at most 4 more"
    );
    grow(store, &a, "i", 3, "autoscale").await;
    assert_eq!(needs(store).await, [("a".into(), 1)], "3 of 4 made");
    grow(store, &a, "j", 1, "autoscale").await;
    assert!(
        needs(store).await.is_empty(),
        "never more than max_auto_created"
    );

    // The typed API cannot write an unreadable policy: the database can.
    let broken = format!(
        "UPDATE pools SET autoscale_policy = 'not json' WHERE id = '{}'",
        a.id
    );
    assert_eq!(raw_execute(&broken).await, 1);
    let r = store.autoscale_needs().await;
    assert!(
        matches!(r, Err(StoreError::Corrupt(_))),
        "a policy that cannot be read: {r:?}"
    );
}

/// Pool `a`: ACTIVE free, ACTIVE bound, ERROR, SHUTOFF free; wants 3 free, up to 4 made.
async fn autoscale_pool(store: &dyn Store, p: &ProjectId) -> PoolRow {
    use DesktopStatus as S;
    let a = autoscaled(p, "a", 10, Some(policy(Some(3), Some(4))));
    let ids = pool_in(
        store,
        &a,
        &[],
        &[S::Active, S::Active, S::Error, S::Shutoff],
    )
    .await;
    assert_eq!(bind(store, &a.id, "someone").await.as_ref(), Some(&ids[0]));
    a
}
