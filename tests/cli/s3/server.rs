//! A real S3 server for the tests, on loopback: `s3s-fs` serving a folder (one sub-folder per
//! bucket), behind a layer that counts requests and injects failures. It stops when dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

pub const ACCESS_KEY: &str = "AKIDCTIDXTESTKEY";
pub const SECRET_KEY: &str = "ctidx-test-secret-key";
/// The region the server says its buckets are in.
pub const REGION: &str = "eu-central-1";

#[derive(Debug, Default)]
struct State {
    /// GetObject requests per key.
    gets: BTreeMap<String, u32>,
    /// ListObjectsV2 requests: (prefix, with a delimiter).
    lists: Vec<(String, bool)>,
    /// PutObject requests per key.
    puts: BTreeMap<String, u32>,
    /// Completed multipart uploads per key.
    multipart: BTreeMap<String, u32>,
    /// HeadObject requests per key.
    heads: BTreeMap<String, u32>,
    /// Bytes of GetObject responses.
    bytes_out: u64,
    /// Each GetObject's key and its response's length.
    fetches: Vec<(String, u64)>,
    /// Keys whose first GetObject is answered 503 SlowDown.
    fail_once: BTreeSet<String>,
    /// Keys always answered 500.
    fail_always: BTreeSet<String>,
    /// Keys answered 403.
    denied: BTreeSet<String>,
    /// Answer requests signed for another region with a redirect, as S3 does.
    enforce_region: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Control(Arc<Mutex<State>>);

impl Control {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn fail_once(&self, key: &str) {
        self.state().fail_once.insert(key.to_string());
    }

    pub fn fail_always(&self, key: &str) {
        self.state().fail_always.insert(key.to_string());
    }

    pub fn deny(&self, key: &str) {
        self.state().denied.insert(key.to_string());
    }

    pub fn enforce_region(&self) {
        self.state().enforce_region = true;
    }

    pub fn gets(&self, key: &str) -> u32 {
        self.state().gets.get(key).copied().unwrap_or(0)
    }

    pub fn get_keys(&self) -> BTreeMap<String, u32> {
        self.state().gets.clone()
    }

    pub fn lists(&self) -> Vec<(String, bool)> {
        self.state().lists.clone()
    }

    pub fn puts(&self) -> BTreeMap<String, u32> {
        self.state().puts.clone()
    }

    pub fn multipart_uploads(&self) -> BTreeMap<String, u32> {
        self.state().multipart.clone()
    }

    pub fn heads(&self) -> BTreeMap<String, u32> {
        self.state().heads.clone()
    }

    pub fn bytes_out(&self) -> u64 {
        self.state().bytes_out
    }

    pub fn reset_counts(&self) {
        let mut state = self.state();
        state.gets.clear();
        state.lists.clear();
        state.heads.clear();
        state.bytes_out = 0;
        state.fetches.clear();
    }

    pub fn fetches(&self) -> Vec<(String, u64)> {
        self.state().fetches.clone()
    }
}

struct Layer {
    inner: s3s_fs::FileSystem,
    root: PathBuf,
    control: Control,
    conditional: tokio::sync::Mutex<()>,
}

impl Layer {
    fn check_region<T>(&self, request: &S3Request<T>) -> S3Result<()> {
        let signed = request.region.as_ref().map(|r| r.as_str().to_string());
        if self.control.state().enforce_region && signed.as_deref() != Some(REGION) {
            let mut error = s3_error!(PermanentRedirect, "the bucket is in another region");
            let mut headers = hyper::HeaderMap::new();
            headers.insert(
                "x-amz-bucket-region",
                hyper::header::HeaderValue::from_static(REGION),
            );
            error.set_headers(headers);
            return Err(error);
        }
        Ok(())
    }

    /// s3s-fs leaves ETags out of listings; S3 puts them in.
    fn etag(&self, bucket: &str, key: &str) -> Option<ETag> {
        let bytes = std::fs::read(self.root.join(bucket).join(key)).ok()?;
        let mut hasher = DefaultHasher::new();
        hasher.write(&bytes);
        Some(ETag::Strong(format!(
            "{:016x}{:08x}",
            hasher.finish(),
            bytes.len()
        )))
    }
}

#[async_trait::async_trait]
impl S3 for Layer {
    async fn head_bucket(
        &self,
        request: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.check_region(&request)?;
        let mut response = self.inner.head_bucket(request).await?;
        response.output.bucket_region = Some(REGION.to_string());
        Ok(response)
    }

