//! Which resources a call named, read from its request parameters: the ARNs its IAM action is
//! authorised against (`data/arn-parameters.tsv`) and the roles it handed to a service, which need
//! `iam:PassRole` (`data/passrole-parameters.tsv`). Both tables are hand-curated, each row with its
//! source; their headers say what each column means.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::Value;

use super::strip_api_date_suffix;
use crate::iam::resource_types::{AcceptedType, data_rows, fits_format};

const ARN_PARAMETERS_TSV: &str = include_str!("../../data/arn-parameters.tsv");
const PASSROLE_PARAMETERS_TSV: &str = include_str!("../../data/passrole-parameters.tsv");

static RULES: LazyLock<Rules> = LazyLock::new(|| {
    // Both files are checked by unit tests; failing here means the build shipped a broken file.
    Rules::from_tsv(ARN_PARAMETERS_TSV, PASSROLE_PARAMETERS_TSV)
        .expect("embedded data/arn-parameters.tsv and data/passrole-parameters.tsv must parse")
});

/// How a request parameter's value becomes an ARN variable, or the ARN itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    Name,
    Arn,
    ArnOrName,
    UrlLastSegment,
    UrlAccountSegment,
    IamName,
    LambdaFunction,
    KmsKeyId,
    SecretId,
    SecretName,
    SsmParameter,
}

impl How {
    fn parse(text: &str) -> Option<How> {
        Some(match text {
            "name" => How::Name,
            "arn" => How::Arn,
            "arn-or-name" => How::ArnOrName,
            "url-last-segment" => How::UrlLastSegment,
            "url-account-segment" => How::UrlAccountSegment,
            "iam-name" => How::IamName,
            "lambda-function" => How::LambdaFunction,
            "kms-key-id" => How::KmsKeyId,
            "secret-id" => How::SecretId,
            "secret-name" => How::SecretName,
            "ssm-parameter" => How::SsmParameter,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
struct ArnRule {
    /// `*` or an event name, lower-case.
    event: String,
    variable: String,
    path: String,
    how: How,
}

#[derive(Debug, Clone)]
struct PassRoleRule {
    path: String,
    instance_profile: bool,
}

#[derive(Debug, Default)]
pub struct Rules {
    /// By (IAM service prefix, resource type name), in file order.
    arns: HashMap<(String, String), Vec<ArnRule>>,
    /// By (event source, lower-case event name).
    pass_role: HashMap<(String, String), Vec<PassRoleRule>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file} line {line}: {problem}")]
pub struct RulesError {
    file: &'static str,
    line: usize,
    problem: String,
}

/// The event name as the tables write it: lower-case, without an API date suffix.
fn event_key(event_name: &str) -> String {
    strip_api_date_suffix(event_name)
        .unwrap_or(event_name)
        .to_ascii_lowercase()
}

impl Rules {
    pub fn embedded() -> &'static Rules {
        &RULES
    }

    pub fn from_tsv(arn_parameters: &str, passrole_parameters: &str) -> Result<Rules, RulesError> {
        let mut rules = Rules::default();
        let error = |file, line, problem: String| RulesError {
            file,
            line,
            problem,
        };
        for (line, fields) in data_rows(arn_parameters) {
            let file = "data/arn-parameters.tsv";
            let [service, resource_type, event, variable, path, how, _source] = fields[..] else {
                return Err(error(
                    file,
                    line,
                    format!("expected 7 fields, found {}", fields.len()),
                ));
            };
            let how =
                How::parse(how).ok_or_else(|| error(file, line, format!("unknown how {how:?}")))?;
            rules
                .arns
                .entry((service.to_string(), resource_type.to_string()))
                .or_default()
                .push(ArnRule {
                    event: if event == "*" {
                        "*".into()
                    } else {
                        event_key(event)
                    },
                    variable: variable.to_string(),
                    path: path.to_string(),
                    how,
                });
        }
        for (line, fields) in data_rows(passrole_parameters) {
            let file = "data/passrole-parameters.tsv";
            let [source, name, path, kind, _reference] = fields[..] else {
                return Err(error(
                    file,
                    line,
                    format!("expected 5 fields, found {}", fields.len()),
                ));
            };
            let instance_profile = match kind {
                "role" => false,
                "instance-profile" => true,
                other => return Err(error(file, line, format!("unknown kind {other:?}"))),
            };
            rules
                .pass_role
                .entry((source.to_string(), event_key(name)))
                .or_default()
                .push(PassRoleRule {
                    path: path.to_string(),
                    instance_profile,
                });
        }
        Ok(rules)
    }
}

/// Where a call ran: what fills `${Partition}`, `${Region}` and `${Account}`, and the account's
/// IAM names, which give the paths of users and roles named without one.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub iam_names: Option<&'a IamNames>,
}

/// An ARN a call named, and the request parameter it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedResource {
    pub arn: String,
    /// `requestParameters.<path>`.
    pub parameter: String,
}

/// The string values at `path` (members joined by `.`, `[]` for every element of an array).
fn values_at<'a>(value: &'a Value, path: &str) -> Vec<&'a str> {
    let mut current: Vec<&Value> = vec![value];
    for part in path.split('.') {
        let (name, every) = match part.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (part, false),
        };
        let mut next = Vec::new();
        for value in current {
            let Some(member) = value.get(name) else {
                continue;
            };
            if every {
                next.extend(member.as_array().into_iter().flatten());
            } else {
                next.push(member);
            }
        }
        current = next;
    }
    current.into_iter().filter_map(Value::as_str).collect()
}

