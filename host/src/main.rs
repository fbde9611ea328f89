//! The `switchboard` command: `run` a host, or `check` a configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// Many small allocations per event on several threads: glibc's malloc was
// ~12% of the host's CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use anyhow::Context as _;
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
    /// Inspect and replay events that failed for good (dead letters).
    Dlq {
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: DlqAction,
    },
}

#[derive(Subcommand)]
enum DlqAction {
    /// List dead letters, newest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show one dead letter with its event JSON.
    Show { page_id: String, event_id: String },
    /// Hand a dead letter back to the running host (within two seconds).
    Retry { page_id: String, event_id: String },
    /// Delete a dead letter.
    Drop { page_id: String, event_id: String },
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
            Command::Dlq { config: Some(config), action } => dlq(config, action).await,
            Command::Dlq { config: None, .. } => Err(anyhow::anyhow!("dlq needs --config FILE to find the store")),
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
    println!("{} is valid: {} app(s), {} page(s)", path.display(), config.apps.len(), config.pages.len());
    let mut compiled = std::collections::HashMap::new();
    for page in &config.pages {
        let mut chain = Vec::new();
        for plugin in &page.plugins {
            if !compiled.contains_key(plugin) {
                let loaded = runtime.load(plugin).await.with_context(|| format!("loading a plugin of Page {}", page.id))?;
                compiled.insert(plugin.clone(), format!("{} {}", loaded.info.name, loaded.info.version));
            }
            chain.push(compiled[plugin].clone());
        }
        println!("  page {} (app {}): {}", page.id, page.app, if chain.is_empty() { "no plugins".into() } else { chain.join(" → ") });
        if let Some(profile) = &page.messenger_profile {
            let fields: Vec<String> = profile.body().keys().cloned().collect();
            println!("    messenger profile: {} (within the documented limits)", fields.join(", "));
        }
    }
    Ok(())
}

async fn dlq(path: PathBuf, action: DlqAction) -> anyhow::Result<()> {
    let config = Config::load(&path)?;
    let store = switchboard::store::Store::open_sqlite(&config.store.path)?;
    match action {
        DlqAction::List { limit } => {
            let letters = store.read(move |b| b.dead_letters(limit)).await?;
            if letters.is_empty() {
                println!("no dead letters");
            }
            for d in letters {
                let state = if d.requeued { "requeued" } else { "dead" };
                println!("{}\t{}\t{}\t{state}\tattempts={}\t{}", d.page_id, d.event_id, d.kind, d.attempts, d.error);
            }
        }
        DlqAction::Show { page_id, event_id } => {
            let letters = store.read(|b| b.dead_letters(usize::MAX)).await?;
            let d = letters
                .into_iter()
                .find(|d| d.page_id == page_id && d.event_id == event_id)
                .ok_or_else(|| anyhow::anyhow!("no dead letter {event_id} for page {page_id} (see `dlq list`)"))?;
            println!("page:     {}\nevent:    {}\nkind:     {}\nattempts: {}\nfailed:   {} ms since epoch\nerror:    {}\nevent JSON:\n{}",
                d.page_id, d.event_id, d.kind, d.attempts, d.failed_at_ms, d.error, d.raw);
        }
        DlqAction::Retry { page_id, event_id } => {
            let (p, e) = (page_id.clone(), event_id.clone());
            if !store.read(move |b| b.requeue_dead_letter(&p, &e)).await? {
                anyhow::bail!("no dead letter {event_id} for page {page_id} (see `dlq list`)");
            }
            println!("requeued {event_id}; a running host picks it up within two seconds, a stopped one at start");
        }
        DlqAction::Drop { page_id, event_id } => {
            let (p, e) = (page_id.clone(), event_id.clone());
            if !store.read(move |b| b.drop_dead_letter(&p, &e)).await? {
                anyhow::bail!("no dead letter {event_id} for page {page_id} (see `dlq list`)");
            }
            println!("dropped {event_id}");
        }
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
