//! CloudTrail logs in Amazon S3 or an S3-compatible store: which objects to read, and their bytes.
//!
//! Listing follows the layout CloudTrail writes, `AWSLogs/[o-org/]<account>/CloudTrail/<region>/
//! YYYY/MM/DD/`, one folder level at a time with delimiter listings, so that a date window costs
//! listings of that window's folders only. Downloads run on a small tokio runtime owned by
//! [`S3Source`] and are handed to the (synchronous) decoding threads through a bounded channel.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::head_bucket::HeadBucketError;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::time::{Day, Window, days_in_month};
use chrono::Datelike;

use super::keys::{Classification, Layout, SkipReason, classify, is_account, keep_deliveries};

/// Downloads in flight at once, unless told otherwise.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Attempts per request (the first one included) when `AWS_MAX_ATTEMPTS` does not say.
const DEFAULT_MAX_ATTEMPTS: u32 = 8;
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(20);
/// Reading a response body is not retried by the SDK; these are the attempts at a whole object.
const BODY_ATTEMPTS: u32 = 3;
/// A listing that keeps returning pages is broken, not large: 10^7 pages is 10^10 keys.
const MAX_PAGES: u64 = 10_000_000;
const AWS_LOGS: &str = "AWSLogs";

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error(
        "{url:?} is not an S3 location: {reason}\n  hint: write s3://BUCKET or s3://BUCKET/PREFIX"
    )]
    BadUrl { url: String, reason: &'static str },
    #[error(
        "{location}: no AWS credentials found ({detail})\n  hint: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, choose a profile with AWS_PROFILE (run `aws sso login` first for an SSO profile), or run where an instance or task role is available"
    )]
    NoCredentials { location: String, detail: String },
    #[error(
        "{location}: the credentials were rejected ({code})\n  hint: they may have expired or belong to another account or partition; refresh them (`aws sso login`, a new session token) or choose another AWS_PROFILE"
    )]
    BadCredentials { location: String, code: String },
    #[error(
        "{location}: access denied{detail}\n  hint: the identity in use needs s3:ListBucket on the bucket and s3:GetObject on the log keys (and kms:Decrypt when the trail is encrypted with KMS); check its policies, the bucket policy and AWS_PROFILE"
    )]
    AccessDenied { location: String, detail: String },
    #[error(
        "{location}: no such bucket\n  hint: check the bucket in --source or in `athena: s3_bucket` of config.yaml (and --endpoint-url for an S3-compatible store)"
    )]
    NoSuchBucket { location: String },
    #[error(
        "{location}: the bucket is in {actual}, not in {used}\n  hint: set AWS_REGION={actual}"
    )]
    WrongRegion {
        location: String,
        used: String,
        actual: String,
    },
    #[error("{location}: no such key: it was deleted after it was listed\n  hint: run again")]
    NoSuchKey { location: String },
    #[error(
        "{location}: cannot reach the S3 endpoint: {detail}\n  hint: check the network, AWS_REGION, and --endpoint-url or AWS_ENDPOINT_URL"
    )]
    Unreachable { location: String, detail: String },
    #[error(
        "{location}: S3 kept failing, retries included: {detail}\n  hint: run again later (what failed is read on the next run); for SlowDown, lower --concurrency"
    )]
    Busy { location: String, detail: String },
    #[error("{location}: {detail}")]
    Other { location: String, detail: String },
    #[error("cannot start the S3 client")]
    Runtime(#[source] std::io::Error),
}

/// `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    /// Empty, or ends with `/`.
    pub prefix: String,
}