/// What one value gives: the whole ARN, or the text of the variable.
enum Fill {
    Arn(String),
    Variable(String),
}

fn fill_of(how: How, value: &str, place: &Place<'_>) -> Option<Fill> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let arn = value.starts_with("arn:");
    Some(match how {
        How::Name => Fill::Variable(value.to_string()),
        How::Arn => {
            if !arn {
                return None;
            }
            Fill::Arn(value.to_string())
        }
        How::ArnOrName | How::LambdaFunction if arn => Fill::Arn(value.to_string()),
        How::ArnOrName => Fill::Variable(value.to_string()),
        How::LambdaFunction => {
            // `123456789012:function:name` is a partial ARN.
            match value.split_once(":function:") {
                Some((account, name)) => Fill::Arn(format!(
                    "arn:{}:lambda:{}:{account}:function:{name}",
                    place.partition, place.region
                )),
                None => Fill::Variable(value.to_string()),
            }
        }
        How::UrlLastSegment => Fill::Variable(value.rsplit('/').next()?.to_string()),
        How::UrlAccountSegment => {
            let mut segments = value.trim_end_matches('/').rsplit('/');
            segments.next()?;
            Fill::Variable(segments.next()?.to_string())
        }
        How::IamName => Fill::Variable(value.trim_start_matches('/').to_string()),
        How::KmsKeyId => {
            if value.starts_with("alias/") || (arn && value.contains(":alias/")) {
                // An alias names no key; the key it points to is not in the request.
                return None;
            }
            if arn {
                Fill::Arn(value.to_string())
            } else {
                Fill::Variable(value.to_string())
            }
        }
        How::SecretId if arn => {
            // A whole secret ARN ends in `-` and six characters; a partial one does not.
            let name = value.rsplit(':').next()?;
            let whole = name
                .rsplit_once('-')
                .is_some_and(|(_, suffix)| suffix.len() == 6);
            if whole {
                Fill::Arn(value.to_string())
            } else {
                Fill::Arn(format!("{value}-??????"))
            }
        }
        How::SecretId | How::SecretName => Fill::Variable(format!("{value}-??????")),
        How::SsmParameter => Fill::Variable(value.trim_start_matches('/').to_string()),
    })
}

