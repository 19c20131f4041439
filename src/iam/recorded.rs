//! Whether CloudTrail records the use of an IAM action at all: the `?` lines of the diff.
//!
//! Two sources of facts, each fact carrying where it comes from:
//! - `data/cloudtrail-not-recorded.tsv`, hand-checked facts per action or per service prefix;
//! - `data/api-operations.tsv`, every API operation of the AWS SDK service models by IAM prefix (generated
//!   by `data/gen_api_operations.py`). An action of a prefix listed there that no operation performs, and
//!   that no event of `data/event-mapping.tsv` maps to, is one no call names: permission-only or
//!   console-only. Prefixes without an SDK model get no such fact.
//!
//! A hand-checked fact for the action wins, then one for its whole service, then the SDK-model fact. An
//! action without a fact is taken as recorded. [`RecordingConfig`] says which data events the user's
//! trail logs; those data-event actions then count as recorded, unless no API operation performs them.
//! Permission-only actions and services that do not deliver to CloudTrail stay unrecorded whatever the
//! trail logs.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use thiserror::Error;

use crate::iam::catalogue::{ActionId, Catalogue};
use crate::mapping::{Mapping, MappingTable, strip_api_date_suffix};

const EMBEDDED_TSV: &str = include_str!("../../data/cloudtrail-not-recorded.tsv");
const API_OPERATIONS_TSV: &str = include_str!("../../data/api-operations.tsv");
const EVENT_MAPPING_TSV: &str = include_str!("../../data/event-mapping.tsv");

static EMBEDDED: LazyLock<RecordedFacts> = LazyLock::new(|| {
    // The embedded files are checked by unit tests; failing here means the build shipped a broken file.
    let operations = ApiOperations::from_tsv(API_OPERATIONS_TSV)
        .expect("embedded data/api-operations.tsv must parse");
    RecordedFacts::from_tsv(EMBEDDED_TSV)
        .expect("embedded data/cloudtrail-not-recorded.tsv must parse")
        .with_api_operations(
            &operations,
            Catalogue::embedded(),
            MappingTable::embedded(),
            EVENT_MAPPING_TSV,
        )
});

/// Why CloudTrail does not show an action's use; `source` names where the fact comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotRecordedReason {
    /// Checked inside another call, so no event carries the action's name.
    PermissionOnly { source: &'static str },
    /// Logged only by trails that select data events for this resource type.
    DataEvent { source: &'static str },
    /// The service does not deliver these calls to CloudTrail.
    ServiceNotIntegrated { source: &'static str },
    /// The service has an SDK model, but none of its operations performs the action and no event maps to
    /// it: permission-only or console-only. Logging data events does not change this.
    NoApiOperation { source: &'static str },
}

impl NotRecordedReason {
    pub fn source(&self) -> &'static str {
        match self {
            NotRecordedReason::PermissionOnly { source }
            | NotRecordedReason::DataEvent { source }
            | NotRecordedReason::ServiceNotIntegrated { source }
            | NotRecordedReason::NoApiOperation { source } => source,
        }
    }

    /// The spelling used in the data file (`no-api-operation` is derived, never written there).
    pub fn kind(&self) -> &'static str {
        match self {
            NotRecordedReason::PermissionOnly { .. } => "permission-only",
            NotRecordedReason::DataEvent { .. } => "data-event",
            NotRecordedReason::ServiceNotIntegrated { .. } => "service-not-integrated",
            NotRecordedReason::NoApiOperation { .. } => "no-api-operation",
        }
    }

    fn from_kind(kind: &str, source: &'static str) -> Option<NotRecordedReason> {
        match kind {
            "permission-only" => Some(NotRecordedReason::PermissionOnly { source }),
            "data-event" => Some(NotRecordedReason::DataEvent { source }),
            "service-not-integrated" => Some(NotRecordedReason::ServiceNotIntegrated { source }),
            _ => None,
        }
    }
}

impl fmt::Display for NotRecordedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.kind(), self.source())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recorded {
    Yes,
    No(NotRecordedReason),
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordedFactsError {
    #[error("line {line}: expected 3 tab-separated fields (action, kind, source), found {found}")]
    WrongFieldCount { line: usize, found: usize },
    #[error("line {line}: {value:?} is not service:Action or service:*")]
    InvalidAction { line: usize, value: String },
    #[error(
        "line {line}: unknown kind {value:?} (expected permission-only, data-event or service-not-integrated)"
    )]
    UnknownKind { line: usize, value: String },
    #[error("line {line}: the source is empty")]
    MissingSource { line: usize },
    #[error("line {line}: {action} is listed twice")]
    Duplicate { line: usize, action: String },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ApiOperationsError {
    #[error(
        "line {line}: expected 2 or 3 tab-separated fields (IAM prefix, operation, note), found {found}"
    )]
    WrongFieldCount { line: usize, found: usize },
    #[error("line {line}: invalid {what} {value:?}")]
    InvalidName {
        line: usize,
        what: &'static str,
        value: String,
    },
    #[error("line {line}: a second \"# source:\" line")]
    DuplicateSource { line: usize },
    #[error("no \"# source:\" line naming where the operations come from")]
    MissingSource,
}

