//! `ctidx cluster scheduler`: Ballista's scheduler, serving gRPC (with TLS when asked).

use std::sync::Arc;

use anyhow::Context;
use axum::extract::ConnectInfo;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpcServer;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::create_scheduler;
use ballista_scheduler::scheduler_server::SessionBuilder;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::registry::FunctionRegistry;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::interceptor::InterceptedService;

use super::{StoreObjects, Tls};

/// What the scheduler needs to run.
pub struct Scheduler {
    pub bind: String,
    pub external_host: Option<String>,
    pub executor_timeout_seconds: u64,
    pub stores: StoreObjects,
    pub tls: Option<Tls>,
}

/// Serves until Ctrl-C or SIGTERM. `ready` is called with the bound address once clients and
/// executors can connect.
pub async fn serve(scheduler: Scheduler, ready: impl FnOnce(&str)) -> anyhow::Result<()> {
    let address = super::socket_address(&scheduler.bind, "--bind")?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (--bind)"))?;
    let bound = listener.local_addr()?;
    let external_host = scheduler
        .external_host
        .clone()
        .unwrap_or_else(|| bound.ip().to_string());
    let config = SchedulerConfig {
        bind_host: bound.ip().to_string(),
        bind_port: bound.port(),
        external_host,
        // Executors pull their tasks: the scheduler never dials them, so executors need one port
        // (Arrow Flight), and TLS covers every connection.
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        executor_timeout_seconds: scheduler.executor_timeout_seconds,
        expire_dead_executor_interval_seconds: scheduler.executor_timeout_seconds.clamp(1, 15),
        override_session_builder: Some(session_builder(scheduler.stores.clone())),
        use_tls: scheduler.tls.is_some(),
        override_create_grpc_client_endpoint: scheduler.tls.as_ref().map(Tls::endpoint_override),
        ..SchedulerConfig::default()
    };
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("scheduler: {e}"))?;
    let config = Arc::new(config);
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| anyhow::anyhow!("scheduler: {e}"))?;
    let server =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::clone(&config))
            .await
            .map_err(|e| anyhow::anyhow!("scheduler: {e}"))?;
    let service = SchedulerGrpcServer::new(server)
        .max_decoding_message_size(config.grpc_server_max_decoding_message_size as usize)
        .max_encoding_message_size(config.grpc_server_max_encoding_message_size as usize);
    // Ballista's scheduler takes an executor's address from axum's connection info, which its own
    // HTTP server sets; this one is tonic's (for TLS), so the peer's address is set here.
    let service = InterceptedService::new(service, |mut request: tonic::Request<()>| {
        if let Some(peer) = request.remote_addr() {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        Ok(request)
    });
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &scheduler.tls {
        builder = builder
            .tls_config(tls.server())
            .context("scheduler: the TLS certificate or key is not usable")?;
    }
    ready(&bound.to_string());
    builder
        .add_service(service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), super::shutdown_signal())
        .await
        .context("scheduler: the gRPC server stopped")
}

/// Sessions planned on the scheduler: Ballista's defaults, ctidx's functions, and the store's
/// object store (the scheduler lists the store's files).
fn session_builder(stores: StoreObjects) -> SessionBuilder {
    Arc::new(move |config| {
        let state = ballista_core::utils::default_session_builder(config)?;
        let runtime = crate::sql::runtime_env()
            .map_err(|e| datafusion::error::DataFusionError::External(e.into()))?;
        stores.register(&runtime);
        let mut state = SessionStateBuilder::new_from_existing(state)
            .with_runtime_env(runtime)
            .build();
        state.register_udf(Arc::new(crate::sql::json_extract_scalar()))?;
        Ok(state)
    })
}