impl S3Url {
    pub fn is_s3(text: &str) -> bool {
        text.get(..5)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("s3://"))
    }

    pub fn parse(text: &str) -> Result<S3Url, S3Error> {
        let bad = |reason| S3Error::BadUrl {
            url: text.to_string(),
            reason,
        };
        if !S3Url::is_s3(text) {
            return Err(bad("it does not start with s3://"));
        }
        let rest = &text[5..];
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        S3Url::new(bucket, prefix).map_err(bad)
    }

    /// From a bucket name and a prefix, as CloudTracker's `athena:` section gives them.
    pub fn from_parts(bucket: &str, prefix: &str) -> Result<S3Url, S3Error> {
        S3Url::new(bucket, prefix).map_err(|reason| S3Error::BadUrl {
            url: format!("s3://{bucket}/{prefix}"),
            reason,
        })
    }

    fn new(bucket: &str, prefix: &str) -> Result<S3Url, &'static str> {
        if bucket.is_empty() {
            return Err("the bucket name is missing");
        }
        // Names of buckets made before 2018 in us-east-1 may have capitals and underscores.
        let valid = bucket.len() <= 255
            && bucket
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !valid {
            return Err("the bucket name has characters bucket names cannot have");
        }
        if prefix.contains(['?', '#']) {
            return Err("a prefix cannot have a query or a fragment");
        }
        let trimmed = prefix.trim_matches('/');
        if trimmed.split('/').any(|part| part.is_empty()) && !trimmed.is_empty() {
            return Err("the prefix has an empty folder name (`//`)");
        }
        let prefix = if trimmed.is_empty() {
            String::new()
        } else {
            format!("{trimmed}/")
        };
        Ok(S3Url {
            bucket: bucket.to_string(),
            prefix,
        })
    }

    pub fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// The fewest `YYYY/`, `YYYY/MM/` and `YYYY/MM/DD/` folders that hold exactly the window's days,
/// among the years a region folder has.
fn day_folders(window: &Window, years: &BTreeSet<u32>) -> Vec<String> {
    let mut folders = Vec::new();
    for &year in years {
        let (Some(first_of_year), Some(last_of_year)) = (
            Day::from_ymd_opt(year as i32, 1, 1),
            Day::from_ymd_opt(year as i32, 12, 31),
        ) else {
            continue;
        };
        let low = window.start.map_or(first_of_year, |s| s.max(first_of_year));
        let high = window.end.map_or(last_of_year, |e| e.min(last_of_year));
        if low > high {
            continue;
        }
        if low == first_of_year && high == last_of_year {
            folders.push(format!("{year:04}/"));
            continue;
        }
        for month in low.month()..=high.month() {
            let last = days_in_month(year as i32, month);
            let first_day = if month == low.month() { low.day() } else { 1 };
            let last_day = if month == high.month() {
                high.day()
            } else {
                last
            };
            if first_day == 1 && last_day == last {
                folders.push(format!("{year:04}/{month:02}/"));
            } else {
                for day in first_day..=last_day {
                    folders.push(format!("{year:04}/{month:02}/{day:02}/"));
                }
            }
        }
    }
    folders
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Only these account folders; empty for all.
    pub accounts: Vec<String>,
    /// Only this organization's folder, when the trail is an organization trail.
    pub org_id: Option<String>,
    pub window: Window,
    /// Listing requests in flight at once.
    pub concurrency: usize,
}

/// One object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Entry {
    pub key: String,
    pub size: u64,
    /// The ETag, or when the store gives none, the modification time.
    pub version: String,
    pub layout: Option<Layout>,
}

#[derive(Debug, Default)]
pub struct S3Listing {
    /// In key order.
    pub entries: Vec<S3Entry>,
    pub skipped: BTreeMap<SkipReason, u64>,
}

/// How to reach the bucket; everything not given here comes from the usual AWS settings.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// An S3-compatible endpoint; addressed path-style.
    pub endpoint_url: Option<String>,
    /// Overrides `AWS_REGION` and the profile's region.
    pub region: Option<String>,
    /// Attempts per request, the first included; overrides `AWS_MAX_ATTEMPTS`.
    pub max_attempts: Option<u32>,
}

/// A bucket, connected.
pub struct S3Source {
    runtime: tokio::runtime::Runtime,
    client: Client,
    bucket: String,
    region: String,
}

impl fmt::Debug for S3Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Source")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