/// The API operations of the AWS SDK service models, by IAM prefix: `data/api-operations.tsv`.
#[derive(Debug)]
pub struct ApiOperations {
    /// The text of the `# source:` comment line, used as the reason's source.
    source: &'static str,
    /// Key: lower-case IAM prefix. Names as the models spell them.
    operations: HashMap<String, Vec<&'static str>>,
}

impl ApiOperations {
    /// Parses `prefix<TAB>Operation[<TAB>note]` lines. Exactly one comment line must start with
    /// `# source:`; its text becomes the source of every fact derived from the file. Other `#` lines and
    /// blank lines are skipped.
    pub fn from_tsv(text: &'static str) -> Result<ApiOperations, ApiOperationsError> {
        let mut source = None;
        let mut operations: HashMap<String, Vec<&'static str>> = HashMap::new();
        for (index, raw_line) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw_line.trim_end_matches('\r');
            if let Some(comment) = trimmed.strip_prefix('#') {
                if let Some(text) = comment.trim_start().strip_prefix("source:")
                    && source.replace(text.trim()).is_some()
                {
                    return Err(ApiOperationsError::DuplicateSource { line });
                }
                continue;
            }
            if trimmed.trim().is_empty() {
                continue;
            }
            let fields: Vec<&'static str> = trimmed.split('\t').map(str::trim).collect();
            let (prefix, name) = match fields[..] {
                [prefix, name] | [prefix, name, _] => (prefix, name),
                _ => {
                    return Err(ApiOperationsError::WrongFieldCount {
                        line,
                        found: fields.len(),
                    });
                }
            };
            for (what, value) in [("IAM prefix", prefix), ("operation name", name)] {
                if !is_identifier(value) {
                    return Err(ApiOperationsError::InvalidName {
                        line,
                        what,
                        value: value.to_string(),
                    });
                }
            }
            operations
                .entry(prefix.to_ascii_lowercase())
                .or_default()
                .push(name);
        }
        let source = source
            .filter(|text| !text.is_empty())
            .ok_or(ApiOperationsError::MissingSource)?;
        Ok(ApiOperations { source, operations })
    }

    /// The source line's text, e.g. `no API operation performs it (botocore 1.44.5 service models): ...`.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Whether some SDK model is assigned to the IAM prefix (any case).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.operations.contains_key(&prefix.to_ascii_lowercase())
    }

    /// The operations of one IAM prefix (any case); empty when no model is assigned to it.
    pub fn operations(&self, prefix: &str) -> &[&'static str] {
        self.operations
            .get(&prefix.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// All prefixes with a model, sorted.
    pub fn prefixes(&self) -> Vec<&str> {
        let mut prefixes: Vec<&str> = self.operations.keys().map(String::as_str).collect();
        prefixes.sort_unstable();
        prefixes
    }
}

/// Per-action facts about what CloudTrail does not record.
#[derive(Debug, Default)]
pub struct RecordedFacts {
    /// Key: lower-case `service:action`.
    actions: HashMap<String, NotRecordedReason>,
    /// Key: lower-case service prefix, for `service:*` entries.
    services: HashMap<String, NotRecordedReason>,
    /// Key: lower-case `service:action`; actions that no API operation performs.
    without_operation: HashMap<String, NotRecordedReason>,
}

impl RecordedFacts {
    pub fn embedded() -> &'static RecordedFacts {
        &EMBEDDED
    }

    /// Parses `service:Action<TAB>kind<TAB>source` lines; `#` lines and blank lines are skipped. The text
    /// is `'static` because the reasons borrow their sources from it.
    pub fn from_tsv(text: &'static str) -> Result<RecordedFacts, RecordedFactsError> {
        let mut facts = RecordedFacts::default();
        for (index, raw_line) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw_line.trim_end_matches('\r');
            if trimmed.trim().is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fields: Vec<&'static str> = trimmed.split('\t').map(str::trim).collect();
            let [action, kind, source] = fields[..] else {
                return Err(RecordedFactsError::WrongFieldCount {
                    line,
                    found: fields.len(),
                });
            };
            if source.is_empty() {
                return Err(RecordedFactsError::MissingSource { line });
            }
            let reason = NotRecordedReason::from_kind(kind, source).ok_or_else(|| {
                RecordedFactsError::UnknownKind {
                    line,
                    value: kind.to_string(),
                }
            })?;
            let invalid = || RecordedFactsError::InvalidAction {
                line,
                value: action.to_string(),
            };
            let (service, name) = action.split_once(':').ok_or_else(invalid)?;
            if !is_identifier(service) || !(name == "*" || is_identifier(name)) {
                return Err(invalid());
            }
            let (map, key) = if name == "*" {
                (&mut facts.services, service.to_ascii_lowercase())
            } else {
                (&mut facts.actions, action.to_ascii_lowercase())
            };
            if map.insert(key, reason).is_some() {
                return Err(RecordedFactsError::Duplicate {
                    line,
                    action: action.to_string(),
                });
            }
        }
        Ok(facts)
    }

    /// Adds a [`NotRecordedReason::NoApiOperation`] fact for every action of `catalogue` whose prefix
    /// has operations in `operations` but that none of them performs. An operation performs the actions
    /// that `mapping` maps its name to for the host `<prefix>.amazonaws.com` (the same name without
    /// regard to case, a trailing API date removed, the table's exceptions, API Gateway's verbs) and the
    /// action of the same name under the prefix itself. Every action named in an `actions` row of
    /// `mapping_tsv` (the text `mapping` was parsed from) counts as performed too, whatever its host.
    pub fn with_api_operations(
        mut self,
        operations: &ApiOperations,
        catalogue: &Catalogue,
        mapping: &MappingTable,
        mapping_tsv: &str,
    ) -> RecordedFacts {
        let mut performed: HashSet<ActionId> = actions_named_in_mapping(mapping_tsv)
            .filter_map(|action| catalogue.lookup_full(action))
            .collect();
        for (prefix, names) in &operations.operations {
            let host = format!("{prefix}.amazonaws.com");
            for name in names {
                if let Mapping::Actions(ids) = mapping.map_event(catalogue, &host, name) {
                    performed.extend(ids);
                }
                let undated = strip_api_date_suffix(name);
                performed.extend(
                    [Some(*name), undated]
                        .into_iter()
                        .flatten()
                        .filter_map(|name| catalogue.lookup(prefix, name)),
                );
            }
        }
        let reason = NotRecordedReason::NoApiOperation {
            source: operations.source,
        };
        for prefix in operations.operations.keys() {
            for id in catalogue.service_action_ids(prefix) {
                if !performed.contains(&id) {
                    self.without_operation.insert(catalogue.display(id), reason);
                }
            }
        }
        self
    }

    /// The hand-checked fact for one action, or for its service, ignoring the SDK models and the trail's
    /// configuration.
    fn listed_fact(&self, catalogue: &Catalogue, action: ActionId) -> Option<NotRecordedReason> {
        let info = catalogue.get(action);
        self.actions
            .get(&catalogue.display(action))
            .or_else(|| self.services.get(&info.service))
            .copied()
    }

    /// The [`NotRecordedReason::NoApiOperation`] fact for one action, if no API operation performs it.
    pub fn no_api_operation(
        &self,
        catalogue: &Catalogue,
        action: ActionId,
    ) -> Option<NotRecordedReason> {
        self.without_operation
            .get(&catalogue.display(action))
            .copied()
    }

    /// The fact for one action, ignoring the trail's configuration: a hand-checked one if there is one,
    /// else the SDK-model one.
    pub fn fact(&self, catalogue: &Catalogue, action: ActionId) -> Option<NotRecordedReason> {
        self.listed_fact(catalogue, action)
            .or_else(|| self.no_api_operation(catalogue, action))
    }

    pub fn recorded(
        &self,
        catalogue: &Catalogue,
        action: ActionId,
        config: &RecordingConfig,
    ) -> Recorded {
        match self.fact(catalogue, action) {
            None => Recorded::Yes,
            Some(NotRecordedReason::DataEvent { .. })
                if config.logs(&catalogue.display(action)) =>
            {
                // A logged data event still carries an operation's name, never this action's, when no
                // operation performs it.
                self.no_api_operation(catalogue, action)
                    .map_or(Recorded::Yes, Recorded::No)
            }
            Some(reason) => Recorded::No(reason),
        }
    }
}

