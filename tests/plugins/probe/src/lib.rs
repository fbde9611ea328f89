//! A test plugin that reports what the host tells it, in texts a test can
//! match exactly. It receives every event kind.
//!
//! Reports go to the `user_ref` **`probe-report`**, a recipient the host
//! applies no conversation rules to, so a test sees them even when the
//! person's own thread refuses sends. When even a report cannot be sent
//! (the Page's circuit is open), the event fails with the report as its
//! error, so it ends in the dead letters for the test to read.
//!
//! On a text message, the probe replies `probe: {text}` after acting on
//! these commands:
//! * `handover`: passes the thread to the Page Inbox; reports
//!   `handover: ok` or `handover: {error}`;
//! * `take` / `release`: takes or releases the thread, reporting likewise;
//! * `owner`: reports `owner: {app id}` or `owner: none` (Graph query);
//! * `state`: reports the host's conversation state,
//!   `state: window={open|closed} owner={..} tokens={n} link={..}`;
//! * `tag {TAG}`: the reply is tagged `{TAG}`; `human`: tagged HUMAN_AGENT
//!   as written by a person; `update`: messaging type UPDATE;
//! * `twice`: replies `first` and then `second`;
//! * `sticker`: replies with a sticker, as raw message JSON (`Outgoing::raw`);
//! * `raw`: reports `raw: {n} bytes` of the event's raw JSON;
//! * `work {n}`: runs `n` rounds of a xorshift before the usual reply:
//!   guest CPU on demand (the throughput bench's heavy-plugin load, `WORK`);
//! * `profile`: reports `profile: {first} {last}`;
//! * `stop`: ends the chain (`Verdict::Stop`);
//! * `kv set K V`, `kv ttl K V MS`, `kv get K`, `kv del K`, `kv inc K N`,
//!   `kv cas K OLD|- NEW`, `kv list PREFIX`, `kv big K BYTES`: this plugin's
//!   key-value state; reports `kv: {result}` or `kv: error {error}`;
//! * `http {authority} {path}`: a `wasi:http` GET of `http://{authority}{path}`;
//!   reports `http: {status} {body bytes}` or `http: error {wasi error code}`;
//! * `https {authority} {path}`: the same over HTTPS, reported as `https: ...`.
//!
//! On a person-erased event it deletes its keys starting `{psid}:` and
//! reports `erased {psid}: {n} keys`.
//!
//! On an optin it reports `optin: {payload}`. On a business event with a
//! `"token"` it sends `{"text"}` with that one-time-notification token;
//! with a `"topic"`, to every open token of the topic; it reports
//! `notified {n}` or `notify failed: {error}`.
//!
//! A failed send is reported as `send failed: {error} standby={bool}` where
//! `{error}` is `graph code=551 subcode=1545041 status=400`,
//! `outside-window`, `invalid-request {message}`, `unavailable`, or the WIT
//! case name (`not-thread-owner`, `page-circuit-open`...).

use switchboard_plugin_sdk::prelude::*;
use switchboard_plugin_sdk::{AccountLink, ThreadOwner};

struct Probe;

/// The error in a stable, machine-checkable form.
fn describe(e: &Error) -> String {
    let Some(e) = e.messenger() else { return e.to_string() };
    match e {
        MessengerError::Graph(g) => {
            let subcode = g.subcode.map_or_else(|| "-".to_string(), |s| s.to_string());
            format!("graph code={} subcode={subcode} status={}", g.code, g.http_status)
        }
        MessengerError::InvalidRequest(m) => format!("invalid-request {m}"),
        MessengerError::Unavailable(_) => "unavailable".into(),
        MessengerError::OutsideWindow => "outside-window".into(),
        MessengerError::NotThreadOwner => "not-thread-owner".into(),
        MessengerError::NotificationTokenUsed => "notification-token-used".into(),
        MessengerError::NotificationTokenExpired => "notification-token-expired".into(),
        MessengerError::PageCircuitOpen => "page-circuit-open".into(),
        MessengerError::QuotaExceeded => "quota-exceeded".into(),
    }
}

/// Sends `text` to the report recipient; an undeliverable report fails
/// the event with the report as the error.
fn report(cx: &Context, text: String) -> Result<(), Error> {
    match cx.send(Recipient::UserRef("probe-report".into()), Outgoing::text(text.clone()).update()) {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::msg(format!("{text} (report undeliverable: {})", describe(&e)))),
    }
}

fn outcome(what: &str, result: Result<(), Error>) -> String {
    match result {
        Ok(()) => format!("{what}: ok"),
        Err(e) => format!("{what}: {}", describe(&e)),
    }
}