impl S3Source {
    /// Loads the AWS settings (credentials chain, profile, region, endpoint), then checks that the
    /// bucket exists and can be read, moving to the bucket's own region if it is elsewhere.
    pub fn connect(bucket: &str, options: &ConnectOptions) -> Result<S3Source, S3Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ctidx-s3")
            .enable_all()
            .build()
            .map_err(S3Error::Runtime)?;
        let connected = runtime.block_on(connect(bucket, options))?;
        Ok(S3Source {
            runtime,
            client: connected.client,
            bucket: bucket.to_string(),
            region: connected.region,
        })
    }

    /// Lists the log objects under `url`. `listed` is called with the running count of objects.
    pub fn list(
        &self,
        url: &S3Url,
        options: &ListOptions,
        listed: &(dyn Fn(u64) + Sync),
    ) -> Result<S3Listing, S3Error> {
        let lister = Lister {
            client: &self.client,
            bucket: &self.bucket,
            objects: AtomicU64::new(0),
            listed,
            concurrency: options.concurrency.max(1),
        };
        self.runtime.block_on(lister.list(url, options))
    }

    /// Starts downloading `keys` (each with the caller's index for it), at most `concurrency` at
    /// once. Objects come out of [`Downloads::next`] as they complete, in no particular order;
    /// downloading pauses while `concurrency` finished objects wait to be taken.
    pub fn download(&self, keys: Vec<(usize, String)>, concurrency: usize) -> Downloads {
        let concurrency = concurrency.max(1);
        let (sender, receiver) = tokio::sync::mpsc::channel(concurrency);
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        let task = self.runtime.spawn(async move {
            let mut done = stream::iter(keys)
                .map(|(index, key)| {
                    let (client, bucket) = (&client, &bucket);
                    async move {
                        let result = get_object(client, bucket, &key).await;
                        Download { index, key, result }
                    }
                })
                .buffer_unordered(concurrency);
            while let Some(download) = done.next().await {
                if sender.send(download).await.is_err() {
                    break;
                }
            }
        });
        Downloads {
            receiver: Mutex::new(receiver),
            task,
        }
    }
}

/// One object's bytes, or why there are none.
#[derive(Debug)]
pub struct Download {
    pub index: usize,
    pub key: String,
    pub result: Result<Vec<u8>, S3Error>,
}

/// Objects being downloaded; any number of threads may take them.
pub struct Downloads {
    receiver: Mutex<tokio::sync::mpsc::Receiver<Download>>,
    task: tokio::task::JoinHandle<()>,
}

impl Downloads {
    /// The next downloaded object, waiting for one; `None` once all have been taken. Must not be
    /// called from async code.
    pub fn next(&self) -> Option<Download> {
        self.receiver.lock().ok()?.blocking_recv()
    }
}

impl Drop for Downloads {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A bucket reached with the usual AWS settings: a client in the bucket's region, and what another
/// S3 client needs to reach it the same way.
pub struct Connected {
    pub client: Client,
    pub region: String,
    pub credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    /// The S3-compatible endpoint in use, if any (addressed path-style).
    pub endpoint: Option<String>,
}

/// Loads the AWS settings (credentials chain, profile, region, endpoint), then checks that the
/// bucket exists and can be read, moving to the bucket's own region if it is elsewhere.
pub async fn connect(bucket: &str, options: &ConnectOptions) -> Result<Connected, S3Error> {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(60))
                .build(),
        );
    // The SDK's standard mode retries throttling (SlowDown), 5xx, timeouts and broken connections
    // with jittered exponential backoff. S3 throttles for longer than its default 3 attempts ride
    // out, so ctidx asks for more unless told otherwise.
    let told = env_set("AWS_MAX_ATTEMPTS") || env_set("AWS_RETRY_MODE");
    if options.max_attempts.is_some() || !told {
        loader = loader.retry_config(
            RetryConfig::standard()
                .with_max_attempts(options.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1))
                .with_initial_backoff(INITIAL_BACKOFF)
                .with_max_backoff(MAX_BACKOFF),
        );
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let shared = loader.load().await;
    let endpoint = options
        .endpoint_url
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
        .filter(|v| !v.is_empty())
        .or_else(|| shared.endpoint_url().map(str::to_string));
    let custom_endpoint = endpoint.is_some();
    let credentials = shared.credentials_provider();
    let connected = |client, region| Connected {
        client,
        region,
        credentials: credentials.clone(),
        endpoint: endpoint.clone(),
    };
    let configured = shared.region().map(|r| r.to_string());
    let make_client = |region: &str| {
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .region(Region::new(region.to_string()))
            .force_path_style(custom_endpoint)
            .build();
        Client::from_conf(config)
    };
    // Without a configured region, ask us-east-1, which answers for every bucket with its region.
    let first = configured
        .clone()
        .unwrap_or_else(|| "us-east-1".to_string());
    let client = make_client(&first);
    let actual = match client.head_bucket().bucket(bucket).send().await {
        Ok(output) => output.bucket_region().map(str::to_string),
        Err(error) => match bucket_region_of(&error) {
            Some(actual) if actual != first => Some(actual),
            _ => return Err(explain(&client, bucket, error, &first).await),
        },
    };
    match actual {
        Some(actual) if actual != first => {
            let client = make_client(&actual);
            if let Err(error) = client.head_bucket().bucket(bucket).send().await {
                return Err(explain(&client, bucket, error, &actual).await);
            }
            Ok(connected(client, actual))
        }
        _ => Ok(connected(client, first)),
    }
}

