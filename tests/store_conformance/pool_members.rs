//! Authorized members of a pool: added, changed, removed, listed.

use crate::harness::project;
use crate::pools::{member, member_names, pool_desktops, pool_job, pool_row};
use deskplane::domain::ids::PoolId;
use deskplane::store::Store;

pub async fn members(store: &dyn Store) {
    let p = project(store).await;
    let pool = pool_row(&p, "team", "DYNAMIC", 10);
    let other = pool_row(&p, "other", "DYNAMIC", 10);
    for (pl, first) in [(&pool, "alice"), (&other, "alice")] {
        store
            .create_pool(
                pl,
                &[member("USER", first, 10)],
                &pool_job(pl),
                &pool_desktops(pl, 1),
            )
            .await
            .unwrap();
    }
    let mut sudo = member("USER", "alice", 30);
    sudo.object_id = "changed-id".into();
    sudo.user_group = Some("sudo".into());
    let add = [
        member("USER", "bob", 20),
        member("USER_GROUP", "staff", 20),
        member("USER", "Carl", 20),
        sudo,
    ];
    store
        .change_pool_members(&pool.id, &add, &[])
        .await
        .unwrap();
    let (list, total) = store.list_pool_members(&pool.id, 0, 10).await.unwrap();
    assert_eq!(total, 4);
    let alice = &list[0];
    assert_eq!(
        (
            alice.object_name.as_str(),
            alice.object_id.as_str(),
            alice.user_group.as_deref(),
            alice.created_ms
        ),
        ("alice", "id-alice", Some("sudo"), 10),
        "adding again changes only the privilege group"
    );
    let order: Vec<&str> = list.iter().map(|m| m.object_name.as_str()).collect();
    assert_eq!(
        order,
        ["alice", "Carl", "bob", "staff"],
        "by time, then name in byte order"
    );
    let (page, total) = store.list_pool_members(&pool.id, 1, 2).await.unwrap();
    assert_eq!(page, list[1..3].to_vec());
    assert_eq!(total, 4);

    removal(store, &pool.id, &other.id).await;
}

/// Removal matches type and name only, and touches one pool.
async fn removal(store: &dyn Store, pool_id: &PoolId, other_id: &PoolId) {
    let mut gone = member("USER", "alice", 99);
    gone.object_id = "whatever".into();
    let remove = [
        gone,
        member("USER_GROUP", "bob", 0),
        member("USER", "nobody", 0),
    ];
    store
        .change_pool_members(pool_id, &[], &remove)
        .await
        .unwrap();
    assert_eq!(
        member_names(store, pool_id).await,
        (vec!["Carl".into(), "bob".into(), "staff".into()], 3)
    );
    // A user and a group may share a name.
    store
        .change_pool_members(pool_id, &[member("USER_GROUP", "bob", 40)], &[])
        .await
        .unwrap();
    let (list, _) = store.list_pool_members(pool_id, 0, 10).await.unwrap();
    let bobs: Vec<&str> = list
        .iter()
        .filter(|m| m.object_name == "bob")
        .map(|m| m.object_type.as_str())
        .collect();
    assert_eq!(bobs, ["USER", "USER_GROUP"]);
    store.change_pool_members(pool_id, &[], &[]).await.unwrap();
    assert_eq!(
        member_names(store, pool_id).await.1,
        4,
        "nothing asked, nothing changed"
    );
    assert_eq!(
        member_names(store, other_id).await,
        (vec!["alice".into()], 1),
        "another pool's members are its own"
    );
}