fn owner_text(owner: &ThreadOwner) -> String {
    match owner {
        ThreadOwner::Unknown => "unknown".into(),
        ThreadOwner::Idle => "idle".into(),
        ThreadOwner::ThisApp => "this-app".into(),
        ThreadOwner::OtherApp(id) => format!("other:{}", id.as_deref().unwrap_or("?")),
    }
}

/// A GET over `wasi:http`: `{status} {body bytes}`, or `error {code}`.
fn http_get(scheme: wasi::http::types::Scheme, authority: &str, path: &str) -> String {
    use wasi::http::types::{ErrorCode, Fields, OutgoingRequest};
    let get = || -> Result<String, ErrorCode> {
        let request = OutgoingRequest::new(Fields::new());
        let _ = request.set_scheme(Some(&scheme));
        let _ = request.set_authority(Some(authority));
        let _ = request.set_path_with_query(Some(path));
        let pending = wasi::http::outgoing_handler::handle(request, None)?;
        pending.subscribe().block();
        let response =
            pending.get().ok_or(ErrorCode::InternalError(Some("no response".into())))?.map_err(|()| ErrorCode::InternalError(None))??;
        let status = response.status();
        let body = response.consume().map_err(|()| ErrorCode::InternalError(Some("no body".into())))?;
        let stream = body.stream().map_err(|()| ErrorCode::InternalError(Some("no stream".into())))?;
        let mut bytes = 0;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes += chunk.len(),
                Err(wasi::io::streams::StreamError::Closed) => break,
                Err(wasi::io::streams::StreamError::LastOperationFailed(e)) => {
                    return Err(wasi::http::types::http_error_code(&e).unwrap_or(ErrorCode::InternalError(Some(e.to_debug_string()))))
                }
            }
        }
        drop(stream);
        Ok(format!("{status} {bytes}"))
    };
    match get() {
        Ok(text) => text,
        Err(e) => format!("error {e:?}"),
    }
}

/// Runs a `kv ...` command; the result or the error as text.
fn kv_command(args: &str) -> String {
    let words: Vec<&str> = args.split(' ').collect();
    let result: Result<String, Error> = match words.as_slice() {
        ["set", key, value] => kv::set_str(key, value, None).map(|()| "ok".into()),
        ["ttl", key, value, ms] => {
            let ms: u64 = ms.parse().unwrap_or(0);
            kv::set_str(key, value, Some(std::time::Duration::from_millis(ms))).map(|()| "ok".into())
        }
        ["get", key] => kv::get_str(key).map(|v| v.unwrap_or_else(|| "none".into())),
        ["del", key] => kv::delete(key).map(|existed| existed.to_string()),
        ["inc", key, n] => kv::increment(key, n.parse().unwrap_or(0)).map(|n| n.to_string()),
        ["cas", key, old, new] => {
            let expected = (*old != "-").then_some(old.as_bytes());
            kv::compare_and_swap(key, expected, new.as_bytes(), None).map(|swapped| swapped.to_string())
        }
        ["list", prefix] => kv::list_keys(prefix, 100).map(|keys| keys.join(",")),
        ["big", key, bytes] => kv::set(key, &vec![b'x'; bytes.parse().unwrap_or(0)], None).map(|()| "ok".into()),
        _ => Err(Error::msg("unknown kv command")),
    };
    match result {
        Ok(text) => text,
        Err(e) => match e.kv() {
            Some(KvError::TooLarge(m)) => format!("error too-large {m}"),
            Some(KvError::NotANumber) => "error not-a-number".into(),
            Some(KvError::QuotaExceeded) => "error quota-exceeded".into(),
            Some(KvError::Unavailable(m)) => format!("error unavailable {m}"),
            None => format!("error {e}"),
        },
    }
}

