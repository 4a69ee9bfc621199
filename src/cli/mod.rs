//! Subcommands besides `serve`.

pub mod bench;
pub mod credentials;
