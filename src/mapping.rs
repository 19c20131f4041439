//! Maps a CloudTrail event `(eventSource, eventName)` to the IAM actions the call needed.
//!
//! General rules, in code:
//! - the IAM prefix is the event source host without `.amazonaws.com`, unless `data/event-mapping.tsv`
//!   names another prefix for that host (`monitoring.amazonaws.com` is `cloudwatch`);
//! - the event name is the action name, looked up in the catalogue without regard to case;
//! - a trailing API date (`CreateFunction20150331`, `UpdateFunctionCode20150331v2`,
//!   `ListDistributions2020_05_31`) is removed when the full name is not an action. Only a real date at
//!   the very end is removed, so names that merely contain "20" keep their spelling;
//! - API Gateway's management permissions are HTTP verbs (`apigateway:GET`), chosen by the event name's
//!   leading verb.
//!
//! Reviewed exceptions live in `data/event-mapping.tsv`; an entry there wins over the rules above.
//!
//! [`map_event`] sees only the source and name. Records with `eventType` `AwsServiceEvent` (the service
//! acting on its own) or `AwsConsoleSignIn` involve no permission of the caller whatever their name: the
//! caller filters them, or uses [`map_record`], which does that check first.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use thiserror::Error;

use crate::iam::catalogue::{ActionId, Catalogue};

const EMBEDDED_TSV: &str = include_str!("../data/event-mapping.tsv");

static EMBEDDED: LazyLock<MappingTable> = LazyLock::new(|| {
    // The embedded file is checked by a unit test; failing here means the build shipped a broken file.
    MappingTable::from_tsv(EMBEDDED_TSV).expect("embedded data/event-mapping.tsv must parse")
});

const HOST_SUFFIXES: [&str; 2] = [".amazonaws.com", ".amazonaws.com.cn"];

/// Why an event involves no IAM permission of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NoPermissionReason {
    /// The call succeeds whatever the caller's policies say (sts:GetCallerIdentity).
    AlwaysAllowed,
    /// Part of signing in to the console; authenticated by credentials, not authorised by policy.
    SignIn,
    /// Written by an AWS service acting on its own, not by a principal's call.
    ServiceEvent,
}

