//! Plugin authors' tools, used as an author would, from a directory
//! outside this repository with relative paths: `switchboard new` makes a
//! project, the author edits the reply, `switchboard build` builds it (the
//! project carries its SDK and WIT: nothing of this checkout is read), a
//! host serves it, and copying a rebuilt `.wasm` over the running host's
//! file deploys it.

use std::path::Path;
use std::process::{Command, Stdio};
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

/// Replaces the reply text in the project's source, as an author's edit.
fn edit_reply(project: &Path, from: &str, to: &str) {
    let source = project.join("src/lib.rs");
    let text = std::fs::read_to_string(&source).expect("the scaffold has src/lib.rs");
    assert!(text.contains(from), "the scaffold's reply is `{from}`:\n{text}");
    std::fs::write(&source, text.replace(from, to)).expect("edit");
}

/// `switchboard build DIR`'s last line: the component it built.
fn build(cwd: &Path, dir: &str) -> std::path::PathBuf {
    let stdout = switchboard(cwd, &["build", dir]);
    let wasm = std::path::PathBuf::from(stdout.lines().last().expect("build prints the path").trim());
    assert!(wasm.is_file() && wasm.extension().is_some_and(|e| e == "wasm"), "{stdout}");
    wasm
}

#[tokio::test]
async fn a_rust_plugin_from_new_and_build_outside_the_repository_serves_and_deploys_by_copying_over_the_live_file() {
    let work = tempfile::tempdir().expect("a directory outside the repository");
    let cwd = work.path();
    let created = switchboard(cwd, &["new", "--lang", "rust", "mybot"]);
    assert!(created.contains("created mybot"), "{created}");
    assert!(cwd.join("mybot/README.md").is_file() && cwd.join("mybot/build.sh").is_file());
    edit_reply(&cwd.join("mybot"), "You said: {text}", "mybot heard: {text}");
    let wasm = build(cwd, "mybot");

    // A host in the same directory, started as the README says, with a
    // relative --config whose plugin path is relative too.
    let fake = FakeGraph::start().await.expect("fake Graph API");
    fake.register_page("1001", "tok-1001", APP_ID);
    std::fs::create_dir(cwd.join("plugins")).expect("mkdir");
    let live = cwd.join("plugins/mybot.wasm");
    std::fs::copy(&wasm, &live).expect("deploy");
    let port = free_port();
    write_config(cwd, port, &fake.base_url(), &[page_files("1001", "tok-1001", vec!["plugins/mybot.wasm".into()])], "");
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
        assert!(started.elapsed() < Duration::from_secs(30), "host did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(host.post_signed(&client, &text_messages(&[("1001", "u1", "m0", "hi")])).await, Some(200));
    wait_texts(&fake, "u1", 1).await;
    assert_eq!(texts_to(&fake, "u1"), ["mybot heard: hi"]);

    // A new version, copied over the live file with a plain copy (cp).
    edit_reply(&cwd.join("mybot"), "mybot heard: {text}", "mybot v2 heard: {text}");
    let wasm = build(cwd, "mybot");
    std::fs::copy(&wasm, &live).expect("cp over the live file");
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        n += 1;
        assert_eq!(host.post_signed(&client, &text_messages(&[("1001", "u1", &format!("m{n}"), &format!("hi {n}"))])).await, Some(200));
        let replies = wait_texts(&fake, "u1", n + 1).await;
        assert_eq!(replies.len(), n + 1, "one reply per message: {replies:?}");
        if replies.last().is_some_and(|r| r.starts_with("mybot v2 heard:")) {
            break;
        }
        assert!(Instant::now() < deadline, "the copied build never went live: {replies:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
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

/// Waits (up to 20 s) until `to` got `n` texts; returns them.
async fn wait_texts(fake: &FakeGraph, to: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let texts = texts_to(fake, to);
        if texts.len() >= n || Instant::now() > deadline {
            return texts;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
