//! A store in S3: the local layout under `s3://bucket/prefix/`, reached through `object_store`,
//! which DataFusion reads the data files with too. The AWS settings are found as for an S3 ingest
//! (credentials chain, profile, region, `--endpoint-url`), and the bucket's own region is used.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AwsCredential, S3ConditionalPut};
use object_store::path::Path as ObjectPath;
use object_store::{
    CopyOptions, CredentialProvider, GetOptions, GetResult, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload,
    PutResult, RetryConfig,
};

use crate::ingest::s3::{ConnectOptions, S3Error, S3Url, connect};

use super::StoreError;

/// The AWS SDK's credentials chain, as `object_store` asks for credentials: each request signs with
/// what the chain gives (it caches and refreshes them).
#[derive(Debug)]
struct SdkCredentials(aws_credential_types::provider::SharedCredentialsProvider);

#[async_trait::async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        use aws_credential_types::provider::ProvideCredentials;
        let credentials =
            self.0
                .provide_credentials()
                .await
                .map_err(|e| object_store::Error::Generic {
                    store: "S3",
                    source: Box::new(e),
                })?;
        Ok(Arc::new(AwsCredential {
            key_id: credentials.access_key_id().to_string(),
            secret_key: credentials.secret_access_key().to_string(),
            token: credentials.session_token().map(str::to_string),
        }))
    }
}

/// Ranges of one object closer than this are fetched in one request. object_store's default,
/// 1 MiB, joins the pages a one-principal query needs with most of the file between them (on
/// a 20,000-event file: 86 KB fetched for one user's pages against 49 KB for the whole file's same
/// columns); the ranges left apart are fetched concurrently.
const COALESCE_GAP: u64 = 32 * 1024;

/// The bucket, with ranged reads joined only across small gaps ([`COALESCE_GAP`]).
#[derive(Debug)]
struct PageReads(object_store::aws::AmazonS3);

impl std::fmt::Display for PageReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[async_trait::async_trait]
impl ObjectStore for PageReads {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.0.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.0.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.0.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &ObjectPath,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        object_store::coalesce_ranges(
            ranges,
            |range| self.0.get_range(location, range),
            COALESCE_GAP,
        )
        .await
    }

    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<ObjectPath>> {
        self.0.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.0.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        self.0.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.0.copy_opts(from, to, options).await
    }
}

/// A store's bucket and prefix, connected.
#[derive(Debug)]
pub struct S3Store {
    url: S3Url,
    objects: Arc<dyn ObjectStore>,
    /// A local folder for a writer's temporary files, removed when the process ends.
    scratch: std::sync::OnceLock<tempfile::TempDir>,
}

