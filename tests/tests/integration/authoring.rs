//! Plugin authors' tools, used as an author would, from a directory
//! outside this repository with relative paths, in each language:
//! `switchboard new` makes a project (it carries its SDK and WIT: nothing
//! of this checkout is read), the author edits the reply and its
//! conversation test, `switchboard test` passes, `switchboard dev` chats
//! and hot-reloads on save, `switchboard build` makes the `.wasm`, a host
//! serves it (and takes webhooks in while it compiles), and copying a
//! rebuilt `.wasm` over the running host's file deploys it. The examples'
//! own conversation tests run here too.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use switchboard_tests::fake_graph::FakeGraph;

use crate::harness::*;

/// Runs `switchboard {args}` in `cwd`; its stdout, or the test fails with
/// its output.
fn switchboard(cwd: &Path, args: &[&str]) -> String {
    let output = Command::new(host_binary()).args(args).current_dir(cwd).stdin(Stdio::null()).output().expect("switchboard runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "switchboard {args:?} failed:\n{stdout}\n{stderr}");
    stdout.into_owned()
}

/// Replaces `from` by `to` in a project's file, as an author's edit.
fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(text.contains(from), "{} has `{from}`:\n{text}", file.display());
    std::fs::write(file, text.replace(from, to)).expect("edit");
}

/// `switchboard build DIR`'s last line: the component it built.
fn build(cwd: &Path, dir: &str) -> PathBuf {
    let stdout = switchboard(cwd, &["build", dir]);
    let wasm = PathBuf::from(stdout.lines().last().expect("build prints the path").trim());
    assert!(wasm.is_file() && wasm.extension().is_some_and(|e| e == "wasm"), "{stdout}");
    wasm
}