/// A HEAD response has no body, so a refused HeadBucket does not say why; a one-key listing does.
async fn explain(
    client: &Client,
    bucket: &str,
    error: SdkError<HeadBucketError, HttpResponse>,
    region: &str,
) -> S3Error {
    let location = format!("s3://{bucket}");
    let unexplained = matches!(&error, SdkError::ServiceError(context)
        if context.err().code().is_none() && context.raw().status().as_u16() != 404);
    if unexplained
        && let Err(listing) = client
            .list_objects_v2()
            .bucket(bucket)
            .max_keys(1)
            .send()
            .await
    {
        return from_sdk(listing, &location, region);
    }
    from_sdk(error, &location, region)
}

fn bucket_region_of<E>(error: &SdkError<E, HttpResponse>) -> Option<String> {
    error
        .raw_response()
        .and_then(|r| r.headers().get("x-amz-bucket-region"))
        .map(str::to_string)
}

/// Turns an SDK error into one that says what happened to which object, and what to do.
fn from_sdk<E>(error: SdkError<E, HttpResponse>, location: &str, region: &str) -> S3Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let location = location.to_string();
    if let Some(detail) = credentials_failure(&error) {
        return S3Error::NoCredentials { location, detail };
    }
    let detail = DisplayErrorContext(&error).to_string();
    match &error {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let code = context.err().code().unwrap_or_default().to_string();
            let message = context.err().message().unwrap_or_default().to_string();
            match (status, code.as_str()) {
                (
                    _,
                    "InvalidAccessKeyId"
                    | "SignatureDoesNotMatch"
                    | "ExpiredToken"
                    | "InvalidToken"
                    | "TokenRefreshRequired",
                ) => S3Error::BadCredentials { location, code },
                (_, "NoSuchBucket") => S3Error::NoSuchBucket { location },
                (_, "NoSuchKey") => S3Error::NoSuchKey { location },
                (301, _)
                | (
                    _,
                    "PermanentRedirect"
                    | "AuthorizationHeaderMalformed"
                    | "IllegalLocationConstraintException",
                ) => S3Error::WrongRegion {
                    location,
                    used: region.to_string(),
                    actual: bucket_region_of(&error)
                        .unwrap_or_else(|| "another region".to_string()),
                },
                (403, _) | (_, "AccessDenied" | "AllAccessDisabled") => S3Error::AccessDenied {
                    location,
                    detail: if message.is_empty() || message == "Access Denied" {
                        String::new()
                    } else {
                        format!(": {message}")
                    },
                },
                // HEAD responses have no body, hence no code.
                (404, _) => S3Error::NoSuchBucket { location },
                (429 | 500..=599, _) => S3Error::Busy {
                    location,
                    detail: format!("HTTP {status} {code} {message}")
                        .trim_end()
                        .to_string(),
                },
                _ => S3Error::Other {
                    location,
                    detail: format!("HTTP {status} {code}: {message}"),
                },
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            S3Error::Unreachable { location, detail }
        }
        _ => S3Error::Other { location, detail },
    }
}

/// When credentials could not be had, what the credential chain said.
fn credentials_failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(error) = current {
        if error
            .downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            let mut messages = vec![error.to_string()];
            let mut cause = error.source();
            while let Some(inner) = cause {
                messages.push(inner.to_string());
                cause = inner.source();
            }
            return Some(messages.join(": "));
        }
        current = error.source();
    }
    None
}

