//! Every IAM action (`service:Action`) with its access level.
//!
//! The list is generated into `data/iam-actions.tsv` by `data/gen_iam_actions.mjs` (its header names the
//! source package and version) and embedded in the binary, so nothing is fetched at run time.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, LazyLock};

use thiserror::Error;

const EMBEDDED_TSV: &str = include_str!("../../data/iam-actions.tsv");

static EMBEDDED: LazyLock<Catalogue> = LazyLock::new(|| {
    // The embedded file is checked by a unit test; failing here means the build shipped a broken file.
    Catalogue::from_tsv(EMBEDDED_TSV).expect("embedded data/iam-actions.tsv must parse")
});

/// Access level as the Service Authorization Reference classifies each action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessLevel {
    List,
    Read,
    Write,
    PermissionsManagement,
    Tagging,
}

impl AccessLevel {
    /// The spelling used in the reference and in `data/iam-actions.tsv`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::List => "List",
            AccessLevel::Read => "Read",
            AccessLevel::Write => "Write",
            AccessLevel::PermissionsManagement => "Permissions management",
            AccessLevel::Tagging => "Tagging",
        }
    }

    /// Parses the reference's spelling, ignoring case.
    pub fn parse(text: &str) -> Option<AccessLevel> {
        [
            AccessLevel::List,
            AccessLevel::Read,
            AccessLevel::Write,
            AccessLevel::PermissionsManagement,
            AccessLevel::Tagging,
        ]
        .into_iter()
        .find(|level| level.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Index into [`Catalogue::actions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionId(pub u32);

impl ActionId {
    fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Debug, Clone)]
pub struct ActionInfo {
    /// IAM service prefix, lower-case, e.g. `s3`.
    pub service: String,
    /// Action name as AWS spells it, e.g. `ListBucket`.
    pub name: String,
    pub access_level: AccessLevel,
    /// `service:Action` as IAM spells it, e.g. `s3:ListBucket`.
    pub full_name: String,
    /// Lower-case `service:action`, the form CloudTracker prints. Ids follow the order of keys,
    /// so sorting findings by id sorts them by key.
    pub key: Arc<str>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CatalogueError {
    #[error(
        "line {line}: expected 3 tab-separated fields (service, action, access level), found {found}"
    )]
    WrongFieldCount { line: usize, found: usize },
    #[error("line {line}: invalid {what} {value:?}")]
    InvalidName {
        line: usize,
        what: &'static str,
        value: String,
    },
    #[error("line {line}: unknown access level {value:?}")]
    UnknownAccessLevel { line: usize, value: String },
    #[error("line {line}: action {action} is listed twice")]
    DuplicateAction { line: usize, action: String },
    #[error("catalogue holds more actions than an ActionId can address")]
    TooManyActions,
}

/// The set of known IAM actions, sorted by lower-case `service:action`.
#[derive(Debug)]
pub struct Catalogue {
    actions: Vec<ActionInfo>,
    /// Key: `service:action`, lower-case.
    by_full_name: HashMap<String, ActionId>,
    /// Key: lower-case service prefix. Actions of one service are contiguous because of the sort.
    services: HashMap<String, Range<usize>>,
}

impl Catalogue {
    /// The catalogue generated into `data/iam-actions.tsv`, parsed once.
    pub fn embedded() -> &'static Catalogue {
        &EMBEDDED
    }

    /// Parses `service<TAB>Action<TAB>access level` lines; blank lines and lines starting with `#` are
    /// skipped. Input order does not matter.
    pub fn from_tsv(text: &str) -> Result<Catalogue, CatalogueError> {
        let mut actions = Vec::new();
        let mut first_line_of = HashMap::new();
        for (index, raw_line) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw_line.trim_end_matches('\r');
            if trimmed.trim().is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = trimmed.split('\t').collect();
            let [service, name, level] = fields[..] else {
                return Err(CatalogueError::WrongFieldCount {
                    line,
                    found: fields.len(),
                });
            };
            let service = validated_name(service.trim(), line, "service prefix")?;
            let name = validated_name(name.trim(), line, "action name")?;
            let access_level =
                AccessLevel::parse(level).ok_or_else(|| CatalogueError::UnknownAccessLevel {
                    line,
                    value: level.to_string(),
                })?;
            let service = service.to_ascii_lowercase();
            let key = full_key(&service, name);
            if first_line_of.insert(key.clone(), line).is_some() {
                return Err(CatalogueError::DuplicateAction { line, action: key });
            }
            actions.push(ActionInfo {
                full_name: format!("{service}:{name}"),
                key: Arc::from(key),
                service,
                name: name.to_string(),
                access_level,
            });
        }
        Self::from_actions(actions)
    }

    fn from_actions(mut actions: Vec<ActionInfo>) -> Result<Catalogue, CatalogueError> {
        if u32::try_from(actions.len()).is_err() {
            return Err(CatalogueError::TooManyActions);
        }
        // By key, `service:action`: the actions of one service stay together, since they share
        // the key's beginning `service:`.
        actions.sort_by(|a, b| a.key.cmp(&b.key));
        let mut by_full_name = HashMap::with_capacity(actions.len());
        let mut services: HashMap<String, Range<usize>> = HashMap::new();
        for (index, action) in actions.iter().enumerate() {
            // Fits: the length was checked against u32 above.
            let id = ActionId(index as u32);
            by_full_name.insert(action.key.to_string(), id);
            services
                .entry(action.service.clone())
                .and_modify(|range| range.end = index + 1)
                .or_insert(index..index + 1);
        }
        Ok(Catalogue {
            actions,
            by_full_name,
            services,
        })
    }

    /// All actions, sorted by lower-case `service:action`; `ActionId(i)` is `actions()[i]`.
    pub fn actions(&self) -> &[ActionInfo] {
        &self.actions
    }

    pub fn len(&self) -> usize {
        self.actions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Every id, in catalogue order.
    pub fn ids(&self) -> impl Iterator<Item = ActionId> + '_ {
        (0..self.actions.len()).map(|index| ActionId(index as u32))
    }

    /// The action behind an id. Ids come from this catalogue; an id from another catalogue that is out of
    /// range panics like any out-of-bounds index.
    pub fn get(&self, id: ActionId) -> &ActionInfo {
        &self.actions[id.index()]
    }

    /// Case-insensitive lookup of one action of one service.
    pub fn lookup(&self, service: &str, name: &str) -> Option<ActionId> {
        self.by_full_name.get(&full_key(service, name)).copied()
    }

    /// Case-insensitive lookup of `service:Action`.
    pub fn lookup_full(&self, action: &str) -> Option<ActionId> {
        let (service, name) = action.split_once(':')?;
        self.lookup(service, name)
    }

    /// All actions of one service prefix (case-insensitive); empty for an unknown prefix.
    pub fn service_actions(&self, service: &str) -> &[ActionInfo] {
        match self.services.get(&service.to_ascii_lowercase()) {
            Some(range) => &self.actions[range.clone()],
            None => &[],
        }
    }

    /// Ids of all actions of one service prefix (case-insensitive).
    pub fn service_action_ids(&self, service: &str) -> impl Iterator<Item = ActionId> + '_ {
        let range = self
            .services
            .get(&service.to_ascii_lowercase())
            .cloned()
            .unwrap_or(0..0);
        range.map(|index| ActionId(index as u32))
    }

    pub fn has_service(&self, service: &str) -> bool {
        self.services.contains_key(&service.to_ascii_lowercase())
    }

    /// All service prefixes, sorted.
    pub fn services(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.services.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Lower-case `service:action`, the form CloudTracker prints, e.g. `s3:getobject`.
    pub fn display(&self, id: ActionId) -> String {
        self.get(id).key.to_string()
    }
}

fn full_key(service: &str, name: &str) -> String {
    let mut key = String::with_capacity(service.len() + name.len() + 1);
    key.push_str(service);
    key.push(':');
    key.push_str(name);
    key.make_ascii_lowercase();
    key
}

fn validated_name<'a>(
    value: &'a str,
    line: usize,
    what: &'static str,
) -> Result<&'a str, CatalogueError> {
    let acceptable = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if acceptable {
        Ok(value)
    } else {
        Err(CatalogueError::InvalidName {
            line,
            what,
            value: value.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "# comment\n\
        s3\tPutObject\tWrite\n\
        s3\tGetObject\tRead\n\
        ec2\tDescribeInstances\tList\n\
        \n\
        iam\tPassRole\tPermissions management\n\
        s3\tPutObjectTagging\tTagging\n";

    #[test]
    fn ids_follow_the_order_of_keys_and_each_service_is_one_range() {
        // `s3-outposts` sorts after `s3` by service, before it by key (`-` < `:`).
        let catalogue = Catalogue::from_tsv(
            "s3\tGetObject\tRead\ns3-outposts\tGetObject\tRead\ns3\tAbort\tWrite\n",
        )
        .expect("valid");
        let keys: Vec<&str> = catalogue.actions().iter().map(|a| &*a.key).collect();
        assert_eq!(keys, ["s3-outposts:getobject", "s3:abort", "s3:getobject"]);
        let s3: Vec<&str> = catalogue
            .service_actions("s3")
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(s3, ["Abort", "GetObject"]);
        let embedded = Catalogue::embedded();
        for service in embedded.services() {
            assert!(
                embedded
                    .service_actions(service)
                    .iter()
                    .all(|a| a.service == service),
                "{service}"
            );
        }
    }

    #[test]
    fn access_levels_parse_in_reference_spelling() {
        let cases = [
            ("List", Some(AccessLevel::List)),
            ("Read", Some(AccessLevel::Read)),
            ("Write", Some(AccessLevel::Write)),
            (
                "Permissions management",
                Some(AccessLevel::PermissionsManagement),
            ),
            (
                "permissions MANAGEMENT",
                Some(AccessLevel::PermissionsManagement),
            ),
            ("Tagging", Some(AccessLevel::Tagging)),
            ("Tagging, Write", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(AccessLevel::parse(text), expected, "{text:?}");
        }
    }

    #[test]
    fn small_catalogue_is_sorted_and_looked_up_without_case() {
        let catalogue = Catalogue::from_tsv(SMALL).unwrap();
        let displayed: Vec<String> = catalogue.ids().map(|id| catalogue.display(id)).collect();
        assert_eq!(
            displayed,
            [
                "ec2:describeinstances",
                "iam:passrole",
                "s3:getobject",
                "s3:putobject",
                "s3:putobjecttagging"
            ]
        );
        let cases = [
            ("s3", "GetObject", Some("s3:getobject")),
            ("S3", "getobject", Some("s3:getobject")),
            ("iam", "PASSROLE", Some("iam:passrole")),
            ("s3", "ListBucket", None),
            ("s4", "GetObject", None),
        ];
        for (service, name, expected) in cases {
            let found = catalogue
                .lookup(service, name)
                .map(|id| catalogue.display(id));
            assert_eq!(found.as_deref(), expected, "{service}:{name}");
        }
        let full_cases = [
            ("s3:GetObject", Some("s3:getobject")),
            ("EC2:describeinstances", Some("ec2:describeinstances")),
            ("s3GetObject", None),
            ("s3:", None),
            (":GetObject", None),
        ];
        for (action, expected) in full_cases {
            let found = catalogue
                .lookup_full(action)
                .map(|id| catalogue.display(id));
            assert_eq!(found.as_deref(), expected, "{action}");
        }
    }

    #[test]
    fn action_info_keeps_aws_spelling_and_level() {
        let catalogue = Catalogue::from_tsv(SMALL).unwrap();
        let id = catalogue.lookup("iam", "passrole").unwrap();
        let info = catalogue.get(id);
        assert_eq!(info.service, "iam");
        assert_eq!(info.name, "PassRole");
        assert_eq!(info.access_level, AccessLevel::PermissionsManagement);
    }

    #[test]
    fn service_actions_are_the_contiguous_block_of_one_prefix() {
        let catalogue = Catalogue::from_tsv(SMALL).unwrap();
        let names: Vec<&str> = catalogue
            .service_actions("S3")
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(names, ["GetObject", "PutObject", "PutObjectTagging"]);
        assert_eq!(catalogue.service_action_ids("s3").count(), 3);
        assert!(catalogue.service_actions("sqs").is_empty());
        assert_eq!(catalogue.service_action_ids("sqs").count(), 0);
        assert_eq!(catalogue.services(), ["ec2", "iam", "s3"]);
    }

    #[test]
    fn malformed_lines_are_typed_errors() {
        let cases = [
            (
                "s3\tGetObject\n",
                CatalogueError::WrongFieldCount { line: 1, found: 2 },
            ),
            (
                "s3\tGetObject\tRead\textra\n",
                CatalogueError::WrongFieldCount { line: 1, found: 4 },
            ),
            (
                "#x\ns3\tGetObject\tMaybe\n",
                CatalogueError::UnknownAccessLevel {
                    line: 2,
                    value: "Maybe".into(),
                },
            ),
            (
                "s3\tGet Object\tRead\n",
                CatalogueError::InvalidName {
                    line: 1,
                    what: "action name",
                    value: "Get Object".into(),
                },
            ),
            (
                "s3:x\tGetObject\tRead\n",
                CatalogueError::InvalidName {
                    line: 1,
                    what: "service prefix",
                    value: "s3:x".into(),
                },
            ),
            (
                "s3\tGetObject\tRead\nS3\tgetobject\tRead\n",
                CatalogueError::DuplicateAction {
                    line: 2,
                    action: "s3:getobject".into(),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(Catalogue::from_tsv(text).unwrap_err(), expected, "{text:?}");
        }
    }

    #[test]
    fn embedded_catalogue_is_complete_and_consistent() {
        let catalogue = Catalogue::embedded();
        assert!(catalogue.len() > 15_000, "only {} actions", catalogue.len());
        let header_count = EMBEDDED_TSV
            .lines()
            .find_map(|line| line.strip_prefix("# Actions: "))
            .and_then(|count| count.trim().parse::<usize>().ok());
        assert_eq!(header_count, Some(catalogue.len()));
        let expectations = [
            ("s3:GetObject", AccessLevel::Read),
            ("s3:ListBucket", AccessLevel::List),
            ("s3:ListAllMyBuckets", AccessLevel::List),
            ("s3:PutBucketPolicy", AccessLevel::PermissionsManagement),
            ("s3:PutObjectTagging", AccessLevel::Tagging),
            ("iam:PassRole", AccessLevel::Write),
            ("iam:AttachRolePolicy", AccessLevel::PermissionsManagement),
            ("ec2:RunInstances", AccessLevel::Write),
            ("cloudwatch:GetMetricData", AccessLevel::Read),
            ("kms:ReEncryptFrom", AccessLevel::Write),
        ];
        for (action, level) in expectations {
            let id = catalogue
                .lookup_full(action)
                .unwrap_or_else(|| panic!("{action} missing"));
            assert_eq!(catalogue.get(id).access_level, level, "{action}");
        }
        for window in catalogue.actions().windows(2) {
            let (earlier, later) = (&window[0].key, &window[1].key);
            assert!(earlier < later, "{earlier} !< {later}");
        }
    }
}