/// `switchboard dev` as a person at a terminal: lines typed in, lines read.
struct DevSession {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl DevSession {
    fn start(cwd: &Path, dir: &str) -> DevSession {
        let mut child = Command::new(host_binary())
            .args(["dev", dir])
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("switchboard dev starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        DevSession { child, lines, seen: Vec::new() }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("piped");
        writeln!(stdin, "{line}").expect("dev reads its input");
    }

    /// Waits (up to 3 minutes: a build, a compile) for a line starting with `prefix`.
    fn expect(&mut self, prefix: &str) {
        let deadline = Instant::now() + Duration::from_secs(180);
        while let Ok(line) = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            let found = line.starts_with(prefix);
            self.seen.push(line);
            if found {
                return;
            }
        }
        panic!("switchboard dev never printed `{prefix}`; it printed:\n{}", self.seen.join("\n"));
    }
}

impl Drop for DevSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The author's whole loop in `lang`, whose scaffold keeps the bot in
/// `source`; `slow_compile`: the component takes seconds to compile, so
/// the host is seen taking a webhook in before its plugin is loaded.
async fn an_author_writes_tests_chats_builds_and_deploys(lang: &str, source: &str, slow_compile: bool) {
    let work = tempfile::tempdir().expect("a directory outside the repository");
    let cwd = work.path();
    let created = switchboard(cwd, &["new", "--lang", lang, "mybot"]);
    assert!(created.contains("created mybot"), "{created}");
    assert!(cwd.join("mybot/README.md").is_file() && cwd.join("mybot/build.sh").is_file() && cwd.join("mybot/tests/echo.toml").is_file());
    let (source, test) = (cwd.join("mybot").join(source), cwd.join("mybot/tests/echo.toml"));
    edit(&source, "You said: ", "mybot heard: ");
    // The conversation test catches the edit until it is updated too.
    let stale = Command::new(host_binary()).args(["test", "mybot"]).current_dir(cwd).output().expect("runs");
    assert!(!stale.status.success(), "the scaffold's test expects the old reply");
    assert!(String::from_utf8_lossy(&stale.stdout).contains(r#"expected text "You said: hi", got "mybot heard: hi""#), "{stale:?}");
    edit(&test, "You said: ", "mybot heard: ");
    let tested = switchboard(cwd, &["test", "mybot"]);
    assert!(tested.contains("all 1 conversation tests passed"), "{tested}");

    // A chat, an edit saved while chatting, the reloaded bot.
    let mut dev = DevSession::start(cwd, "mybot");
    dev.expect("mybot 0.1.0 is serving a local Page");
    dev.type_line("hi");
    dev.expect("bot: mybot heard: hi");
    edit(&source, "mybot heard: ", "mybot v2: ");
    dev.expect("(reloaded mybot");
    dev.type_line("again");
    dev.expect("bot: mybot v2: again");
    dev.type_line("/quit");
    let quit = Instant::now();
    while dev.child.try_wait().expect("waits").is_none() {
        assert!(quit.elapsed() < Duration::from_secs(20), "dev did not stop on /quit");
        std::thread::sleep(Duration::from_millis(50));
    }

    // A host in the same directory, started as the README says, with a
    // relative --config whose plugin path is relative too.
    let wasm = build(cwd, "mybot");
    let fake = FakeGraph::start().await.expect("fake Graph API");
    fake.register_page("1001", "tok-1001", APP_ID);
    std::fs::create_dir(cwd.join("plugins")).expect("mkdir");
    let live = cwd.join("plugins/mybot.wasm");
    std::fs::copy(&wasm, &live).expect("deploy");
    let port = free_port();
    let extra = "\n[api]\ntoken = \"an-operator-token-0123456789\"\n";
    write_config(cwd, port, &fake.base_url(), &[page_files("1001", "tok-1001", vec!["plugins/mybot.wasm".into()])], extra);
    let child = Command::new(host_binary())
        .args(["run", "--config", "switchboard.toml"])
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("host starts");
    let host = RunningHost { child, port };
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "host did not start listening within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let listening = started.elapsed();
    assert_eq!(host.post_signed(&client, &text_messages(&[("1001", "u1", "m0", "hi")])).await, Some(200));
    if slow_compile {
        let report: serde_json::Value = client
            .get(format!("http://127.0.0.1:{port}/admin/plugins"))
            .bearer_auth("an-operator-token-0123456789")
            .send()
            .await
            .expect("admin answers")
            .json()
            .await
            .expect("json");
        assert_eq!(report["plugins_loaded"], false, "the webhook was taken in {listening:?} after start, before the plugin compiled");
        let ready = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await.expect("readyz answers");
        assert_eq!(ready.status(), 503, "not ready while the plugin compiles");
        let ready: serde_json::Value = ready.json().await.expect("json");
        assert_eq!((&ready["plugins_loaded"], &ready["store"]["ok"]), (&false.into(), &true.into()), "{ready}");
    }
    assert_eq!(wait_texts(&fake, "u1", 1, Duration::from_secs(120)).await, ["mybot v2: hi"]);
    let ready = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await.expect("readyz answers");
    assert_eq!(ready.status(), 200, "ready once the plugin serves");

    // A new version, copied over the live file with a plain copy (cp).
    edit(&source, "mybot v2: ", "mybot v3: ");
    let wasm = build(cwd, "mybot");
    std::fs::copy(&wasm, &live).expect("cp over the live file");
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        n += 1;
        assert_eq!(host.post_signed(&client, &text_messages(&[("1001", "u1", &format!("m{n}"), &format!("hi {n}"))])).await, Some(200));
        let replies = wait_texts(&fake, "u1", n + 1, Duration::from_secs(120)).await;
        assert_eq!(replies.len(), n + 1, "one reply per message: {replies:?}");
        if replies.last().is_some_and(|r| r.starts_with("mybot v3:")) {
            break;
        }
        assert!(Instant::now() < deadline, "the copied build never went live: {replies:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rust_author_goes_from_new_to_a_deployed_plugin() {
    an_author_writes_tests_chats_builds_and_deploys("rust", "src/lib.rs", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typescript_author_goes_from_new_to_a_deployed_plugin() {
    an_author_writes_tests_chats_builds_and_deploys("ts", "src/index.ts", true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_python_author_goes_from_new_to_a_deployed_plugin() {
    an_author_writes_tests_chats_builds_and_deploys("python", "app.py", true).await;
}

/// Every example plugin passes its own conversation tests, run as an
/// author runs them.
#[test]
fn the_example_plugins_pass_their_conversation_tests() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for example in ["plugins/echo", "plugins/ts/echo", "plugins/ts/tally", "plugins/python/echo", "plugins/python/tally"] {
        let tested = switchboard(&root, &["test", example]);
        assert!(tested.contains("conversation tests passed"), "{example}: {tested}");
    }
}

#[test]
fn new_refuses_a_directory_that_is_not_empty() {
    let work = tempfile::tempdir().expect("tmp");
    std::fs::write(work.path().join("keep.txt"), "mine").expect("write");
    let output = Command::new(host_binary()).args(["new", "--lang", "rust", "."]).current_dir(work.path()).output().expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not empty"), "{output:?}");
    assert_eq!(std::fs::read_to_string(work.path().join("keep.txt")).expect("kept"), "mine");
}

/// Waits (up to `timeout`) until `to` got `n` texts; returns them.
async fn wait_texts(fake: &FakeGraph, to: &str, n: usize, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let texts = texts_to(fake, to);
        if texts.len() >= n || Instant::now() > deadline {
            return texts;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