async fn get_object(client: &Client, bucket: &str, key: &str) -> Result<Vec<u8>, S3Error> {
    let location = format!("s3://{bucket}/{key}");
    let mut attempt = 0;
    loop {
        attempt += 1;
        let output = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|error| {
                let region = client.config().region().map(|r| r.to_string());
                from_sdk(error, &location, region.as_deref().unwrap_or_default())
            })?;
        // The SDK retries requests, but not a body that breaks off half-way.
        match output.body.collect().await {
            Ok(body) => return Ok(Vec::from(body.into_bytes())),
            Err(_) if attempt < BODY_ATTEMPTS => {
                tokio::time::sleep(INITIAL_BACKOFF * 2u32.pow(attempt)).await;
            }
            Err(error) => {
                return Err(S3Error::Unreachable {
                    location,
                    detail: format!("reading the object broke off {attempt} times: {error}"),
                });
            }
        }
    }
}

/// The last folder name of a `…/name/` prefix.
fn last_folder(prefix: &str) -> &str {
    prefix
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

struct Lister<'a> {
    client: &'a Client,
    bucket: &'a str,
    objects: AtomicU64,
    listed: &'a (dyn Fn(u64) + Sync),
    concurrency: usize,
}

/// Where in the AWSLogs layout a prefix points.
#[derive(Debug, PartialEq, Eq)]
enum Level {
    /// The folder holding `AWSLogs/`.
    Root(String),
    /// `AWSLogs/` or `AWSLogs/o-org/`: account folders (and organization folders) below.
    Accounts(String),
    /// `…/<account>/`.
    Account(String),
    /// `…/<account>/CloudTrail/<region>/`.
    Region(String),
    /// Somewhere else: every object below is listed.
    Flat(String),
}

impl Level {
    fn of(prefix: &str) -> Level {
        let parts: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
        let Some(aws_logs) = parts.iter().rposition(|p| *p == AWS_LOGS) else {
            return Level::Root(prefix.to_string());
        };
        let mut rest = &parts[aws_logs + 1..];
        if rest.first().is_some_and(|p| p.starts_with("o-")) {
            rest = &rest[1..];
        }
        match rest {
            [] => Level::Accounts(prefix.to_string()),
            [account] if is_account(account) => Level::Account(prefix.to_string()),
            [account, "CloudTrail"] if is_account(account) => {
                let account_folder = &prefix[..prefix.len() - "CloudTrail/".len()];
                Level::Account(account_folder.to_string())
            }
            [account, "CloudTrail", _region] if is_account(account) => {
                Level::Region(prefix.to_string())
            }
            _ => Level::Flat(prefix.to_string()),
        }
    }
}

