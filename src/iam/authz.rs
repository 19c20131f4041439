//! `aws iam get-account-authorization-details` output: users, groups, roles and managed policies.
//!
//! Parsed by hand from `serde_json::Value` rather than with derived deserializers so that every
//! error names the principal or policy and the field at fault.
//!
//! Shapes accepted (all seen in real exports):
//! - any of the four top-level lists may be missing (e.g. `--filter User`), meaning "none";
//! - policy documents as decoded objects, JSON strings, or percent-encoded strings (raw API);
//! - `CreateDate` as `2017-09-02T18:02:14Z` or Python's `2022-08-07 12:55:43+00:00`;
//! - `IsTruncated`/`Marker` of a single raw API page (a warning says the other pages are needed).
//!
//! Managed policies are read at their *default* version only: the `PolicyVersionList` entry with
//! `IsDefaultVersion: true`, else the entry whose `VersionId` is `DefaultVersionId`.
//!
//! Several files (pages or overlapping exports) are combined with [`AuthorizationDetails::merge`].

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use serde_json::{Map, Value};

use crate::iam::policy::{PolicyDocument, PolicyError, json_type};

/// Everything one or more `get-account-authorization-details` files say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthorizationDetails {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub roles: Vec<Role>,
    pub policies: Vec<ManagedPolicy>,
    /// Problems that did not stop parsing but that a user should see (truncated page, conflicting
    /// duplicates when merging, default-version inconsistencies).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: String,
    pub user_id: String,
    pub arn: String,
    pub path: String,
    pub create_date: Option<CreateDate>,
    /// Names (not ARNs) of the groups the user belongs to, as `GroupList` gives them.
    pub group_names: Vec<String>,
    pub attached_policies: Vec<AttachedPolicy>,
    pub inline_policies: Vec<InlinePolicy>,
    pub permissions_boundary: Option<PermissionsBoundary>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub group_id: String,
    pub arn: String,
    pub path: String,
    pub create_date: Option<CreateDate>,
    pub attached_policies: Vec<AttachedPolicy>,
    pub inline_policies: Vec<InlinePolicy>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: String,
    pub role_id: String,
    pub arn: String,
    pub path: String,
    pub create_date: Option<CreateDate>,
    /// The trust policy. `None` only if the export lacks it.
    pub trust_policy: Option<PolicyDocument>,
    pub attached_policies: Vec<AttachedPolicy>,
    pub inline_policies: Vec<InlinePolicy>,
    pub permissions_boundary: Option<PermissionsBoundary>,
    /// The ARNs of the EC2 instance profiles that hold the role.
    pub instance_profiles: Vec<String>,
}

/// A managed policy, reduced to its default version.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedPolicy {
    pub name: String,
    pub policy_id: String,
    pub arn: String,
    pub path: String,
    /// The `VersionId` of the document in [`ManagedPolicy::document`].
    pub default_version_id: String,
    pub document: PolicyDocument,
}

impl ManagedPolicy {
    /// AWS-managed policies live in the pseudo-account `aws` (`arn:aws:iam::aws:policy/...`).
    pub fn is_aws_managed(&self) -> bool {
        account_of_arn(&self.arn) == Some("aws")
    }
}

/// An entry of `AttachedManagedPolicies`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedPolicy {
    pub name: String,
    pub arn: String,
}

/// An entry of `UserPolicyList` / `GroupPolicyList` / `RolePolicyList`.
#[derive(Debug, Clone, PartialEq)]
pub struct InlinePolicy {
    pub name: String,
    pub document: PolicyDocument,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionsBoundary {
    pub policy_arn: String,
    /// `PermissionsBoundaryType`, always `Policy` today.
    pub boundary_type: Option<String>,
}

/// A creation date as written, plus its UTC instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateDate {
    pub original: String,
    pub utc: DateTime<Utc>,
}

