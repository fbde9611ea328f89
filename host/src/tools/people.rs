//! `switchboard people`: list a Page's people (from the store, read-only),
//! export everything kept about one (from the store, read-only), erase one
//! (through the running host, which handles the erasure in the person's
//! conversation and tells the plugins; a tool writing the store itself
//! could not empty the host's memory of them).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::messenger::conversation::people::{self, PeopleQuery};
use crate::messenger::conversation::MessagingPolicy;
use crate::model::now_ms;
use crate::store::sqlite::SqliteBackend;
use crate::store::Backend as _;
use crate::tools::HostApi;

fn load(path: &Path, page_id: &str) -> anyhow::Result<Config> {
    let config = Config::load(path)?;
    anyhow::ensure!(config.pages.iter().any(|p| p.id == page_id), "{} has no Page {page_id}", path.display());
    Ok(config)
}

/// Prints a Page's people.
pub fn list(path: &Path, page_id: &str, query: PeopleQuery, json: bool) -> anyhow::Result<()> {
    let config = load(path, page_id)?;
    let app_id = config.pages.iter().find(|p| p.id == page_id).map(|p| p.app.clone()).unwrap_or_default();
    people::check_limit(query.limit).map_err(|e| anyhow::anyhow!("--{e}"))?;
    let policy = MessagingPolicy::from_config(&config.messaging);
    let mut store = SqliteBackend::open_read_only(&config.store.path)?;
    let now = now_ms();
    let listed = people::list(&mut store, page_id, &app_id, &policy, &query, now)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(());
    }
    if listed.people.is_empty() {
        println!("nobody{}", if listed.next_after.is_some() { " in this part (see next:)" } else { "" });
    }
    let ago = |ms: u64| humantime::format_duration(Duration::from_secs(now.saturating_sub(ms) / 1000)).to_string();
    for p in &listed.people {
        let last = match (p.last_interaction_ms, p.last_interaction) {
            (Some(at), Some(source)) => format!("last {} ago ({})", ago(at), serde_json::json!(source).as_str().unwrap_or("?")),
            _ => "no interaction seen".into(),
        };
        let window = match p.window_open_until_ms {
            Some(until) if p.window_open => {
                format!("window open {} more", humantime::format_duration(Duration::from_secs((until - now) / 1000)))
            }
            _ => "window closed".into(),
        };
        let tokens: Vec<String> = p.tokens.iter().map(|t| t.topic.clone().unwrap_or_else(|| "(no topic)".into())).collect();
        println!(
            "{}  {last}  {window}  owner {}  account {}  tokens: {}",
            p.psid,
            p.thread_owner,
            serde_json::json!(p.account_link).as_str().unwrap_or("?"),
            if tokens.is_empty() { "none".into() } else { tokens.join(", ") }
        );
    }
    if let Some(next) = &listed.next_after {
        println!("next: --after {next}");
    }
    Ok(())
}

/// Writes everything kept about `psid` on `page_id` as JSON, to `output`
/// or stdout.
pub fn export(path: &Path, page_id: &str, psid: &str, output: Option<&Path>) -> anyhow::Result<()> {
    let config = load(path, page_id)?;
    let mut store = SqliteBackend::open_read_only(&config.store.path)?;
    let record = store.person(page_id, psid)?;
    let text = serde_json::to_string_pretty(&record)?;
    match output {
        Some(file) => {
            std::fs::write(file, text + "\n").map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
            eprintln!("wrote {}", file.display());
        }
        None => println!("{text}"),
    }
    Ok(())
}

/// Asks the running host to erase `psid` on `page_id`, and waits (up to
/// `wait`) to print what went.
pub async fn erase(path: &Path, page_id: &str, psid: &str, wait: Duration) -> anyhow::Result<()> {
    let config = load(path, page_id)?;
    let api = HostApi::from_config(&config, path, "people erase")?;
    let (status, queued) = api.delete(&format!("/admin/pages/{page_id}/people/{psid}")).await?;
    anyhow::ensure!(status == 202, "the host refused the erasure ({status}): {}", queued["error"].as_str().unwrap_or("?"));
    let request = queued["request"].as_str().unwrap_or_default().to_string();
    println!("erasure {request} queued; it runs after what the person sent before");
    let deadline = Instant::now() + wait;
    loop {
        let (status, done) = api.get(&format!("/admin/pages/{page_id}/erasures/{request}")).await?;
        if status == 200 {
            let e = &done["erased"];
            println!(
                "erased: {} events ({} dead letters), {} sends, {} conversation, {} tokens, {} problems; the Page's plugins were told (person-erased)",
                e["events"], e["dead_letters"], e["sends"], e["conversations"], e["tokens"], e["problems"]
            );
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not done after {}s (the person's conversation may be busy or retrying): ask again with GET /admin/pages/{page_id}/erasures/{request}",
            wait.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