impl Lister<'_> {
    async fn list(&self, url: &S3Url, options: &ListOptions) -> Result<S3Listing, S3Error> {
        let accounts = match Level::of(&url.prefix) {
            Level::Root(root) => {
                let aws_logs = format!("{root}{AWS_LOGS}/");
                let accounts = self.accounts(&aws_logs, options).await?;
                if accounts.is_empty() && self.folders(&aws_logs).await?.is_empty() {
                    // No AWSLogs layout here: read every log object below, as a local folder is
                    // read; the window can then only filter what was listed.
                    return self.flat(&root, options).await;
                }
                accounts
            }
            Level::Accounts(folder) => self.accounts(&folder, options).await?,
            Level::Account(folder) => vec![folder],
            Level::Region(folder) => return self.regions(vec![folder], options).await,
            Level::Flat(folder) => return self.flat(&folder, options).await,
        };
        let regions: Vec<Vec<String>> = stream::iter(accounts)
            .map(|account| async move { self.folders(&format!("{account}CloudTrail/")).await })
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        self.regions(regions.into_iter().flatten().collect(), options)
            .await
    }

    /// Account folders under an `AWSLogs/` folder, looking inside organization folders.
    async fn accounts(&self, folder: &str, options: &ListOptions) -> Result<Vec<String>, S3Error> {
        let mut accounts = Vec::new();
        let mut orgs = Vec::new();
        for child in self.folders(folder).await? {
            let name = last_folder(&child);
            if name.starts_with("o-") && last_folder(folder) == AWS_LOGS {
                if options.org_id.as_deref().is_none_or(|org| org == name) {
                    orgs.push(child);
                }
            } else if is_account(name) {
                accounts.push(child);
            }
        }
        for org in orgs {
            accounts.extend(
                self.folders(&org)
                    .await?
                    .into_iter()
                    .filter(|child| is_account(last_folder(child))),
            );
        }
        accounts.retain(|account| {
            options.accounts.is_empty()
                || options.accounts.iter().any(|a| a == last_folder(account))
        });
        Ok(accounts)
    }

    /// Objects in the region folders, restricted to the window's day folders.
    async fn regions(
        &self,
        regions: Vec<String>,
        options: &ListOptions,
    ) -> Result<S3Listing, S3Error> {
        let window = options.window;
        let folders: Vec<Vec<String>> = stream::iter(regions)
            .map(|region| async move {
                if window.is_open() {
                    return Ok(vec![region]);
                }
                let years: BTreeSet<u32> = self
                    .folders(&region)
                    .await?
                    .iter()
                    .map(|f| last_folder(f))
                    .filter(|y| y.len() == 4)
                    .filter_map(|y| y.parse().ok())
                    .collect();
                Ok::<_, S3Error>(
                    day_folders(&window, &years)
                        .into_iter()
                        .map(|f| format!("{region}{f}"))
                        .collect(),
                )
            })
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        let pages: Vec<Vec<S3Entry>> = stream::iter(folders.into_iter().flatten())
            .map(|folder| async move { self.objects(&folder).await })
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        Ok(self.finish(pages.into_iter().flatten(), options))
    }

    async fn flat(&self, folder: &str, options: &ListOptions) -> Result<S3Listing, S3Error> {
        let entries = self.objects(folder).await?;
        Ok(self.finish(entries.into_iter(), options))
    }

    fn finish(&self, entries: impl Iterator<Item = S3Entry>, options: &ListOptions) -> S3Listing {
        let mut listing = S3Listing::default();
        let mut found = Vec::new();
        for entry in entries {
            match classify(&entry.key) {
                Classification::Skip(reason) => *listing.skipped.entry(reason).or_default() += 1,
                Classification::Log { layout, in_layout } => {
                    let wanted = layout.as_ref().is_none_or(|l| {
                        options.window.contains_text(&l.date)
                            && (options.accounts.is_empty()
                                || options.accounts.contains(&l.account))
                    });
                    if wanted {
                        found.push((S3Entry { layout, ..entry }, in_layout));
                    }
                }
            }
        }
        listing.entries = keep_deliveries(found, &mut listing.skipped);
        listing.entries.sort_by(|a, b| a.key.cmp(&b.key));
        listing.entries.dedup_by(|a, b| a.key == b.key);
        listing
    }

    /// The sub-folders of a folder.
    async fn folders(&self, folder: &str) -> Result<Vec<String>, S3Error> {
        let mut folders = Vec::new();
        self.pages(folder, true, |page| {
            folders.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix())
                    .map(str::to_string),
            );
        })
        .await?;
        Ok(folders)
    }

    /// Every object below a folder.
    async fn objects(&self, folder: &str) -> Result<Vec<S3Entry>, S3Error> {
        let mut entries = Vec::new();
        self.pages(folder, false, |page| {
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let version = object
                    .e_tag()
                    .map(|tag| tag.trim_matches('"').to_string())
                    .or_else(|| object.last_modified().map(|t| t.to_string()))
                    .unwrap_or_default();
                entries.push(S3Entry {
                    key: key.to_string(),
                    size: object
                        .size()
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(0),
                    version,
                    layout: None,
                });
            }
            let total = self
                .objects
                .fetch_add(page.contents().len() as u64, Ordering::Relaxed)
                + page.contents().len() as u64;
            (self.listed)(total);
        })
        .await?;
        Ok(entries)
    }

    async fn pages(
        &self,
        prefix: &str,
        delimited: bool,
        mut on_page: impl FnMut(&aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output),
    ) -> Result<(), S3Error> {
        let location = format!("s3://{}/{prefix}", self.bucket);
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut request = self
                .client
                .list_objects_v2()
                .bucket(self.bucket)
                .prefix(prefix);
            if delimited {
                request = request.delimiter("/");
            }
            if let Some(token) = &token {
                request = request.continuation_token(token);
            }
            let page = request.send().await.map_err(|e| {
                let region = self.client.config().region().map(|r| r.to_string());
                from_sdk(e, &location, region.as_deref().unwrap_or(""))
            })?;
            on_page(&page);
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => {
                    if token.as_deref() == Some(next) {
                        return Err(S3Error::Other {
                            location,
                            detail: "the listing repeats the same page".to_string(),
                        });
                    }
                    token = Some(next.to_string());
                }
                _ => return Ok(()),
            }
        }
        Err(S3Error::Other {
            location,
            detail: format!("the listing has more than {MAX_PAGES} pages"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let ok = |text: &str| {
            S3Url::parse(text)
                .map(|u| (u.bucket, u.prefix))
                .unwrap_or_else(|e| panic!("{text}: {e}"))
        };
        assert_eq!(ok("s3://logs"), ("logs".into(), "".into()));
        assert_eq!(ok("s3://logs/"), ("logs".into(), "".into()));
        assert_eq!(
            ok("S3://Old_Bucket/a/b/"),
            ("Old_Bucket".into(), "a/b/".into())
        );
        assert_eq!(ok("s3://logs/trail"), ("logs".into(), "trail/".into()));
        for bad in [
            "logs/trail",
            "https://logs/trail",
            "s3://",
            "s3:///trail",
            "s3://bad bucket/x",
            "s3://logs/a//b",
            "s3://logs/a?versionId=1",
        ] {
            assert!(
                matches!(S3Url::parse(bad), Err(S3Error::BadUrl { .. })),
                "{bad}"
            );
        }
    }

    fn folders(start: Option<&str>, end: Option<&str>, years: &[u32]) -> Vec<String> {
        let day = |text: &str| crate::time::parse_day(text).expect("a day");
        let window = Window::new(start.map(day), end.map(day)).expect("window");
        day_folders(&window, &years.iter().copied().collect())
    }

    #[test]
    fn a_window_becomes_the_fewest_folders_holding_exactly_its_days() {
        assert_eq!(
            folders(Some("2024-02-28"), Some("2024-03-01"), &[2023, 2024]),
            ["2024/02/28/", "2024/02/29/", "2024/03/01/"]
        );
        assert_eq!(
            folders(
                Some("2023-11-30"),
                Some("2025-02-01"),
                &[2022, 2023, 2024, 2025, 2026]
            ),
            [
                "2023/11/30/",
                "2023/12/",
                "2024/",
                "2025/01/",
                "2025/02/01/"
            ]
        );
        assert_eq!(
            folders(None, Some("2024-01-31"), &[2023, 2024]),
            ["2023/", "2024/01/"]
        );
        assert_eq!(
            folders(Some("2024-06-01"), None, &[2023, 2024]),
            [
                "2024/06/", "2024/07/", "2024/08/", "2024/09/", "2024/10/", "2024/11/", "2024/12/"
            ]
        );
        assert!(folders(Some("2030-01-01"), None, &[2024]).is_empty());
    }

    #[test]
    fn finds_the_level_a_prefix_points_at() {
        assert_eq!(Level::of(""), Level::Root(String::new()));
        assert_eq!(Level::of("trail/"), Level::Root("trail/".into()));
        assert_eq!(Level::of("AWSLogs/"), Level::Accounts("AWSLogs/".into()));
        assert_eq!(
            Level::of("t/AWSLogs/o-abc/"),
            Level::Accounts("t/AWSLogs/o-abc/".into())
        );
        assert_eq!(
            Level::of("AWSLogs/o-abc/111111111111/CloudTrail/"),
            Level::Account("AWSLogs/o-abc/111111111111/".into())
        );
        assert_eq!(
            Level::of("AWSLogs/111111111111/CloudTrail/eu-west-1/"),
            Level::Region("AWSLogs/111111111111/CloudTrail/eu-west-1/".into())
        );
        assert_eq!(
            Level::of("AWSLogs/111111111111/CloudTrail/eu-west-1/2024/"),
            Level::Flat("AWSLogs/111111111111/CloudTrail/eu-west-1/2024/".into())
        );
    }
}
