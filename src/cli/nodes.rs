//! `deskplane nodes`: the nodes sharing this database, the incarnation (process)
//! each runs now, when it started and its last heartbeat.

use crate::config::Config;
use crate::domain::time::{now_ms, rfc3339};
use crate::serve::open_store;

/// Print every registered node.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let opened = open_store(&cfg).await?;
    let nodes = opened.store.list_nodes().await;
    opened.close().await;
    for n in nodes? {
        let age = (now_ms() - n.heartbeat_ms) / 1000;
        println!(
            "{}\tincarnation {}\t{}\tstarted {}\tlast seen {} ({age} s ago)",
            n.id,
            n.incarnation,
            n.address,
            rfc3339(n.started_ms),
            rfc3339(n.heartbeat_ms)
        );
    }
    Ok(())
}