impl CreateDate {
    /// Parses `2017-09-02T18:02:14Z`, `2017-09-02T18:02:14+00:00`, `2022-08-07 12:55:43+00:00`, with
    /// or without fractional seconds. A date without a UTC offset is refused rather than guessed, and
    /// so is a year that is not four digits, before or after the offset is applied (`-019-12-18`
    /// would print as `-0019-12-18`, which no reader takes).
    pub fn parse(text: &str) -> Option<CreateDate> {
        let trimmed = text.trim();
        let four_digit_year = |text: &str| {
            text.as_bytes()
                .get(..5)
                .is_some_and(|start| start[..4].iter().all(u8::is_ascii_digit) && start[4] == b'-')
        };
        if !four_digit_year(trimmed) {
            return None;
        }
        let parsed = DateTime::parse_from_rfc3339(trimmed)
            .or_else(|_| DateTime::parse_from_str(trimmed, "%Y-%m-%d %H:%M:%S%.f%:z"))
            .or_else(|_| DateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M:%S%.f%:z"))
            .ok()?;
        let utc = parsed.with_timezone(&Utc);
        (0..=9999).contains(&utc.year()).then(|| CreateDate {
            original: text.to_string(),
            utc,
        })
    }

    /// RFC 3339 in UTC with a `Z` and whole seconds, as CloudTracker prints it: `2017-09-02T18:02:14Z`.
    pub fn rfc3339(&self) -> String {
        self.utc.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

/// Which part of the input an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `user arn:aws:iam::…:user/alice`, or `UserDetailList[3]` when the entry has no usable ARN.
    pub entity: String,
    /// The field at fault, e.g. `AttachedManagedPolicies[1].PolicyArn`.
    pub field: String,
}

impl std::fmt::Display for Location {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}, field `{}`", self.entity, self.field)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    #[error("not valid JSON")]
    Json(#[from] serde_json::Error),
    #[error("the authorization details must be a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("{location}: missing")]
    MissingField { location: Location },
    #[error("{location}: expected {expected}, found {found}")]
    FieldType {
        location: Location,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{location}: {value:?} is not a date with a UTC offset")]
    InvalidDate { location: Location, value: String },
    #[error("{location}")]
    Policy {
        location: Location,
        #[source]
        source: PolicyError,
    },
    #[error(
        "{location}: no policy version is marked default and none has VersionId {default_version_id:?}"
    )]
    NoDefaultVersion {
        location: Location,
        default_version_id: String,
    },
    #[error("{location}: several versions are marked default ({version_ids})")]
    SeveralDefaultVersions {
        location: Location,
        version_ids: String,
    },
}

impl AuthorizationDetails {
    /// Parses the text of one file.
    pub fn from_json_str(text: &str) -> Result<AuthorizationDetails, AuthzError> {
        let value: Value = serde_json::from_str(text)?;
        AuthorizationDetails::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<AuthorizationDetails, AuthzError> {
        let top = match value {
            Value::Object(map) => map,
            other => return Err(AuthzError::NotAnObject(json_type(other))),
        };
        let mut details = AuthorizationDetails::default();
        for (index, entry) in top_level_list(top, "UserDetailList")?.iter().enumerate() {
            details.users.push(parse_user(entry, index)?);
        }
        for (index, entry) in top_level_list(top, "GroupDetailList")?.iter().enumerate() {
            details.groups.push(parse_group(entry, index)?);
        }
        for (index, entry) in top_level_list(top, "RoleDetailList")?.iter().enumerate() {
            details.roles.push(parse_role(entry, index)?);
        }
        for (index, entry) in top_level_list(top, "Policies")?.iter().enumerate() {
            details
                .policies
                .push(parse_managed_policy(entry, index, &mut details.warnings)?);
        }
        if top.get("IsTruncated") == Some(&Value::Bool(true)) {
            details.warnings.push(
                "the authorization details are one truncated page (IsTruncated is true): pass every page, \
                 or principals and policies on the other pages are missing"
                    .to_string(),
            );
        }
        Ok(details)
    }

    /// Combines several files into one, keyed by ARN. An entity present in several files with the
    /// same content is kept once; with different content, the later file wins and a warning says so.
    pub fn merge(pages: impl IntoIterator<Item = AuthorizationDetails>) -> AuthorizationDetails {
        let mut merged = AuthorizationDetails::default();
        let mut users = HashMap::new();
        let mut groups = HashMap::new();
        let mut roles = HashMap::new();
        let mut policies = HashMap::new();
        for page in pages {
            merged.warnings.extend(page.warnings);
            for user in page.users {
                let arn = user.arn.clone();
                merge_entry(
                    &mut merged.users,
                    &mut users,
                    arn,
                    user,
                    "user",
                    &mut merged.warnings,
                );
            }
            for group in page.groups {
                let arn = group.arn.clone();
                merge_entry(
                    &mut merged.groups,
                    &mut groups,
                    arn,
                    group,
                    "group",
                    &mut merged.warnings,
                );
            }
            for role in page.roles {
                let arn = role.arn.clone();
                merge_entry(
                    &mut merged.roles,
                    &mut roles,
                    arn,
                    role,
                    "role",
                    &mut merged.warnings,
                );
            }
            for policy in page.policies {
                let arn = policy.arn.clone();
                merge_entry(
                    &mut merged.policies,
                    &mut policies,
                    arn,
                    policy,
                    "managed policy",
                    &mut merged.warnings,
                );
            }
        }
        merged
    }

    pub fn user(&self, arn: &str) -> Option<&User> {
        self.users.iter().find(|user| user.arn == arn)
    }

    pub fn role(&self, arn: &str) -> Option<&Role> {
        self.roles.iter().find(|role| role.arn == arn)
    }

    pub fn managed_policy(&self, arn: &str) -> Option<&ManagedPolicy> {
        self.policies.iter().find(|policy| policy.arn == arn)
    }

    /// The group called `group_name` that `user` belongs to. `GroupList` holds bare names and merged
    /// files may span accounts, so only a group in the user's own account is taken: a same-named
    /// group of another account would lend the user permissions it does not have. Only when the
    /// user's ARN names no account is a group matched by name alone, and then only if it is unique.
    pub fn group_of_user(&self, user: &User, group_name: &str) -> Option<&Group> {
        let mut named = self.groups.iter().filter(|group| group.name == group_name);
        match account_of_arn(&user.arn) {
            Some(account) => named.find(|group| account_of_arn(&group.arn) == Some(account)),
            None => match (named.next(), named.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            },
        }
    }
}

fn merge_entry<T: PartialEq>(
    merged: &mut Vec<T>,
    index_by_arn: &mut HashMap<String, usize>,
    arn: String,
    entry: T,
    kind: &str,
    warnings: &mut Vec<String>,
) {
    match index_by_arn.get(&arn) {
        Some(&index) => {
            if merged[index] != entry {
                warnings.push(format!(
                    "{kind} {arn} appears in several inputs with different content; the later one is used"
                ));
                merged[index] = entry;
            }
        }
        None => {
            index_by_arn.insert(arn, merged.len());
            merged.push(entry);
        }
    }
}

/// The account ID field of an ARN (`aws` for AWS-managed policies).
pub fn account_of_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    if parts.next() != Some("arn") {
        return None;
    }
    parts.nth(3)
}

fn top_level_list<'a>(top: &'a Map<String, Value>, field: &str) -> Result<&'a [Value], AuthzError> {
    match top.get(field) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(AuthzError::FieldType {
            location: Location {
                entity: "the authorization details".to_string(),
                field: field.to_string(),
            },
            expected: "a list",
            found: json_type(other),
        }),
    }
}