/// An IAM user or role name from a request carries no path. `CreateUser` and `CreateRole` name it
/// in `path` (default `/`); otherwise the account's snapshot gives it (`service-role/deploy`), and a
/// name the snapshot does not hold stands for itself under the default path and under any other
/// (`deploy`, `*/deploy`), so the policy never misses it.
fn iam_paths(
    rule: &ArnRule,
    fill: Option<Fill>,
    event: &str,
    parameters: &Value,
    place: &Place<'_>,
) -> Vec<Fill> {
    let (How::IamName, Some(Fill::Variable(name))) = (rule.how, &fill) else {
        return fill.into_iter().collect();
    };
    let kind = match rule.variable.as_str() {
        "RoleNameWithPath" => "role",
        "UserNameWithPath" => "user",
        _ => return fill.into_iter().collect(),
    };
    if event == format!("create{kind}") {
        let path = parameters
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or("/")
            .trim_matches('/');
        return vec![Fill::Variable(if path.is_empty() {
            name.clone()
        } else {
            format!("{path}/{name}")
        })];
    }
    match place
        .iam_names
        .and_then(|names| names.with_path(kind, place.account, name))
    {
        Some(with_path) => vec![Fill::Variable(with_path.to_string())],
        None => vec![
            Fill::Variable(name.clone()),
            Fill::Variable(format!("*/{name}")),
        ],
    }
}