impl NoPermissionReason {
    /// The spelling used in `data/event-mapping.tsv`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoPermissionReason::AlwaysAllowed => "always-allowed",
            NoPermissionReason::SignIn => "sign-in",
            NoPermissionReason::ServiceEvent => "service-event",
        }
    }

    pub fn parse(text: &str) -> Option<NoPermissionReason> {
        [
            NoPermissionReason::AlwaysAllowed,
            NoPermissionReason::SignIn,
            NoPermissionReason::ServiceEvent,
        ]
        .into_iter()
        .find(|reason| reason.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl fmt::Display for NoPermissionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one CloudTrail event tells about IAM actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    /// The call needed all of these actions (never empty).
    Actions(Vec<ActionId>),
    /// The event involves no IAM permission of its caller.
    NoPermission(NoPermissionReason),
    /// Neither a rule nor the table knows the event.
    Unmapped,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MappingTableError {
    #[error(
        "line {line}: expected 5 tab-separated fields (kind, event source, event name, result, why), found {found}"
    )]
    WrongFieldCount { line: usize, found: usize },
    #[error("line {line}: unknown kind {kind:?} (expected service, actions or no-permission)")]
    UnknownKind { line: usize, kind: String },
    #[error("line {line}: event name must be \"*\" for kind service, found {name:?}")]
    ServiceRowWithEventName { line: usize, name: String },
    #[error("line {line}: {value:?} is not a service:Action list")]
    InvalidActionList { line: usize, value: String },
    #[error("line {line}: unknown no-permission reason {value:?}")]
    UnknownReason { line: usize, value: String },
    #[error("line {line}: {what} {value:?} is empty or has unexpected characters")]
    InvalidField {
        line: usize,
        what: &'static str,
        value: String,
    },
    #[error("line {line}: {key} is listed twice")]
    Duplicate { line: usize, key: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum EventRule {
    /// `service:Action` strings, resolved against the catalogue at mapping time.
    Actions(Vec<String>),
    NoPermission(NoPermissionReason),
}

/// The reviewed exceptions of `data/event-mapping.tsv`.
#[derive(Debug, Default)]
pub struct MappingTable {
    /// Lower-case host → IAM prefix.
    service_prefixes: HashMap<String, String>,
    /// (lower-case host, lower-case event name) → rule.
    events: HashMap<(String, String), EventRule>,
}

impl MappingTable {
    pub fn embedded() -> &'static MappingTable {
        &EMBEDDED
    }

    pub fn from_tsv(text: &str) -> Result<MappingTable, MappingTableError> {
        let mut table = MappingTable::default();
        for (index, raw_line) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw_line.trim_end_matches('\r');
            if trimmed.trim().is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = trimmed.split('\t').map(str::trim).collect();
            let [kind, source, name, result, _why] = fields[..] else {
                return Err(MappingTableError::WrongFieldCount {
                    line,
                    found: fields.len(),
                });
            };
            let source = checked_field(source, line, "event source", |c| {
                c.is_ascii_alphanumeric() || matches!(c, '-' | '.')
            })?
            .to_ascii_lowercase();
            match kind {
                "service" => {
                    if name != "*" {
                        return Err(MappingTableError::ServiceRowWithEventName {
                            line,
                            name: name.to_string(),
                        });
                    }
                    let prefix = checked_field(result, line, "service prefix", |c| {
                        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
                    })?;
                    if table
                        .service_prefixes
                        .insert(source.clone(), prefix.to_ascii_lowercase())
                        .is_some()
                    {
                        return Err(MappingTableError::Duplicate { line, key: source });
                    }
                }
                "actions" | "no-permission" => {
                    let name = checked_field(name, line, "event name", |c| {
                        c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
                    })?;
                    let rule = if kind == "actions" {
                        EventRule::Actions(parse_action_list(result, line)?)
                    } else {
                        EventRule::NoPermission(NoPermissionReason::parse(result).ok_or_else(
                            || MappingTableError::UnknownReason {
                                line,
                                value: result.to_string(),
                            },
                        )?)
                    };
                    let key = (source, name.to_ascii_lowercase());
                    if table.events.contains_key(&key) {
                        return Err(MappingTableError::Duplicate {
                            line,
                            key: format!("{} {}", key.0, key.1),
                        });
                    }
                    table.events.insert(key, rule);
                }
                other => {
                    return Err(MappingTableError::UnknownKind {
                        line,
                        kind: other.to_string(),
                    });
                }
            }
        }
        Ok(table)
    }

    /// IAM prefix of an event source host, e.g. `monitoring.amazonaws.com` → `cloudwatch`. `None` when
    /// the source is not an AWS service host.
    pub fn service_prefix(&self, event_source: &str) -> Option<String> {
        let host = event_source.trim().to_ascii_lowercase();
        if let Some(prefix) = self.service_prefixes.get(&host) {
            return Some(prefix.clone());
        }
        let stem = HOST_SUFFIXES
            .iter()
            .find_map(|suffix| host.strip_suffix(suffix))?;
        let plausible = !stem.is_empty()
            && stem
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'));
        plausible.then(|| stem.to_string())
    }

    pub fn map_event(
        &self,
        catalogue: &Catalogue,
        event_source: &str,
        event_name: &str,
    ) -> Mapping {
        let source = event_source.trim().to_ascii_lowercase();
        let name = event_name.trim();
        if let Some(mapping) = self.table_entry(catalogue, &source, name) {
            return mapping;
        }
        let Some(prefix) = self.service_prefix(&source) else {
            return Mapping::Unmapped;
        };
        if let Some(id) = catalogue.lookup(&prefix, name) {
            return Mapping::Actions(vec![id]);
        }
        let undated = strip_api_date_suffix(name);
        if let Some(base) = undated {
            if let Some(mapping) = self.table_entry(catalogue, &source, base) {
                return mapping;
            }
            if let Some(id) = catalogue.lookup(&prefix, base) {
                return Mapping::Actions(vec![id]);
            }
        }
        if prefix == "apigateway"
            && let Some(id) = api_gateway_verb(undated.unwrap_or(name))
                .and_then(|verb| catalogue.lookup("apigateway", verb))
        {
            return Mapping::Actions(vec![id]);
        }
        Mapping::Unmapped
    }

    fn table_entry(&self, catalogue: &Catalogue, source: &str, name: &str) -> Option<Mapping> {
        let rule = self
            .events
            .get(&(source.to_string(), name.to_ascii_lowercase()))?;
        Some(match rule {
            EventRule::NoPermission(reason) => Mapping::NoPermission(*reason),
            // An action the catalogue does not know is never emitted; the event is then unmapped.
            EventRule::Actions(actions) => actions
                .iter()
                .map(|action| catalogue.lookup_full(action))
                .collect::<Option<Vec<ActionId>>>()
                .map_or(Mapping::Unmapped, Mapping::Actions),
        })
    }
}

