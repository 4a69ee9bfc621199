//! `deskplane bench`: measured against a running server (see README).

/// Benchmark options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Server URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
}

/// Run the benchmarks.
pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::bail!("bench against {} is not available yet", args.url)
}