/// Whether CloudTrail records `action`, given which data events the trail logs, from the embedded facts.
pub fn recorded(catalogue: &Catalogue, action: ActionId, config: &RecordingConfig) -> Recorded {
    RecordedFacts::embedded().recorded(catalogue, action, config)
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordingConfigError {
    #[error("data event pattern {0:?} must look like service:Action, with * and ? as wildcards")]
    InvalidPattern(String),
}

/// Which data events the user's trail logs, as IAM action patterns such as `s3:GetObject`, `s3:*Object*`,
/// `dynamodb:*` or `*`. Default: none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingConfig {
    /// Lower-case (service glob, action glob) pairs.
    data_event_patterns: Vec<(String, String)>,
}

impl RecordingConfig {
    /// A trail that logs no data events (the CloudTrail default).
    pub fn management_events_only() -> RecordingConfig {
        RecordingConfig::default()
    }

    /// Parses patterns, each `service:action` with `*`/`?` wildcards, or a lone `*` for every data event.
    pub fn from_patterns<I, S>(patterns: I) -> Result<RecordingConfig, RecordingConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut data_event_patterns = Vec::new();
        for pattern in patterns {
            let pattern = pattern.as_ref().trim();
            let invalid = || RecordingConfigError::InvalidPattern(pattern.to_string());
            let (service, action) = if pattern == "*" {
                ("*", "*")
            } else {
                pattern.split_once(':').ok_or_else(invalid)?
            };
            let well_formed = |part: &str| {
                !part.is_empty()
                    && part.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '*' | '?')
                    })
            };
            if !well_formed(service) || !well_formed(action) {
                return Err(invalid());
            }
            data_event_patterns.push((service.to_ascii_lowercase(), action.to_ascii_lowercase()));
        }
        Ok(RecordingConfig {
            data_event_patterns,
        })
    }

    /// Whether the trail logs the data events of `action` (`service:Action`, any case).
    pub fn logs(&self, action: &str) -> bool {
        let Some((service, name)) = action.split_once(':') else {
            return false;
        };
        let service = service.to_ascii_lowercase();
        let name = name.to_ascii_lowercase();
        self.data_event_patterns
            .iter()
            .any(|(service_glob, action_glob)| {
                glob_matches(service_glob.as_bytes(), service.as_bytes())
                    && glob_matches(action_glob.as_bytes(), name.as_bytes())
            })
    }
}

