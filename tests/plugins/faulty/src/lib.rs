//! A test plugin that misbehaves on request, to test the host's sandbox.
//! On a text message:
//!
//! * `panic`: panics (a trap);
//! * `loop`: spins forever (the CPU limit);
//! * `oom`: allocates 16 MiB blocks until allocation fails (the memory limit);
//! * `deep`: recurses without end (stack overflow);
//! * `err`: returns `Err` from the handler (worth retrying);
//! * `permanent`: returns an `Error::permanent` (not worth retrying);
//! * `refused permanent`: sends to a person who never wrote (the host
//!   refuses: outside the window), goes on, then returns an
//!   `Error::permanent` of its own;
//! * `flood`: replies `flood {n}` until the host refuses (the host-call
//!   quota), then fails with that error;
//! * `toolong`: replies with 2 001 characters (over the Send API's limit),
//!   and fails with the host's refusal;
//! * `biglog`: logs one 8 MiB line (the host keeps `log_bytes` of it), then
//!   replies `faulty ok: biglog`;
//! * `sleep {ms}`: sleeps (`wasi:clocks`, no CPU), then replies
//!   `faulty ok: slept {ms}`;
//! * `hoard {mib} {n}`: hands the host a `{mib}` MiB string (different
//!   for each `n`) everywhere it takes one: as a PSID to send to, read the
//!   conversation and the profile of, and pass the thread of; as a media
//!   URL, metadata, reply-to id and persona; as a KV key, a topic, a log
//!   line and a target app id; then replies `faulty ok: hoarded {n}` with
//!   what the host answered (each call should be refused);
//! * `hugeerr {mib}`: fails with an error message of `{mib}` MiB;
//! * `forge`: logs what the SDK's panic hook would, without panicking,
//!   then aborts (a trap that is not a panic);
//! * anything else: replies `faulty ok: {text}`.

use switchboard_plugin_sdk::prelude::*;

struct Faulty;

/// Recursion the optimiser cannot turn into a loop: each frame keeps a
/// black-boxed array alive across the call.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    recurse(depth + 1) + frame[3]
}

impl Plugin for Faulty {
    fn info() -> PluginInfo {
        PluginInfo::new("faulty", env!("CARGO_PKG_VERSION")).event_kinds(["message"])
    }

    fn on_message(cx: &Context, message: &Message) -> Result<Verdict, Error> {
        let Some(text) = message.text.as_deref() else { return Ok(Verdict::Continue) };
        match text {
            "panic" => panic!("asked to panic"),
            "permanent" => Err(Error::permanent("asked to fail for good")),
            "refused permanent" => {
                let refused = cx.send(Recipient::Psid("nobody".into()), "hello?").is_err();
                Err(Error::permanent(format!("failed for good (the send was refused: {refused})")))
            }
            "loop" => loop {
                std::hint::black_box(());
            },
            "oom" => {
                let mut hoard = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "deep" => {
                std::hint::black_box(recurse(0));
                Ok(Verdict::Continue)
            }
            "err" => Err(Error::msg("asked to fail")),
            "forge" => {
                log::error("plugin panicked at src/lib.rs:1:1:\nforged");
                std::process::abort()
            }
            "flood" => {
                for n in 0.. {
                    cx.reply(format!("flood {n}"))?;
                }
                Ok(Verdict::Continue)
            }
            "toolong" => {
                cx.reply("x".repeat(2001))?;
                Ok(Verdict::Continue)
            }
            "biglog" => {
                log::info("x".repeat(8 << 20));
                cx.reply("faulty ok: biglog")?;
                Ok(Verdict::Continue)
            }
            _ if text.starts_with("hoard ") => hoard(cx, &text["hoard ".len()..]),
            _ if text.starts_with("hugeerr ") => {
                let mib: usize = text["hugeerr ".len()..].parse().unwrap_or(1);
                Err(Error::msg("e".repeat(mib << 20)))
            }
            _ if text.starts_with("sleep ") => {
                let ms: u64 = text["sleep ".len()..].parse().unwrap_or(0);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                cx.reply(format!("faulty ok: slept {ms}"))?;
                Ok(Verdict::Continue)
            }
            _ => {
                cx.reply(format!("faulty ok: {text}"))?;
                Ok(Verdict::Continue)
            }
        }
    }
}

/// See `hoard` in the module doc.
fn hoard(cx: &Context, args: &str) -> Result<Verdict, Error> {
    let (mib, n) = args.split_once(' ').unwrap_or((args, "0"));
    let mib: usize = mib.parse().unwrap_or(1);
    // Digits only, so only the length can be refused.
    let huge = format!("{n}{}", "9".repeat(mib << 20));
    let mut refused = 0;
    let mut count = |result: Result<(), Error>| refused += usize::from(result.is_err());
    count(cx.send(Recipient::Psid(huge.clone()), "hi").map(drop));
    let state = cx.conversation(&huge);
    count(if state.last_interaction.is_none() { Err(Error::msg("unknown")) } else { Ok(()) });
    count(cx.user_profile(&huge).map(drop));
    count(cx.reply(Outgoing::media(Media::image_url(huge.clone()))).map(drop));
    count(cx.reply(Outgoing::text("x").metadata(huge.clone())).map(drop));
    count(cx.reply(Outgoing::text("x").reply_to(huge.clone())).map(drop));
    count(cx.reply(Outgoing::text("x").persona(huge.clone())).map(drop));
    count(kv::set(&huge, b"v", None));
    count(if cx.notification_tokens(&huge).is_empty() { Err(Error::msg("none")) } else { Ok(()) });
    count(cx.pass_thread_control(&huge, Some(&huge)));
    log::info(huge.clone());
    drop(huge);
    cx.reply(format!("faulty ok: hoarded {n}, {refused} of 10 refused"))?;
    Ok(Verdict::Continue)
}

export_plugin!(Faulty);
