//! `ctidx cluster executor`: Ballista's executor, pulling tasks from the scheduler and serving their
//! results over Arrow Flight (with TLS when asked).

use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::RuntimeProducer;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::utils::GrpcServerConfig;
use ballista_executor::ArrowFlightServerProvider;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_executor::flight_service::BallistaFlightService;
use ballista_executor::shutdown::Shutdown;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;

use super::{StoreObjects, Tls};

/// What the executor needs to run.
pub struct Executor {
    pub scheduler: String,
    pub bind: String,
    pub external_host: Option<String>,
    pub concurrency: Option<usize>,
    /// Intermediate results; the caller keeps it for the executor's life.
    pub work_dir: PathBuf,
    pub stores: StoreObjects,
    pub tls: Option<Tls>,
}

/// Runs until Ctrl-C, SIGTERM or the scheduler stops it.
pub async fn serve(executor: Executor) -> anyhow::Result<()> {
    let (scheduler_host, scheduler_port) =
        super::host_and_port(&executor.scheduler, "--scheduler")?;
    let (bind_host, port) = super::host_and_port(&executor.bind, "--bind")?;
    let work_dir = executor.work_dir.display().to_string();
    let concurrency = match executor.concurrency {
        Some(0) => anyhow::bail!("--concurrency 0: an executor runs at least one task at once"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let mut functions = BallistaFunctionRegistry::default();
    let udf = Arc::new(crate::sql::json_extract_scalar());
    functions
        .scalar_functions
        .insert(udf.name().to_string(), udf);
    let tls = executor.tls.clone();
    let config = ExecutorProcessConfig {
        bind_host,
        port,
        // The executor pulls its tasks (as the scheduler expects): no gRPC server of its own.
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        grpc_port: 0,
        external_host: executor.external_host.clone(),
        scheduler_host,
        scheduler_port,
        scheduler_connect_timeout_seconds: 60,
        vcores: concurrency,
        work_dir: Some(work_dir.clone()),
        // Intermediate results of finished queries are removed after an hour.
        job_data_ttl_seconds: 3600,
        job_data_clean_up_interval_seconds: 300,
        override_function_registry: Some(Arc::new(functions)),
        override_runtime_producer: Some(runtime_producer(work_dir, executor.stores.clone())),
        override_config_producer: tls.clone().map(config_producer),
        override_create_grpc_client_endpoint: tls.as_ref().map(Tls::endpoint_override),
        override_arrow_flight_service: tls.map(flight_service_with_tls),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| anyhow::anyhow!("executor: {e}"))
}

/// Each task's runtime: spills in the work folder, and the store's object store.
fn runtime_producer(work_dir: String, stores: StoreObjects) -> RuntimeProducer {
    Arc::new(move |_config: &SessionConfig| {
        let runtime = RuntimeEnvBuilder::new()
            .with_temp_file_path(work_dir.clone())
            .build()?;
        stores.register(&runtime);
        Ok(Arc::new(runtime))
    })
}

/// Sessions that fetch other executors' results over TLS.
fn config_producer(tls: Tls) -> ballista_core::ConfigProducer {
    Arc::new(move || {
        SessionConfig::new_with_ballista()
            .with_ballista_use_tls(true)
            .with_ballista_override_create_grpc_client_endpoint(tls.endpoint_override())
    })
}

/// Ballista's Flight service, behind TLS.
fn flight_service_with_tls(tls: Tls) -> Arc<ArrowFlightServerProvider> {
    Arc::new(
        move |work_dir: String,
              address: std::net::SocketAddr,
              mut shutdown: Shutdown,
              grpc: GrpcServerConfig| {
            let tls = tls.clone();
            tokio::spawn(async move {
                let service = arrow_flight::flight_service_server::FlightServiceServer::new(
                    BallistaFlightService::new(work_dir),
                )
                .max_decoding_message_size(16 * 1024 * 1024)
                .max_encoding_message_size(16 * 1024 * 1024);
                ballista_core::utils::create_grpc_server(&grpc)
                    .tls_config(tls.server())
                    .map_err(ballista_core::error::BallistaError::TonicError)?
                    .add_service(service)
                    .serve_with_shutdown(address, shutdown.recv())
                    .await
                    .map_err(ballista_core::error::BallistaError::TonicError)
            })
        },
    )
}
