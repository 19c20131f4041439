//! The store's write lock in S3.

use std::sync::Arc;

use object_store::{ObjectStore, ObjectStoreExt, PutOptions};

use super::S3Store;
use crate::store::StoreError;

/// How long a store's lock lasts without being renewed: `CTIDX_S3_LOCK_SECONDS`, else 120 s. A live
/// writer renews it four times as often.
fn lease() -> std::time::Duration {
    let seconds = std::env::var("CTIDX_S3_LOCK_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.1)
        .unwrap_or(120.0);
    std::time::Duration::from_secs_f64(seconds)
}

/// What the lock object says.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct LockHolder {
    host: String,
    pid: u32,
    /// Milliseconds since the Unix epoch after which the lock is free.
    expires_ms: u64,
}

impl LockHolder {
    fn mine() -> LockHolder {
        LockHolder {
            host: host_name(),
            pid: std::process::id(),
            expires_ms: unix_now_ms() + lease().as_millis() as u64,
        }
    }

    /// Whether the holder is gone: its lease has run out, or it was a process of this machine that
    /// no longer runs (killed, so it could not remove the lock).
    fn is_gone(&self) -> bool {
        if self.expires_ms <= unix_now_ms() {
            return true;
        }
        let proc = std::path::Path::new("/proc");
        self.host == host_name()
            && !self.host.is_empty()
            && proc.is_dir()
            && !proc.join(self.pid.to_string()).exists()
    }
}

fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_default()
}

/// The store's write lock in S3: an object created only if absent (`If-None-Match: *`), renewed
/// while the writer lives (`If-Match` on its ETag), and taken over once its holder is gone.
pub struct Lease {
    lost: Arc<std::sync::atomic::AtomicBool>,
    stop: Option<std::sync::mpsc::Sender<()>>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").finish_non_exhaustive()
    }
}

impl Lease {
    /// Takes the lock at `relative`, or says who holds it.
    pub fn acquire(store: Arc<S3Store>, relative: &str) -> Result<Lease, StoreError> {
        let holder = |h: &LockHolder| serde_json::to_vec(h).unwrap_or_default();
        let path = store.path(relative);
        let create = PutOptions {
            mode: object_store::PutMode::Create,
            ..PutOptions::default()
        };
        let created = store.run(relative, async {
            match store
                .objects
                .put_opts(&path, holder(&LockHolder::mine()).into(), create)
                .await
            {
                Ok(result) => Ok(Some(result.e_tag)),
                Err(object_store::Error::AlreadyExists { .. })
                | Err(object_store::Error::Precondition { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        let mut e_tag = match created {
            Some(e_tag) => e_tag,
            None => {
                // Someone holds it, or held it: take it over only if they are gone.
                let (bytes, current_tag) = store.run(relative, async {
                    let found = store.objects.get(&path).await?;
                    let e_tag = found.meta.e_tag.clone();
                    Ok((found.bytes().await?, e_tag))
                })?;
                let busy = |detail: String| StoreError::Busy(format!("{} ({detail})", store.url));
                let current: Option<LockHolder> = serde_json::from_slice(&bytes).ok();
                if let Some(current) = &current
                    && !current.is_gone()
                {
                    return Err(busy(format!(
                        "held by process {} on {}, for {} s more unless renewed",
                        current.pid,
                        if current.host.is_empty() {
                            "another machine"
                        } else {
                            &current.host
                        },
                        current
                            .expires_ms
                            .saturating_sub(unix_now_ms())
                            .div_ceil(1000)
                    )));
                }
                let mode = object_store::PutMode::Update(object_store::UpdateVersion {
                    e_tag: current_tag,
                    version: None,
                });
                store
                    .put(relative, holder(&LockHolder::mine()), mode)
                    .map_err(|_| busy("another writer took it over first".into()))?
            }
        };
        let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let renewer = {
            let lost = Arc::clone(&lost);
            let relative = relative.to_string();
            std::thread::spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(lease() / 4)
                {
                    let mode = object_store::PutMode::Update(object_store::UpdateVersion {
                        e_tag: e_tag.clone(),
                        version: None,
                    });
                    match store.put(&relative, holder(&LockHolder::mine()), mode) {
                        Ok(new_tag) => e_tag = new_tag,
                        Err(_) => {
                            lost.store(true, std::sync::atomic::Ordering::SeqCst);
                            return;
                        }
                    }
                }
                if !lost.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = store.delete(&relative);
                }
            })
        };
        Ok(Lease {
            lost,
            stop: Some(stop),
            renewer: Some(renewer),
        })
    }

    /// Whether the lock could not be renewed (another writer may hold it now).
    pub fn is_lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.join();
        }
    }
}
