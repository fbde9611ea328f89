//! Assembling and running a host: config → plugins → dispatcher → HTTP.
//!
//! [`Server::build`] does everything that can fail at start (compiling
//! plugins, binding the port) before any traffic is accepted;
//! [`Server::run`] serves until the shutdown future resolves, then stops
//! accepting, and gives in-flight events `shutdown_grace_secs` to finish.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::graph::GraphClient;
use crate::registry::{PluginRegistry, Routes};
use crate::runtime::PluginRuntime;
use crate::webhook;

pub struct Server {
    listener: TcpListener,
    app: axum::Router,
    dispatcher: Dispatcher,
    grace: Duration,
}

impl Server {
    pub async fn build(config: Config) -> anyhow::Result<Server> {
        let runtime = PluginRuntime::new(config.limits.clone())?;
        let graph = GraphClient::new(&config.graph_api_url, Duration::from_secs(config.graph.request_timeout_secs))?;
        let routes = Routes::build(&config, &runtime, &graph).await?;
        let registry = PluginRegistry::new(routes);
        let dispatcher = Dispatcher::new(
            registry.clone(),
            runtime,
            config.dispatch.max_concurrent_conversations,
            config.dispatch.max_queued_events,
        );
        let app = webhook::router(&config, registry, dispatcher.clone());
        let addr = config.listen_addr();
        let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        Ok(Server { listener, app, dispatcher, grace: Duration::from_secs(config.dispatch.shutdown_grace_secs) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr(), "listening for Messenger webhooks");
        axum::serve(self.listener, self.app).with_graceful_shutdown(shutdown).await?;
        tracing::info!(queued = self.dispatcher.queued(), "no longer accepting webhooks; draining");
        let left = self.dispatcher.shutdown(self.grace).await;
        if left > 0 {
            tracing::warn!(left, "shutdown deadline passed with events unhandled");
        } else {
            tracing::info!("drained; bye");
        }
        Ok(())
    }
}
