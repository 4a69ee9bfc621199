//! Projects, credentials and desktop users.

use crate::harness::{create, desktop, pid, project, user_row};
use deskplane::domain::ids::ProjectId;
use deskplane::store::{CredentialRow, Store, StoreError, UserFilter, UserRow};

fn credential(ak: &str, project: &str, created_ms: i64) -> CredentialRow {
    CredentialRow {
        access_key: ak.to_owned(),
        project_id: pid(project),
        // Not UTF-8 and with a NUL: the column must be binary.
        secret_sealed: vec![0, 255, 1, 254, 0, 42],
        description: format!("key {ak}"),
        created_ms,
    }
}

pub async fn projects_and_credentials(store: &dyn Store) {
    assert_eq!(store.count_projects().await.unwrap(), 0, "fresh database");
    store.ensure_project(&pid("p1"), "one", 1).await.unwrap();
    store
        .ensure_project(&pid("p1"), "renamed", 2)
        .await
        .expect("ensure_project is idempotent");
    store.ensure_project(&pid("p2"), "two", 3).await.unwrap();
    assert_eq!(store.count_projects().await.unwrap(), 2);
    assert!(store.project_exists(&pid("p1")).await.unwrap());
    assert!(!store.project_exists(&pid("nope")).await.unwrap());
    assert!(
        "".parse::<ProjectId>().is_err(),
        "an empty project id is no project: it cannot even be asked for"
    );

    store
        .insert_credential(&credential("AKB", "p1", 20))
        .await
        .unwrap();
    store
        .insert_credential(&credential("AKA", "p1", 20))
        .await
        .unwrap();
    store
        .insert_credential(&credential("AKC", "p2", 10))
        .await
        .unwrap();
    let dup = store.insert_credential(&credential("AKA", "p2", 30)).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(ref k)) if k == "AKA"),
        "duplicate access key: {dup:?}"
    );

    let got = store.get_credential("AKA").await.unwrap().expect("stored");
    assert_eq!(got.project_id, pid("p1"));
    assert_eq!(got.secret_sealed, vec![0, 255, 1, 254, 0, 42]);
    assert_eq!(got.description, "key AKA");
    assert_eq!(got.created_ms, 20);
    assert!(store.get_credential("AKZ").await.unwrap().is_none());

    let all: Vec<String> = store
        .list_credentials(None)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.access_key)
        .collect();
    assert_eq!(all, ["AKC", "AKA", "AKB"], "by creation time, then key");
    let p1: Vec<String> = store
        .list_credentials(Some(&pid("p1")))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.access_key)
        .collect();
    assert_eq!(p1, ["AKA", "AKB"]);

    assert!(store.delete_credential("AKA").await.unwrap());
    assert!(!store.delete_credential("AKA").await.unwrap());
    assert!(store.get_credential("AKA").await.unwrap().is_none());
}

fn user(project: &ProjectId, name: &str, created_ms: i64) -> UserRow {
    UserRow {
        user_email: Some(format!("{name}@example.com")),
        ..user_row(project, name, created_ms)
    }
}

fn filter(name: Option<&str>, offset: i64, limit: i64) -> UserFilter {
    UserFilter {
        user_name: name.map(str::to_owned),
        offset,
        limit,
    }
}

pub async fn users(store: &dyn Store) {
    let p = project(store).await;
    let q = project(store).await;
    let alice = user(&p, "alice", 10);
    store.insert_user(&alice).await.unwrap();
    store.insert_user(&user(&p, "Bob", 20)).await.unwrap();
    store.insert_user(&user(&p, "a_b", 30)).await.unwrap();
    store.insert_user(&user(&p, "axb", 40)).await.unwrap();
    let dup = store.insert_user(&user(&p, "alice", 50)).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(ref n)) if n == "alice"),
        "same name in the same project: {dup:?}"
    );
    store
        .insert_user(&user(&q, "alice", 50))
        .await
        .expect("same name in another project");

    let got = store.get_user(&p, &alice.id).await.unwrap().expect("alice");
    assert_eq!(got.user_name, "alice");
    assert_eq!(got.user_email.as_deref(), Some("alice@example.com"));
    assert_eq!(got.user_phone, None);
    assert!(store.get_user(&q, &alice.id).await.unwrap().is_none());

    let names = |list: Vec<UserRow>| list.into_iter().map(|u| u.user_name).collect::<Vec<_>>();
    let (all, total) = store.list_users(&p, &filter(None, 0, 100)).await.unwrap();
    assert_eq!(total, 4);
    assert_eq!(names(all), ["alice", "Bob", "a_b", "axb"]);
    let (page, total) = store.list_users(&p, &filter(None, 1, 2)).await.unwrap();
    assert_eq!((names(page), total), (vec!["Bob".into(), "a_b".into()], 4));
    // `_` is a literal, not a wildcard; matching ignores ASCII case.
    let (l, total) = store
        .list_users(&p, &filter(Some("a_"), 0, 100))
        .await
        .unwrap();
    assert_eq!((names(l), total), (vec!["a_b".to_owned()], 1));
    let (l, _) = store
        .list_users(&p, &filter(Some("BO"), 0, 100))
        .await
        .unwrap();
    assert_eq!(names(l), ["Bob"]);
    let (l, total) = store
        .list_users(&p, &filter(Some("%"), 0, 100))
        .await
        .unwrap();
    assert!(l.is_empty() && total == 0, "`%` is a literal too");

    // Desktops assigned by name count for the user.
    let mut d1 = desktop(&p, "pc-1");
    d1.user_name = Some("alice".into());
    let mut d2 = desktop(&p, "pc-2");
    d2.user_name = Some("alice".into());
    create(store, &p, &[d1, d2]).await;
    assert_eq!(store.count_user_desktops(&p, "alice").await.unwrap(), 2);
    assert_eq!(store.count_user_desktops(&q, "alice").await.unwrap(), 0);
    let got = store.get_user(&p, &alice.id).await.unwrap().expect("alice");
    assert_eq!(got.total_desktops, 2);
    let (l, _) = store
        .list_users(&p, &filter(Some("alice"), 0, 10))
        .await
        .unwrap();
    assert_eq!(l[0].total_desktops, 2);

    assert!(store.delete_user(&p, &alice.id).await.unwrap());
    assert!(!store.delete_user(&p, &alice.id).await.unwrap());
    let (_, total) = store.list_users(&p, &filter(None, 0, 100)).await.unwrap();
    assert_eq!(total, 3);
}