/// The users and roles of the IAM snapshots, by kind, account and name: their names with paths.
#[derive(Debug, Default)]
pub struct IamNames(HashMap<(&'static str, String, String), String>);

impl IamNames {
    pub fn from_details(details: &crate::iam::authz::AuthorizationDetails) -> IamNames {
        let mut names = HashMap::new();
        let users = details.users.iter().map(|u| ("user", &u.name, &u.arn));
        let roles = details.roles.iter().map(|r| ("role", &r.name, &r.arn));
        for (kind, name, arn) in users.chain(roles) {
            let account = arn.split(':').nth(4).unwrap_or_default();
            if let Some((_, with_path)) = arn.split_once(&format!(":{kind}/")) {
                // IAM names are unique without regard to case.
                names.insert(
                    (kind, account.to_string(), name.to_ascii_lowercase()),
                    with_path.to_string(),
                );
            }
        }
        IamNames(names)
    }

    fn with_path(&self, kind: &'static str, account: &str, name: &str) -> Option<&str> {
        self.0
            .get(&(kind, account.to_string(), name.to_ascii_lowercase()))
            .map(String::as_str)
    }
}

/// `format` with its variables filled, when every one of them is.
fn fill_format(
    format: &str,
    variables: &HashMap<&str, String>,
    place: &Place<'_>,
) -> Option<String> {
    let mut arn = String::with_capacity(format.len() + 32);
    let mut rest = format;
    while let Some(start) = rest.find("${") {
        arn.push_str(&rest[..start]);
        let end = rest[start..].find('}')? + start;
        let name = &rest[start + 2..end];
        let value = match name {
            "Partition" => place.partition,
            "Region" => place.region,
            "Account" if !variables.contains_key("Account") => place.account,
            _ => variables.get(name)?.as_str(),
        };
        arn.push_str(value);
        rest = &rest[end + 1..];
    }
    arn.push_str(rest);
    Some(arn)
}

/// The ARNs of resources of the types `accepted` that one call named in its request parameters.
pub fn named_resources(
    rules: &Rules,
    service: &str,
    event_name: &str,
    accepted: &[AcceptedType],
    parameters: &Value,
    place: &Place<'_>,
) -> Vec<NamedResource> {
    let event = event_key(event_name);
    let mut found: Vec<NamedResource> = Vec::new();
    for resource_type in accepted {
        let Some(type_rules) = rules
            .arns
            .get(&(service.to_string(), resource_type.name.clone()))
        else {
            continue;
        };
        // For each variable, the rows for this event win over the `*` rows.
        let mut variables: Vec<&str> = type_rules.iter().map(|r| r.variable.as_str()).collect();
        variables.dedup();
        let mut fills: Vec<(&str, Vec<(Fill, String)>)> = Vec::new();
        for variable in variables {
            let own: Vec<&ArnRule> = type_rules
                .iter()
                .filter(|r| r.variable == variable && r.event == event)
                .collect();
            let candidates = if own.is_empty() {
                type_rules
                    .iter()
                    .filter(|r| r.variable == variable && r.event == "*")
                    .collect()
            } else {
                own
            };
            // The first path present in the event wins.
            let values = candidates.iter().find_map(|rule| {
                let values: Vec<(Fill, String)> = values_at(parameters, &rule.path)
                    .into_iter()
                    .flat_map(|value| {
                        let fill = fill_of(rule.how, value, place);
                        iam_paths(rule, fill, &event, parameters, place)
                    })
                    .map(|fill| (fill, rule.path.clone()))
                    .collect();
                (!values.is_empty()).then_some(values)
            });
            if let Some(values) = values {
                fills.push((variable, values));
            }
        }
        for (_, values) in &fills {
            for (fill, path) in values {
                if let Fill::Arn(arn) = fill
                    && resource_type.formats.iter().any(|f| fits_format(arn, f))
                {
                    push(&mut found, arn.clone(), path);
                }
            }
        }
        // Variables: one value each, except one variable with several (an array).
        let singles: HashMap<&str, String> = fills
            .iter()
            .filter_map(|(variable, values)| match values.as_slice() {
                [(Fill::Variable(value), _)] => Some((*variable, value.clone())),
                _ => None,
            })
            .collect();
        let several = fills.iter().find(|(_, values)| {
            values.len() > 1
                && values
                    .iter()
                    .all(|(fill, _)| matches!(fill, Fill::Variable(_)))
        });
        let path_of = |fills: &[(&str, Vec<(Fill, String)>)]| {
            fills
                .iter()
                .flat_map(|(_, values)| values.iter().map(|(_, path)| path.as_str()))
                .collect::<Vec<_>>()
                .join(" + ")
        };
        let parameter = path_of(&fills);
        for format in &resource_type.formats {
            match several {
                None => {
                    if let Some(arn) = fill_format(format, &singles, place) {
                        push(&mut found, arn, &parameter);
                    }
                }
                Some((variable, values)) => {
                    for (fill, path) in values {
                        let Fill::Variable(value) = fill else {
                            continue;
                        };
                        let mut these = singles.clone();
                        these.insert(variable, value.clone());
                        if let Some(arn) = fill_format(format, &these, place) {
                            push(&mut found, arn, path);
                        }
                    }
                }
            }
        }
    }
    found
}

fn push(found: &mut Vec<NamedResource>, arn: String, parameter: &str) {
    if !found.iter().any(|resource| resource.arn == arn) {
        found.push(NamedResource {
            arn,
            parameter: format!("requestParameters.{parameter}"),
        });
    }
}

/// The ARNs of the roles (or instance profiles) one call handed to a service.
pub fn passed_roles(
    rules: &Rules,
    event_source: &str,
    event_name: &str,
    parameters: &Value,
    place: &Place<'_>,
) -> Vec<NamedResource> {
    let Some(pass_rules) = rules
        .pass_role
        .get(&(event_source.to_string(), event_key(event_name)))
    else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for rule in pass_rules {
        for value in values_at(parameters, &rule.path) {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let arn = if value.starts_with("arn:") {
                value.to_string()
            } else {
                let kind = if rule.instance_profile {
                    "instance-profile"
                } else {
                    "role"
                };
                format!(
                    "arn:{}:iam::{}:{kind}/{}",
                    place.partition,
                    place.account,
                    value.trim_start_matches('/')
                )
            };
            push(&mut found, arn, &rule.path);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::catalogue::Catalogue;
    use crate::iam::resource_types::ResourceTypes;

    const PLACE: Place<'static> = Place {
        partition: "aws",
        region: "us-east-1",
        account: "111111111111",
        iam_names: None,
    };

    fn named(service: &str, action: &str, event: &str, parameters: &str) -> Vec<String> {
        let catalogue = Catalogue::embedded();
        let id = catalogue.lookup(service, action).expect("in the catalogue");
        let accepted = ResourceTypes::embedded().of(id);
        let parameters: Value = serde_json::from_str(parameters).expect("JSON");
        named_resources(
            Rules::embedded(),
            service,
            event,
            accepted,
            &parameters,
            &PLACE,
        )
        .into_iter()
        .map(|resource| resource.arn)
        .collect()
    }

    #[test]
    fn the_embedded_rules_parse() {
        let rules = Rules::embedded();
        assert!(rules.arns.len() >= 15);
        assert!(rules.pass_role.len() >= 40);
    }

    #[test]
    fn request_parameters_fill_the_formats() {
        assert_eq!(
            named(
                "s3",
                "CreateBucket",
                "CreateBucket",
                r#"{"bucketName":"logs-1","Host":"x"}"#
            ),
            ["arn:aws:s3:::logs-1"]
        );
        assert_eq!(
            named(
                "s3",
                "GetObject",
                "GetObject",
                r#"{"bucketName":"b","key":"dir/k.txt"}"#
            ),
            ["arn:aws:s3:::b/dir/k.txt"]
        );
        assert_eq!(
            named(
                "dynamodb",
                "GetItem",
                "GetItem",
                r#"{"tableName":"orders"}"#
            ),
            ["arn:aws:dynamodb:us-east-1:111111111111:table/orders"]
        );
        assert_eq!(
            named(
                "sts",
                "AssumeRole",
                "AssumeRole",
                r#"{"roleArn":"arn:aws:iam::222222222222:role/admin","roleSessionName":"s"}"#
            ),
            ["arn:aws:iam::222222222222:role/admin"]
        );
        assert_eq!(
            named(
                "sqs",
                "SendMessage",
                "SendMessage",
                r#"{"queueUrl":"https://sqs.us-east-1.amazonaws.com/333333333333/jobs"}"#
            ),
            ["arn:aws:sqs:us-east-1:333333333333:jobs"]
        );
        assert_eq!(
            named(
                "secretsmanager",
                "GetSecretValue",
                "GetSecretValue",
                r#"{"secretId":"db"}"#
            ),
            ["arn:aws:secretsmanager:us-east-1:111111111111:secret:db-??????"]
        );
        assert_eq!(
            named("kms", "Decrypt", "Decrypt", r#"{"keyId":"alias/app"}"#),
            Vec::<String>::new(),
            "an alias names no key"
        );
        assert_eq!(
            named(
                "lambda",
                "InvokeFunction",
                "Invoke",
                r#"{"functionName":"arn:aws:lambda:us-east-1:111111111111:function:f"}"#
            ),
            ["arn:aws:lambda:us-east-1:111111111111:function:f"]
        );
        assert_eq!(
            named(
                "sns",
                "Publish",
                "Publish",
                r#"{"topicArn":"arn:aws:sns:us-east-1:111111111111:alerts","message":"m"}"#
            ),
            ["arn:aws:sns:us-east-1:111111111111:alerts"]
        );
        assert_eq!(
            named("iam", "GetRole", "GetRole", r#"{"roleName":"deploy"}"#),
            [
                "arn:aws:iam::111111111111:role/deploy",
                "arn:aws:iam::111111111111:role/*/deploy"
            ],
            "without a snapshot, the default path and any other"
        );
        assert_eq!(
            named(
                "kms",
                "Decrypt",
                "Decrypt",
                r#"{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}"#
            ),
            ["arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
        );
        assert_eq!(
            named("s3", "GetObject", "GetObject", r#"{"key":"k"}"#),
            Vec::<String>::new(),
            "a bucket is needed too"
        );
    }

    #[test]
    fn roles_handed_to_services_are_found() {
        let passed = |source: &str, name: &str, parameters: &str| -> Vec<String> {
            let parameters: Value = serde_json::from_str(parameters).expect("JSON");
            passed_roles(Rules::embedded(), source, name, &parameters, &PLACE)
                .into_iter()
                .map(|resource| resource.arn)
                .collect()
        };
        assert_eq!(
            passed(
                "lambda.amazonaws.com",
                "CreateFunction20150331",
                r#"{"functionName":"f","role":"arn:aws:iam::111111111111:role/exec"}"#
            ),
            ["arn:aws:iam::111111111111:role/exec"]
        );
        assert_eq!(
            passed(
                "ecs.amazonaws.com",
                "RegisterTaskDefinition",
                r#"{"taskRoleArn":"arn:aws:iam::111111111111:role/task","executionRoleArn":"ecsExec"}"#
            ),
            [
                "arn:aws:iam::111111111111:role/ecsExec",
                "arn:aws:iam::111111111111:role/task"
            ]
        );
        assert_eq!(
            passed("lambda.amazonaws.com", "Invoke", r#"{"role":"x"}"#),
            Vec::<String>::new()
        );
    }

    /// `a.b[].c` holding `value`: `{"a":{"b":[{"c":value}]}}`.
    fn parameters_at(path: &str, value: &str) -> Value {
        let mut built = Value::String(value.to_string());
        for part in path.rsplit('.') {
            built = match part.strip_suffix("[]") {
                Some(name) => serde_json::json!({ name: [built] }),
                None => serde_json::json!({ part: built }),
            };
        }
        built
    }

    /// Every row of the PassRole list: a call with the role (or instance profile) at the row's
    /// path, by ARN and by name; Lambda's also with the API date its event names carry.
    #[test]
    fn every_passrole_row_finds_its_role() {
        let rules = Rules::embedded();
        let mut rows = 0;
        for ((source, name), pass_rules) in &rules.pass_role {
            for rule in pass_rules {
                let kind = if rule.instance_profile {
                    "instance-profile"
                } else {
                    "role"
                };
                let arn = format!("arn:aws:iam::111111111111:{kind}/service-role/passed");
                let lambda = source == "lambda.amazonaws.com";
                for (value, dated) in [
                    (arn.as_str(), false),
                    ("service-role/passed", false),
                    (arn.as_str(), lambda),
                ] {
                    let event = if dated {
                        format!("{name}20150331")
                    } else {
                        name.clone()
                    };
                    let found = passed_roles(
                        rules,
                        source,
                        &event,
                        &parameters_at(&rule.path, value),
                        &PLACE,
                    );
                    assert!(
                        found.iter().any(|resource| resource.arn == arn),
                        "{source} {event} {}: {found:?}",
                        rule.path
                    );
                }
                rows += 1;
            }
        }
        assert!(rows >= 100, "{rows} rows");
    }

    #[test]
    fn iam_names_take_their_path_from_the_snapshot() {
        let details = crate::iam::authz::AuthorizationDetails::from_json_str(
            r#"{"UserDetailList":[{"UserName":"Bob","UserId":"A","Arn":"arn:aws:iam::111111111111:user/ops/Bob","Path":"/ops/","CreateDate":"2020-01-01T00:00:00Z","UserPolicyList":[],"GroupList":[],"AttachedManagedPolicies":[]}],
                "GroupDetailList":[],"RoleDetailList":[{"RoleName":"deploy","RoleId":"R","Arn":"arn:aws:iam::111111111111:role/service-role/deploy","Path":"/service-role/","CreateDate":"2020-01-01T00:00:00Z","RolePolicyList":[],"AttachedManagedPolicies":[],"AssumeRolePolicyDocument":{"Version":"2012-10-17","Statement":[]}}],
                "Policies":[]}"#,
        )
        .expect("snapshot");
        let names = IamNames::from_details(&details);
        let place = Place {
            iam_names: Some(&names),
            ..PLACE
        };
        let catalogue = Catalogue::embedded();
        let arns = |action: &str, parameters: &str| -> Vec<String> {
            let id = catalogue.lookup_full(action).expect("known");
            let service = &catalogue.get(id).service;
            let name = &catalogue.get(id).name;
            let parameters: Value = serde_json::from_str(parameters).expect("JSON");
            named_resources(
                Rules::embedded(),
                service,
                name,
                ResourceTypes::embedded().of(id),
                &parameters,
                &place,
            )
            .into_iter()
            .map(|resource| resource.arn)
            .collect()
        };
        assert_eq!(
            arns("iam:GetRole", r#"{"roleName":"deploy"}"#),
            ["arn:aws:iam::111111111111:role/service-role/deploy"]
        );
        assert_eq!(
            arns("iam:CreateAccessKey", r#"{"userName":"bob"}"#),
            ["arn:aws:iam::111111111111:user/ops/Bob"]
        );
        assert_eq!(
            arns("iam:CreateRole", r#"{"roleName":"new","path":"/app/"}"#),
            ["arn:aws:iam::111111111111:role/app/new"]
        );
        assert_eq!(
            arns("iam:CreateUser", r#"{"userName":"fresh"}"#),
            ["arn:aws:iam::111111111111:user/fresh"]
        );
        assert_eq!(
            arns("iam:GetRole", r#"{"roleName":"ghost"}"#),
            [
                "arn:aws:iam::111111111111:role/ghost",
                "arn:aws:iam::111111111111:role/*/ghost"
            ]
        );
    }
}
