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
//! Reviewed exceptions live in `data/event-mapping.tsv`, each with its source; an entry there wins over
//! the rules above. Besides other actions than the name says, an entry can give a class instead of
//! actions ([`NoPermissionReason`]): no permission needed, a console-internal call, an operation the
//! catalogue has no action for.
//!
//! The API operations of the AWS SDK models (`data/api-operations.tsv`, [`ApiOperations`]) are the
//! events a call can produce. An operation of IAM prefix `p` is mapped as the event `p.amazonaws.com`
//! and as the event of every host the table assigns to `p`. This tells which actions no operation
//! performs (the [`recorded_facts`]), and how many operations the mapping has no answer for.
//!
//! [`map_event`] sees only the source and name. Records with `eventType` `AwsServiceEvent` (the service
//! acting on its own) or `AwsConsoleSignIn` involve no permission of the caller whatever their name: the
//! caller filters them, or uses [`map_record`], which does that check first.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::LazyLock;

use thiserror::Error;

use crate::iam::catalogue::{ActionId, Catalogue};
use crate::iam::recorded::RecordedFacts;

mod api_operations;
pub mod resources;
#[cfg(test)]
use api_operations::API_OPERATIONS_TSV;
pub use api_operations::{ApiOperations, ApiOperationsError};

const EVENT_MAPPING_TSV: &str = include_str!("../../data/event-mapping.tsv");

// The embedded files are checked by unit tests; failing here means the build shipped a broken file.
static EMBEDDED: LazyLock<MappingTable> = LazyLock::new(|| {
    MappingTable::from_tsv(EVENT_MAPPING_TSV).expect("embedded data/event-mapping.tsv must parse")
});

static RECORDED_FACTS: LazyLock<RecordedFacts> = LazyLock::new(|| {
    let catalogue = Catalogue::embedded();
    let operations = ApiOperations::embedded();
    RecordedFacts::hand_checked()
        .expect("embedded data/cloudtrail-not-recorded.tsv must parse")
        .with_no_api_operation(
            MappingTable::embedded().actions_no_operation_performs(operations, catalogue),
            catalogue,
            operations.source(),
        )
});

const HOST_SUFFIXES: [&str; 2] = [".amazonaws.com", ".amazonaws.com.cn"];

/// Why an event exercises no action of the catalogue: none is needed, or none is documented for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NoPermissionReason {
    /// The call succeeds whatever the caller's policies say (sts:GetCallerIdentity).
    AlwaysAllowed,
    /// Part of signing in to the console; authenticated by credentials, not authorised by policy.
    SignIn,
    /// Written by an AWS service acting on its own, not by a principal's call.
    ServiceEvent,
    /// The SDK sends the request unsigned, so no IAM policy is evaluated: a token of the service's own,
    /// or nothing, authorises it.
    Unsigned,
    /// A call the AWS console makes for its own pages, for which no IAM action is documented.
    ConsoleInternal,
    /// An SDK operation for which no action of the catalogue is documented, under its own name or
    /// another.
    NotInCatalogue,
}

const NO_PERMISSION_REASONS: [NoPermissionReason; 6] = [
    NoPermissionReason::AlwaysAllowed,
    NoPermissionReason::SignIn,
    NoPermissionReason::ServiceEvent,
    NoPermissionReason::Unsigned,
    NoPermissionReason::ConsoleInternal,
    NoPermissionReason::NotInCatalogue,
];