impl S3Store {
    /// Finds the AWS settings and the bucket's region, and checks that the bucket can be read.
    pub fn connect(url: S3Url, options: &ConnectOptions) -> Result<S3Store, S3Error> {
        let connected =
            crate::runtime::block_on(connect(&url.bucket, options)).map_err(S3Error::Runtime)??;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&url.bucket)
            .with_region(&connected.region)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_retry(RetryConfig {
                max_retries: 8,
                retry_timeout: std::time::Duration::from_secs(180),
                ..RetryConfig::default()
            });
        builder = match connected.credentials {
            Some(credentials) => builder.with_credentials(Arc::new(SdkCredentials(credentials))),
            None => builder.with_skip_signature(true),
        };
        if let Some(endpoint) = &connected.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let objects = builder.build().map_err(|e| S3Error::Other {
            location: url.to_string(),
            detail: e.to_string(),
        })?;
        Ok(S3Store {
            url,
            objects: Arc::new(PageReads(objects)),
            scratch: std::sync::OnceLock::new(),
        })
    }

    /// A local folder for a writer's temporary files (spilled rows, files before upload).
    pub fn scratch_dir(&self) -> Result<std::path::PathBuf, StoreError> {
        if let Some(dir) = self.scratch.get() {
            return Ok(dir.path().to_path_buf());
        }
        let dir = tempfile::Builder::new()
            .prefix("ctidx-scratch-")
            .tempdir()
            .map_err(|source| StoreError::Io {
                path: std::env::temp_dir().display().to_string(),
                source,
            })?;
        Ok(self.scratch.get_or_init(|| dir).path().to_path_buf())
    }

    pub fn url(&self) -> &S3Url {
        &self.url
    }

    /// The object store, for DataFusion to read the data files with.
    pub fn objects(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.objects)
    }

    /// The object path of `relative` (a `/`-separated path inside the store).
    pub fn path(&self, relative: &str) -> ObjectPath {
        ObjectPath::from_iter(
            self.url
                .prefix
                .split('/')
                .chain(relative.split('/'))
                .filter(|part| !part.is_empty()),
        )
    }

    /// Runs one request about `relative` on the process's runtime.
    fn run<T>(
        &self,
        relative: &str,
        request: impl std::future::Future<Output = object_store::Result<T>>,
    ) -> Result<T, StoreError> {
        let location = || self.url.location(self.path(relative).as_ref());
        crate::runtime::block_on(request)
            .map_err(|source| StoreError::Io {
                path: location(),
                source,
            })?
            .map_err(|error| StoreError::Remote {
                location: location(),
                detail: error.to_string(),
            })
    }

    /// The names of the folders directly inside `relative`.
    pub fn folders(&self, relative: &str) -> Result<Vec<String>, StoreError> {
        let path = self.path(relative);
        let listing = self.run(relative, self.objects.list_with_delimiter(Some(&path)))?;
        Ok(listing
            .common_prefixes
            .iter()
            .filter_map(|prefix| prefix.filename().map(str::to_string))
            .collect())
    }

    /// Whether any object under `relative` satisfies `wanted`; stops at the first that does.
    pub fn any_object(
        &self,
        relative: &str,
        wanted: impl Fn(&ObjectPath) -> bool,
    ) -> Result<bool, StoreError> {
        let path = self.path(relative);
        let mut listing = self.objects.list(Some(&path));
        self.run(relative, async {
            while let Some(object) = listing.try_next().await? {
                if wanted(&object.location) {
                    return Ok(true);
                }
            }
            Ok(false)
        })
    }

    /// The bytes of the object at `relative`, or `None` when there is none.
    pub fn read(&self, relative: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(relative);
        self.run(relative, async {
            match self.objects.get(&path).await {
                Ok(found) => found.bytes().await.map(|bytes| Some(bytes.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// Whether there is an object at `relative`.
    pub fn exists(&self, relative: &str) -> Result<bool, StoreError> {
        let path = self.path(relative);
        self.run(relative, async {
            match self.objects.head(&path).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }
}

/// One data file in S3 as parquet's async reader reads it: the footer and page index with one
/// request for the file's last 64 KiB, then ranged GETs of the column chunks it needs.
struct DataFileReader {
    objects: Arc<dyn ObjectStore>,
    path: ObjectPath,
    size: u64,
}

fn parquet_error(error: object_store::Error) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::External(Box::new(error))
}

impl parquet::arrow::async_reader::AsyncFileReader for DataFileReader {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> futures::future::BoxFuture<'_, parquet::errors::Result<bytes::Bytes>> {
        Box::pin(async move {
            self.objects
                .get_range(&self.path, range)
                .await
                .map_err(parquet_error)
        })
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> futures::future::BoxFuture<'_, parquet::errors::Result<Vec<bytes::Bytes>>> {
        Box::pin(async move {
            self.objects
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(parquet_error)
        })
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a parquet::arrow::arrow_reader::ArrowReaderOptions>,
    ) -> futures::future::BoxFuture<
        'a,
        parquet::errors::Result<Arc<parquet::file::metadata::ParquetMetaData>>,
    > {
        Box::pin(async move {
            let size = self.size;
            let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
                .with_prefetch_hint(Some(64 * 1024))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        })
    }
}

/// Files of this size and more are uploaded in parts of this size.
const PART_BYTES: usize = 16 << 20;

impl S3Store {
    /// Writes `bytes` at `relative`, whole or not at all, as `mode` allows; returns the new ETag.
    pub fn put(
        &self,
        relative: &str,
        bytes: Vec<u8>,
        mode: object_store::PutMode,
    ) -> Result<Option<String>, StoreError> {
        let path = self.path(relative);
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        Ok(self
            .run(
                relative,
                self.objects.put_opts(&path, bytes.into(), options),
            )?
            .e_tag)
    }

    /// Uploads the local file `from` to `relative`: one request, or a multipart upload for a large
    /// file. The object appears when the upload completes, whole.
    pub fn upload(&self, from: &std::path::Path, relative: &str) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            path: from.display().to_string(),
            source,
        };
        let size = std::fs::metadata(from).map_err(io)?.len();
        if size < PART_BYTES as u64 {
            let bytes = std::fs::read(from).map_err(io)?;
            self.put(relative, bytes, object_store::PutMode::Overwrite)?;
            return Ok(());
        }
        let path = self.path(relative);
        self.run(relative, async {
            let upload = self.objects.put_multipart(&path).await?;
            let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
            let mut file = std::fs::File::open(from).map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
            let mut buffer = vec![0u8; PART_BYTES];
            loop {
                let read = std::io::Read::read(&mut file, &mut buffer).map_err(|e| {
                    object_store::Error::Generic {
                        store: "S3",
                        source: Box::new(e),
                    }
                })?;
                if read == 0 {
                    break;
                }
                writer.wait_for_capacity(4).await?;
                writer.write(&buffer[..read]);
            }
            writer.finish().await.map(|_| ())
        })
    }

    /// Downloads `relative` into the local file `to`.
    pub fn download(&self, relative: &str, to: &std::path::Path) -> Result<(), StoreError> {
        let bytes = self.read(relative)?.ok_or_else(|| StoreError::Remote {
            location: self.url.location(self.path(relative).as_ref()),
            detail: "no such object: it was removed while it was being read".into(),
        })?;
        std::fs::write(to, bytes).map_err(|source| StoreError::Io {
            path: to.display().to_string(),
            source,
        })
    }

    /// Calls `each` with every value of the text column `column` of the data file at `relative`,
    /// fetching only that column's chunks and the footer.
    pub fn read_text_column(
        &self,
        relative: &str,
        column: &str,
        mut each: impl FnMut(&str),
    ) -> Result<(), StoreError> {
        use arrow::array::AsArray;
        use parquet::arrow::ProjectionMask;
        use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
        let path = self.path(relative);
        let invalid = |message: String| StoreError::Invalid {
            path: self.url.location(self.path(relative).as_ref()),
            message,
        };
        let size = self.run(relative, self.objects.head(&path))?.size;
        let reader = DataFileReader {
            objects: Arc::clone(&self.objects),
            path,
            size,
        };
        let batches = crate::runtime::block_on(async {
            let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
            let Some(index) = builder
                .parquet_schema()
                .columns()
                .iter()
                .position(|c| c.path().string() == column)
            else {
                return Ok(None);
            };
            let mask = ProjectionMask::leaves(builder.parquet_schema(), [index]);
            let stream = builder.with_projection(mask).build()?;
            stream.try_collect::<Vec<_>>().await.map(Some)
        })
        .map_err(|source| StoreError::Io {
            path: self.url.location(self.path(relative).as_ref()),
            source,
        })?
        .map_err(|e: parquet::errors::ParquetError| invalid(e.to_string()))?
        .ok_or_else(|| invalid(format!("no {column} column")))?;
        for batch in batches {
            for value in batch.column(0).as_string::<i32>().iter().flatten() {
                each(value);
            }
        }
        Ok(())
    }

    /// Removes `relative`; an object already gone is no error.
    pub fn delete(&self, relative: &str) -> Result<(), StoreError> {
        let path = self.path(relative);
        self.run(relative, async {
            match self.objects.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    /// Every object under `relative`, as paths relative to the store, in key order.
    pub fn keys(&self, relative: &str) -> Result<Vec<String>, StoreError> {
        let path = self.path(relative);
        let prefix = self.path("");
        let objects: Vec<object_store::ObjectMeta> =
            self.run(relative, self.objects.list(Some(&path)).try_collect())?;
        let mut keys: Vec<String> = objects
            .iter()
            .filter_map(|object| {
                object.location.prefix_match(&prefix).map(|parts| {
                    parts
                        .map(|p| p.as_ref().to_string())
                        .collect::<Vec<_>>()
                        .join("/")
                })
            })
            .collect();
        keys.sort();
        Ok(keys)
    }
}

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
