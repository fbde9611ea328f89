//! Assembling and running a host: config → store → dispatcher → HTTP, and
//! the plugins beside it.
//!
//! [`Server::build`] does what must succeed before any traffic is taken in
//! (opening the store, binding the port), queues the events a previous run
//! left unfinished, and starts compiling the plugins. The webhook does not
//! wait for them: it verifies and stores events from the first moment, and
//! they wait in the inbox until the plugins are in (a cold compile of a
//! Python or JavaScript plugin takes seconds, and Meta's webhook timeout is
//! 20 s). A plugin that does not load stops the host, keeping what it took
//! in for the next start.
//! [`Server::run`] serves until the shutdown future resolves, then stops
//! accepting, and gives in-flight events `shutdown_grace_secs` to finish;
//! plugin files and the config file are watched and hot-reloaded meanwhile
//! (see [`crate::reload`]);
//! what is left stays pending in the store for the next run. Two background
//! tasks run alongside: retention pruning (events, and conversations not
//! changed for `conversation_retention_days`) and picking up dead letters
//! an operator marked for retry.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::background::BackgroundTasks;
use crate::config::{Config, PluginLimits, ServerConfig};
use crate::engine::dispatch::{Capacity, Dispatcher, QueuedEvent, RetryPolicy};
use crate::engine::plugin_health::PluginHealth;
use crate::engine::registry::{PluginRegistry, Routes, SharedServices};
use crate::engine::slots::ConversationSlots;
use crate::engine::worker_runtime::WorkerRuntime;
use crate::ingress::api;
use crate::ingress::api::ApiToken;
use crate::ingress::connections;
use crate::ingress::data_deletion::{self, DeletionResolver};
use crate::ingress::health;
use crate::ingress::inbox::Inbox;
use crate::ingress::webhook;
use crate::ingress::webhook::WebhookApps;
use crate::messenger::conversation::{Conversations, MessagingPolicy};
use crate::messenger::graph::GraphClient;
use crate::messenger::messenger_profile;
use crate::messenger::profiles::UserProfiles;
use crate::reload::{HotReload, LiveConfig};
use crate::sandbox::PluginRuntime;
use crate::store::problems::ProblemLog;
use crate::store::{Store, WriteOp};
use crate::telemetry::{Alerts, Metrics};

pub struct Server {
    listener: TcpListener,
    _watcher: HotReload,
    app: axum::Router,
    server: ServerConfig,
    dispatcher: Dispatcher,
    store: Store,
    registry: PluginRegistry,
    tasks: BackgroundTasks,
    /// Resolves if the plugins fail to load at start.
    plugins_failed: oneshot::Receiver<anyhow::Error>,
    grace: Duration,
    /// Last, so it stops after everything that spawns onto it.
    _workers: WorkerRuntime,
}