impl NoPermissionReason {
    /// The spelling used in `data/event-mapping.tsv`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoPermissionReason::AlwaysAllowed => "always-allowed",
            NoPermissionReason::SignIn => "sign-in",
            NoPermissionReason::ServiceEvent => "service-event",
            NoPermissionReason::Unsigned => "unsigned",
            NoPermissionReason::ConsoleInternal => "console-internal",
            NoPermissionReason::NotInCatalogue => "not-in-catalogue",
        }
    }

    pub fn parse(text: &str) -> Option<NoPermissionReason> {
        NO_PERMISSION_REASONS
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
    /// The event exercises no action of the catalogue; the reason says why.
    NoPermission(NoPermissionReason),
    /// Neither a rule nor the table knows the event.
    Unmapped,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MappingTableError {
    #[error(
        "line {line}: expected 5 tab-separated fields (kind, event source, event name, result, source), found {found}"
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
    #[error("line {line}: the source is empty")]
    MissingSource { line: usize },
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
            let [kind, source, name, result, reference] = fields[..] else {
                return Err(MappingTableError::WrongFieldCount {
                    line,
                    found: fields.len(),
                });
            };
            if reference.is_empty() {
                return Err(MappingTableError::MissingSource { line });
            }
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
        self.resolve(catalogue, event_source, event_name, true)
    }

    /// What the general rules say without the table's event entries (its host rows still apply).
    #[cfg(test)]
    fn general_rules(
        &self,
        catalogue: &Catalogue,
        event_source: &str,
        event_name: &str,
    ) -> Mapping {
        self.resolve(catalogue, event_source, event_name, false)
    }

    fn resolve(
        &self,
        catalogue: &Catalogue,
        event_source: &str,
        event_name: &str,
        use_entries: bool,
    ) -> Mapping {
        let source = event_source.trim().to_ascii_lowercase();
        let name = event_name.trim();
        let entry = |name: &str| {
            use_entries
                .then(|| self.table_entry(catalogue, &source, name))
                .flatten()
        };
        if let Some(mapping) = entry(name) {
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
            if let Some(mapping) = entry(base) {
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

    /// Every action named in an `actions` entry, as written (`service:Action`).
    pub fn named_actions(&self) -> impl Iterator<Item = &str> {
        self.events
            .values()
            .flat_map(|rule| match rule {
                EventRule::Actions(actions) => actions.as_slice(),
                EventRule::NoPermission(_) => &[],
            })
            .map(String::as_str)
    }

    /// The event source hosts of the operations of IAM prefix `prefix`: `<prefix>.amazonaws.com` and
    /// every host the table assigns to the prefix, sorted.
    fn hosts_of(&self, prefix: &str) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .service_prefixes
            .iter()
            .filter(|(_, assigned)| assigned.eq_ignore_ascii_case(prefix))
            .map(|(host, _)| host.clone())
            .collect();
        hosts.push(format!("{}.amazonaws.com", prefix.to_ascii_lowercase()));
        hosts.sort_unstable();
        hosts.dedup();
        hosts
    }

    /// What the mapping says of one SDK operation: the first answer that is not [`Mapping::Unmapped`]
    /// among the hosts of its prefix.
    pub fn map_operation(&self, catalogue: &Catalogue, prefix: &str, operation: &str) -> Mapping {
        self.hosts_of(prefix)
            .iter()
            .map(|host| self.map_event(catalogue, host, operation))
            .find(|mapping| *mapping != Mapping::Unmapped)
            .unwrap_or(Mapping::Unmapped)
    }

    /// The actions that the SDK operations perform: what each operation maps to on any host of its
    /// prefix, the action of the operation's own name (a trailing API date removed), and every action an
    /// `actions` entry names, whatever its host.
    pub fn actions_performed(
        &self,
        operations: &ApiOperations,
        catalogue: &Catalogue,
    ) -> HashSet<ActionId> {
        let mut performed: HashSet<ActionId> = self
            .named_actions()
            .filter_map(|action| catalogue.lookup_full(action))
            .collect();
        for prefix in operations.prefixes() {
            let hosts = self.hosts_of(prefix);
            for &name in operations.operations(prefix) {
                for host in &hosts {
                    if let Mapping::Actions(ids) = self.map_event(catalogue, host, name) {
                        performed.extend(ids);
                    }
                }
                performed.extend(
                    [Some(name), strip_api_date_suffix(name)]
                        .into_iter()
                        .flatten()
                        .filter_map(|name| catalogue.lookup(prefix, name)),
                );
            }
        }
        performed
    }

    /// The actions of the prefixes with an SDK model that no operation performs (see
    /// [`MappingTable::actions_performed`]): permission-only or console-only actions.
    pub fn actions_no_operation_performs(
        &self,
        operations: &ApiOperations,
        catalogue: &Catalogue,
    ) -> Vec<ActionId> {
        let performed = self.actions_performed(operations, catalogue);
        operations
            .prefixes()
            .into_iter()
            .flat_map(|prefix| catalogue.service_action_ids(prefix))
            .filter(|id| !performed.contains(id))
            .collect()
    }

    /// The operations the mapping has no answer for, as (IAM prefix, operation), sorted: neither an
    /// action nor a class.
    pub fn operations_without_answer<'a>(
        &self,
        operations: &'a ApiOperations,
        catalogue: &Catalogue,
    ) -> Vec<(&'a str, &'static str)> {
        operations
            .prefixes()
            .into_iter()
            .flat_map(|prefix| {
                operations
                    .operations(prefix)
                    .iter()
                    .map(move |&name| (prefix, name))
            })
            .filter(|(prefix, name)| {
                self.map_operation(catalogue, prefix, name) == Mapping::Unmapped
            })
            .collect()
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

/// The facts about what CloudTrail does not record: the hand-checked ones, and the actions that no
/// operation of the embedded SDK models performs ([`MappingTable::actions_no_operation_performs`]).
pub fn recorded_facts() -> &'static RecordedFacts {
    &RECORDED_FACTS
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
        if !is_name(service) || !is_name(name) {
            return Err(invalid());
        }
    }
    Ok(actions)
}

/// An IAM prefix, action or operation name: ASCII letters, digits, `-`, `_` and `.`.
pub(crate) fn is_name(part: &str) -> bool {
    !part.is_empty()
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
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
    use crate::iam::recorded::{Recorded, RecordingConfig};

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
            ("ImportRestApi", "apigateway:post"),
            ("FlushStageCache", "apigateway:delete"),
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
            (
                "sso-oauth.amazonaws.com",
                "CreateToken",
                NoPermissionReason::Unsigned,
            ),
            (
                "cloudshell.amazonaws.com",
                "sendHeartBeat",
                NoPermissionReason::ConsoleInternal,
            ),
            (
                "billingconsole.amazonaws.com",
                "SetContactAddress",
                NoPermissionReason::ConsoleInternal,
            ),
            (
                "ec2.amazonaws.com",
                "GetCapacityReservationAccountAttribute",
                NoPermissionReason::ConsoleInternal,
            ),
            (
                "glue.amazonaws.com",
                "GetGlossary",
                NoPermissionReason::NotInCatalogue,
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
            let actions = match rule {
                EventRule::Actions(actions) => actions,
                EventRule::NoPermission(
                    NoPermissionReason::ConsoleInternal | NoPermissionReason::NotInCatalogue,
                ) => {
                    // A class that says no action is documented must not hide one the rules find.
                    assert_eq!(
                        table.general_rules(catalogue, source, name),
                        Mapping::Unmapped,
                        "{source} {name}: the catalogue has an action for it"
                    );
                    continue;
                }
                EventRule::NoPermission(_) => continue,
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
            (
                "no-permission\ta.amazonaws.com\tX\tunsigned\t\n",
                MappingTableError::MissingSource { line: 1 },
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

    #[test]
    fn console_calls_have_an_answer() {
        let cases: [(&str, &str, &str); 9] = [
            (
                "billingconsole.amazonaws.com",
                "GetBillingNotifications",
                "billing:getbillingnotifications",
            ),
            (
                "cloudshell.amazonaws.com",
                "DeleteSession",
                "no-permission console-internal",
            ),
            (
                "cloudshell.amazonaws.com",
                "GetLayout",
                "no-permission console-internal",
            ),
            (
                "cloudshell.amazonaws.com",
                "RedeemCode",
                "no-permission console-internal",
            ),
            (
                "cloudshell.amazonaws.com",
                "UpdateLayout",
                "no-permission console-internal",
            ),
            (
                "discovery-marketplace.amazonaws.com",
                "SearchListings",
                "aws-marketplace:searchlistings",
            ),
            (
                "discovery-marketplace.amazonaws.com",
                "GetSearchFacets",
                "no-permission console-internal",
            ),
            (
                "ec2.amazonaws.com",
                "GetCapacityReservationAccountAttribute",
                "no-permission console-internal",
            ),
            (
                "cloudshell.amazonaws.com",
                "createSession",
                "cloudshell:createsession",
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
    fn class_entries_fit_what_the_sdk_models_say() {
        let table = MappingTable::embedded();
        let operations = ApiOperations::embedded();
        let is_operation = |host: &str, name: &str| {
            let prefix = table.service_prefix(host).unwrap_or_default();
            operations
                .operations(&prefix)
                .iter()
                .any(|operation| operation.eq_ignore_ascii_case(name))
        };
        let mut checked = 0;
        for ((source, name), rule) in &table.events {
            match rule {
                EventRule::NoPermission(NoPermissionReason::NotInCatalogue) => {
                    checked += 1;
                    assert!(
                        is_operation(source, name),
                        "{source} {name}: not-in-catalogue is for SDK operations"
                    );
                }
                EventRule::NoPermission(NoPermissionReason::ConsoleInternal) => {
                    checked += 1;
                    assert!(
                        !is_operation(source, name),
                        "{source} {name}: an SDK operation is no console-internal call"
                    );
                }
                _ => {}
            }
        }
        assert!(checked > 100, "only {checked} class entries checked");
    }

    /// The share of the SDK operations that map to an action or to a class, over the whole list.
    const REQUIRED_OPERATION_SHARE: f64 = 0.995;

    #[test]
    fn every_sdk_operation_has_an_answer() {
        let operations = ApiOperations::embedded();
        let without = MappingTable::embedded().operations_without_answer(operations, embedded());
        let total = operations.operation_count();
        assert!(total > 15_000, "only {total} operations");
        let share = 1.0 - without.len() as f64 / total as f64;
        let listed: Vec<String> = without
            .iter()
            .map(|(prefix, name)| format!("{prefix} {name}"))
            .collect();
        println!(
            "operations with an answer: {} of {total} ({:.2}%)",
            total - without.len(),
            share * 100.0
        );
        assert!(
            share >= REQUIRED_OPERATION_SHARE,
            "only {:.2}% of {total} operations have an answer (need {:.1}%); without one:\n{}",
            share * 100.0,
            REQUIRED_OPERATION_SHARE * 100.0,
            listed.join("\n")
        );
    }

    #[test]
    fn operations_without_answer_are_those_neither_rule_nor_entry_knows() {
        let catalogue = Catalogue::from_tsv(
            "svc\tCreateThing\tWrite\nsvc\tRenamed\tRead\ncloudwatch\tDescribeAlarms\tRead\n",
        )
        .unwrap();
        let table = MappingTable::from_tsv(
            "service\tmonitoring.amazonaws.com\t*\tcloudwatch\thost\n\
             actions\tsvc.amazonaws.com\tGetRenamedThing\tsvc:Renamed\tdocs\n\
             no-permission\tsvc.amazonaws.com\tNewThing\tnot-in-catalogue\tdocs\n\
             no-permission\tmonitoring.amazonaws.com\tPeek\tnot-in-catalogue\tdocs\n",
        )
        .unwrap();
        let operations = ApiOperations::from_tsv(
            "# source: test models\n\
             svc\tCreateThing\nsvc\tCreateThing20150331\nsvc\tGetRenamedThing\nsvc\tNewThing\n\
             svc\tOtherThing\ncloudwatch\tDescribeAlarms\ncloudwatch\tPeek\ncloudwatch\tPoke\n",
        )
        .unwrap();
        assert_eq!(operations.operation_count(), 8);
        assert_eq!(
            table.operations_without_answer(&operations, &catalogue),
            [("cloudwatch", "Poke"), ("svc", "OtherThing")]
        );
    }

    fn recorded_by_name(action: &str, config: &RecordingConfig) -> Recorded {
        let catalogue = embedded();
        let id = catalogue
            .lookup_full(action)
            .unwrap_or_else(|| panic!("{action} not in catalogue"));
        recorded_facts().recorded(catalogue, id, config)
    }

    fn kind_of(outcome: Recorded) -> &'static str {
        match outcome {
            Recorded::Yes => "recorded",
            Recorded::No(reason) => reason.kind(),
        }
    }

    #[test]
    fn actions_no_api_operation_performs_are_not_recorded() {
        let management = RecordingConfig::default();
        let everything: RecordingConfig = "*".parse().unwrap();
        const YES: &str = "recorded";
        const NONE: &str = "no-api-operation";
        // (action, kind with a management-events trail, kind with every data event logged)
        let cases = [
            // Hand-checked facts win; the SDK models agree that no operation performs these.
            ("iam:PassRole", "permission-only", "permission-only"),
            ("s3:GetObjectVersion", "permission-only", "permission-only"),
            // Data events: an operation (or a mapping entry, Invoke) performs them.
            ("lambda:InvokeFunction", "data-event", YES),
            ("s3:ListBucket", "data-event", YES),
            ("cloudwatch:GetMetricData", "data-event", YES),
            // Logging data events does not help when no operation performs the action.
            ("lambda:InvokeFunctionUrl", "data-event", NONE),
            // Operations of the same name, mapping entries, date suffixes, API Gateway verbs.
            ("s3:CreateBucket", YES, YES),
            ("cloudwatch:DescribeAlarms", YES, YES),
            ("s3:ListAllMyBuckets", YES, YES),
            ("s3:GetLifecycleConfiguration", YES, YES),
            ("kms:ReEncryptFrom", YES, YES),
            ("cloudfront:ListDistributions", YES, YES),
            ("apigateway:GET", YES, YES),
            ("iot:Publish", YES, YES),
            // CloudTrail event names that are no SDK operation's name.
            ("s3:GetBucketPublicAccessBlock", YES, YES),
            ("codecommit:GitPush", YES, YES),
            ("ssm:UpdateInstanceInformation", YES, YES),
            // Permission-only: checked inside other calls or used by the service itself.
            ("kms:SynchronizeMultiRegionKey", NONE, NONE),
            ("dynamodb:CreateTableReplica", NONE, NONE),
            ("sts:GetServiceBearerToken", NONE, NONE),
            ("lambda:EnableReplication", NONE, NONE),
            // Console-only.
            ("iam:ListSTSRegionalEndpointsStatus", NONE, NONE),
            ("dynamodb:PurchaseReservedCapacityOfferings", NONE, NONE),
            // Hand-checked service-wide fact wins over the SDK model.
            (
                "execute-api:Invoke",
                "service-not-integrated",
                "service-not-integrated",
            ),
            // No SDK model for the prefix: nothing is derived.
            ("ssmmessages:CreateControlChannel", YES, YES),
        ];
        for (action, by_default, with_data_events) in cases {
            assert_eq!(
                kind_of(recorded_by_name(action, &management)),
                by_default,
                "{action}"
            );
            assert_eq!(
                kind_of(recorded_by_name(action, &everything)),
                with_data_events,
                "{action} with every data event logged"
            );
        }
    }

    #[test]
    fn no_api_operation_reasons_name_botocore_and_its_version() {
        let operations = ApiOperations::from_tsv(API_OPERATIONS_TSV).unwrap();
        let version = API_OPERATIONS_TSV
            .lines()
            .find_map(|line| line.split("botocore==").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .expect("header names the botocore version");
        let Recorded::No(reason) =
            recorded_by_name("kms:SynchronizeMultiRegionKey", &RecordingConfig::default())
        else {
            panic!("kms:SynchronizeMultiRegionKey should not be recorded");
        };
        assert_eq!(reason.kind(), "no-api-operation");
        assert_eq!(reason.source(), operations.source());
        assert!(
            reason.source().starts_with(&format!(
                "no API operation performs it (botocore {version} "
            )),
            "{reason}"
        );
        assert!(reason.source().contains("permission-only or console-only"));
    }

    #[test]
    fn embedded_api_operations_cover_real_prefixes() {
        let operations = ApiOperations::from_tsv(API_OPERATIONS_TSV).unwrap();
        let catalogue = Catalogue::embedded();
        let prefixes = operations.prefixes();
        assert!(prefixes.len() > 300, "only {} prefixes", prefixes.len());
        for prefix in &prefixes {
            assert!(catalogue.has_service(prefix), "{prefix} not in catalogue");
        }
        for prefix in [
            "s3",
            "ec2",
            "iam",
            "lambda",
            "cloudwatch",
            "kms",
            "sts",
            "dynamodb",
        ] {
            assert!(operations.has_prefix(prefix), "{prefix} has no SDK model");
        }
        assert!(operations.operations("EC2").contains(&"DescribeInstances"));
        assert!(!operations.has_prefix("execute-api"));
        let facts = recorded_facts();
        let marked = catalogue
            .ids()
            .filter(|&id| facts.no_api_operation(catalogue, id).is_some())
            .count();
        // A guard against a broken regeneration: a wrong prefix assignment marks whole services.
        assert!(
            (1_000..3_000).contains(&marked),
            "{marked} actions marked as performed by no API operation"
        );
    }

    /// Every action ctidx's event mapping can emit for an SDK operation or a table entry must count as
    /// performed; otherwise a used action would also be called one that no call performs.
    #[test]
    fn malformed_api_operation_lines_are_typed_errors() {
        let cases = [
            ("svc\tGet\n", ApiOperationsError::MissingSource),
            ("# source:\nsvc\tGet\n", ApiOperationsError::MissingSource),
            (
                "# source: a\n# source: b\n",
                ApiOperationsError::DuplicateSource { line: 2 },
            ),
            (
                "# source: a\nsvc\n",
                ApiOperationsError::WrongFieldCount { line: 2, found: 1 },
            ),
            (
                "# source: a\nsvc\tGet\tnote\textra\n",
                ApiOperationsError::WrongFieldCount { line: 2, found: 4 },
            ),
            (
                "# source: a\nsvc\tGet Thing\n",
                ApiOperationsError::InvalidName {
                    line: 2,
                    what: "operation name",
                    value: "Get Thing".into(),
                },
            ),
            (
                "# source: a\n\tGet\n",
                ApiOperationsError::InvalidName {
                    line: 2,
                    what: "IAM prefix",
                    value: String::new(),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                ApiOperations::from_tsv(text).unwrap_err(),
                expected,
                "{text:?}"
            );
        }
        let parsed =
            ApiOperations::from_tsv("# source: here\r\n\r\nSVC\tGet\r\nsvc\tPut\tnote\r\n")
                .unwrap();
        assert_eq!(parsed.source(), "here");
        assert_eq!(parsed.operations("svc"), ["Get", "Put"]);
        assert!(parsed.operations("none").is_empty());
    }

    /// Every action the mapping can emit for an SDK operation or a table entry must count as performed;
    /// otherwise a used action would also be called one that no call performs.
    #[test]
    fn every_action_the_mapping_emits_is_performed() {
        let catalogue = embedded();
        let table = MappingTable::embedded();
        let facts = recorded_facts();
        let operations = ApiOperations::embedded();
        let mut checked = 0usize;
        let mut check = |id: ActionId, how: &str| {
            checked += 1;
            assert_eq!(
                facts.no_api_operation(catalogue, id),
                None,
                "{} is emitted for {how}",
                catalogue.display(id)
            );
        };
        for action in table.named_actions() {
            let id = catalogue
                .lookup_full(action)
                .unwrap_or_else(|| panic!("{action} not in catalogue"));
            check(id, "a data/event-mapping.tsv entry");
        }
        for prefix in operations.prefixes() {
            for host in table.hosts_of(prefix) {
                for name in operations.operations(prefix) {
                    if let Mapping::Actions(ids) = table.map_event(catalogue, &host, name) {
                        for id in ids {
                            check(id, &format!("{host} {name}"));
                        }
                    }
                }
            }
        }
        assert!(checked > 15_000, "only {checked} mapped actions checked");
    }

    #[test]
    fn actions_no_operation_performs_follow_operations_and_mapping() {
        let catalogue = Catalogue::from_tsv(
            "svc\tCreateThing\tWrite\n\
             svc\tListThings\tList\n\
             svc\tViewThing\tRead\n\
             svc\tPassThing\tWrite\n\
             svc\tRenamed\tRead\n\
             svc\tNamedElsewhere\tRead\n\
             apigateway\tGET\tRead\n\
             apigateway\tSetWebACL\tWrite\n\
             other\tAnything\tRead\n",
        )
        .unwrap();
        let table = MappingTable::from_tsv(
            "service\tsvc-api.amazonaws.com\t*\tsvc\tendpoint host\n\
             actions\tsvc-api.amazonaws.com\tGetRenamedThing\tsvc:Renamed\tanother name\n\
             actions\tconsole.amazonaws.com\tPeek\tsvc:NamedElsewhere\tconsole call\n",
        )
        .unwrap();
        let operations = ApiOperations::from_tsv(
            "# source: test models\n\
             svc\tCreateThing\n\
             svc\tListThings20150331\n\
             svc\tGetRenamedThing\n\
             apigateway\tGetRestApis\tnote\n",
        )
        .unwrap();
        let mut without: Vec<String> = table
            .actions_no_operation_performs(&operations, &catalogue)
            .into_iter()
            .map(|id| catalogue.display(id))
            .collect();
        without.sort();
        // other:Anything has no SDK model, so nothing is said of it.
        assert_eq!(
            without,
            ["apigateway:setwebacl", "svc:passthing", "svc:viewthing"]
        );
    }

    mod real_data {
        use super::super::*;
        use std::collections::BTreeMap;
        use std::path::Path;

        const REQUIRED_SHARE: f64 = 0.995;

        /// Needs CTIDX_REALDATA_DIR: a folder with a `cloudtrail` subfolder.
        #[test]
        #[ignore = "needs CTIDX_REALDATA_DIR"]
        fn real_cloudtrail_records_map_to_actions_or_a_no_permission_class() {
            let root = std::env::var_os("CTIDX_REALDATA_DIR")
                .expect("CTIDX_REALDATA_DIR must name the folder of real public data");
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

        /// Every action mapped from a real CloudTrail record was evidently performed by a call, so none
        /// may be marked as performed by no API operation. Needs CTIDX_REALDATA_DIR: a folder with a
        /// `cloudtrail` subfolder.
        #[test]
        #[ignore = "needs CTIDX_REALDATA_DIR"]
        fn actions_seen_in_real_records_have_an_operation() {
            let root = std::env::var_os("CTIDX_REALDATA_DIR")
                .expect("CTIDX_REALDATA_DIR must name the folder of real public data");
            let catalogue = Catalogue::embedded();
            let facts = recorded_facts();
            let mut seen = 0usize;
            let mut wrong = std::collections::BTreeSet::new();
            for record in real_cloudtrail_records(Path::new(&root)) {
                let field = |key: &str| record.get(key).and_then(|v| v.as_str());
                let Mapping::Actions(ids) = map_record(
                    catalogue,
                    field("eventType"),
                    field("eventSource").unwrap_or_default(),
                    field("eventName").unwrap_or_default(),
                ) else {
                    continue;
                };
                for id in ids {
                    seen += 1;
                    if facts.no_api_operation(catalogue, id).is_some() {
                        wrong.insert(catalogue.display(id));
                    }
                }
            }
            println!("mapped actions checked: {seen}");
            assert!(
                seen > 0,
                "no mapped CloudTrail records under the real data folder"
            );
            assert!(
                wrong.is_empty(),
                "seen in CloudTrail but marked as performed by no API operation: {wrong:?}"
            );
        }
    }
}
