//! API users (password auth for tokens) and the tokens issued to them.

use crate::harness::{pid, project};
use deskplane::domain::ids::ProjectId;
use deskplane::store::{ApiUserRow, Store, TokenRow};

fn api_user(project: &ProjectId, name: &str, hash: &str, created_ms: i64) -> ApiUserRow {
    ApiUserRow {
        project_id: project.clone(),
        user_name: name.to_owned(),
        password_hash: hash.to_owned(),
        created_ms,
    }
}

fn token(hash: &str, project: &ProjectId, user: &str) -> TokenRow {
    TokenRow {
        token_hash: hash.to_owned(),
        project_id: project.clone(),
        user_name: user.to_owned(),
        created_ms: 1_000,
        expires_ms: 2_000,
        revoked: false,
    }
}

async fn revoked(store: &dyn Store, hash: &str) -> bool {
    store.get_token(hash).await.unwrap().expect("token").revoked
}

fn who(list: &[ApiUserRow]) -> Vec<(ProjectId, String)> {
    list.iter()
        .map(|u| (u.project_id.clone(), u.user_name.clone()))
        .collect()
}

pub async fn api_users(store: &dyn Store) {
    let p = project(store).await;
    let q = project(store).await;
    store
        .put_api_user(&api_user(&p, "alice", "h1", 10))
        .await
        .unwrap();
    store
        .put_api_user(&api_user(&p, "Bob", "h2", 20))
        .await
        .unwrap();
    store
        .put_api_user(&api_user(&q, "alice", "h3", 30))
        .await
        .unwrap();
    store
        .put_api_user(&api_user(&p, "alice", "h4", 99))
        .await
        .expect("put again replaces the password");
    let got = store
        .get_api_user(&p, "alice")
        .await
        .unwrap()
        .expect("alice");
    assert_eq!(
        (got.password_hash.as_str(), got.created_ms),
        ("h4", 10),
        "created once"
    );
    assert_eq!(got.project_id, p);
    assert!(
        store.get_api_user(&p, "ALICE").await.unwrap().is_none(),
        "exact name"
    );
    assert!(
        store.get_api_user(&q, "Bob").await.unwrap().is_none(),
        "per project"
    );

    let mut want = vec![
        (p.clone(), "Bob".to_owned()),
        (p.clone(), "alice".to_owned()),
        (q.clone(), "alice".to_owned()),
    ];
    want.sort();
    let all = store.list_api_users(None).await.unwrap();
    assert_eq!(who(&all), want, "by project, then name in byte order");
    let mine = store.list_api_users(Some(&p)).await.unwrap();
    assert_eq!(
        who(&mine),
        [(p.clone(), "Bob".into()), (p.clone(), "alice".into())]
    );
    assert_eq!(mine[0].password_hash, "h2");
    assert!(
        store
            .list_api_users(Some(&pid("nobody")))
            .await
            .unwrap()
            .is_empty()
    );

    deleting_revokes_their_tokens(store, &p, &q).await;
}

/// Deleting a user revokes their tokens, only theirs, for good.
async fn deleting_revokes_their_tokens(store: &dyn Store, p: &ProjectId, q: &ProjectId) {
    for (hash, proj, user) in [
        ("t1", p, "alice"),
        ("t2", p, "alice"),
        ("t3", p, "Bob"),
        ("t4", q, "alice"),
    ] {
        store.insert_token(&token(hash, proj, user)).await.unwrap();
    }
    assert!(store.delete_api_user(p, "alice").await.unwrap());
    assert!(store.get_api_user(p, "alice").await.unwrap().is_none());
    assert!(revoked(store, "t1").await && revoked(store, "t2").await);
    assert!(!revoked(store, "t3").await, "another user's");
    assert!(
        !revoked(store, "t4").await,
        "the same name in another project"
    );
    assert!(
        !store.delete_api_user(p, "alice").await.unwrap(),
        "already gone"
    );
    assert_eq!(
        who(&store.list_api_users(Some(p)).await.unwrap()),
        [(p.clone(), "Bob".into())]
    );

    // A user created again under that name does not bring old tokens back.
    store
        .put_api_user(&api_user(p, "alice", "h5", 50))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_api_user(p, "alice")
            .await
            .unwrap()
            .expect("alice")
            .created_ms,
        50
    );
    assert!(revoked(store, "t1").await);
}

pub async fn issue_and_revoke(store: &dyn Store) {
    let p = project(store).await;
    let t = token("aa11", &p, "alice");
    store.insert_token(&t).await.unwrap();
    let got = store.get_token("aa11").await.unwrap().expect("stored");
    assert_eq!(
        (
            got.token_hash.as_str(),
            got.project_id.as_str(),
            got.user_name.as_str()
        ),
        ("aa11", p.as_str(), "alice")
    );
    assert_eq!(
        (got.created_ms, got.expires_ms, got.revoked),
        (1_000, 2_000, false)
    );
    assert!(
        store.get_token("AA11").await.unwrap().is_none(),
        "exact hash"
    );
    assert!(store.get_token("nope").await.unwrap().is_none());
    assert!(
        store.insert_token(&t).await.is_err(),
        "a hash is issued once"
    );

    let dead = TokenRow {
        revoked: true,
        ..token("bb22", &p, "bob")
    };
    store.insert_token(&dead).await.unwrap();
    assert!(revoked(store, "bb22").await, "stored as issued");

    assert!(store.revoke_token("aa11").await.unwrap());
    assert!(revoked(store, "aa11").await);
    assert!(
        store.revoke_token("aa11").await.unwrap(),
        "still there: revoked again"
    );
    assert!(!store.revoke_token("nope").await.unwrap());
    let kept = store
        .get_token("aa11")
        .await
        .unwrap()
        .expect("kept, not deleted");
    assert_eq!((kept.expires_ms, kept.user_name.as_str()), (2_000, "alice"));
}