/// Maps one event with the embedded exception table. See the module documentation for the rules.
pub fn map_event(catalogue: &Catalogue, event_source: &str, event_name: &str) -> Mapping {
    MappingTable::embedded().map_event(catalogue, event_source, event_name)
}

/// Like [`map_event`], but first honours the record's `eventType`: service events and console sign-in
/// records involve no permission of the caller whatever their name.
pub fn map_record(
    catalogue: &Catalogue,
    event_type: Option<&str>,
    event_source: &str,
    event_name: &str,
) -> Mapping {
    match event_type {
        Some("AwsServiceEvent") => Mapping::NoPermission(NoPermissionReason::ServiceEvent),
        Some("AwsConsoleSignIn") => Mapping::NoPermission(NoPermissionReason::SignIn),
        _ => map_event(catalogue, event_source, event_name),
    }
}

/// IAM prefix of an event source host with the embedded exception table.
pub fn service_prefix(event_source: &str) -> Option<String> {
    MappingTable::embedded().service_prefix(event_source)
}

/// The event name without a trailing API date, or `None` when it has none. Recognised endings:
/// `YYYYMMDD`, `YYYYMMDDv<digits>` (Lambda) and `YYYY_MM_DD` (CloudFront), with a plausible date and a
/// letter right before it.
pub fn strip_api_date_suffix(name: &str) -> Option<&str> {
    let without_revision = match name.rfind('v') {
        Some(at) if at + 1 < name.len() && name[at + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            &name[..at]
        }
        _ => name,
    };
    let compact = split_date(without_revision, 8, |date| {
        date.bytes().all(|b| b.is_ascii_digit()).then(|| {
            (
                date[0..4].to_string(),
                date[4..6].to_string(),
                date[6..8].to_string(),
            )
        })
    });
    if compact.is_some() {
        return compact;
    }
    if without_revision.len() != name.len() {
        // A "v<digits>" revision only follows the compact Lambda form.
        return None;
    }
    split_date(name, 10, |date| {
        let parts: Vec<&str> = date.split('_').collect();
        match parts[..] {
            [year, month, day]
                if year.len() == 4
                    && month.len() == 2
                    && day.len() == 2
                    && date
                        .bytes()
                        .filter(|b| *b != b'_')
                        .all(|b| b.is_ascii_digit()) =>
            {
                Some((year.to_string(), month.to_string(), day.to_string()))
            }
            _ => None,
        }
    })
}

fn split_date(
    name: &str,
    date_len: usize,
    parse: impl Fn(&str) -> Option<(String, String, String)>,
) -> Option<&str> {
    let split_at = name.len().checked_sub(date_len)?;
    if !name.is_char_boundary(split_at) {
        return None;
    }
    let (base, date) = name.split_at(split_at);
    if !base.chars().last().is_some_and(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let (year, month, day) = parse(date)?;
    let year: u32 = year.parse().ok()?;
    let month: u32 = month.parse().ok()?;
    let day: u32 = day.parse().ok()?;
    ((2000..=2099).contains(&year) && (1..=12).contains(&month) && (1..=31).contains(&day))
        .then_some(base)
}

/// API Gateway authorises its management API per HTTP method; the event name's verb gives the method.
fn api_gateway_verb(event_name: &str) -> Option<&'static str> {
    const VERBS: [(&str, &str); 5] = [
        ("Get", "GET"),
        ("Create", "POST"),
        ("Update", "PATCH"),
        ("Delete", "DELETE"),
        ("Put", "PUT"),
    ];
    VERBS.iter().find_map(|(prefix, verb)| {
        let rest = event_name.strip_prefix(prefix)?;
        // The verb must be a whole word: "Getaway" is not "Get" + "away".
        rest.starts_with(|c: char| c.is_ascii_uppercase())
            .then_some(*verb)
    })
}

