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
        })
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
