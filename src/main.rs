//! The `deskplane` binary: `serve`, `credentials`, `bench`, `campaign`.

use clap::{Parser, Subcommand};
use deskplane::config::Config;
use std::path::PathBuf;

/// deskplane: a cloud-desktop control plane speaking the Huawei Cloud Workspace v2 API.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file (also DESKPLANE_CONFIG); DESKPLANE_* variables override it.
    #[arg(long, short, env = "DESKPLANE_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server and the job engine.
    Serve,
    /// Manage AK/SK credentials (works on the database directly).
    Credentials {
        #[command(subcommand)]
        action: deskplane::cli::credentials::Action,
    },
    /// Manage API users who get tokens with a password (`POST /v3/auth/tokens`).
    ApiUsers {
        #[command(subcommand)]
        action: deskplane::cli::api_users::Action,
    },
    /// List the nodes sharing the database.
    Nodes,
    /// Measure a running server (see README, "Benchmarks").
    Bench(deskplane::cli::bench::Args),
    /// Run the fault campaign (see docs/reliability.md).
    Campaign(deskplane::cli::campaign::Args),
    /// The bench's ceiling: a bare axum hello-world (spawned by `bench`).
    #[command(name = "bench-ceiling", hide = true)]
    BenchCeiling,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let cfg = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("deskplane: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| cfg.log.clone());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("deskplane: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => deskplane::serve::serve(cfg).await,
            Command::Credentials { action } => deskplane::cli::credentials::run(cfg, action).await,
            Command::ApiUsers { action } => deskplane::cli::api_users::run(cfg, action).await,
            Command::Nodes => deskplane::cli::nodes::run(cfg).await,
            Command::Bench(args) => deskplane::cli::bench::run(args).await,
            Command::Campaign(args) => deskplane::cli::campaign::run(args).await,
            Command::BenchCeiling => deskplane::cli::bench::ceiling::serve().await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("deskplane: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