impl FromStr for RecordingConfig {
    type Err = RecordingConfigError;

    /// Comma- or whitespace-separated patterns; an empty string is a trail without data events.
    fn from_str(text: &str) -> Result<RecordingConfig, RecordingConfigError> {
        RecordingConfig::from_patterns(
            text.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|part| !part.is_empty()),
        )
    }
}

/// `*` matches any run of characters, `?` exactly one; everything else matches itself.
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    p = star + 1;
                    t = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The actions of the `actions` rows of `data/event-mapping.tsv` text (fourth field, comma-separated).
/// Malformed lines are skipped here: the mapping module's own parser rejects them.
fn actions_named_in_mapping(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split('\t').map(str::trim);
            (fields.next() == Some("actions"))
                .then(|| fields.nth(2))
                .flatten()
        })
        .flat_map(|actions| actions.split(',').map(str::trim))
}

fn is_identifier(part: &str) -> bool {
    !part.is_empty()
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded_by_name(action: &str, config: &RecordingConfig) -> Recorded {
        let catalogue = Catalogue::embedded();
        let id = catalogue
            .lookup_full(action)
            .unwrap_or_else(|| panic!("{action} not in catalogue"));
        recorded(catalogue, id, config)
    }

    fn kind_of(outcome: Recorded) -> &'static str {
        match outcome {
            Recorded::Yes => "recorded",
            Recorded::No(reason) => reason.kind(),
        }
    }

    #[test]
    fn defaults_follow_the_facts() {
        let config = RecordingConfig::default();
        let cases = [
            ("cloudwatch:GetMetricData", "data-event"),
            ("cloudwatch:PutMetricData", "data-event"),
            ("cloudwatch:DescribeAlarms", "recorded"),
            ("s3:CreateBucket", "recorded"),
            ("s3:GetObject", "data-event"),
            ("s3:GetBucketPolicy", "recorded"),
            ("lambda:InvokeFunction", "data-event"),
            ("lambda:CreateFunction", "recorded"),
            ("dynamodb:GetItem", "data-event"),
            ("dynamodb:CreateTable", "recorded"),
            ("iam:PassRole", "permission-only"),
            ("iam:CreateRole", "recorded"),
            ("s3:GetObjectVersion", "permission-only"),
            ("execute-api:Invoke", "service-not-integrated"),
            ("kms:Decrypt", "recorded"),
        ];
        for (action, expected) in cases {
            assert_eq!(
                kind_of(recorded_by_name(action, &config)),
                expected,
                "{action}"
            );
        }
    }

    #[test]
    fn declared_data_events_become_recorded_and_nothing_else_does() {
        let s3_objects: RecordingConfig = "s3:*Object*, s3:ListBucket".parse().unwrap();
        let cases = [
            ("s3:GetObject", "recorded"),
            ("s3:PutObjectAcl", "recorded"),
            ("s3:ListBucket", "recorded"),
            ("s3:ListBucketVersions", "data-event"),
            ("s3:GetObjectVersion", "permission-only"),
            ("dynamodb:GetItem", "data-event"),
            ("s3:CreateBucket", "recorded"),
        ];
        for (action, expected) in cases {
            assert_eq!(
                kind_of(recorded_by_name(action, &s3_objects)),
                expected,
                "{action}"
            );
        }
        let everything: RecordingConfig = "*".parse().unwrap();
        let cases = [
            ("s3:GetObject", "recorded"),
            ("cloudwatch:GetMetricData", "recorded"),
            ("iam:PassRole", "permission-only"),
            ("execute-api:Invoke", "service-not-integrated"),
        ];
        for (action, expected) in cases {
            assert_eq!(
                kind_of(recorded_by_name(action, &everything)),
                expected,
                "{action}"
            );
        }
    }

    #[test]
    fn reasons_carry_their_source() {
        let outcome = recorded_by_name("s3:GetObject", &RecordingConfig::default());
        let Recorded::No(reason) = outcome else {
            panic!("s3:GetObject should not be recorded by default");
        };
        assert!(reason.source().contains("S3 object-level"), "{reason}");
        let Recorded::No(reason) = recorded_by_name("iam:PassRole", &RecordingConfig::default())
        else {
            panic!("iam:PassRole should not be recorded");
        };
        assert!(reason.source().contains("[permission only]"), "{reason}");
    }

    #[test]
    fn config_patterns_parse_and_match() {
        let cases = [
            ("s3:GetObject", "s3:getobject", true),
            ("s3:GetObject", "S3:GETOBJECT", true),
            ("s3:GetObject", "s3:GetObjectAcl", false),
            ("s3:*Object*", "s3:PutObjectTagging", true),
            ("s3:*Object*", "s3:ListBucket", false),
            ("s3:Get?bject", "s3:GetObject", true),
            ("*:GetItem", "dynamodb:GetItem", true),
            ("dynamodb:*", "dynamodb:Query", true),
            ("dynamodb:*", "s3:GetObject", false),
            ("*", "sqs:SendMessage", true),
            ("s3:*", "s3", false),
        ];
        for (pattern, action, expected) in cases {
            let config = RecordingConfig::from_patterns([pattern]).unwrap();
            assert_eq!(config.logs(action), expected, "{pattern} vs {action}");
        }
        assert_eq!(
            RecordingConfig::from_str("").unwrap(),
            RecordingConfig::default()
        );
        assert!(!RecordingConfig::default().logs("s3:GetObject"));
        let invalid = [
            "s3",
            "s3:",
            ":GetObject",
            "s3:Get Object",
            "s3:Get/Object",
            "**:",
        ];
        for pattern in invalid {
            assert_eq!(
                RecordingConfig::from_patterns([pattern]),
                Err(RecordingConfigError::InvalidPattern(pattern.to_string())),
                "{pattern}"
            );
        }
    }

    #[test]
    fn glob_matching_edge_cases() {
        let cases = [
            ("", "", true),
            ("*", "", true),
            ("a*", "a", true),
            ("*a", "ba", true),
            ("*a", "ab", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("?", "", false),
            ("??", "ab", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                glob_matches(pattern.as_bytes(), text.as_bytes()),
                expected,
                "{pattern} vs {text}"
            );
        }
    }

    #[test]
    fn exact_entries_win_over_service_wide_ones() {
        let facts = RecordedFacts::from_tsv(
            "svc:*\tservice-not-integrated\twhole service\nsvc:Special\tdata-event\tone action\n",
        )
        .unwrap();
        let catalogue =
            Catalogue::from_tsv("svc\tSpecial\tRead\nsvc\tOther\tRead\nelse\tThing\tRead\n")
                .unwrap();
        let config = RecordingConfig::default();
        let special = catalogue.lookup("svc", "special").unwrap();
        let other = catalogue.lookup("svc", "other").unwrap();
        let thing = catalogue.lookup("else", "thing").unwrap();
        assert_eq!(
            facts.recorded(&catalogue, special, &config),
            Recorded::No(NotRecordedReason::DataEvent {
                source: "one action"
            })
        );
        assert_eq!(
            facts.recorded(&catalogue, other, &config),
            Recorded::No(NotRecordedReason::ServiceNotIntegrated {
                source: "whole service"
            })
        );
        assert_eq!(facts.recorded(&catalogue, thing, &config), Recorded::Yes);
    }

    #[test]
    fn malformed_fact_lines_are_typed_errors() {
        let cases = [
            (
                "s3:GetObject\tdata-event\n",
                RecordedFactsError::WrongFieldCount { line: 1, found: 2 },
            ),
            (
                "s3:GetObject\tdata-event\t\n",
                RecordedFactsError::MissingSource { line: 1 },
            ),
            (
                "s3:GetObject\tsometimes\tx\n",
                RecordedFactsError::UnknownKind {
                    line: 1,
                    value: "sometimes".into(),
                },
            ),
            (
                "s3GetObject\tdata-event\tx\n",
                RecordedFactsError::InvalidAction {
                    line: 1,
                    value: "s3GetObject".into(),
                },
            ),
            (
                "s3:Get*\tdata-event\tx\n",
                RecordedFactsError::InvalidAction {
                    line: 1,
                    value: "s3:Get*".into(),
                },
            ),
            (
                "s3:GetObject\tdata-event\tx\nS3:getobject\tdata-event\ty\n",
                RecordedFactsError::Duplicate {
                    line: 2,
                    action: "S3:getobject".into(),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                RecordedFacts::from_tsv(text).unwrap_err(),
                expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn every_fact_names_a_catalogue_action_or_service() {
        let facts = RecordedFacts::embedded();
        let catalogue = Catalogue::embedded();
        assert!(
            facts.actions.len() > 50,
            "only {} action facts",
            facts.actions.len()
        );
        for action in facts.actions.keys() {
            assert!(
                catalogue.lookup_full(action).is_some(),
                "{action} not in catalogue"
            );
        }
        for service in facts.services.keys() {
            assert!(catalogue.has_service(service), "{service} not in catalogue");
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
        let facts = RecordedFacts::embedded();
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
    fn every_action_the_mapping_emits_is_performed() {
        let catalogue = Catalogue::embedded();
        let table = MappingTable::embedded();
        let facts = RecordedFacts::embedded();
        let operations = ApiOperations::from_tsv(API_OPERATIONS_TSV).unwrap();
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
        for action in actions_named_in_mapping(EVENT_MAPPING_TSV) {
            let id = catalogue
                .lookup_full(action)
                .unwrap_or_else(|| panic!("{action} not in catalogue"));
            check(id, "a data/event-mapping.tsv entry");
        }
        // Hosts: `<prefix>.amazonaws.com` and every host the table assigns to a prefix.
        let mut hosts: Vec<(String, String)> = operations
            .prefixes()
            .into_iter()
            .map(|prefix| (format!("{prefix}.amazonaws.com"), prefix.to_string()))
            .collect();
        for line in EVENT_MAPPING_TSV.lines() {
            let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
            if let ["service", host, "*", prefix, _] = fields[..] {
                hosts.push((host.to_string(), prefix.to_ascii_lowercase()));
            }
        }
        for (host, prefix) in &hosts {
            for name in operations.operations(prefix) {
                if let Mapping::Actions(ids) = table.map_event(catalogue, host, name) {
                    for id in ids {
                        check(id, &format!("{host} {name}"));
                    }
                }
            }
        }
        assert!(checked > 15_000, "only {checked} mapped actions checked");
    }

    #[test]
    fn derived_facts_follow_operations_mapping_and_precedence() {
        let catalogue = Catalogue::from_tsv(
            "svc\tCreateThing\tWrite\n\
             svc\tListThings\tList\n\
             svc\tViewThing\tRead\n\
             svc\tPassThing\tWrite\n\
             svc\tReadThingData\tRead\n\
             svc\tHandChecked\tWrite\n\
             svc\tRenamed\tRead\n\
             apigateway\tGET\tRead\n\
             apigateway\tSetWebACL\tWrite\n\
             other\tAnything\tRead\n",
        )
        .unwrap();
        let mapping_tsv = "service\tsvc-api.amazonaws.com\t*\tsvc\tendpoint host\n\
                           actions\tsvc-api.amazonaws.com\tGetRenamedThing\tsvc:Renamed\tanother name\n";
        let mapping = MappingTable::from_tsv(mapping_tsv).unwrap();
        let operations = ApiOperations::from_tsv(
            "# source: test models\n\
             svc\tCreateThing\n\
             svc\tListThings20150331\n\
             svc\tReadThingData\n\
             svc\tGetRenamedThing\n\
             apigateway\tGetRestApis\tnote\n",
        )
        .unwrap();
        let facts = RecordedFacts::from_tsv(
            "svc:HandChecked\tpermission-only\thand\nsvc:ReadThingData\tdata-event\tlogged as data\n",
        )
        .unwrap()
        .with_api_operations(&operations, &catalogue, &mapping, mapping_tsv);
        let no_operation = NotRecordedReason::NoApiOperation {
            source: "test models",
        };
        let logs_all: RecordingConfig = "*".parse().unwrap();
        let cases = [
            ("svc", "CreateThing", Recorded::Yes, Recorded::Yes),
            ("svc", "ListThings", Recorded::Yes, Recorded::Yes),
            ("svc", "Renamed", Recorded::Yes, Recorded::Yes),
            (
                "svc",
                "ViewThing",
                Recorded::No(no_operation),
                Recorded::No(no_operation),
            ),
            (
                "svc",
                "PassThing",
                Recorded::No(no_operation),
                Recorded::No(no_operation),
            ),
            (
                "svc",
                "ReadThingData",
                Recorded::No(NotRecordedReason::DataEvent {
                    source: "logged as data",
                }),
                Recorded::Yes,
            ),
            (
                "svc",
                "HandChecked",
                Recorded::No(NotRecordedReason::PermissionOnly { source: "hand" }),
                Recorded::No(NotRecordedReason::PermissionOnly { source: "hand" }),
            ),
            ("apigateway", "GET", Recorded::Yes, Recorded::Yes),
            (
                "apigateway",
                "SetWebACL",
                Recorded::No(no_operation),
                Recorded::No(no_operation),
            ),
            ("other", "Anything", Recorded::Yes, Recorded::Yes),
        ];
        for (service, name, by_default, with_data_events) in cases {
            let id = catalogue.lookup(service, name).unwrap();
            assert_eq!(
                facts.recorded(&catalogue, id, &RecordingConfig::default()),
                by_default,
                "{service}:{name}"
            );
            assert_eq!(
                facts.recorded(&catalogue, id, &logs_all),
                with_data_events,
                "{service}:{name} with data events"
            );
        }
        let hand = catalogue.lookup("svc", "HandChecked").unwrap();
        assert_eq!(facts.no_api_operation(&catalogue, hand), Some(no_operation));
    }

    #[test]
    fn a_data_event_without_operation_stays_unrecorded_when_logged() {
        let catalogue = Catalogue::from_tsv("svc\tStream\tRead\nsvc\tGet\tRead\n").unwrap();
        let operations = ApiOperations::from_tsv("# source: models\nsvc\tGet\n").unwrap();
        let facts = RecordedFacts::from_tsv("svc:Stream\tdata-event\tstreamed\n")
            .unwrap()
            .with_api_operations(&operations, &catalogue, &MappingTable::default(), "");
        let id = catalogue.lookup("svc", "Stream").unwrap();
        let config: RecordingConfig = "svc:Stream".parse().unwrap();
        assert_eq!(
            facts.recorded(&catalogue, id, &config),
            Recorded::No(NotRecordedReason::NoApiOperation { source: "models" })
        );
        assert_eq!(
            facts.fact(&catalogue, id),
            Some(NotRecordedReason::DataEvent { source: "streamed" })
        );
    }

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

    mod real_data {
        use super::super::*;
        use crate::mapping::map_record;
        use std::path::Path;

        /// Every action mapped from a real CloudTrail record was evidently performed by a call, so none
        /// may be marked as performed by no API operation. Runs only when CTIDX_REALDATA_DIR points at a
        /// folder with a `cloudtrail` subfolder.
        #[test]
        fn actions_seen_in_real_records_have_an_operation() {
            let Some(root) = std::env::var_os("CTIDX_REALDATA_DIR") else {
                println!("skipped: CTIDX_REALDATA_DIR is not set");
                return;
            };
            let catalogue = Catalogue::embedded();
            let facts = RecordedFacts::embedded();
            let mut seen = 0usize;
            let mut wrong = std::collections::BTreeSet::new();
            for record in crate::mapping::real_cloudtrail_records(Path::new(&root)) {
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
