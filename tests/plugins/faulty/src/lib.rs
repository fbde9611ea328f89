//! A plugin that misbehaves on request, to test the sandbox: "panic",
//! "loop" (CPU), "oom" (memory), "deep" (stack overflow), "err" (returns an
//! error). Anything else gets `faulty ok: {text}`.

use switchboard_plugin_sdk::prelude::*;

struct Faulty;

#[allow(unconditional_recursion)]
fn recurse(n: u64) -> u64 {
    let pad = std::hint::black_box([n; 64]);
    recurse(n + 1) + pad[3]
}

impl Plugin for Faulty {
    fn info() -> Info {
        Info::new("faulty", env!("CARGO_PKG_VERSION")).kinds(["message"])
    }

    fn on_message(cx: &Context, message: &Message) -> Result<Verdict, Error> {
        match message.text.as_deref() {
            Some("panic") => panic!("asked to panic"),
            Some("loop") => loop {
                std::hint::black_box(());
            },
            Some("oom") => {
                let mut hoard = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Some("deep") => {
                std::hint::black_box(recurse(0));
                Ok(Verdict::Continue)
            }
            Some("err") => Err(Error::msg("asked to fail")),
            Some(text) => {
                cx.reply(format!("faulty ok: {text}"))?;
                Ok(Verdict::Continue)
            }
            None => Ok(Verdict::Continue),
        }
    }
}

export_plugin!(Faulty);
