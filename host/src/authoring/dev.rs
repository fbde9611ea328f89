//! `switchboard dev DIR`: the plugin author's loop. Builds the project,
//! serves it on a [`LocalHost`], and chats: each line typed is a message
//! from a person, and what the bot does comes back rendered (texts, quick
//! replies and buttons numbered for `/tap`, templates, handovers), with the
//! plugin's log lines and failures as they happen. Saving a source file
//! rebuilds the plugin and hot-reloads it into the running host, the way a
//! deploy does; a build that fails leaves the last good one running.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use notify::{RecursiveMode, Watcher as _};
use tokio::io::AsyncBufReadExt as _;
use tokio::sync::mpsc;

use super::build;
use super::local_host::{LocalHost, USER};
use super::replies::{Action, Tappable};

/// Changes closer together than this are one rebuild.
const QUIET: Duration = Duration::from_millis(300);

const HELP: &str = "type a message to send it as the person; or
  /tap N          tap button or quick reply N of the last reply (or /tap TITLE)
  /postback P     send a postback with payload P (a Get Started or menu item)
  /optin TOPIC    opt in to a one-time notification for TOPIC
  /business JSON  post a business event (e.g. {\"type\":\"restock\"})
  /as PSID        write as another person (now: {user})
  /rebuild        rebuild and reload now
  /quit           stop (or Ctrl-D)";

pub async fn dev(dir: &Path) -> anyhow::Result<()> {
    // Absolute, as the watcher reports paths: what is inside the project is
    // told apart from where the project is.
    let dir = &std::fs::canonicalize(dir).with_context(|| format!("{} is not a directory", dir.display()))?;
    let built = build::build(dir).await?;
    eprintln!("built {} {} → {}", built.name, built.version, built.wasm.display());
    let mut host = LocalHost::start(&built.wasm, &build::work_dir(dir).join("dev"), &build::compile_cache(dir)).await?;
    let (tx, mut changes) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Create(_) | notify::EventKind::Modify(_) | notify::EventKind::Remove(_)) {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })?;
    watcher.watch(dir, RecursiveMode::Recursive).with_context(|| format!("watching {}", dir.display()))?;

    let mut user = USER.to_string();
    println!("{} {} is serving a local Page, against a fake Graph API. Chatting as {user}; /help for commands.", built.name, built.version);
    let mut tappables: Vec<Tappable> = Vec::new();
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line? else { break };
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                match chat(&mut host, &mut user, &tappables, line).await {
                    Ok(Chat::Quit) => break,
                    Ok(Chat::Help) => println!("{}", HELP.replace("{user}", &user)),
                    Ok(Chat::Nothing) => {}
                    Ok(Chat::Rebuild) => rebuild(dir, &host).await,
                    Ok(Chat::Sent) => {
                        if let Some(shown) = show(&mut host).await {
                            tappables = shown;
                        }
                    }
                    Err(e) => println!("{e:#}"),
                }
            }
            Some(path) = changes.recv() => {
                let mut source_changed = build::is_source(dir, &path);
                // The rest of the burst (an editor's save is several events).
                while let Ok(Some(path)) = tokio::time::timeout(QUIET, changes.recv()).await {
                    source_changed |= build::is_source(dir, &path);
                }
                if source_changed {
                    rebuild(dir, &host).await;
                }
            }
        }
    }
    drop(watcher);
    host.stop().await
}

enum Chat {
    Sent,
    Nothing,
    Help,
    Rebuild,
    Quit,
}

async fn chat(host: &mut LocalHost, user: &mut String, tappables: &[Tappable], line: &str) -> anyhow::Result<Chat> {
    let (command, rest) = line.split_once(' ').map(|(c, r)| (c, r.trim())).unwrap_or((line, ""));
    match command {
        "/quit" | "/exit" => return Ok(Chat::Quit),
        "/help" | "/?" => return Ok(Chat::Help),
        "/rebuild" => return Ok(Chat::Rebuild),
        "/as" => {
            anyhow::ensure!(!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()), "/as PSID: a PSID is letters and digits");
            *user = rest.to_string();
            println!("(now writing as {user})");
            return Ok(Chat::Nothing);
        }
        "/tap" => {
            let tap = match rest.parse::<usize>() {
                Ok(n) => tappables.get(n.wrapping_sub(1)),
                Err(_) => tappables.iter().find(|t| t.title.eq_ignore_ascii_case(rest)),
            };
            let Some(tap) = tap else {
                anyhow::bail!("nothing to tap as {rest:?}: /tap takes a number or a title shown with the last reply")
            };
            match (tap.kind.as_str(), &tap.payload) {
                ("quick_reply", Some(payload)) => host.quick_reply(user, &tap.title, payload).await?,
                ("postback", Some(payload)) => host.postback(user, &tap.title, payload).await?,
                (kind, target) => anyhow::bail!(
                    "a {kind} button opens {} outside Messenger's chat; nothing to send",
                    target.as_deref().unwrap_or("something")
                ),
            }
        }
        "/postback" => {
            anyhow::ensure!(!rest.is_empty(), "/postback PAYLOAD");
            host.postback(user, rest, rest).await?;
        }
        "/optin" => {
            anyhow::ensure!(!rest.is_empty(), "/optin TOPIC");
            let token = host.optin(user, rest).await?;
            println!("(opted in to {rest:?}: token {token})");
        }
        "/business" => {
            let event: serde_json::Value = serde_json::from_str(rest).context("/business takes a JSON object")?;
            host.business(&event, None).await?;
        }
        _ if command.starts_with('/') => anyhow::bail!("unknown command {command}; /help lists them"),
        _ => host.message(user, line).await?,
    }
    Ok(Chat::Sent)
}

/// Prints what the bot did for the last input; returns what can be tapped
/// now, if it replied.
async fn show(host: &mut LocalHost) -> Option<Vec<Tappable>> {
    let outcome = match host.outcome().await {
        Ok(outcome) => outcome,
        Err(e) => {
            println!("{e:#}");
            return None;
        }
    };
    let mut tappables = Vec::new();
    for action in &outcome.actions {
        println!("{}", action.render(tappables.len()));
        if let Action::Message(reply) = action {
            tappables.extend(reply.tappables().cloned());
        }
    }
    for failure in &outcome.failures {
        println!("the plugin failed for good (a dead letter): {failure}");
    }
    if outcome.actions.is_empty() {
        println!("(no reply)");
        return None;
    }
    Some(tappables)
}

async fn rebuild(dir: &Path, host: &LocalHost) {
    println!("(rebuilding…)");
    match build::build(dir).await {
        Ok(built) => match host.deploy(&built.wasm).await {
            Ok(()) => println!("(reloaded {} {})", built.name, built.version),
            Err(e) => println!("(the host did not take the new build, the last one keeps running: {e:#})"),
        },
        Err(e) => println!("(build failed, the last good build keeps running: {e:#})"),
    }
}
