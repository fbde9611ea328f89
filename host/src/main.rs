//! The `switchboard` command: `run` a host, `check` a configuration, ask a
//! running host which `plugins` it has loaded, and handle dead letters
//! (`dlq`), read the recent problems (`errors`), list, export and erase a
//! Page's `people`; for plugin authors, scaffold a plugin project (`new`) and
//! `build` one.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// Many small allocations per event on several threads: glibc's malloc was
// ~12% of the host's CPU under load. mimalloc's v2 series (the `v2`
// feature): in alternating throughput runs it took 2-8% less host CPU per
// event than v3, the crate's default, which spent more on freeing blocks
// another thread allocated.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use anyhow::Context as _;
use switchboard::config::LogFormat;
use switchboard::store::Backend as _;
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
    /// Show the plugins a running host has loaded: version, hash, load
    /// time, invocations, failures, circuit and last error.
    Plugins {
        #[arg(long, short)]
        config: PathBuf,
        /// Print the admin endpoint's JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Create a plugin project in DIR (a new or empty directory).
    New {
        #[arg(long, value_enum, default_value_t = switchboard::authoring::Language::Rust)]
        lang: switchboard::authoring::Language,
        dir: PathBuf,
    },
    /// Build the plugin project in DIR into a component, check that a host
    /// loads it, and print the .wasm's path as the last line.
    Build { dir: PathBuf },
    /// Build DIR's plugin, serve it on a local Page against a fake Graph
    /// API, and chat with it in the terminal; every save rebuilds it and
    /// hot-reloads it.
    Dev { dir: PathBuf },
    /// Build DIR's plugin and run its conversation tests (tests/*.toml),
    /// each on a fresh local host against a fake Graph API.
    Test { dir: PathBuf },
    /// Show the recent problems: refused webhooks, plugin failures, Graph
    /// API errors, dead letters, circuits opened (oldest first).
    Errors {
        #[arg(long, short)]
        config: PathBuf,
        /// Only this Page's (`host`: the host's own, such as forged webhooks).
        #[arg(long)]
        page: Option<String>,
        /// Only those since: an age (15m, 2h, 3days), an RFC 3339 time or
        /// epoch milliseconds.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Keep printing new problems as they are recorded.
        #[arg(long, short)]
        follow: bool,
        /// One JSON object per line instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// List the people a Page has talked with (last interaction, window,
    /// thread owner, account link, open one-time-notification tokens), or
    /// export or erase one of them.
    #[command(subcommand_negates_reqs = true)]
    People {
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: Option<PeopleAction>,
        #[arg(required = true)]
        page: Option<String>,
        /// Only those whose messaging window is open now.
        #[arg(long)]
        window_open: bool,
        /// Only those holding an open one-time-notification token for TOPIC.
        #[arg(long)]
        topic: Option<String>,
        /// Start after this PSID (the `next:` line of a previous page).
        #[arg(long, default_value = "")]
        after: String,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// The admin endpoint's JSON instead of a summary.
        #[arg(long)]
        json: bool,
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
enum PeopleAction {
    /// Write everything the host keeps about a person as JSON (their
    /// events, the replies sent, conversation state, tokens, problems).
    Export {
        page: String,
        psid: String,
        /// Write to FILE instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Erase everything the host keeps about a person, through the running
    /// host (which tells the Page's plugins, `person-erased`), and print
    /// what went.
    Erase {
        page: String,
        psid: String,
        /// Seconds to wait for the erasure to be done.
        #[arg(long, default_value_t = 30)]
        wait: u64,
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
    // Errors are logged with their chain of causes, not a backtrace; with
    // `RUST_BACKTRACE=1` in the environment, libraries would capture one
    // for every error made, and wasmtime makes one per plugin invocation
    // (unwinding the stack each time). Panics still print theirs.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    let cli = Cli::parse();
    // A plugin author wants the plugin's own log lines and the host's
    // warnings (a refused send, a failure), not the host's chatter.
    let default_filter = match cli.command {
        Command::Dev { .. } => "warn,plugin=trace",
        Command::Test { .. } => "error,plugin=warn",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into());
    // `[log] format` is read before anything logs; a config that does not
    // load is reported by the command itself, in text.
    let format = match &cli.command {
        Command::Run { config } => Config::load(config).map(|c| c.log.format).unwrap_or_default(),
        _ => LogFormat::Text,
    };
    match (&cli.command, format) {
        (Command::Dev { .. } | Command::Test { .. }, _) => {
            tracing_subscriber::fmt().with_env_filter(filter).without_time().compact().init()
        }
        // Fields at the top level, beside the message, so a log pipeline
        // can filter on `page`, `plugin` or `event` without unnesting.
        (_, LogFormat::Json) => {
            tracing_subscriber::fmt().with_env_filter(filter).json().flatten_event(true).with_current_span(false).init()
        }
        (_, LogFormat::Text) => tracing_subscriber::fmt().with_env_filter(filter).init(),
    }
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
            Command::Plugins { config, json } => plugins(config, json).await,
            Command::New { lang, dir } => new_plugin(lang, dir),
            Command::Build { dir } => build_plugin(dir).await,
            Command::Dev { dir } => switchboard::authoring::dev::dev(&dir).await,
            Command::Test { dir } => test_plugin(dir).await,
            Command::Errors { config, page, since, limit, follow, json } => {
                errors(config, ErrorsView { page, since, limit, follow, json }).await
            }
            Command::People { config: None, .. } => Err(anyhow::anyhow!("people needs --config FILE")),
            Command::People { config: Some(config), action, page, window_open, topic, after, limit, json } => {
                use switchboard::tools::people;
                match action {
                    Some(PeopleAction::Export { page, psid, output }) => people::export(&config, &page, &psid, output.as_deref()),
                    Some(PeopleAction::Erase { page, psid, wait }) => {
                        people::erase(&config, &page, &psid, std::time::Duration::from_secs(wait)).await
                    }
                    None => {
                        let query = switchboard::messenger::conversation::people::PeopleQuery { window_open, topic, after, limit };
                        people::list(&config, page.as_deref().unwrap_or_default(), query, json)
                    }
                }
            }
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

/// Validates the file and compiles every plugin; says "valid" only when
/// everything passed, and lists every problem found otherwise.
async fn check(path: PathBuf) -> anyhow::Result<()> {
    let config = Config::load(&path)?;
    let runtime = switchboard::sandbox::PluginRuntime::new(config.limits.clone())?;
    let mut compiled: std::collections::HashMap<PathBuf, Result<(String, String), String>> = std::collections::HashMap::new();
    let mut lines = Vec::new();
    for page in &config.pages {
        let mut chain = Vec::new();
        for plugin in &page.plugins {
            if !compiled.contains_key(&plugin.path) {
                let loaded =
                    runtime.load(&plugin.path).await.map(|p| (p.info.name.clone(), p.info.version.clone())).map_err(|e| format!("{e:#}"));
                compiled.insert(plugin.path.clone(), loaded);
            }
            match &compiled[&plugin.path] {
                Ok((name, version)) if *name == plugin.id => chain.push(format!("{name} {version}")),
                Ok((name, version)) => chain.push(format!("{} ({name} {version})", plugin.id)),
                Err(_) => chain.push(format!("{} ({} does not load)", plugin.id, plugin.path.display())),
            }
        }
        lines.push(format!(
            "  page {} (app {}): {}",
            page.id,
            page.app,
            if chain.is_empty() { "no plugins".into() } else { chain.join(" → ") }
        ));
        if let Some(profile) = &page.messenger_profile {
            let fields: Vec<String> = profile.body().keys().cloned().collect();
            lines.push(format!("    messenger profile: {} (within the documented limits)", fields.join(", ")));
        }
    }
    let mut failed: Vec<String> = compiled.into_values().filter_map(|r| r.err()).collect();
    failed.sort();
    if !failed.is_empty() {
        let mut problems = format!("{} has {} plugin(s) that do not load:", path.display(), failed.len());
        for f in failed {
            problems.push_str(&format!("\n  - {f}"));
        }
        anyhow::bail!(problems);
    }
    println!(
        "{} is valid: {} app(s), {} page(s), every plugin compiled and described itself",
        path.display(),
        config.apps.len(),
        config.pages.len()
    );
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

fn new_plugin(lang: switchboard::authoring::Language, dir: PathBuf) -> anyhow::Result<()> {
    let files = switchboard::authoring::scaffold::create(lang, &dir)?;
    let shown = dir.display();
    println!(
        "created {shown}: {} files ({})",
        files.len(),
        files.iter().take(4).map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    let source = match lang {
        switchboard::authoring::Language::Rust => "src/lib.rs",
        switchboard::authoring::Language::TypeScript => "src/index.ts",
        switchboard::authoring::Language::Python => "app.py",
    };
    println!("next: edit {shown}/{source}, chat with it: `switchboard dev {shown}`, test it: `switchboard test {shown}`; {shown}/README.md says how to deploy it");
    Ok(())
}

async fn build_plugin(dir: PathBuf) -> anyhow::Result<()> {
    let built = switchboard::authoring::build::build(&dir).await?;
    let kinds = if built.event_kinds.is_empty() { "every kind".to_string() } else { built.event_kinds.join(", ") };
    eprintln!("built {} {} (switchboard:plugin@{}; events: {kinds})", built.name, built.version, built.contract);
    println!("{}", built.wasm.display());
    Ok(())
}

async fn test_plugin(dir: PathBuf) -> anyhow::Result<()> {
    use switchboard::authoring::{build, conversation};
    let tests_dir = dir.join("tests");
    let mut tests: Vec<PathBuf> = std::fs::read_dir(&tests_dir)
        .with_context(|| format!("{} has no tests/ directory; `switchboard new` makes tests/echo.toml", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    tests.sort();
    anyhow::ensure!(!tests.is_empty(), "no conversation tests in {} (tests/*.toml)", tests_dir.display());
    let built = build::build(&dir).await?;
    eprintln!("built {} {}; running {} conversation test(s)", built.name, built.version, tests.len());
    let mut failed = 0;
    for (n, test) in tests.iter().enumerate() {
        let data = build::work_dir(&dir).join(format!("test-{n}"));
        match conversation::run_file(test, &built.wasm, &data, &build::compile_cache(&dir)).await {
            Ok(steps) => println!("ok    {} ({steps} steps)", test.display()),
            Err(e) => {
                failed += 1;
                println!("FAIL  {}: {e:#}", test.display());
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} of {} conversation tests failed", tests.len());
    println!("all {} conversation tests passed", tests.len());
    Ok(())
}

/// Asks the host running with this config (`GET /admin/plugins`).
async fn plugins(path: PathBuf, json: bool) -> anyhow::Result<()> {
    let config = Config::load(&path)?;
    let report = switchboard::tools::HostApi::from_config(&config, &path, "plugins")?.get_ok("/admin/plugins").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let now = switchboard::model::now_ms();
    if report["plugins_loaded"] == false {
        println!("plugins still loading (compiling); webhooks are taken in and wait in the inbox");
    }
    for page in report["pages"].as_array().into_iter().flatten() {
        println!("page {}", page["page_id"].as_str().unwrap_or("?"));
        for p in page["plugins"].as_array().into_iter().flatten() {
            let h = &p["health"];
            let loaded_secs = now.saturating_sub(p["loaded_at_ms"].as_u64().unwrap_or(now)) / 1000;
            let (id, name, version) =
                (p["id"].as_str().unwrap_or("?"), p["name"].as_str().unwrap_or("?"), p["version"].as_str().unwrap_or("?"));
            // The id, and the name the plugin declares where it differs.
            let who = if id == name { format!("{name} {version}") } else { format!("{id} ({name} {version})") };
            println!(
                "  {who}  switchboard:plugin@{}  sha256:{}  loaded {loaded_secs}s ago{}  {}",
                p["contract"].as_str().unwrap_or("?"),
                p["hash"].as_str().unwrap_or("").get(..12).unwrap_or(""),
                if p["from_cache"] == true { " (from cache)" } else { "" },
                p["path"].as_str().unwrap_or("?"),
            );
            let failures: Vec<String> = h["failures"].as_object().into_iter().flatten().map(|(class, n)| format!("{class} {n}")).collect();
            println!(
                "    invocations {}, failures: {}; circuit {} (tripped {} times)",
                h["invocations"],
                if failures.is_empty() { "none".into() } else { failures.join(", ") },
                h["circuit"].as_str().unwrap_or("?"),
                h["circuit_trips"],
            );
            if let Some(f) = h["last_failure"].as_object() {
                let ago = now.saturating_sub(f["at_ms"].as_u64().unwrap_or(now)) / 1000;
                println!(
                    "    last failure {ago}s ago: {} on event {} of page {} (version {}): {}",
                    f["class"].as_str().unwrap_or("?"),
                    f["event_id"].as_str().unwrap_or("?"),
                    f["page_id"].as_str().unwrap_or("?"),
                    f["version"].as_str().unwrap_or("?"),
                    f["error"].as_str().unwrap_or("?"),
                );
            }
            if let Some(r) = h["last_rejected_file"].as_array() {
                println!("    last rejected file: {}", r.first().and_then(|e| e.as_str()).unwrap_or("?"));
            }
        }
    }
    Ok(())
}

struct ErrorsView {
    page: Option<String>,
    since: Option<String>,
    limit: usize,
    follow: bool,
    json: bool,
}

/// Reads the recent problems from the store, read-only (beside a running
/// host, whose writer it never holds up).
async fn errors(path: PathBuf, view: ErrorsView) -> anyhow::Result<()> {
    use switchboard::store::problems::ProblemQuery;
    let config = Config::load(&path)?;
    let mut store = switchboard::store::sqlite::SqliteBackend::open_read_only(&config.store.path)?;
    let since_ms = match &view.since {
        Some(since) => ProblemQuery::parse_since(since, switchboard::model::now_ms()).map_err(|e| anyhow::anyhow!(e))?,
        None => 0,
    };
    let mut query =
        ProblemQuery { page_id: view.page.as_deref().map(ProblemQuery::page_key), after_id: 0, since_ms, limit: view.limit.max(1) };
    let mut printed_any = false;
    loop {
        let problems = store
            .problems(&query)
            .context("reading the recent problems (a store from before they were recorded has none until its host starts once)")?;
        for p in &problems {
            printed_any = true;
            if view.json {
                println!("{}", p.to_json());
            } else {
                println!("{}", describe_problem(p));
            }
        }
        query.after_id = problems.iter().map(|p| p.id).fold(query.after_id, i64::max);
        if !view.follow {
            if !printed_any && !view.json {
                println!("no problems recorded{}", if view.since.is_some() { " in that time" } else { "" });
            }
            return Ok(());
        }
        // Everything new, however much, from here on.
        query.limit = 1000;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// One problem on one line: when, where, what, then the details.
fn describe_problem(p: &switchboard::store::problems::RecordedProblem) -> String {
    let q = &p.problem;
    let mut line =
        format!("{}  {}  {}", p.at(), q.page_id.as_deref().map_or("host".to_string(), |id| format!("page {id}")), q.kind.as_str());
    if let Some(class) = &q.class {
        line.push_str(&format!(" ({class})"));
    }
    if let Some(plugin) = &q.plugin {
        line.push_str(&format!("  plugin {plugin}"));
    }
    if let Some(event) = &q.event_id {
        line.push_str(&format!("  event {event}"));
    }
    line.push_str(&format!("  {}", q.message));
    if let Some(trace) = &q.fbtrace_id {
        line.push_str(&format!("  fbtrace_id {trace}"));
    }
    if p.repeated > 0 {
        line.push_str(&format!("  (and {} like it before, not recorded one by one)", p.repeated));
    }
    // Event ids and Graph trace ids come from outside too.
    line.chars().map(|c| if c.is_control() { '\u{FFFD}' } else { c }).collect()
}

async fn dlq(path: PathBuf, action: DlqAction) -> anyhow::Result<()> {
    let config = Config::load(&path)?;
    let store = switchboard::store::Store::open_sqlite(&config.store.path, config.store.commit_delay(), Default::default())?;
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
            // One, unless the same id came again with another timestamp.
            let matching: Vec<_> = letters.into_iter().filter(|d| d.page_id == page_id && d.event_id == event_id).collect();
            if matching.is_empty() {
                anyhow::bail!("no dead letter {event_id} for page {page_id} (see `dlq list`)");
            }
            for d in matching {
                println!(
                    "page:     {}\nevent:    {}\nkind:     {}\nattempts: {}\nfailed:   {} ms since epoch\nerror:    {}\nevent JSON:\n{}",
                    d.page_id, d.event_id, d.kind, d.attempts, d.failed_at_ms, d.error, d.raw
                );
            }
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