impl Server {
    pub async fn build(config: Config) -> anyhow::Result<Server> {
        let metrics = if config.metrics.enabled { Metrics::enabled() } else { Metrics::default() };
        let store = Store::open_sqlite(&config.store.path, config.store.commit_delay(), metrics.clone())?;
        let workers = WorkerRuntime::start(config.dispatch.worker_threads, config.dispatch.worker_nice)?;
        let tasks = BackgroundTasks::new(workers.handle());
        let (alerts, deliver_alerts) = Alerts::start(&config.alerts);
        tasks.spawn_here(deliver_alerts);
        let (problems, record_problems) = ProblemLog::start(store.clone(), alerts);
        tasks.spawn_here(record_problems);
        // Pool slots fit the largest memory any plugin may get.
        let pool_limits = PluginLimits { memory_mib: config.largest_memory_mib(), ..config.limits.clone() };
        let runtime = PluginRuntime::new(pool_limits)?.with_compile_cache(&config.store.compile_cache_dir())?;
        let services = SharedServices {
            graph: GraphClient::new(
                &config.graph_api_url,
                Duration::from_secs(config.graph.request_timeout_secs),
                config.graph.max_send_requests,
            )?
            .with_metrics(metrics.clone()),
            conversations: Conversations::new(store.clone(), MessagingPolicy::from_config(&config.messaging)),
            profiles: UserProfiles::new(Duration::from_secs(config.graph.profile_cache_secs), &config.graph.profile_fields),
            store: store.clone(),
            metrics: metrics.clone(),
            problems: problems.clone(),
        };
        let registry = PluginRegistry::loading(PluginHealth::new(config.plugin_circuit.clone(), problems.clone()));
        let (apps, api_token) = (WebhookApps::new(&config), ApiToken::new(&config));
        let live = LiveConfig { services: services.clone(), apps: apps.clone(), api_token: api_token.clone(), tasks: tasks.clone() };
        let watcher = HotReload::spawn(config.clone(), runtime.clone(), registry.clone(), live)?;
        let retry = RetryPolicy {
            max_attempts: config.dispatch.max_attempts,
            first_backoff: Duration::from_millis(config.dispatch.retry_backoff_ms),
        };
        let dispatcher = Dispatcher::new(
            registry.clone(),
            runtime.clone(),
            store.clone(),
            retry,
            Capacity {
                slots: ConversationSlots::new(config.dispatch.max_concurrent_conversations, config.dispatch.conversations_per_page()),
                max_queued: config.dispatch.max_queued_events,
            },
            workers.handle(),
            metrics.clone(),
        );
        // Bound before any event is queued, so a start that fails here has
        // started no work.
        let addr = config.listen_addr();
        let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let pending = store.read(|b| b.pending()).await?;
        if !pending.is_empty() {
            tracing::info!(events = pending.len(), "resuming events a previous run left unfinished");
        }
        resume(&dispatcher, &tasks, pending.into_iter().map(|p| QueuedEvent::new(p.event, p.seq, p.attempts, true)).collect());
        let retention = Retention {
            events: Duration::from_secs(config.store.retention_hours * 3600),
            conversations: Duration::from_secs(config.store.conversation_retention_days * 86_400),
        };
        spawn_maintenance(&tasks, store.clone(), dispatcher.clone(), retention);
        let graph = services.graph.clone();
        let plugins_failed = spawn_plugin_load(&tasks, config.clone(), runtime, services, registry.clone());
        let inbox = Inbox::new(dispatcher.clone(), store.clone(), metrics.clone());
        let refused = webhook::RefusedEvents::default();
        let reporting = webhook::Reporting { refused: refused.clone(), metrics: metrics.clone(), problems };
        let deletions = DeletionResolver::new(apps.clone(), store.clone(), inbox.clone(), registry.clone(), graph);
        tasks.spawn_on_workers(deletions.clone().run());
        let app = webhook::router(&config, apps, inbox.clone(), reporting)
            .merge(data_deletion::router(deletions))
            .merge(api::router(&config, api_token, registry.clone(), inbox, refused, store.clone()))
            .merge(health::router(store.clone(), registry.clone(), dispatcher.clone(), metrics, config.metrics.token.clone()));
        Ok(Server {
            listener,
            _watcher: watcher,
            app,
            server: config.server.clone(),
            dispatcher,
            store,
            registry,
            tasks,
            plugins_failed,
            grace: Duration::from_secs(config.dispatch.shutdown_grace_secs),
            _workers: workers,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The plugins in force; [`PluginRegistry::loaded`] says when the
    /// ones of the config are in.
    pub fn registry(&self) -> &PluginRegistry {
        &self.registry
    }

    /// Serves until `shutdown` resolves, or until the plugins fail to load
    /// at start: then the host stops with that error, and the events it
    /// took in meanwhile stay stored for the next start.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr(), "listening for Messenger webhooks");
        let failure = Arc::new(Mutex::new(None));
        let stop = {
            let (failure, plugins_failed) = (failure.clone(), self.plugins_failed);
            async move {
                tokio::select! {
                    () = shutdown => {}
                    Ok(e) = plugins_failed => *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e),
                }
            }
        };
        connections::serve(self.listener, self.app, &self.server, stop, self.grace).await;
        let failure = failure.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(e) = failure {
            // Nothing can run without the plugins: stop at once.
            let stored = self.dispatcher.shutdown(Duration::ZERO).await;
            self.tasks.stop(Duration::from_secs(2)).await;
            tracing::error!(stored, "the plugins did not load; the events taken in stay stored for the next start");
            return Err(e.context("loading the plugins"));
        }
        tracing::info!(queued = self.dispatcher.queued(), "no longer accepting webhooks; draining");
        let left = self.dispatcher.shutdown(self.grace).await;
        if !self.tasks.stop(Duration::from_secs(2)).await {
            tracing::warn!("background tasks (maintenance, hot reload, Messenger Profile updates) did not stop within 2 s");
        }
        if left > 0 {
            tracing::warn!(left, "shutdown deadline passed with events unhandled");
        } else {
            tracing::info!("drained; bye");
        }
        Ok(())
    }
}

/// Compiles the plugins (from the compile cache where it can) while the
/// webhook already takes events in, then lets the dispatcher run them and
/// applies the Messenger Profiles. The receiver gets the error if a plugin
/// does not load.
fn spawn_plugin_load(
    tasks: &BackgroundTasks,
    config: Config,
    runtime: PluginRuntime,
    services: SharedServices,
    registry: PluginRegistry,
) -> oneshot::Receiver<anyhow::Error> {
    let (failed, plugins_failed) = oneshot::channel();
    // On the workers: compiling is CPU work, and must not slow the acks.
    tasks.spawn_on_workers(async move {
        let started = Instant::now();
        let routes = match Routes::build(&config, &runtime, &services, &Routes::default()).await {
            Ok(routes) => routes,
            Err(e) => {
                let _ = failed.send(e);
                return;
            }
        };
        if let Some(cache) = runtime.compile_cache() {
            cache.prune(&routes.plugin_hashes());
        }
        registry.replace(routes);
        tracing::info!(ms = started.elapsed().as_millis() as u64, "plugins loaded; handling events");
        // A slow or failing Graph API must not hold anything up.
        messenger_profile::apply_all(&config, |id| registry.snapshot().pages.get(id).map(|r| r.access.clone()), &services.store).await
    });
    plugins_failed
}

/// Queues events a previous run left unfinished, each with its place in the
/// queue: all of them at once when they fit (before any webhook is served,
/// so they go before newer events of their conversations), the rest as room
/// frees up.
fn resume(dispatcher: &Dispatcher, tasks: &BackgroundTasks, mut pending: Vec<QueuedEvent>) {
    let first: Vec<QueuedEvent> = pending.drain(..pending.len().min(dispatcher.capacity())).collect();
    match dispatcher.reserve(first.len()) {
        Ok(room) => dispatcher.submit(first, room),
        Err(_) => drop(pending.splice(0..0, first)),
    }
    if pending.is_empty() {
        return;
    }
    tracing::warn!(events = pending.len(), "more unfinished events than dispatch.max_queued_events: the rest are queued as room frees up");
    let dispatcher = dispatcher.clone();
    tasks.spawn_on_workers(async move {
        let mut pending = pending.into_iter().peekable();
        while pending.peek().is_some() {
            let chunk: Vec<QueuedEvent> = pending.by_ref().take(dispatcher.capacity()).collect();
            let room = dispatcher.reserve_waiting(chunk.len()).await;
            dispatcher.submit(chunk, room);
        }
    });
}

/// Retention pruning (every minute) and dead letters marked for retry
/// (every two seconds), on the worker runtime: it stops with the workers
/// it hands events to.
/// How long finished events, and conversations since their last change,
/// are kept (zero: conversations are kept).
struct Retention {
    events: Duration,
    conversations: Duration,
}

fn spawn_maintenance(tasks: &BackgroundTasks, store: Store, dispatcher: Dispatcher, retention: Retention) {
    tasks.spawn_on_workers(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            n += 1;
            match store.read(|b| b.take_requeued()).await {
                Ok(events) if !events.is_empty() => {
                    tracing::info!(events = events.len(), "dead letters requeued by an operator");
                    let events: Vec<QueuedEvent> = events.into_iter().map(|p| QueuedEvent::new(p.event, p.seq, 0, true)).collect();
                    let mut events = events.into_iter().peekable();
                    while events.peek().is_some() {
                        let chunk: Vec<QueuedEvent> = events.by_ref().take(dispatcher.capacity()).collect();
                        let room = dispatcher.reserve_waiting(chunk.len()).await;
                        dispatcher.submit(chunk, room);
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "could not check for requeued dead letters"),
            }
            if n % 30 == 1 {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                let before_ms = now.saturating_sub(retention.events).as_millis() as i64;
                let conversations_before_ms =
                    if retention.conversations.is_zero() { 0 } else { now.saturating_sub(retention.conversations).as_millis() as i64 };
                match store.write(WriteOp::Prune { before_ms, conversations_before_ms }).await {
                    Ok(result) => tracing::debug!(?result, "pruned finished events past retention"),
                    Err(e) => tracing::error!(error = %e, "pruning failed"),
                }
            }
        }
    });
}