fn parse_action_list(value: &str, line: usize) -> Result<Vec<String>, MappingTableError> {
    let invalid = || MappingTableError::InvalidActionList {
        line,
        value: value.to_string(),
    };
    let actions: Vec<String> = value.split(',').map(|a| a.trim().to_string()).collect();
    for action in &actions {
        let (service, name) = action.split_once(':').ok_or_else(invalid)?;
        let well_formed = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !well_formed(service) || !well_formed(name) {
            return Err(invalid());
        }
    }
    Ok(actions)
}

fn checked_field<'a>(
    value: &'a str,
    line: usize,
    what: &'static str,
    allowed: impl Fn(char) -> bool,
) -> Result<&'a str, MappingTableError> {
    if !value.is_empty() && value.chars().all(allowed) {
        Ok(value)
    } else {
        Err(MappingTableError::InvalidField {
            line,
            what,
            value: value.to_string(),
        })
    }
}

/// Every record of the CloudTrail files (`.json`, `.json.gz`) under `<root>/cloudtrail`, for the
/// tests that run on real data.
#[cfg(test)]
pub(crate) fn real_cloudtrail_records(root: &std::path::Path) -> Vec<serde_json::Value> {
    use std::io::Read;
    let mut all = Vec::new();
    for entry in walkdir::WalkDir::new(root.join("cloudtrail")).sort_by_file_name() {
        let entry = entry.expect("walk real data folder");
        let path = entry.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !entry.file_type().is_file() || !(name.ends_with(".json") || name.ends_with(".json.gz"))
        {
            continue;
        }
        let mut text = String::new();
        let file =
            std::fs::File::open(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let read = if name.ends_with(".gz") {
            flate2::read::GzDecoder::new(file).read_to_string(&mut text)
        } else {
            std::io::BufReader::new(file).read_to_string(&mut text)
        };
        read.unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Array(records)) => all.extend(records),
            Ok(serde_json::Value::Object(mut top)) => {
                if let Some(serde_json::Value::Array(records)) = top.remove("Records") {
                    all.extend(records);
                }
            }
            _ => println!("not CloudTrail JSON, skipped: {}", path.display()),
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embedded() -> &'static Catalogue {
        Catalogue::embedded()
    }

    /// The mapping as lower-case action names, or a marker for the other outcomes.
    fn mapped(catalogue: &Catalogue, source: &str, name: &str) -> Vec<String> {
        match map_event(catalogue, source, name) {
            Mapping::Actions(ids) => ids.iter().map(|id| catalogue.display(*id)).collect(),
            Mapping::NoPermission(reason) => vec![format!("no-permission {reason}")],
            Mapping::Unmapped => vec!["unmapped".to_string()],
        }
    }

    #[test]
    fn event_source_hosts_become_iam_prefixes() {
        let cases = [
            ("monitoring.amazonaws.com", Some("cloudwatch")),
            ("email.amazonaws.com", Some("ses")),
            ("streams.dynamodb.amazonaws.com", Some("dynamodb")),
            ("models.lex.amazonaws.com", Some("lex")),
            ("runtime.lex.amazonaws.com", Some("lex")),
            ("runtime.sagemaker.amazonaws.com", Some("sagemaker")),
            ("appstream2.amazonaws.com", Some("appstream")),
            ("tagging.amazonaws.com", Some("tag")),
            ("api.ecr.amazonaws.com", Some("ecr")),
            (
                "servicecatalog-appregistry.amazonaws.com",
                Some("servicecatalog"),
            ),
            ("cloudcontrolapi.amazonaws.com", Some("cloudformation")),
            ("ecr.amazonaws.com", Some("ecr")),
            (
                "elasticloadbalancing.amazonaws.com",
                Some("elasticloadbalancing"),
            ),
            ("es.amazonaws.com", Some("es")),
            ("execute-api.amazonaws.com", Some("execute-api")),
            ("signin.amazonaws.com", Some("signin")),
            ("sso.amazonaws.com", Some("sso")),
            ("sso-directory.amazonaws.com", Some("sso-directory")),
            ("identitystore.amazonaws.com", Some("identitystore")),
            ("S3.AmazonAWS.com", Some("s3")),
            ("ec2.amazonaws.com.cn", Some("ec2")),
            ("s3", None),
            ("example.com", None),
            (".amazonaws.com", None),
            ("", None),
        ];
        for (source, expected) in cases {
            assert_eq!(service_prefix(source).as_deref(), expected, "{source}");
        }
    }

    #[test]
    fn remapped_hosts_reach_real_actions() {
        let cases = [
            (
                "monitoring.amazonaws.com",
                "DescribeAlarms",
                "cloudwatch:describealarms",
            ),
            (
                "monitoring.amazonaws.com",
                "GetMetricData",
                "cloudwatch:getmetricdata",
            ),
            ("email.amazonaws.com", "SendRawEmail", "ses:sendrawemail"),
            (
                "streams.dynamodb.amazonaws.com",
                "GetRecords",
                "dynamodb:getrecords",
            ),
            (
                "runtime.sagemaker.amazonaws.com",
                "InvokeEndpoint",
                "sagemaker:invokeendpoint",
            ),
            ("tagging.amazonaws.com", "GetResources", "tag:getresources"),
            (
                "appstream2.amazonaws.com",
                "DescribeFleets",
                "appstream:describefleets",
            ),
            ("runtime.lex.amazonaws.com", "PostText", "lex:posttext"),
            (
                "servicecatalog-appregistry.amazonaws.com",
                "ListApplications",
                "servicecatalog:listapplications",
            ),
        ];
        for (source, name, expected) in cases {
            assert_eq!(
                mapped(embedded(), source, name),
                [expected],
                "{source} {name}"
            );
        }
    }

    #[test]
    fn default_rule_is_same_name_without_case() {
        let cases = [
            ("iam.amazonaws.com", "CreateUser", "iam:createuser"),
            (
                "ec2.amazonaws.com",
                "DescribeInstances",
                "ec2:describeinstances",
            ),
            ("s3.amazonaws.com", "GetBucketPolicy", "s3:getbucketpolicy"),
            (
                "s3.amazonaws.com",
                "PutBucketPublicAccessBlock",
                "s3:putbucketpublicaccessblock",
            ),
            (
                "s3.amazonaws.com",
                "GetBucketOwnershipControls",
                "s3:getbucketownershipcontrols",
            ),
            ("s3.amazonaws.com", "GetBucketCors", "s3:getbucketcors"),
            ("s3.amazonaws.com", "GetObject", "s3:getobject"),
            ("kms.amazonaws.com", "Decrypt", "kms:decrypt"),
            ("sts.amazonaws.com", "AssumeRole", "sts:assumerole"),
            (
                "lambda.amazonaws.com",
                "ListFunctions20150331",
                "lambda:listfunctions",
            ),
            (
                "lambda.amazonaws.com",
                "UpdateFunctionConfiguration20150331v2",
                "lambda:updatefunctionconfiguration",
            ),
            (
                "cloudfront.amazonaws.com",
                "GetDistribution2020_05_31",
                "cloudfront:getdistribution",
            ),
        ];
        for (source, name, expected) in cases {
            assert_eq!(
                mapped(embedded(), source, name),
                [expected],
                "{source} {name}"
            );
        }
    }

    #[test]
    fn s3_operation_names_map_to_their_permissions() {
        let cases: [(&str, &[&str]); 14] = [
            ("ListBuckets", &["s3:listallmybuckets"]),
            ("HeadBucket", &["s3:listbucket"]),
            ("ListObjects", &["s3:listbucket"]),
            ("ListObjectsV2", &["s3:listbucket"]),
            ("HeadObject", &["s3:getobject"]),
            ("GetBucketLifecycle", &["s3:getlifecycleconfiguration"]),
            ("DeleteBucketLifecycle", &["s3:putlifecycleconfiguration"]),
            ("GetBucketEncryption", &["s3:getencryptionconfiguration"]),
            ("GetBucketReplication", &["s3:getreplicationconfiguration"]),
            ("DeleteObjects", &["s3:deleteobject"]),
            ("CopyObject", &["s3:getobject", "s3:putobject"]),
            ("UploadPart", &["s3:putobject"]),
            (
                "DeleteBucketPublicAccessBlock",
                &["s3:putbucketpublicaccessblock"],
            ),
            ("ListObjectVersions", &["s3:listbucketversions"]),
        ];
        for (name, expected) in cases {
            assert_eq!(
                mapped(embedded(), "s3.amazonaws.com", name),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn calls_needing_several_or_renamed_permissions() {
        let cases: [(&str, &str, &[&str]); 4] = [
            (
                "kms.amazonaws.com",
                "ReEncrypt",
                &["kms:reencryptfrom", "kms:reencryptto"],
            ),
            ("lambda.amazonaws.com", "Invoke", &["lambda:invokefunction"]),
            (
                "sqs.amazonaws.com",
                "SendMessageBatch",
                &["sqs:sendmessage"],
            ),
            ("sns.amazonaws.com", "PublishBatch", &["sns:publish"]),
        ];
        for (source, name, expected) in cases {
            assert_eq!(
                mapped(embedded(), source, name),
                expected,
                "{source} {name}"
            );
        }
    }

    #[test]
    fn api_dates_are_stripped_only_at_the_end() {
        let cases = [
            ("CreateFunction20150331", Some("CreateFunction")),
            ("UpdateFunctionCode20150331v2", Some("UpdateFunctionCode")),
            ("ListDistributions2017_03_25", Some("ListDistributions")),
            ("CreateDistribution2020_05_31", Some("CreateDistribution")),
            ("GetLayerVersion20181031", Some("GetLayerVersion")),
            ("Get2020Report", None),
            ("Describe20Things", None),
            ("CreateFunction", None),
            ("GetPolicyV2", None),
            ("Thing20151331", None),
            ("Thing19990101", None),
            ("Thing2015_13_01", None),
            ("Thing2015_0301", None),
            ("20150331", None),
            ("Thing120150331", None),
            ("Thing20150331v", None),
            ("Thing2017_03_25v2", None),
            ("", None),
        ];
        for (name, expected) in cases {
            assert_eq!(strip_api_date_suffix(name), expected, "{name}");
        }
    }

    #[test]
    fn dated_event_names_map_and_names_with_20_survive() {
        let catalogue = Catalogue::from_tsv(
            "lambda\tCreateFunction\tWrite\n\
             lambda\tUpdateFunctionCode\tWrite\n\
             cloudfront\tListDistributions\tList\n\
             example\tGet2020Report\tRead\n\
             example\tList20\tList\n",
        )
        .unwrap();
        let cases = [
            (
                "lambda.amazonaws.com",
                "CreateFunction20150331",
                "lambda:createfunction",
            ),
            (
                "lambda.amazonaws.com",
                "UpdateFunctionCode20150331v2",
                "lambda:updatefunctioncode",
            ),
            (
                "cloudfront.amazonaws.com",
                "ListDistributions2017_03_25",
                "cloudfront:listdistributions",
            ),
            (
                "example.amazonaws.com",
                "Get2020Report",
                "example:get2020report",
            ),
            (
                "example.amazonaws.com",
                "Get2020Report20190101",
                "example:get2020report",
            ),
            ("example.amazonaws.com", "List20", "example:list20"),
            ("example.amazonaws.com", "Get", "unmapped"),
            ("example.amazonaws.com", "Get2020", "unmapped"),
        ];
        for (source, name, expected) in cases {
            assert_eq!(
                mapped(&catalogue, source, name),
                [expected],
                "{source} {name}"
            );
        }
    }

    #[test]
    fn api_gateway_management_calls_map_to_http_verbs() {
        let cases = [
            ("GetResource", "apigateway:get"),
            ("GetRestApis", "apigateway:get"),
            ("CreateDeployment", "apigateway:post"),
            ("UpdateStage", "apigateway:patch"),
            ("DeleteRestApi", "apigateway:delete"),
            ("PutIntegration", "apigateway:put"),
            ("ImportRestApi", "unmapped"),
            ("Getaway", "unmapped"),
        ];
        for (name, expected) in cases {
            assert_eq!(
                mapped(embedded(), "apigateway.amazonaws.com", name),
                [expected],
                "{name}"
            );
        }
    }

    #[test]
    fn events_without_permission_are_classified() {
        let cases = [
            (
                "sts.amazonaws.com",
                "GetCallerIdentity",
                NoPermissionReason::AlwaysAllowed,
            ),
            (
                "signin.amazonaws.com",
                "ConsoleLogin",
                NoPermissionReason::SignIn,
            ),
            (
                "signin.amazonaws.com",
                "CheckMfa",
                NoPermissionReason::SignIn,
            ),
            (
                "signin.amazonaws.com",
                "SwitchRole",
                NoPermissionReason::SignIn,
            ),
            (
                "secretsmanager.amazonaws.com",
                "StartSecretVersionDelete",
                NoPermissionReason::ServiceEvent,
            ),
            (
                "ec2.amazonaws.com",
                "SharedSnapshotVolumeCreated",
                NoPermissionReason::ServiceEvent,
            ),
            (
                "kms.amazonaws.com",
                "RotateKey",
                NoPermissionReason::ServiceEvent,
            ),
        ];
        for (source, name, reason) in cases {
            assert_eq!(
                map_event(embedded(), source, name),
                Mapping::NoPermission(reason),
                "{source} {name}"
            );
        }
    }

    #[test]
    fn record_event_type_overrides_the_name() {
        let cases = [
            (
                Some("AwsServiceEvent"),
                "kms.amazonaws.com",
                "Decrypt",
                Mapping::NoPermission(NoPermissionReason::ServiceEvent),
            ),
            (
                Some("AwsConsoleSignIn"),
                "signin.amazonaws.com",
                "UnheardOf",
                Mapping::NoPermission(NoPermissionReason::SignIn),
            ),
            (
                Some("AwsApiCall"),
                "sts.amazonaws.com",
                "GetCallerIdentity",
                Mapping::NoPermission(NoPermissionReason::AlwaysAllowed),
            ),
            (None, "iam.amazonaws.com", "NoSuchCall", Mapping::Unmapped),
        ];
        for (event_type, source, name, expected) in cases {
            assert_eq!(
                map_record(embedded(), event_type, source, name),
                expected,
                "{event_type:?} {name}"
            );
        }
        let decrypt = embedded().lookup("kms", "Decrypt").unwrap();
        assert_eq!(
            map_record(
                embedded(),
                Some("AwsApiCall"),
                "kms.amazonaws.com",
                "Decrypt"
            ),
            Mapping::Actions(vec![decrypt])
        );
    }

    #[test]
    fn unknown_events_are_unmapped() {
        let cases = [
            ("iam.amazonaws.com", "DefinitelyNotAnAction"),
            ("nosuchservice.amazonaws.com", "ListThings"),
            ("not-a-host", "GetObject"),
            ("s3.amazonaws.com", ""),
        ];
        for (source, name) in cases {
            assert_eq!(
                map_event(embedded(), source, name),
                Mapping::Unmapped,
                "{source} {name}"
            );
        }
    }

    #[test]
    fn table_actions_missing_from_a_catalogue_are_never_emitted() {
        let catalogue = Catalogue::from_tsv("kms\tReEncryptFrom\tWrite\n").unwrap();
        assert_eq!(
            map_event(&catalogue, "kms.amazonaws.com", "ReEncrypt"),
            Mapping::Unmapped
        );
    }

    #[test]
    fn every_table_entry_resolves_in_the_catalogue_and_changes_the_default() {
        let table = MappingTable::embedded();
        let catalogue = embedded();
        assert!(
            table.events.len() > 50,
            "table has {} event entries",
            table.events.len()
        );
        for ((source, name), rule) in &table.events {
            let EventRule::Actions(actions) = rule else {
                continue;
            };
            for action in actions {
                assert!(
                    catalogue.lookup_full(action).is_some(),
                    "{source} {name}: {action} not in catalogue"
                );
            }
            let prefix = table.service_prefix(source).unwrap_or_default();
            let default = catalogue.lookup(&prefix, name).map(|id| vec![id]);
            let resolved: Vec<ActionId> = actions
                .iter()
                .filter_map(|a| catalogue.lookup_full(a))
                .collect();
            assert_ne!(
                default,
                Some(resolved),
                "{source} {name}: entry repeats the default rule"
            );
        }
        for (host, prefix) in &table.service_prefixes {
            assert!(
                catalogue.has_service(prefix),
                "{host} -> {prefix}: prefix not in catalogue"
            );
            assert_ne!(
                HOST_SUFFIXES.iter().find_map(|s| host.strip_suffix(s)),
                Some(prefix.as_str()),
                "{host}: entry repeats the default rule"
            );
        }
    }

    #[test]
    fn malformed_table_lines_are_typed_errors() {
        let cases = [
            (
                "service\ta.amazonaws.com\t*\tb\n",
                MappingTableError::WrongFieldCount { line: 1, found: 4 },
            ),
            (
                "alias\ta.amazonaws.com\t*\tb\twhy\n",
                MappingTableError::UnknownKind {
                    line: 1,
                    kind: "alias".into(),
                },
            ),
            (
                "service\ta.amazonaws.com\tX\tb\twhy\n",
                MappingTableError::ServiceRowWithEventName {
                    line: 1,
                    name: "X".into(),
                },
            ),
            (
                "actions\ta.amazonaws.com\tX\ts3GetObject\twhy\n",
                MappingTableError::InvalidActionList {
                    line: 1,
                    value: "s3GetObject".into(),
                },
            ),
            (
                "actions\ta.amazonaws.com\tX\ts3:GetObject,\twhy\n",
                MappingTableError::InvalidActionList {
                    line: 1,
                    value: "s3:GetObject,".into(),
                },
            ),
            (
                "no-permission\ta.amazonaws.com\tX\tmaybe\twhy\n",
                MappingTableError::UnknownReason {
                    line: 1,
                    value: "maybe".into(),
                },
            ),
            (
                "actions\ta b\tX\ts3:GetObject\twhy\n",
                MappingTableError::InvalidField {
                    line: 1,
                    what: "event source",
                    value: "a b".into(),
                },
            ),
            (
                "actions\ta.amazonaws.com\tX\ts3:GetObject\twhy\nactions\ta.amazonaws.com\tx\ts3:PutObject\twhy\n",
                MappingTableError::Duplicate {
                    line: 2,
                    key: "a.amazonaws.com x".into(),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                MappingTable::from_tsv(text).unwrap_err(),
                expected,
                "{text:?}"
            );
        }
    }

    mod real_data {
        use super::super::*;
        use std::collections::BTreeMap;
        use std::path::Path;

        const REQUIRED_SHARE: f64 = 0.995;

        /// Runs only when CTIDX_REALDATA_DIR points at a folder with a `cloudtrail` subfolder.
        #[test]
        fn real_cloudtrail_records_map_to_actions_or_a_no_permission_class() {
            let Some(root) = std::env::var_os("CTIDX_REALDATA_DIR") else {
                println!("skipped: CTIDX_REALDATA_DIR is not set");
                return;
            };
            let catalogue = Catalogue::embedded();
            let mut checked = 0usize;
            let mut mapped = 0usize;
            let mut mapped_by_name_alone = 0usize;
            let mut unmapped: BTreeMap<(String, String), usize> = BTreeMap::new();
            for record in real_cloudtrail_records(Path::new(&root)) {
                let field = |key: &str| record.get(key).and_then(|v| v.as_str());
                let source = field("eventSource").unwrap_or_default();
                let event = field("eventName").unwrap_or_default();
                checked += 1;
                if map_event(catalogue, source, event) != Mapping::Unmapped {
                    mapped_by_name_alone += 1;
                }
                match map_record(catalogue, field("eventType"), source, event) {
                    Mapping::Actions(ids) if !ids.is_empty() => mapped += 1,
                    Mapping::NoPermission(_) => mapped += 1,
                    _ => {
                        *unmapped
                            .entry((source.to_string(), event.to_string()))
                            .or_default() += 1
                    }
                }
            }
            let share = if checked == 0 {
                0.0
            } else {
                mapped as f64 / checked as f64
            };
            println!(
                "records checked: {checked}, mapped: {mapped} ({:.2}%)",
                share * 100.0
            );
            println!(
                "mapped from eventSource and eventName alone, ignoring eventType: {mapped_by_name_alone}"
            );
            for ((source, event), count) in &unmapped {
                println!("unmapped: {source} {event} ({count} records)");
            }
            assert!(
                checked > 0,
                "no CloudTrail records found under the real data folder"
            );
            assert!(
                share >= REQUIRED_SHARE,
                "only {:.2}% of records mapped",
                share * 100.0
            );
        }
    }
}
