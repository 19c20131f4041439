//! The one async runtime of the process. DataFusion and the object store are async; ctidx's
//! commands are not, and enter the runtime with [`block_on`]. One runtime for the whole process,
//! not one per call, so that the object store's pooled connections outlive each query.

use std::sync::LazyLock;

static RUNTIME: LazyLock<std::io::Result<tokio::runtime::Runtime>> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("ctidx")
        .enable_all()
        .build()
});

/// Runs `future` to completion on the process's runtime. Not to be called from a task of it.
pub fn block_on<F: std::future::Future>(future: F) -> std::io::Result<F::Output> {
    match &*RUNTIME {
        Ok(runtime) => Ok(runtime.block_on(future)),
        Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
    }
}