    async fn list_objects_v2(
        &self,
        request: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.check_region(&request)?;
        let input = &request.input;
        self.control.state().lists.push((
            input.prefix.clone().unwrap_or_default(),
            input.delimiter.is_some(),
        ));
        let bucket = input.bucket.clone();
        let mut response = self.inner.list_objects_v2(request).await?;
        for object in response.output.contents.iter_mut().flatten() {
            if let Some(key) = &object.key {
                object.e_tag = self.etag(&bucket, key);
            }
        }
        Ok(response)
    }

    async fn get_object(
        &self,
        request: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.check_region(&request)?;
        let key = request.input.key.clone();
        {
            let mut state = self.control.state();
            let count = {
                let count = state.gets.entry(key.clone()).or_default();
                *count += 1;
                *count
            };
            if state.denied.contains(&key) {
                return Err(s3_error!(AccessDenied, "Access Denied"));
            }
            if state.fail_always.contains(&key) {
                return Err(s3_error!(InternalError, "injected failure"));
            }
            if count == 1 && state.fail_once.contains(&key) {
                return Err(s3_error!(SlowDown, "injected throttling"));
            }
        }
        let response = self.inner.get_object(request).await?;
        let length =
            u64::try_from(response.output.content_length.unwrap_or_default()).unwrap_or_default();
        let mut state = self.control.state();
        state.bytes_out += length;
        state.fetches.push((key, length));
        drop(state);
        Ok(response)
    }

    async fn put_object(
        &self,
        request: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.check_region(&request)?;
        *self
            .control
            .state()
            .puts
            .entry(request.input.key.clone())
            .or_default() += 1;
        // One conditional write at a time, as S3 decides them.
        let _one = self.conditional.lock().await;
        self.inner.put_object(request).await
    }

    async fn delete_object(
        &self,
        request: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.check_region(&request)?;
        self.inner.delete_object(request).await
    }

    /// object_store deletes through DeleteObjects, which s3s-fs lacks: each key's file is removed.
    async fn delete_objects(
        &self,
        request: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.check_region(&request)?;
        let bucket = self.root.join(&request.input.bucket);
        let mut deleted = Vec::new();
        for object in &request.input.delete.objects {
            match std::fs::remove_file(bucket.join(&object.key)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(s3_error!(InternalError, "{e}")),
            }
            deleted.push(DeletedObject {
                key: Some(object.key.clone()),
                ..DeletedObject::default()
            });
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            ..DeleteObjectsOutput::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        request: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.inner.create_multipart_upload(request).await
    }

    async fn upload_part(
        &self,
        request: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.inner.upload_part(request).await
    }

    async fn complete_multipart_upload(
        &self,
        request: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        *self
            .control
            .state()
            .multipart
            .entry(request.input.key.clone())
            .or_default() += 1;
        self.inner.complete_multipart_upload(request).await
    }

    async fn abort_multipart_upload(
        &self,
        request: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.inner.abort_multipart_upload(request).await
    }

    async fn head_object(
        &self,
        request: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.check_region(&request)?;
        *self
            .control
            .state()
            .heads
            .entry(request.input.key.clone())
            .or_default() += 1;
        self.inner.head_object(request).await
    }
}

/// The running server; dropping it stops it.
pub struct Server {
    pub endpoint: String,
    pub root: PathBuf,
    pub control: Control,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves `root` (one sub-folder per bucket) on 127.0.0.1 at a port the system picks.
    pub fn start(root: &Path) -> Server {
        std::fs::create_dir_all(root).expect("server root");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let control = Control::default();
        let layer = Layer {
            inner: s3s_fs::FileSystem::new(root).expect("s3s-fs"),
            root: root.to_path_buf(),
            control: control.clone(),
            conditional: tokio::sync::Mutex::new(()),
        };
        let service = {
            let mut builder = s3s::service::S3ServiceBuilder::new(layer);
            builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            builder.build()
        };
        let (shutdown, mut stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let http = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                loop {
                    let socket = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok((socket, _)) => socket,
                            Err(_) => continue,
                        },
                        _ = &mut stop => break,
                    };
                    let connection = http
                        .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                        .into_owned();
                    tokio::spawn(connection);
                }
            });
            runtime.shutdown_background();
        });
        Server {
            endpoint,
            root: root.to_path_buf(),
            control,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let path = self.root.join(bucket).join(key);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write object");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
