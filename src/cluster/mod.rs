//! Cluster mode on Apache DataFusion Ballista: a scheduler and executors inside the ctidx binary,
//! and sessions whose scans run on them.
//!
//! Every process registers the same two things itself: ctidx's SQL functions, and the object store
//! of the store (from `--store` or config.yaml), built from that machine's own AWS credentials
//! chain. Plans carry the store's `s3://` URL, never a credential.

pub mod client;
pub mod executor;
pub mod scheduler;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::ObjectStore;

use crate::config::Settings;

pub use tls::Tls;

/// The scheduler's port when `df://HOST` names none.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// The store's object store, when the store is in S3. A store in a folder is read through the
/// local file system: every executor must then see it at the same path (a shared file system).
#[derive(Clone)]
pub struct StoreObjects(Option<(ObjectStoreUrl, Arc<dyn ObjectStore>)>);

impl StoreObjects {
    /// Connects to the store of `settings` with this machine's credentials.
    pub fn connect(settings: &Settings) -> anyhow::Result<StoreObjects> {
        let store = settings.open_store()?;
        Ok(StoreObjects(match store.remote() {
            Some(remote) => Some((crate::sql::bucket_url(remote)?, remote.objects())),
            None => None,
        }))
    }

    /// Registers the object store with `runtime`.
    pub fn register(&self, runtime: &RuntimeEnv) {
        if let Some((url, objects)) = &self.0 {
            runtime.register_object_store(url.as_ref(), Arc::clone(objects));
        }
    }

    /// What a process serving the cluster says it reads.
    pub fn describe(&self) -> String {
        match &self.0 {
            Some((url, _)) => format!("the store's bucket {url}"),
            None => "stores on this machine's file system".to_string(),
        }
    }
}

/// `HOST:PORT` as a socket address, naming the flag in the error.
pub fn socket_address(text: &str, flag: &str) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    text.to_socket_addrs()
        .with_context(|| format!("{flag} {text}: not a HOST:PORT address"))?
        .next()
        .with_context(|| format!("{flag} {text}: the host has no address"))
}

/// Splits `HOST:PORT`.
pub fn host_and_port(text: &str, flag: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = text
        .rsplit_once(':')
        .with_context(|| format!("{flag} {text}: expected HOST:PORT"))?;
    let port = port
        .parse()
        .with_context(|| format!("{flag} {text}: the port is not a number from 1 to 65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        anyhow::bail!("{flag} {text}: the host is missing");
    }
    Ok((host.to_string(), port))
}

/// Waits for Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_are_split_and_checked() {
        assert_eq!(
            host_and_port("10.0.0.5:50050", "--scheduler").unwrap(),
            ("10.0.0.5".to_string(), 50050)
        );
        assert_eq!(
            host_and_port("[::1]:7", "--scheduler").unwrap(),
            ("::1".to_string(), 7)
        );
        let error = host_and_port("sched", "--scheduler")
            .unwrap_err()
            .to_string();
        assert!(error.contains("--scheduler sched"), "{error}");
        let error = host_and_port("sched:http", "--scheduler")
            .unwrap_err()
            .to_string();
        assert!(error.contains("port"), "{error}");
        assert!(host_and_port(":50050", "--scheduler").is_err());
    }
}
