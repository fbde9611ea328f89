//! The fake Graph API as a standalone server, for scripts and manual runs:
//! `fake-graph --listen 127.0.0.1:9999 --page 1001:TOKEN:APPID`. Prints its
//! base URL first; drive it through `/_fake/calls`, `/_fake/reset`,
//! `/_fake/errors` and `/_fake/delay`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use switchboard_tests::fake_graph::FakeGraph;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9999")]
    listen: SocketAddr,
    /// PAGE_ID:ACCESS_TOKEN:APP_ID, repeatable.
    #[arg(long = "page")]
    pages: Vec<String>,
    /// Delay every answer by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fake = FakeGraph::start_on(args.listen).await?;
    for spec in &args.pages {
        let parts: Vec<&str> = spec.splitn(3, ':').collect();
        let [page, token, app] = parts[..] else {
            anyhow::bail!("--page {spec:?} must be PAGE_ID:ACCESS_TOKEN:APP_ID");
        };
        fake.register_page(page, token, app);
    }
    fake.set_delay(Duration::from_millis(args.delay_ms));
    println!("{}", fake.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