/// Reads the fields of one entry of a top-level list, naming the entry in errors.
struct EntryReader<'a> {
    map: &'a Map<String, Value>,
    entity: String,
}

impl<'a> EntryReader<'a> {
    /// `kind` is `user`, `group`, `role` or `managed policy`; `list` and `index` locate the entry
    /// until its ARN is known.
    fn new(
        value: &'a Value,
        list: &str,
        index: usize,
        kind: &str,
    ) -> Result<EntryReader<'a>, AuthzError> {
        let map = match value {
            Value::Object(map) => map,
            other => {
                return Err(AuthzError::FieldType {
                    location: Location {
                        entity: format!("{list}[{index}]"),
                        field: String::new(),
                    },
                    expected: "an object",
                    found: json_type(other),
                });
            }
        };
        let entity = match map.get("Arn") {
            Some(Value::String(arn)) => format!("{kind} {arn}"),
            _ => format!("{list}[{index}]"),
        };
        Ok(EntryReader { map, entity })
    }

    fn location(&self, field: impl Into<String>) -> Location {
        Location {
            entity: self.entity.clone(),
            field: field.into(),
        }
    }

    fn string(&self, field: &str) -> Result<String, AuthzError> {
        match self.map.get(field) {
            Some(Value::String(text)) => Ok(text.clone()),
            None | Some(Value::Null) => Err(AuthzError::MissingField {
                location: self.location(field),
            }),
            Some(other) => Err(AuthzError::FieldType {
                location: self.location(field),
                expected: "a string",
                found: json_type(other),
            }),
        }
    }

    /// A string that some exports leave out; empty when absent.
    fn string_or_empty(&self, field: &str) -> Result<String, AuthzError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(_) => self.string(field),
        }
    }

    fn create_date(&self) -> Result<Option<CreateDate>, AuthzError> {
        match self.map.get("CreateDate") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => {
                CreateDate::parse(text)
                    .map(Some)
                    .ok_or_else(|| AuthzError::InvalidDate {
                        location: self.location("CreateDate"),
                        value: text.clone(),
                    })
            }
            Some(other) => Err(AuthzError::FieldType {
                location: self.location("CreateDate"),
                expected: "a date string",
                found: json_type(other),
            }),
        }
    }

    /// A list that may be absent (treated as empty).
    fn list(&self, field: &str) -> Result<&'a [Value], AuthzError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(AuthzError::FieldType {
                location: self.location(field),
                expected: "a list",
                found: json_type(other),
            }),
        }
    }

    fn object_in_list(
        &self,
        field: &str,
        index: usize,
        value: &'a Value,
    ) -> Result<EntryReader<'a>, AuthzError> {
        match value {
            Value::Object(map) => Ok(EntryReader {
                map,
                entity: self.entity.clone(),
            }),
            other => Err(AuthzError::FieldType {
                location: self.location(format!("{field}[{index}]")),
                expected: "an object",
                found: json_type(other),
            }),
        }
    }

    /// A string field of an object nested in one of this entry's lists, located as `List[i].Field`.
    fn nested_string(
        &self,
        list: &str,
        index: usize,
        nested: &EntryReader<'_>,
        field: &str,
    ) -> Result<String, AuthzError> {
        nested
            .string(field)
            .map_err(|error| relocate(error, &format!("{list}[{index}].{field}")))
    }

    fn attached_policies(&self) -> Result<Vec<AttachedPolicy>, AuthzError> {
        let list = "AttachedManagedPolicies";
        self.list(list)?
            .iter()
            .enumerate()
            .map(|(index, value)| {
                let attached = self.object_in_list(list, index, value)?;
                Ok(AttachedPolicy {
                    name: self.nested_string(list, index, &attached, "PolicyName")?,
                    arn: self.nested_string(list, index, &attached, "PolicyArn")?,
                })
            })
            .collect()
    }

    fn inline_policies(&self, list: &str) -> Result<Vec<InlinePolicy>, AuthzError> {
        self.list(list)?
            .iter()
            .enumerate()
            .map(|(index, value)| {
                let inline = self.object_in_list(list, index, value)?;
                let name = self.nested_string(list, index, &inline, "PolicyName")?;
                let document_field = format!("{list}[{index}] ({name}).PolicyDocument");
                let document_value =
                    inline
                        .map
                        .get("PolicyDocument")
                        .ok_or_else(|| AuthzError::MissingField {
                            location: self.location(document_field.clone()),
                        })?;
                let document = PolicyDocument::from_value(document_value).map_err(|source| {
                    AuthzError::Policy {
                        location: self.location(document_field),
                        source,
                    }
                })?;
                Ok(InlinePolicy { name, document })
            })
            .collect()
    }

    fn permissions_boundary(&self) -> Result<Option<PermissionsBoundary>, AuthzError> {
        let field = "PermissionsBoundary";
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => {
                let boundary = EntryReader {
                    map,
                    entity: self.entity.clone(),
                };
                let policy_arn = boundary.string("PermissionsBoundaryArn").map_err(|error| {
                    relocate(error, "PermissionsBoundary.PermissionsBoundaryArn")
                })?;
                let boundary_type = match map.get("PermissionsBoundaryType") {
                    Some(Value::String(kind)) => Some(kind.clone()),
                    _ => None,
                };
                Ok(Some(PermissionsBoundary {
                    policy_arn,
                    boundary_type,
                }))
            }
            Some(other) => Err(AuthzError::FieldType {
                location: self.location(field),
                expected: "an object",
                found: json_type(other),
            }),
        }
    }
}

