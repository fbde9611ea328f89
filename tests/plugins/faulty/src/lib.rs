//! A test plugin that misbehaves on request, to test the host's sandbox.
//! On a text message:
//!
//! * `panic`: panics (a trap);
//! * `loop`: spins forever (the CPU limit);
//! * `oom`: allocates 16 MiB blocks until allocation fails (the memory limit);
//! * `deep`: recurses without end (stack overflow);
//! * `err`: returns `Err` from the handler;
//! * `flood`: replies `flood {n}` until the host refuses (the host-call
//!   quota), then fails with that error;
//! * `toolong`: replies with 2 001 characters (over the Send API's limit),
//!   and fails with the host's refusal;
//! * `biglog`: logs one 8 MiB line (the host keeps `log_bytes` of it), then
//!   replies `faulty ok: biglog`;
//! * `sleep {ms}`: sleeps (`wasi:clocks`, no CPU), then replies
//!   `faulty ok: slept {ms}`;
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

export_plugin!(Faulty);