/// `rounds` steps of a xorshift generator: CPU time the optimiser cannot
/// skip.
fn work(rounds: u64) -> u64 {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

impl Plugin for Probe {
    // No `info`: named and versioned after the crate, receives every kind.

    fn handle(cx: &Context, event: &Event) -> Result<Verdict, Error> {
        log::info(format!("probe saw {} standby={}", event.kind.name(), event.standby));
        match &event.kind {
            EventKind::Message(message) => Self::on_message(cx, message),
            EventKind::Optin(optin) => {
                report(cx, format!("optin: {}", optin.payload.as_deref().unwrap_or("-")))?;
                Ok(Verdict::Continue)
            }
            EventKind::Business(b) => Self::on_business(cx, b),
            EventKind::PersonErased => {
                // What it kept about the person: the keys under their PSID.
                let psid = cx.psid().unwrap_or_default().to_string();
                let keys = kv::list_keys(&format!("{psid}:"), 100)?;
                for key in &keys {
                    kv::delete(key)?;
                }
                report(cx, format!("erased {psid}: {} keys", keys.len()))?;
                Ok(Verdict::Continue)
            }
            _ => Ok(Verdict::Continue),
        }
    }

    fn on_message(cx: &Context, message: &Message) -> Result<Verdict, Error> {
        let Some(text) = message.text.as_deref() else { return Ok(Verdict::Continue) };
        let psid = cx.psid().unwrap_or_default();
        let mut reply = Outgoing::text(format!("probe: {text}"));
        match text.split_once(' ').map_or((text, ""), |(a, b)| (a, b)) {
            ("handover", _) => report(cx, outcome("handover", cx.pass_to_page_inbox(Some("probe"))))?,
            ("take", _) => report(cx, outcome("take", cx.take_thread_control(None)))?,
            ("release", _) => report(cx, outcome("release", cx.release_thread_control(None)))?,
            ("owner", _) => report(
                cx,
                match cx.thread_owner() {
                    Ok(owner) => format!("owner: {}", owner.as_deref().unwrap_or("none")),
                    Err(e) => format!("owner: {}", describe(&e)),
                },
            )?,
            ("state", _) => {
                let s = cx.conversation(psid);
                let link = match s.account_link {
                    AccountLink::Unknown => "unknown",
                    AccountLink::Linked => "linked",
                    AccountLink::Unlinked => "unlinked",
                };
                let window = if s.window_open_until.is_some() { "open" } else { "closed" };
                let owner = owner_text(&s.thread_owner);
                report(cx, format!("state: window={window} owner={owner} tokens={} link={link}", s.notification_tokens.len()))?;
            }
            ("profile", _) => report(
                cx,
                match cx.user_profile(psid) {
                    Ok(p) => format!("profile: {} {}", p.first_name.unwrap_or_default(), p.last_name.unwrap_or_default()),
                    Err(e) => format!("profile: {}", describe(&e)),
                },
            )?,
            ("kv", args) => report(cx, format!("kv: {}", kv_command(args)))?,
            ("http", args) => {
                let (authority, path) = args.split_once(' ').unwrap_or((args, "/"));
                report(cx, format!("http: {}", http_get(wasi::http::types::Scheme::Http, authority, path)))?
            }
            ("https", args) => {
                let (authority, path) = args.split_once(' ').unwrap_or((args, "/"));
                report(cx, format!("https: {}", http_get(wasi::http::types::Scheme::Https, authority, path)))?
            }
            ("tag", tag) => reply = reply.tag(tag),
            ("human", _) => reply = reply.human_agent(),
            ("update", _) => reply = reply.update(),
            ("work", rounds) => match rounds.parse() {
                Ok(rounds) => _ = std::hint::black_box(work(rounds)),
                Err(_) => report(cx, format!("work: error {rounds:?} is not a number of rounds"))?,
            },
            ("sticker", _) => {
                if let Err(e) = cx.reply(Outgoing::raw(r#"{"sticker_id": 369239263222822}"#)) {
                    report(cx, format!("send failed: {} standby={}", describe(&e), cx.standby()))?;
                }
                return Ok(Verdict::Continue);
            }
            ("raw", _) => report(cx, format!("raw: {} bytes", cx.event().raw_json().len()))?,
            ("twice", _) => {
                for text in ["first", "second"] {
                    if let Err(e) = cx.reply(text) {
                        report(cx, format!("send failed: {} standby={}", describe(&e), cx.standby()))?;
                    }
                }
                return Ok(Verdict::Continue);
            }
            _ => {}
        }
        if let Err(e) = cx.reply(reply) {
            report(cx, format!("send failed: {} standby={}", describe(&e), cx.standby()))?;
        }
        Ok(if text == "stop" { Verdict::Stop } else { Verdict::Continue })
    }

    fn on_business(cx: &Context, event: &BusinessEvent) -> Result<Verdict, Error> {
        let body: serde_json::Value = serde_json::from_str(&event.json).map_err(Error::msg)?;
        let text = body["text"].as_str().unwrap_or("notification").to_string();
        let tokens: Vec<String> = match (body["token"].as_str(), body["topic"].as_str()) {
            (Some(token), _) => vec![token.to_string()],
            (None, Some(topic)) => cx.notification_tokens(topic).into_iter().map(|t| t.token).collect(),
            (None, None) => Vec::new(),
        };
        let mut sent = 0;
        for token in tokens {
            match cx.send(Recipient::OneTimeNotifToken(token), Outgoing::text(text.clone()).update()) {
                Ok(_) => sent += 1,
                Err(e) => report(cx, format!("notify failed: {}", describe(&e)))?,
            }
        }
        report(cx, format!("notified {sent}"))?;
        Ok(Verdict::Continue)
    }
}

export_plugin!(Probe);