/// Rewrites the field of an error from a nested reader to its full path.
fn relocate(error: AuthzError, field: &str) -> AuthzError {
    let moved = |location: Location| Location {
        entity: location.entity,
        field: field.to_string(),
    };
    match error {
        AuthzError::MissingField { location } => AuthzError::MissingField {
            location: moved(location),
        },
        AuthzError::FieldType {
            location,
            expected,
            found,
        } => AuthzError::FieldType {
            location: moved(location),
            expected,
            found,
        },
        other => other,
    }
}

fn parse_user(value: &Value, index: usize) -> Result<User, AuthzError> {
    let entry = EntryReader::new(value, "UserDetailList", index, "user")?;
    let group_names = entry
        .list("GroupList")?
        .iter()
        .enumerate()
        .map(|(group_index, group)| match group {
            Value::String(name) => Ok(name.clone()),
            other => Err(AuthzError::FieldType {
                location: entry.location(format!("GroupList[{group_index}]")),
                expected: "a group name",
                found: json_type(other),
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(User {
        arn: entry.string("Arn")?,
        name: entry.string("UserName")?,
        user_id: entry.string_or_empty("UserId")?,
        path: entry.string_or_empty("Path")?,
        create_date: entry.create_date()?,
        group_names,
        attached_policies: entry.attached_policies()?,
        inline_policies: entry.inline_policies("UserPolicyList")?,
        permissions_boundary: entry.permissions_boundary()?,
    })
}

fn parse_group(value: &Value, index: usize) -> Result<Group, AuthzError> {
    let entry = EntryReader::new(value, "GroupDetailList", index, "group")?;
    Ok(Group {
        arn: entry.string("Arn")?,
        name: entry.string("GroupName")?,
        group_id: entry.string_or_empty("GroupId")?,
        path: entry.string_or_empty("Path")?,
        create_date: entry.create_date()?,
        attached_policies: entry.attached_policies()?,
        inline_policies: entry.inline_policies("GroupPolicyList")?,
    })
}

fn parse_role(value: &Value, index: usize) -> Result<Role, AuthzError> {
    let entry = EntryReader::new(value, "RoleDetailList", index, "role")?;
    let trust_policy = match entry.map.get("AssumeRolePolicyDocument") {
        None | Some(Value::Null) => None,
        Some(document) => {
            Some(
                PolicyDocument::from_value(document).map_err(|source| AuthzError::Policy {
                    location: entry.location("AssumeRolePolicyDocument"),
                    source,
                })?,
            )
        }
    };
    // InstanceProfileList repeats each role inside its instance profiles; it grants nothing. Only
    // the profiles' ARNs are read, and nothing else in it is validated, so oddities in it cannot
    // fail the parse.
    let instance_profiles = entry
        .map
        .get("InstanceProfileList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|profile| profile.get("Arn").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    Ok(Role {
        instance_profiles,
        arn: entry.string("Arn")?,
        name: entry.string("RoleName")?,
        role_id: entry.string_or_empty("RoleId")?,
        path: entry.string_or_empty("Path")?,
        create_date: entry.create_date()?,
        trust_policy,
        attached_policies: entry.attached_policies()?,
        inline_policies: entry.inline_policies("RolePolicyList")?,
        permissions_boundary: entry.permissions_boundary()?,
    })
}

fn parse_managed_policy(
    value: &Value,
    index: usize,
    warnings: &mut Vec<String>,
) -> Result<ManagedPolicy, AuthzError> {
    let entry = EntryReader::new(value, "Policies", index, "managed policy")?;
    let arn = entry.string("Arn")?;
    let default_version_id = entry.string_or_empty("DefaultVersionId")?;
    let list = "PolicyVersionList";
    let mut versions = Vec::new();
    for (version_index, version_value) in entry.list(list)?.iter().enumerate() {
        let version = entry.object_in_list(list, version_index, version_value)?;
        let version_id = entry.nested_string(list, version_index, &version, "VersionId")?;
        let is_default = match version.map.get("IsDefaultVersion") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(flag)) => *flag,
            Some(other) => {
                return Err(AuthzError::FieldType {
                    location: entry.location(format!("{list}[{version_index}].IsDefaultVersion")),
                    expected: "a boolean",
                    found: json_type(other),
                });
            }
        };
        versions.push((version_index, version_id, is_default, version));
    }
    let flagged: Vec<_> = versions
        .iter()
        .filter(|(_, _, is_default, _)| *is_default)
        .collect();
    let chosen = match flagged.as_slice() {
        [only] => {
            if !default_version_id.is_empty() && only.1 != default_version_id {
                warnings.push(format!(
                    "managed policy {arn}: version {} is marked default but DefaultVersionId is {default_version_id}; \
                     using the version marked default",
                    only.1
                ));
            }
            *only
        }
        [] => versions
            .iter()
            .find(|(_, id, _, _)| *id == default_version_id)
            .ok_or_else(|| AuthzError::NoDefaultVersion {
                location: entry.location(list),
                default_version_id: default_version_id.clone(),
            })?,
        several => match several
            .iter()
            .find(|(_, id, _, _)| *id == default_version_id)
        {
            Some(matching) => *matching,
            None => {
                return Err(AuthzError::SeveralDefaultVersions {
                    location: entry.location(list),
                    version_ids: several
                        .iter()
                        .map(|(_, id, _, _)| id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        },
    };
    let (version_index, version_id, _, version) = chosen;
    let document_field = format!("{list}[{version_index}] ({version_id}).Document");
    let document_value = version
        .map
        .get("Document")
        .ok_or_else(|| AuthzError::MissingField {
            location: entry.location(document_field.clone()),
        })?;
    let document =
        PolicyDocument::from_value(document_value).map_err(|source| AuthzError::Policy {
            location: entry.location(document_field),
            source,
        })?;
    Ok(ManagedPolicy {
        name: entry.string("PolicyName")?,
        policy_id: entry.string_or_empty("PolicyId")?,
        path: entry.string_or_empty("Path")?,
        default_version_id: version_id.clone(),
        document,
        arn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::policy::{ActionClause, StatementProblem};
    use serde_json::json;

    fn allow_document(action: &str) -> Value {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})
    }

    fn first_action(document: &PolicyDocument) -> Option<&ActionClause> {
        document
            .statements
            .first()
            .and_then(|statement| statement.action.as_ref())
    }

    fn sample() -> Value {
        json!({
            "UserDetailList": [{
                "Path": "/", "UserName": "alice", "UserId": "AIDA1", "Arn": "arn:aws:iam::111122223333:user/alice",
                "CreateDate": "2017-09-02T18:02:14Z",
                "GroupList": ["admins"],
                "AttachedManagedPolicies": [{"PolicyName": "ReadOnlyAccess", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
                "UserPolicyList": [{"PolicyName": "inline", "PolicyDocument": {"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}}],
                "PermissionsBoundary": {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": "arn:aws:iam::111122223333:policy/boundary"},
                "Tags": []
            }],
            "GroupDetailList": [{
                "Path": "/", "GroupName": "admins", "GroupId": "AGPA1", "Arn": "arn:aws:iam::111122223333:group/admins",
                "CreateDate": "2022-08-07 12:55:43+00:00",
                "GroupPolicyList": [{"PolicyName": "encoded", "PolicyDocument": "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22ec2%3A%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D"}],
                "AttachedManagedPolicies": []
            }],
            "RoleDetailList": [{
                "Path": "/service-role/", "RoleName": "worker", "RoleId": "AROA1", "Arn": "arn:aws:iam::111122223333:role/service-role/worker",
                "CreateDate": "2021-03-13T18:40:54+00:00",
                "AssumeRolePolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"ec2.amazonaws.com\"},\"Action\":\"sts:AssumeRole\"}]}",
                "InstanceProfileList": [{"anything": ["goes", 1, null]}],
                "RolePolicyList": [],
                "AttachedManagedPolicies": [],
                "RoleLastUsed": {}
            }],
            "Policies": [{
                "PolicyName": "boundary", "PolicyId": "ANPA1", "Arn": "arn:aws:iam::111122223333:policy/boundary",
                "Path": "/", "DefaultVersionId": "v2",
                "PolicyVersionList": [
                    {"Document": allow_document("s3:*"), "VersionId": "v1", "IsDefaultVersion": false},
                    {"Document": allow_document("ec2:*"), "VersionId": "v2", "IsDefaultVersion": true}
                ]
            }]
        })
    }

    #[test]
    fn parses_every_entity() {
        let details = AuthorizationDetails::from_value(&sample()).expect("parses");
        assert!(details.warnings.is_empty(), "{:?}", details.warnings);
        let alice = &details.users[0];
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.user_id, "AIDA1");
        assert_eq!(alice.path, "/");
        assert_eq!(alice.group_names, vec!["admins".to_string()]);
        assert_eq!(
            alice.attached_policies[0].arn,
            "arn:aws:iam::aws:policy/ReadOnlyAccess"
        );
        assert_eq!(alice.inline_policies[0].name, "inline");
        assert_eq!(alice.inline_policies[0].document.statements.len(), 1);
        assert_eq!(
            alice
                .permissions_boundary
                .as_ref()
                .map(|b| b.policy_arn.as_str()),
            Some("arn:aws:iam::111122223333:policy/boundary")
        );
        let admins = details
            .group_of_user(alice, "admins")
            .expect("group resolves");
        assert_eq!(
            first_action(&admins.inline_policies[0].document),
            Some(&ActionClause::Action(vec!["ec2:*".into()]))
        );
        let worker = &details.roles[0];
        assert_eq!(worker.path, "/service-role/");
        assert!(
            worker
                .trust_policy
                .as_ref()
                .is_some_and(|trust| trust.statements[0].principal.is_some())
        );
        let boundary = &details.policies[0];
        assert_eq!(boundary.default_version_id, "v2");
        assert!(!boundary.is_aws_managed());
        assert_eq!(
            first_action(&boundary.document),
            Some(&ActionClause::Action(vec!["ec2:*".into()]))
        );
    }

    #[test]
    fn create_dates_in_both_formats() {
        let cases: &[(&str, Option<&str>)] = &[
            ("2017-09-02T18:02:14Z", Some("2017-09-02T18:02:14Z")),
            ("2022-08-07 12:55:43+00:00", Some("2022-08-07T12:55:43Z")),
            ("2021-03-13T18:40:54+00:00", Some("2021-03-13T18:40:54Z")),
            ("2021-03-13T20:40:54+02:00", Some("2021-03-13T18:40:54Z")),
            ("2019-01-01T00:00:00.123Z", Some("2019-01-01T00:00:00Z")),
            (
                "2022-08-07 12:55:43.250000+00:00",
                Some("2022-08-07T12:55:43Z"),
            ),
            ("2022-08-07 12:55:43", None),
            // Found by the iam_authz fuzz target: printed as -0019-12-18T19:10:08Z.
            ("-019-12-18 19:10:08+00:00", None),
            ("12019-12-18T19:10:08Z", None),
            ("0000-01-01T01:00:00+02:00", None),
            ("9999-12-31T23:00:00-05:00", None),
            ("yesterday", None),
            ("", None),
        ];
        for &(text, expected) in cases {
            let parsed = CreateDate::parse(text);
            assert_eq!(
                parsed.as_ref().map(CreateDate::rfc3339).as_deref(),
                expected,
                "{text:?}"
            );
            if let Some(parsed) = parsed {
                assert_eq!(parsed.original, text);
            }
        }
    }

    #[test]
    fn default_version_is_chosen_not_the_first() {
        // (versions as (id, IsDefaultVersion, action), DefaultVersionId, expected action or None for an error)
        type Case = (
            Vec<(&'static str, Option<bool>, &'static str)>,
            &'static str,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                vec![("v1", Some(false), "s3:*"), ("v2", Some(true), "ec2:*")],
                "v2",
                Some("ec2:*"),
            ),
            (
                vec![("v11", Some(true), "ec2:*"), ("v10", Some(false), "s3:*")],
                "v11",
                Some("ec2:*"),
            ),
            (
                vec![("v1", None, "s3:*"), ("v2", None, "ec2:*")],
                "v2",
                Some("ec2:*"),
            ),
            // The flag wins over a disagreeing DefaultVersionId (with a warning).
            (
                vec![("v1", Some(true), "s3:*"), ("v2", Some(false), "ec2:*")],
                "v2",
                Some("s3:*"),
            ),
            (
                vec![("v1", Some(true), "s3:*"), ("v2", Some(true), "ec2:*")],
                "v2",
                Some("ec2:*"),
            ),
            (
                vec![("v1", Some(true), "s3:*"), ("v2", Some(true), "ec2:*")],
                "v3",
                None,
            ),
            (vec![("v1", Some(false), "s3:*")], "v2", None),
            (vec![], "v1", None),
        ];
        for (versions, default_version_id, expected) in cases {
            let version_list: Vec<Value> = versions
                .iter()
                .map(|(id, flag, action)| {
                    let mut version = json!({"VersionId": id, "Document": allow_document(action)});
                    if let (Some(flag), Some(map)) = (flag, version.as_object_mut()) {
                        map.insert("IsDefaultVersion".into(), Value::Bool(*flag));
                    }
                    version
                })
                .collect();
            let input = json!({"Policies": [{"PolicyName": "p", "Arn": "arn:aws:iam::1:policy/p",
                "DefaultVersionId": default_version_id, "PolicyVersionList": version_list}]});
            let result = AuthorizationDetails::from_value(&input);
            match expected {
                Some(action) => {
                    let details = result.unwrap_or_else(|e| panic!("{versions:?}: {e}"));
                    assert_eq!(
                        first_action(&details.policies[0].document),
                        Some(&ActionClause::Action(vec![action.into()])),
                        "{versions:?}"
                    );
                }
                None => assert!(result.is_err(), "{versions:?} should be refused"),
            }
        }
    }

    #[test]
    fn missing_top_level_lists_mean_none() {
        let cases = vec![
            json!({}),
            json!({"UserDetailList": []}),
            json!({"RoleDetailList": null, "Policies": []}),
            json!({"GroupDetailList": [], "IsTruncated": false, "Marker": null}),
        ];
        for input in cases {
            let details = AuthorizationDetails::from_value(&input).expect("parses");
            assert_eq!(details, AuthorizationDetails::default(), "{input}");
        }
        let only_users =
            json!({"UserDetailList": [{"UserName": "bob", "Arn": "arn:aws:iam::1:user/bob"}]});
        let details = AuthorizationDetails::from_value(&only_users).expect("parses");
        assert_eq!(details.users.len(), 1);
        assert!(
            details.roles.is_empty() && details.groups.is_empty() && details.policies.is_empty()
        );
        assert_eq!(details.users[0].create_date, None);
    }

    #[test]
    fn truncated_page_warns() {
        let details = AuthorizationDetails::from_value(
            &json!({"UserDetailList": [], "IsTruncated": true, "Marker": "abc"}),
        )
        .expect("parses");
        assert_eq!(details.warnings.len(), 1);
    }

    #[test]
    fn malformed_input_names_the_principal_and_field() {
        let user = |extra: Value| {
            let mut user = json!({"UserName": "alice", "Arn": "arn:aws:iam::1:user/alice"});
            if let (Some(map), Value::Object(extra)) = (user.as_object_mut(), extra) {
                map.extend(extra);
            }
            json!({"UserDetailList": [user]})
        };
        // (input, expected rendering of the error)
        let cases: Vec<(Value, &str)> = vec![
            (
                json!([]),
                "the authorization details must be a JSON object, found a list",
            ),
            (
                json!({"RoleDetailList": {}}),
                "the authorization details, field `RoleDetailList`: expected a list, found an object",
            ),
            (
                json!({"UserDetailList": ["alice"]}),
                "UserDetailList[0], field ``: expected an object, found a string",
            ),
            (
                json!({"UserDetailList": [{"UserName": "alice"}]}),
                "UserDetailList[0], field `Arn`: missing",
            ),
            (
                user(json!({"UserName": 5})),
                "user arn:aws:iam::1:user/alice, field `UserName`: expected a string, found a number",
            ),
            (
                user(json!({"CreateDate": "last week"})),
                "user arn:aws:iam::1:user/alice, field `CreateDate`: \"last week\" is not a date with a UTC offset",
            ),
            (
                user(json!({"GroupList": [{"GroupName": "g"}]})),
                "user arn:aws:iam::1:user/alice, field `GroupList[0]`: expected a group name, found an object",
            ),
            (
                user(json!({"AttachedManagedPolicies": [{"PolicyName": "p"}]})),
                "user arn:aws:iam::1:user/alice, field `AttachedManagedPolicies[0].PolicyArn`: missing",
            ),
            (
                user(json!({"PermissionsBoundary": {"PermissionsBoundaryType": "Policy"}})),
                "user arn:aws:iam::1:user/alice, field `PermissionsBoundary.PermissionsBoundaryArn`: missing",
            ),
            (
                user(
                    json!({"UserPolicyList": [{"PolicyName": "inline", "PolicyDocument": {"Statement": [{"Effect": "Permit", "Action": "*", "Resource": "*"}]}}]}),
                ),
                "user arn:aws:iam::1:user/alice, field `UserPolicyList[0] (inline).PolicyDocument`: statement 0: has `Effect` \"Permit\"; expected \"Allow\" or \"Deny\"",
            ),
            (
                json!({"Policies": [{"PolicyName": "p", "Arn": "arn:aws:iam::1:policy/p", "DefaultVersionId": "v1",
                    "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": true, "Document": "%7Bbroken"}]}]}),
                "managed policy arn:aws:iam::1:policy/p, field `PolicyVersionList[0] (v1).Document`: the document is not valid JSON: key must be a string at line 1 column 2",
            ),
            (
                json!({"RoleDetailList": [{"RoleName": "r", "Arn": "arn:aws:iam::1:role/r", "AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow", "Principal": 3}]}}]}),
                "role arn:aws:iam::1:role/r, field `AssumeRolePolicyDocument`: statement 0: field `Principal` must be \"*\" or an object, found a number",
            ),
        ];
        for (input, expected) in cases {
            let error = AuthorizationDetails::from_value(&input).expect_err(expected);
            // Each cause says its own part once; the chain read in order is the whole message.
            let mut chain = error.to_string();
            let mut cause = std::error::Error::source(&error);
            while let Some(inner) = cause {
                chain.push_str(&format!(": {inner}"));
                cause = inner.source();
            }
            assert_eq!(chain, expected);
        }
        let policy_error =
            AuthorizationDetails::from_value(&user(json!({"UserPolicyList": [{"PolicyName": "x",
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": 1}]}}]})));
        assert!(matches!(
            policy_error,
            Err(AuthzError::Policy {
                source: PolicyError::Statement {
                    problem: StatementProblem::FieldType {
                        field: "Action",
                        ..
                    },
                    ..
                },
                ..
            })
        ));
        assert!(matches!(
            AuthorizationDetails::from_json_str("{"),
            Err(AuthzError::Json(_))
        ));
    }

    #[test]
    fn merged_pages_combine_by_arn() {
        let page = |users: Value, roles: Value, policies: Value| {
            AuthorizationDetails::from_value(
                &json!({"UserDetailList": users, "RoleDetailList": roles, "Policies": policies}),
            )
            .expect("page parses")
        };
        let alice = json!({"UserName": "alice", "Arn": "arn:aws:iam::1:user/alice"});
        let alice_changed =
            json!({"UserName": "alice", "Arn": "arn:aws:iam::1:user/alice", "GroupList": ["g"]});
        let bob = json!({"UserName": "bob", "Arn": "arn:aws:iam::1:user/bob"});
        let role = json!({"RoleName": "r", "Arn": "arn:aws:iam::1:role/r"});
        let policy = json!({"PolicyName": "p", "Arn": "arn:aws:iam::1:policy/p", "DefaultVersionId": "v1",
            "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": true, "Document": allow_document("s3:*")}]});

        let merged = AuthorizationDetails::merge(vec![
            page(json!([alice.clone()]), json!([]), json!([policy.clone()])),
            page(json!([bob, alice.clone()]), json!([role]), json!([policy])),
        ]);
        let user_arns: Vec<&str> = merged.users.iter().map(|user| user.arn.as_str()).collect();
        assert_eq!(
            user_arns,
            vec!["arn:aws:iam::1:user/alice", "arn:aws:iam::1:user/bob"]
        );
        assert_eq!(merged.roles.len(), 1);
        assert_eq!(
            merged.policies.len(),
            1,
            "identical duplicates are kept once"
        );
        assert!(merged.warnings.is_empty(), "{:?}", merged.warnings);

        let conflicting = AuthorizationDetails::merge(vec![
            page(json!([alice]), json!([]), json!([])),
            page(json!([alice_changed]), json!([]), json!([])),
        ]);
        assert_eq!(conflicting.users.len(), 1);
        assert_eq!(
            conflicting.users[0].group_names,
            vec!["g".to_string()],
            "the later input wins"
        );
        assert_eq!(conflicting.warnings.len(), 1);
    }

    #[test]
    fn groups_resolve_within_the_users_account() {
        let input = json!({
            "UserDetailList": [
                {"UserName": "u", "Arn": "arn:aws:iam::2:user/u"},
                {"UserName": "odd", "Arn": "hand-written"}
            ],
            "GroupDetailList": [
                {"GroupName": "dev", "Arn": "arn:aws:iam::1:group/dev"},
                {"GroupName": "dev", "Arn": "arn:aws:iam::2:group/team/dev"},
                {"GroupName": "ops", "Arn": "arn:aws:iam::1:group/ops"}
            ]
        });
        let details = AuthorizationDetails::from_value(&input).expect("parses");
        // (user, group name, expected group ARN)
        let cases: &[(usize, &str, Option<&str>)] = &[
            (0, "dev", Some("arn:aws:iam::2:group/team/dev")),
            (0, "ops", None),
            (0, "ghost", None),
            (1, "ops", Some("arn:aws:iam::1:group/ops")),
            (1, "dev", None),
        ];
        for &(user, name, expected) in cases {
            let user = &details.users[user];
            assert_eq!(
                details
                    .group_of_user(user, name)
                    .map(|group| group.arn.as_str()),
                expected,
                "{} in {name}",
                user.arn
            );
        }
    }

    #[test]
    fn account_of_arns() {
        let cases: &[(&str, Option<&str>)] = &[
            ("arn:aws:iam::123456789012:user/a", Some("123456789012")),
            ("arn:aws:iam::aws:policy/ReadOnlyAccess", Some("aws")),
            ("arn:aws-cn:iam::1:role/a:b", Some("1")),
            ("not-an-arn", None),
        ];
        for &(arn, expected) in cases {
            assert_eq!(account_of_arn(arn), expected, "{arn}");
        }
    }
}
