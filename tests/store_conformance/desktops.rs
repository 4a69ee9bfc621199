//! Desktop reads: what submission writes, filters, paging, sort, tags, login.

use crate::harness::{create, desktop, desktops_in, get, names_taken, pid, project, tag, texts};
use deskplane::domain::desktop::{DesktopStatus, DesktopType, LoginStatus, TaskStatus};
use deskplane::domain::ids::{DesktopId, PoolId, ProjectId};
use deskplane::store::{DesktopFilter, DesktopRow, Store, SubJobFilter};

fn all() -> DesktopFilter {
    DesktopFilter {
        limit: 100,
        ..DesktopFilter::default()
    }
}

async fn names(store: &dyn Store, project: &ProjectId, f: &DesktopFilter) -> (Vec<String>, i64) {
    let (list, total) = store.list_desktops(project, f).await.unwrap();
    (list.into_iter().map(|d| d.computer_name).collect(), total)
}

pub async fn new_desktops_are_building(store: &dyn Store) {
    let p = project(store).await;
    let mut row = desktop(&p, "pc-build");
    row.user_name = Some("carol".into());
    row.user_email = Some("carol@example.com".into());
    row.host = Some("qemu+ssh://h1/system".into());
    row.tags = vec![tag("k", Some("v"))];
    let job_id = create(store, &p, std::slice::from_ref(&row)).await;
    let got = get(store, &p, &row.id).await;
    assert_eq!(got.status, DesktopStatus::Build);
    assert_eq!(got.task_status, Some(TaskStatus::Spawning));
    assert_eq!(got.login_status, LoginStatus::Unregister);
    assert_eq!(got.user_name.as_deref(), Some("carol"));
    assert_eq!(got.user_email.as_deref(), Some("carol@example.com"));
    assert_eq!(got.host.as_deref(), Some("qemu+ssh://h1/system"));
    assert_eq!(got.tags, row.tags, "tags kept as written");
    assert_eq!(got.root_volume, row.root_volume);
    assert_eq!(got.desktop_type, DesktopType::Dedicated);
    let (subs, total) = store
        .list_sub_jobs(&SubJobFilter {
            project_id: p.clone(),
            job_id: Some(job_id.to_string()),
            limit: 10,
            ..SubJobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 1);
    assert_eq!(got.busy_sub_job, Some(subs[0].id));
    assert_eq!(subs[0].desktop_name, "pc-build");
    assert_eq!(subs[0].user_name.as_deref(), Some("carol"));
    assert_eq!(subs[0].attempt, 1);
    assert_eq!(subs[0].requested_by, "AKTEST");
    let job = store.get_job(&p, &job_id).await.unwrap().expect("job");
    assert_eq!((job.total, job.succeeded, job.failed), (1, 0, 0));
    assert_eq!(job.status.as_str(), "WAITING");
    assert!(
        store
            .get_job(&pid("other"), &job_id)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn filters_and_paging(store: &dyn Store) {
    let p = project(store).await;
    let q = project(store).await;
    let (pool_a, pool_b) = (PoolId::new(), PoolId::new());
    let mut rows: Vec<DesktopRow> = (0..6).map(|i| desktop(&p, &format!("pc-{i}"))).collect();
    rows[0].user_name = Some("Dave".into());
    rows[1].user_name = Some("dave2".into());
    rows[2].ip_address = "10.0.0.99".into();
    rows[3].desktop_type = DesktopType::Pooled;
    rows[3].pool_id = Some(pool_a);
    rows[4].pool_id = Some(pool_b);
    rows[4].image_id = "a9f8cd6e-4e5b-4c8e-9d0c-6f3f1a7b2c11".into();
    rows[5].availability_zone = "cn-north-4b".into();
    rows[5].computer_name = "web_1".into();
    create(store, &p, &rows).await;
    create(store, &q, &[desktop(&q, "pc-0")]).await;

    let (n, total) = names(store, &p, &all()).await;
    assert_eq!(total, 6);
    assert_eq!(n, ["pc-0", "pc-1", "pc-2", "pc-3", "pc-4", "web_1"]);
    let page = DesktopFilter {
        offset: 2,
        limit: 3,
        ..all()
    };
    assert_eq!(
        names(store, &p, &page).await,
        (vec!["pc-2".into(), "pc-3".into(), "pc-4".into()], 6)
    );
    substring_filters(store, &p).await;
    exact_filters(store, &p, &rows, [pool_a, pool_b]).await;
    lookups(store, &p, &q, &rows).await;
}

/// The desktops `f` lists in `p` are `want`, with a matching total.
async fn check(store: &dyn Store, p: &ProjectId, f: DesktopFilter, want: &[&str]) {
    let (n, total) = names(store, p, &f).await;
    assert_eq!(n, want, "filter {f:?}");
    assert_eq!(total, i64::try_from(want.len()).unwrap(), "total of {f:?}");
}

/// User and computer names match by substring, ignoring ASCII case.
async fn substring_filters(store: &dyn Store, p: &ProjectId) {
    let check = async |f, want| check(store, p, f, want).await;
    let user = |u: &str| DesktopFilter {
        user_name: Some(u.into()),
        ..all()
    };
    check(user("DAVE"), &["pc-0", "pc-1"]).await;
    check(user("ave2"), &["pc-1"]).await;
    let computer = |c: &str| DesktopFilter {
        computer_name: Some(c.into()),
        ..all()
    };
    check(computer("b_"), &["web_1"]).await;
    check(computer("c_"), &[]).await;
    check(computer("PC-"), &["pc-0", "pc-1", "pc-2", "pc-3", "pc-4"]).await;
}

/// IP, ids, pools, type, image, zone and status match exactly.
async fn exact_filters(store: &dyn Store, p: &ProjectId, rows: &[DesktopRow], pools: [PoolId; 2]) {
    let check = async |f, want| check(store, p, f, want).await;
    let f = DesktopFilter {
        desktop_ip: Some("10.0.0.99".into()),
        ..all()
    };
    check(f, &["pc-2"]).await;
    let f = DesktopFilter {
        desktop_ids: vec![
            rows[4].id.to_string(),
            rows[1].id.to_string(),
            DesktopId::new().to_string(),
        ],
        ..all()
    };
    check(f, &["pc-1", "pc-4"]).await;
    let f = DesktopFilter {
        pool_ids: texts(&pools),
        ..all()
    };
    check(f, &["pc-3", "pc-4"]).await;
    let f = DesktopFilter {
        desktop_type: Some("POOLED".into()),
        ..all()
    };
    check(f, &["pc-3"]).await;
    let f = DesktopFilter {
        image_id: Some("a9f8cd6e-4e5b-4c8e-9d0c-6f3f1a7b2c11".into()),
        ..all()
    };
    check(f, &["pc-4"]).await;
    let f = DesktopFilter {
        availability_zone: Some("cn-north-4b".into()),
        ..all()
    };
    check(f, &["web_1"]).await;
    let f = DesktopFilter {
        status: Some("BUILD".into()),
        user_name: Some("dave".into()),
        ..all()
    };
    check(f, &["pc-0", "pc-1"]).await;
    let f = DesktopFilter {
        status: Some("ACTIVE".into()),
        ..all()
    };
    check(f, &[]).await;
}

/// Reads by id in any project, one desktop of a project, taken names.
async fn lookups(store: &dyn Store, p: &ProjectId, q: &ProjectId, rows: &[DesktopRow]) {
    let ids: Vec<DesktopId> = rows.iter().map(|r| r.id).collect();
    let mut got: Vec<DesktopId> = store
        .get_desktops(&[ids[0], DesktopId::new(), ids[5]])
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    got.sort();
    let mut want = vec![ids[0], ids[5]];
    want.sort();
    assert_eq!(got, want);
    assert!(store.get_desktop(q, &ids[0]).await.unwrap().is_none());

    let taken = names_taken(store, p, &["pc-1", "web_1", "nope"]).await;
    assert_eq!(taken, Some(vec!["pc-1".into(), "web_1".into()]));
    let nope = DesktopFilter {
        computer_names: vec!["nope".into()],
        ..DesktopFilter::default()
    };
    let (_, n) = store.list_desktops(p, &nope).await.unwrap();
    assert_eq!(n, 0, "a create with a taken name writes nothing");
    assert_eq!(
        names_taken(store, q, &["pc-1"]).await,
        None,
        "names are unique per project"
    );
}

pub async fn sorting(store: &dyn Store) {
    let p = project(store).await;
    let rows: Vec<DesktopRow> = ["b-2", "B-1", "a-3", "_z"]
        .iter()
        .map(|n| desktop(&p, n))
        .collect();
    create(store, &p, &rows).await;
    let by = |field: Option<&str>, desc: bool| DesktopFilter {
        sort_field: field.map(str::to_owned),
        sort_desc: desc,
        ..all()
    };
    // Submission order, either way.
    assert_eq!(
        names(store, &p, &by(None, false)).await.0,
        ["b-2", "B-1", "a-3", "_z"]
    );
    assert_eq!(
        names(store, &p, &by(Some("created"), true)).await.0,
        ["_z", "a-3", "B-1", "b-2"]
    );
    // Byte order (upper case before `_` before lower case), whatever the locale.
    assert_eq!(
        names(store, &p, &by(Some("computer_name"), false)).await.0,
        ["B-1", "_z", "a-3", "b-2"]
    );
    assert_eq!(
        names(store, &p, &by(Some("computer_name"), true)).await.0,
        ["b-2", "a-3", "_z", "B-1"]
    );
}

pub async fn tags(store: &dyn Store) {
    let p = project(store).await;
    let mut rows: Vec<DesktopRow> = (0..4).map(|i| desktop(&p, &format!("t-{i}"))).collect();
    rows[0].tags = vec![tag("env", Some("prod")), tag("team", Some("a"))];
    rows[1].tags = vec![tag("env", Some("dev"))];
    rows[2].tags = vec![tag("env", None)];
    rows[3].tags = vec![tag("team", Some("a"))];
    create(store, &p, &rows).await;
    let with = |tags: &[(&str, &str)]| DesktopFilter {
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..all()
    };
    assert_eq!(names(store, &p, &with(&[("env", "prod")])).await.0, ["t-0"]);
    assert_eq!(
        names(store, &p, &with(&[("team", "a")])).await.0,
        ["t-0", "t-3"]
    );
    assert_eq!(
        names(store, &p, &with(&[("env", "prod"), ("team", "a")]))
            .await
            .0,
        ["t-0"],
        "every tag must match"
    );
    assert_eq!(
        names(store, &p, &with(&[("env", "")])).await.0,
        ["t-2"],
        "a tag without value matches the empty value"
    );
    assert!(
        names(store, &p, &with(&[("env", "PROD")]))
            .await
            .0
            .is_empty()
    );
}

pub async fn login_status(store: &dyn Store) {
    let p = project(store).await;
    let building = desktop(&p, "still-building");
    create(store, &p, std::slice::from_ref(&building)).await;
    assert!(
        !store
            .set_login_status(&p, &building.id, LoginStatus::Connected, 1_000)
            .await
            .unwrap(),
        "a busy desktop keeps its login status"
    );
    let ids = desktops_in(store, &p, &[DesktopStatus::Active, DesktopStatus::Shutoff]).await;
    assert!(
        store
            .set_login_status(&p, &ids[0], LoginStatus::Connected, 1_000)
            .await
            .unwrap()
    );
    assert_eq!(
        get(store, &p, &ids[0]).await.login_status,
        LoginStatus::Connected
    );
    assert!(
        !store
            .set_login_status(&p, &ids[1], LoginStatus::Connected, 1_000)
            .await
            .unwrap(),
        "only ACTIVE desktops have sessions"
    );
    assert!(
        !store
            .set_login_status(&pid("other"), &ids[0], LoginStatus::Disconnected, 1_000)
            .await
            .unwrap(),
        "another project's desktop"
    );
    assert_eq!(
        get(store, &p, &ids[0]).await.login_status,
        LoginStatus::Connected
    );
}
