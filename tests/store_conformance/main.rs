//! One store suite, run against both backends: every case below runs on a
//! temporary SQLite file and on a fresh database of the local PostgreSQL, and
//! must see the same outcomes. PostgreSQL-only cases (several nodes on one
//! database) and the store benchmark follow; `coverage` checks that every
//! store operation is called by some case.
//!
//! `cargo test --test store_conformance`; the benchmark:
//! `cargo test --test store_conformance bench -- --ignored --nocapture`.

mod accounts;
mod batch;
mod bench;
mod concurrency;
mod coverage;
mod desktops;
mod harness;
mod leases;
mod misc;
mod pool_action;
mod pool_members;
mod pool_sessions;
mod pools;
mod reads;
mod reconcile;
mod retry;
mod tokens;
mod work;

use deskplane::store::Store;

/// A `#[tokio::test]` per backend for each case `fn(&dyn Store)`.
macro_rules! conformance {
    ($($module:ident :: $case:ident),+ $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn sqlite() {
                let db = crate::harness::sqlite().await;
                crate::$module::$case(&db.store as &dyn crate::Store).await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some(db) = crate::harness::postgres().await else {
                    return;
                };
                let store = db.open().await;
                crate::$module::$case(&store as &dyn crate::Store).await;
            }
        }
    )+};
}

conformance!(
    accounts::projects_and_credentials,
    accounts::users,
    desktops::new_desktops_are_building,
    desktops::filters_and_paging,
    desktops::sorting,
    desktops::tags,
    desktops::login_status,
    batch::create_thousand_in_few_statements,
    batch::refusals,
    batch::atomic_and_empty_write_nothing,
    batch::force_delete_cancels_holder,
    work::claim_order_limits_and_delay,
    work::complete_is_fenced,
    work::complete_settles_desktops_and_jobs,
    work::gone_and_orphan_users,
    work::renew_and_requeue,
    work::exhausted_attempts,
    leases::restart_orphans_its_own_work_at_once,
    leases::renewal_covers_only_the_named_sub_jobs,
    leases::next_lease_end_is_the_first_foreign_one,
    leases::task_leases,
    leases::nodes_show_their_incarnation,
    leases::a_lapsed_claim_counts_for_nothing,
    retry::retry_outcomes,
    retry::retry_refusals,
    misc::notifications,
    misc::sim_faults,
    misc::sim_applied,
    misc::ping_and_close,
    pools::create_and_read,
    pools::list_and_update,
    pools::delete_only_empty,
    pool_members::members,
    pool_action::applies_or_fails_each_desktop,
    pool_action::nothing_applies_or_nothing_there,
    pool_sessions::bind_own_else_oldest_free,
    pool_sessions::one_free_desktop_two_users_at_once,
    pool_sessions::unbind_after_retention,
    pool_sessions::autoscale_needs,
    tokens::api_users,
    tokens::issue_and_revoke,
    reconcile::placed_idle_and_guarded,
    reads::sub_job_order_and_paging,
    reads::sub_job_filters,
    reads::notification_filters,
    reads::exact_names,
    reads::many_ids,
    reads::deletes_stay_in_their_project,
    reads::nodes_tie_in_byte_order,
    reads::substring_filters_fold_ascii_only,
);
