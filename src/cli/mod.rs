//! Subcommands besides `serve`.

pub mod api_users;
pub mod bench;
pub mod campaign;
pub mod credentials;
pub mod nodes;
