//! The `switchboard` command: `run` a host, or `check` a configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard::registry::Routes;
use switchboard::{Config, Server};

#[derive(Parser)]
#[command(version, about = "Messenger Platform bot engine with sandboxed WebAssembly plugins")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve webhooks for the Pages in the configuration.
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a configuration and its plugins, explaining every mistake.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run { config } => run(config).await,
            Command::Check { config } => check(config).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(path: PathBuf) -> anyhow::Result<()> {
    let config = Config::load(&path)?;
    let server = Server::build(config).await?;
    server.run(shutdown_signal()).await
}

async fn check(path: PathBuf) -> anyhow::Result<()> {
    let config = Config::load(&path)?;
    let runtime = switchboard::runtime::PluginRuntime::new(config.limits.clone())?;
    let graph = switchboard::graph::GraphClient::new(&config.graph_api_url, std::time::Duration::from_secs(5))?;
    let routes = Routes::build(&config, &runtime, &graph).await?;
    println!("{} is valid: {} app(s), {} page(s)", path.display(), config.apps.len(), config.pages.len());
    for page in &config.pages {
        let chain: Vec<String> = routes.pages[&page.id]
            .plugins
            .iter()
            .map(|p| format!("{} {}", p.info.name, p.info.version))
            .collect();
        println!("  page {} (app {}): {}", page.id, page.app, if chain.is_empty() { "no plugins".into() } else { chain.join(" → ") });
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
