//! Whether CloudTrail records the use of an IAM action at all: the `?` lines of the diff.
//!
//! Two kinds of fact, each carrying where it comes from:
//! - hand-checked facts per action or per service prefix, `data/cloudtrail-not-recorded.tsv`;
//! - actions that no API operation of the AWS SDK models performs (permission-only or console-only),
//!   which the event mapping derives and adds with [`RecordedFacts::with_no_api_operation`].
//!
//! A hand-checked fact for the action wins, then one for its whole service, then the SDK-model fact. An
//! action without a fact is taken as recorded. [`RecordingConfig`] says which data events the user's
//! trail logs; those data-event actions then count as recorded, unless no API operation performs them.
//! Permission-only actions and services that do not deliver to CloudTrail stay unrecorded whatever the
//! trail logs.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::iam::catalogue::{ActionId, Catalogue};
use crate::iam::pattern::WildcardPattern;

const HAND_CHECKED_TSV: &str = include_str!("../../data/cloudtrail-not-recorded.tsv");

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
    /// The hand-checked facts of `data/cloudtrail-not-recorded.tsv`, embedded in the binary. The facts
    /// derived from the SDK models are added by the event mapping, which knows the operations.
    pub fn hand_checked() -> Result<RecordedFacts, RecordedFactsError> {
        RecordedFacts::from_tsv(HAND_CHECKED_TSV)
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

    /// Adds a [`NotRecordedReason::NoApiOperation`] fact, citing `source`, for each of `actions`: the
    /// actions that no API operation performs.
    pub fn with_no_api_operation(
        mut self,
        actions: impl IntoIterator<Item = ActionId>,
        catalogue: &Catalogue,
        source: &'static str,
    ) -> RecordedFacts {
        let reason = NotRecordedReason::NoApiOperation { source };
        for id in actions {
            self.without_operation.insert(catalogue.display(id), reason);
        }
        self
    }

    /// The hand-checked fact for one action, or for its service, ignoring the SDK models and the trail's
    /// configuration.
    fn listed_fact(&self, catalogue: &Catalogue, action: ActionId) -> Option<NotRecordedReason> {
        let info = catalogue.get(action);
        self.actions
            .get(&*info.key)
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
            .get(&*catalogue.get(action).key)
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
                if config.logs(&catalogue.get(action).key) =>
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

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordingConfigError {
    #[error("data event pattern {0:?} must look like service:Action, with * and ? as wildcards")]
    InvalidPattern(String),
}

/// Which data events the user's trail logs, as IAM action patterns such as `s3:GetObject`, `s3:*Object*`,
/// `dynamodb:*` or `*`. Default: none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingConfig {
    /// (service pattern, action pattern) pairs, both matched without regard to case.
    data_event_patterns: Vec<(WildcardPattern, WildcardPattern)>,
}

impl RecordingConfig {
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
            data_event_patterns.push((
                WildcardPattern::case_insensitive(service),
                WildcardPattern::case_insensitive(action),
            ));
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
        self.data_event_patterns
            .iter()
            .any(|(service_pattern, action_pattern)| {
                service_pattern.matches(service) && action_pattern.matches(name)
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

fn is_identifier(part: &str) -> bool {
    !part.is_empty()
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use super::*;

    static HAND_CHECKED: LazyLock<RecordedFacts> =
        LazyLock::new(|| RecordedFacts::hand_checked().unwrap());

    fn recorded_by_name(action: &str, config: &RecordingConfig) -> Recorded {
        let catalogue = Catalogue::embedded();
        let id = catalogue
            .lookup_full(action)
            .unwrap_or_else(|| panic!("{action} not in catalogue"));
        HAND_CHECKED.recorded(catalogue, id, config)
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
        let facts = &*HAND_CHECKED;
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
    fn hand_checked_facts_win_over_derived_ones_and_logging_does_not_help_without_operation() {
        let catalogue = Catalogue::from_tsv(
            "svc\tHandChecked\tWrite\nsvc\tStream\tRead\nsvc\tGet\tRead\nsvc\tConsoleOnly\tRead\n",
        )
        .unwrap();
        let id = |name: &str| catalogue.lookup("svc", name).unwrap();
        let facts = RecordedFacts::from_tsv(
            "svc:HandChecked\tpermission-only\thand\nsvc:Stream\tdata-event\tstreamed\n",
        )
        .unwrap()
        .with_no_api_operation(
            [id("HandChecked"), id("Stream"), id("ConsoleOnly")],
            &catalogue,
            "models",
        );
        let no_operation = NotRecordedReason::NoApiOperation { source: "models" };
        let logs_all: RecordingConfig = "*".parse().unwrap();
        // (action, fact, with a management-events trail, with every data event logged)
        let cases = [
            (
                "HandChecked",
                Some(NotRecordedReason::PermissionOnly { source: "hand" }),
                Recorded::No(NotRecordedReason::PermissionOnly { source: "hand" }),
                Recorded::No(NotRecordedReason::PermissionOnly { source: "hand" }),
            ),
            (
                "Stream",
                Some(NotRecordedReason::DataEvent { source: "streamed" }),
                Recorded::No(NotRecordedReason::DataEvent { source: "streamed" }),
                Recorded::No(no_operation),
            ),
            (
                "ConsoleOnly",
                Some(no_operation),
                Recorded::No(no_operation),
                Recorded::No(no_operation),
            ),
            ("Get", None, Recorded::Yes, Recorded::Yes),
        ];
        for (name, fact, by_default, with_data_events) in cases {
            assert_eq!(facts.fact(&catalogue, id(name)), fact, "{name}");
            assert_eq!(
                facts.recorded(&catalogue, id(name), &RecordingConfig::default()),
                by_default,
                "{name}"
            );
            assert_eq!(
                facts.recorded(&catalogue, id(name), &logs_all),
                with_data_events,
                "{name} with data events"
            );
        }
        assert_eq!(
            facts.no_api_operation(&catalogue, id("HandChecked")),
            Some(no_operation)
        );
    }
}
