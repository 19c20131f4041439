//! A store in S3: the local layout under `s3://bucket/prefix/`, reached through `object_store`,
//! which DataFusion reads the data files with too. The AWS settings are found as for an S3 ingest
//! (credentials chain, profile, region, `--endpoint-url`), and the bucket's own region is used.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AwsCredential, S3ConditionalPut};
use object_store::path::Path as ObjectPath;
use object_store::{CredentialProvider, ObjectStore, ObjectStoreExt, PutOptions, RetryConfig};

use crate::ingest::s3::{ConnectOptions, S3Error, S3Url, connect};

use super::StoreError;

mod lease;
mod reads;

pub use lease::Lease;
use reads::{DataFileReader, PageReads};

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

    /// A local folder for a writer's temporary files (spilled rows, files before upload). Its name
    /// carries the process ID, so that the folders of processes that were killed are removed by the
    /// next one.
    pub fn scratch_dir(&self) -> Result<std::path::PathBuf, StoreError> {
        if let Some(dir) = self.scratch.get() {
            return Ok(dir.path().to_path_buf());
        }
        remove_scratch_of_dead_processes(&std::env::temp_dir());
        let dir = tempfile::Builder::new()
            .prefix(&format!("{SCRATCH_PREFIX}{}-", std::process::id()))
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

/// Files of this size and more are uploaded in parts of this size: `CTIDX_S3_PART_MIB` MiB (S3's
/// least is 5), else 16 MiB.
fn part_bytes() -> usize {
    let mib = std::env::var("CTIDX_S3_PART_MIB")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .map_or(16, |mib| mib.max(5));
    mib << 20
}

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
        let part_bytes = part_bytes();
        if size < part_bytes as u64 {
            let bytes = std::fs::read(from).map_err(io)?;
            self.put(relative, bytes, object_store::PutMode::Overwrite)?;
            return Ok(());
        }
        let path = self.path(relative);
        self.run(relative, async {
            let upload = self.objects.put_multipart(&path).await?;
            let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, part_bytes);
            let mut file = std::fs::File::open(from).map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
            let mut buffer = vec![0u8; part_bytes];
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

const SCRATCH_PREFIX: &str = "ctidx-scratch-";

/// Removes the scratch folders under `temp` of ctidx processes that no longer run (killed before
/// they could remove their own). Only where `/proc` tells which processes run; a folder whose
/// process ID is running, whatever the process, is left alone.
fn remove_scratch_of_dead_processes(temp: &std::path::Path) {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(SCRATCH_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !proc.join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scratch_folders_of_dead_processes_are_removed_and_others_kept() {
        let temp = tempfile::tempdir().expect("tempdir");
        let live = temp.path().join(format!(
            "{}{}-abc",
            super::SCRATCH_PREFIX,
            std::process::id()
        ));
        // Above the largest process ID Linux hands out (2^22).
        let dead = temp
            .path()
            .join(format!("{}4999999-abc", super::SCRATCH_PREFIX));
        let other = temp.path().join(format!("{}abc", super::SCRATCH_PREFIX));
        for dir in [&live, &dead, &other] {
            std::fs::create_dir_all(dir.join("inner")).expect("mkdir");
        }
        super::remove_scratch_of_dead_processes(temp.path());
        assert!(live.exists());
        assert!(other.exists());
        assert_eq!(dead.exists(), !std::path::Path::new("/proc/self").exists());
    }
}
