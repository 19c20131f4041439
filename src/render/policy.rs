//! The least-privilege policy of one principal, written from its [`Needs`]: one statement per
//! service, access level and set of resources, in a fixed order, split into several documents when
//! one would pass the size AWS allows. It only reads the needs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::findings::needs::{AnyResource, NeededAction, Needs, ResourceReason};
use crate::iam::catalogue::{AccessLevel, Catalogue};
use crate::iam::pattern::wildcard_match;
use crate::iam::resource_types::ResourceTypes;

/// Where the policy will go, which sets its size limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// A managed policy: 6,144 characters
    #[default]
    Managed,
    /// A role's inline policies: 10,240 characters
    RoleInline,
    /// A user's inline policies: 2,048 characters
    UserInline,
    /// A group's inline policies: 5,120 characters
    GroupInline,
}

impl Target {
    /// Characters, white space not counted, as AWS counts them.
    pub fn limit(self) -> usize {
        match self {
            Target::Managed => 6_144,
            Target::RoleInline => 10_240,
            Target::UserInline => 2_048,
            Target::GroupInline => 5_120,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Beyond this many distinct resources of one type for an action, the narrowest wildcard.
    pub max_resources: usize,
    pub target: Target,
    /// Add the held actions whose use CloudTrail cannot show, as their own statement.
    pub keep_unknown: bool,
}

/// One statement of the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    #[serde(rename = "Sid")]
    pub sid: String,
    #[serde(rename = "Effect")]
    pub effect: &'static str,
    /// `service:Action` as IAM spells them, sorted.
    #[serde(rename = "Action")]
    pub actions: Vec<String>,
    #[serde(rename = "Resource")]
    pub resources: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error(
        "statement {sid} alone is {size} characters, over the {limit} a {target:?} policy allows; lower --max-resources or choose a larger --target"
    )]
    StatementTooLarge {
        sid: String,
        size: usize,
        limit: usize,
        target: Target,
    },
    #[error("{principal} made no successful call that needs an IAM action in the window")]
    NothingUsed { principal: String },
}

/// The resources one action gets: its ARNs, widened beyond `max_resources` of one type, or `*`.
pub fn resources_of(
    action: &NeededAction,
    resource_types: &ResourceTypes,
    max_resources: usize,
) -> Vec<String> {
    if !action.any_resource.is_empty() || action.resources.is_empty() {
        return vec!["*".to_string()];
    }
    // Group by the first ARN format each fits; each group is widened on its own.
    let formats: Vec<&str> = resource_types
        .of(action.id)
        .iter()
        .flat_map(|accepted| accepted.formats.iter().map(String::as_str))
        .collect();
    let mut groups: BTreeMap<Option<&str>, Vec<&str>> = BTreeMap::new();
    for arn in action.resources.keys() {
        let format = formats
            .iter()
            .copied()
            .find(|format| crate::iam::resource_types::fits_format(arn, format));
        groups.entry(format).or_default().push(arn);
    }
    let mut resources = Vec::new();
    for (format, arns) in groups {
        if arns.len() <= max_resources {
            resources.extend(arns.iter().map(|arn| arn.to_string()));
        } else {
            resources.push(narrowest_wildcard(&arns, format));
        }
    }
    resources.sort();
    resources.dedup();
    resources
}

/// The narrowest pattern that covers every one of `arns` (sorted): their common beginning, then `*`
/// for the rest of the variable it ends in, and the rest of `format` with `*` for each variable
/// (`arn:aws:s3:::logs-a/x`, `arn:aws:s3:::logs-b/y` → `arn:aws:s3:::logs-*/*`).
pub fn narrowest_wildcard(arns: &[&str], format: Option<&str>) -> String {
    let (Some(first), Some(last)) = (arns.first(), arns.last()) else {
        return "*".to_string();
    };
    // For sorted text, the common beginning of the first and last is that of all.
    let common: String = first
        .chars()
        .zip(last.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    let fallback = format!("{common}*");
    let Some(format) = format else {
        return fallback;
    };
    let pieces = format_pieces(format);
    let mut at = 0;
    for (index, piece) in pieces.iter().enumerate() {
        match piece {
            Piece::Literal(text) => {
                if common[at..].starts_with(text.as_str()) {
                    at += text.len();
                    continue;
                }
                break;
            }
            Piece::Variable => {
                let next = pieces[index + 1..].iter().find_map(|piece| match piece {
                    Piece::Literal(text) => Some(text.as_str()),
                    Piece::Variable => None,
                });
                if let Some(next) = next
                    && let Some(found) = common[at..].find(next)
                {
                    at += found;
                    continue;
                }
                // The common beginning ends inside this variable.
                let mut pattern = common.clone();
                pattern.push('*');
                for piece in &pieces[index + 1..] {
                    match piece {
                        Piece::Literal(text) => pattern.push_str(text),
                        Piece::Variable => pattern.push('*'),
                    }
                }
                while pattern.contains("**") {
                    pattern = pattern.replace("**", "*");
                }
                if arns.iter().all(|arn| wildcard_match(&pattern, arn)) {
                    return pattern;
                }
                return fallback;
            }
        }
    }
    fallback
}

enum Piece {
    Literal(String),
    Variable,
}

fn format_pieces(format: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = format;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            pieces.push(Piece::Literal(rest[..start].to_string()));
        }
        match rest[start..].find('}') {
            Some(end) => {
                pieces.push(Piece::Variable);
                rest = &rest[start + end + 1..];
            }
            None => break,
        }
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(rest.to_string()));
    }
    pieces
}

fn camel(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// The statements: actions of one service and access level that get the same resources share one.
/// Sorted by service, access level, then resources; Sids are `S3Write`, `S3Write2`, … and the kept
/// unknown actions come last as `KeptUnknown…`.
pub fn statements(
    needs: &Needs,
    catalogue: &Catalogue,
    resource_types: &ResourceTypes,
    options: &Options,
) -> Vec<Statement> {
    // AccessLevel orders List, Read, Write, Permissions management, Tagging.
    type Key = (String, AccessLevel, Vec<String>);
    let mut grouped: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    for action in &needs.actions {
        let info = catalogue.get(action.id);
        let resources = resources_of(action, resource_types, options.max_resources);
        grouped
            .entry((info.service.clone(), info.access_level, resources))
            .or_default()
            .push(info.full_name.clone());
    }
    let mut statements = Vec::new();
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    let mut sid = |base: String| {
        let count = taken.entry(base.clone()).or_default();
        *count += 1;
        if *count == 1 {
            base
        } else {
            format!("{base}{count}")
        }
    };
    for ((service, level, resources), mut actions) in grouped {
        actions.sort();
        statements.push(Statement {
            sid: sid(format!("{}{}", camel(&service), camel(level.as_str()))),
            effect: "Allow",
            actions,
            resources,
        });
    }
    if options.keep_unknown && !needs.unknown.is_empty() {
        let mut by_service: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for id in &needs.unknown {
            let info = catalogue.get(*id);
            by_service
                .entry(&info.service)
                .or_default()
                .push(info.full_name.clone());
        }
        for (service, mut actions) in by_service {
            actions.sort();
            statements.push(Statement {
                sid: sid(format!("KeptUnknown{}", camel(service))),
                effect: "Allow",
                actions,
                resources: vec!["*".to_string()],
            });
        }
    }
    statements
}

/// One policy document, its members in the order AWS writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    #[serde(rename = "Version")]
    pub version: &'static str,
    #[serde(rename = "Statement")]
    pub statements: Vec<Statement>,
}

/// Characters without white space, as AWS counts a policy's size.
pub fn size(document: &impl Serialize) -> usize {
    serde_json::to_string(document)
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .count()
}

fn document(statements: &[Statement]) -> Document {
    Document {
        version: "2012-10-17",
        statements: statements.to_vec(),
    }
}

/// The statements in as few documents as fit the target, in order.
pub fn documents(statements: &[Statement], target: Target) -> Result<Vec<Document>, PolicyError> {
    let limit = target.limit();
    let mut documents = Vec::new();
    let mut current: Vec<Statement> = Vec::new();
    for statement in statements {
        let alone = size(&document(std::slice::from_ref(statement)));
        if alone > limit {
            return Err(PolicyError::StatementTooLarge {
                sid: statement.sid.clone(),
                size: alone,
                limit,
                target,
            });
        }
        current.push(statement.clone());
        if size(&document(&current)) > limit {
            current.pop();
            documents.push(document(&current));
            current = vec![statement.clone()];
        }
    }
    if !current.is_empty() {
        documents.push(document(&current));
    }
    Ok(documents)
}

/// The policy as JSON: one document, or an array of them when it is split.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Written<'a> {
    One(&'a Document),
    Split(&'a [Document]),
}

impl<'a> Written<'a> {
    pub fn of(documents: &'a [Document]) -> Written<'a> {
        match documents {
            [one] => Written::One(one),
            all => Written::Split(all),
        }
    }
}

/// How `policy` writes the documents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyFormat {
    /// The policy document, or a JSON array of them when split
    #[default]
    Json,
    /// Terraform `aws_iam_policy` resources, the documents in `jsonencode`
    Terraform,
    /// A CloudFormation template (YAML) of `AWS::IAM::ManagedPolicy` resources
    Cloudformation,
}

/// `alice` → `alice`, `ops/deploy-bot` → `ops-deploy-bot`: a name IAM and Terraform both take.
pub fn resource_name(principal_name: &str, index: usize, count: usize) -> String {
    let mut name: String = principal_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.insert_str(0, "ctidx-");
    if count > 1 {
        name.push_str(&format!("-{}", index + 1));
    }
    name
}

/// Terraform: one `aws_iam_policy` per document.
pub fn terraform(documents: &[Document], principal_name: &str, description: &str) -> String {
    let mut out = String::new();
    for (index, document) in documents.iter().enumerate() {
        let name = resource_name(principal_name, index, documents.len());
        let label = name.replace('-', "_");
        // HCL takes JSON's object syntax; only template sequences need escaping.
        let body = serde_json::to_string_pretty(document)
            .unwrap_or_default()
            .replace("${", "$${")
            .replace("%{", "%%{")
            .replace('\n', "\n  ");
        let description = serde_json::to_string(description).unwrap_or_default();
        out.push_str(&format!(
            "resource \"aws_iam_policy\" \"{label}\" {{\n  name        = \"{name}\"\n  description = {description}\n  policy = jsonencode({body})\n}}\n"
        ));
        if index + 1 < documents.len() {
            out.push('\n');
        }
    }
    out
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Template<'a> {
    #[serde(rename = "AWSTemplateFormatVersion")]
    format_version: &'static str,
    description: &'a str,
    resources: BTreeMap<String, TemplateResource<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TemplateResource<'a> {
    #[serde(rename = "Type")]
    kind: &'static str,
    properties: ManagedPolicyProperties<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ManagedPolicyProperties<'a> {
    managed_policy_name: String,
    description: &'a str,
    policy_document: &'a Document,
}

/// CloudFormation: a YAML template with one `AWS::IAM::ManagedPolicy` per document.
pub fn cloudformation(
    documents: &[Document],
    principal_name: &str,
    description: &str,
) -> Result<String, serde_yaml::Error> {
    let resources = documents
        .iter()
        .enumerate()
        .map(|(index, document)| {
            let name = resource_name(principal_name, index, documents.len());
            let logical_id: String = name
                .split(|c: char| !c.is_ascii_alphanumeric())
                .map(camel)
                .collect();
            (
                logical_id,
                TemplateResource {
                    kind: "AWS::IAM::ManagedPolicy",
                    properties: ManagedPolicyProperties {
                        managed_policy_name: name,
                        description,
                        policy_document: document,
                    },
                },
            )
        })
        .collect();
    serde_yaml::to_string(&Template {
        format_version: "2010-09-09",
        description,
        resources,
    })
}

/// Each action's evidence, for `--explain`.
#[derive(Debug, Serialize)]
pub struct Explanation {
    pub action: String,
    pub statement: String,
    pub calls: u64,
    pub first_call: Option<String>,
    pub last_call: Option<String>,
    pub sample_event: Option<String>,
    /// Not granted by the principal's policies today.
    pub not_granted_now: bool,
    /// Inferred from request parameters (a role handed to a service).
    pub inferred: bool,
    pub resources: Vec<ResourceExplanation>,
}

#[derive(Debug, Serialize)]
pub struct ResourceExplanation {
    pub resource: String,
    pub reason: String,
}

/// Each action's evidence, read from the statement it was written into.
pub fn explain(needs: &Needs, statements: &[Statement], catalogue: &Catalogue) -> Vec<Explanation> {
    needs
        .actions
        .iter()
        .map(|action| {
            let info = catalogue.get(action.id);
            // Every needed action is in exactly one statement: its group's.
            let statement = statements
                .iter()
                .find(|s| s.actions.contains(&info.full_name));
            let resources = statement
                .map(|s| s.resources.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|resource| ResourceExplanation {
                    resource: resource.clone(),
                    reason: reason(action, resource),
                })
                .collect();
            Explanation {
                action: info.full_name.clone(),
                statement: statement.map(|s| s.sid.clone()).unwrap_or_default(),
                calls: action.calls,
                first_call: action.first_call.clone(),
                last_call: action.last_call.clone(),
                sample_event: action.sample_event.clone(),
                not_granted_now: !action.granted,
                inferred: action.inferred,
                resources,
            }
        })
        .collect()
}

fn reason(action: &NeededAction, resource: &str) -> String {
    if resource == "*" {
        let reasons: Vec<String> = action
            .any_resource
            .iter()
            .map(|reason| match reason {
                AnyResource::NoResourceType => {
                    "the action has no resource type: IAM takes only *".to_string()
                }
                AnyResource::NotNamed(event) => {
                    format!("{event} calls do not name the resource in a readable way")
                }
            })
            .collect();
        return reasons.join("; ");
    }
    match action.resources.get(resource) {
        Some(ResourceReason::Parameter(path)) => format!("named by {path}"),
        Some(ResourceReason::ResourcesField) => "named by resources[].ARN".to_string(),
        Some(ResourceReason::PassedRole(how)) => format!("role handed to a service by {how}"),
        None => {
            let covered = action
                .resources
                .keys()
                .filter(|arn| wildcard_match(resource, arn))
                .count();
            format!("narrowest wildcard over {covered} resources (--max-resources)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_the_narrowest_that_cover() {
        let object = Some("arn:${Partition}:s3:::${BucketName}/${ObjectName}");
        assert_eq!(
            narrowest_wildcard(&["arn:aws:s3:::logs-a/x", "arn:aws:s3:::logs-b/y"], object),
            "arn:aws:s3:::logs-*/*"
        );
        assert_eq!(
            narrowest_wildcard(&["arn:aws:s3:::logs/a/1", "arn:aws:s3:::logs/a/2"], object),
            "arn:aws:s3:::logs/a/*"
        );
        let table = Some("arn:${Partition}:dynamodb:${Region}:${Account}:table/${TableName}");
        assert_eq!(
            narrowest_wildcard(
                &[
                    "arn:aws:dynamodb:eu-west-1:111111111111:table/orders",
                    "arn:aws:dynamodb:us-east-1:111111111111:table/orders"
                ],
                table
            ),
            "arn:aws:dynamodb:*:*:table/*"
        );
        assert_eq!(narrowest_wildcard(&["a1", "a2"], None), "a*");
    }

    #[test]
    fn documents_split_under_the_limit_and_refuse_a_statement_too_large() {
        let statement = |n: usize, resources: usize| Statement {
            sid: format!("S{n}"),
            effect: "Allow",
            actions: vec!["s3:GetObject".into()],
            resources: (0..resources)
                .map(|r| format!("arn:aws:s3:::bucket-{n}/{r:040}"))
                .collect(),
        };
        let statements: Vec<Statement> = (0..8).map(|n| statement(n, 8)).collect();
        let documents = documents(&statements, Target::UserInline).expect("fits");
        assert!(documents.len() > 1);
        let mut back = Vec::new();
        for document in &documents {
            assert!(size(document) <= Target::UserInline.limit());
            back.extend(document.statements.clone());
        }
        assert_eq!(back, statements, "nothing lost, nothing twice, in order");
        let error = documents_error(&[statement(9, 200)]);
        assert!(error.contains("statement S9 alone is"), "{error}");
    }

    fn documents_error(statements: &[Statement]) -> String {
        documents(statements, Target::UserInline)
            .expect_err("too large")
            .to_string()
    }

    fn two_documents() -> Vec<Document> {
        let statement = |sid: &str, resource: &str| Statement {
            sid: sid.into(),
            effect: "Allow",
            actions: vec!["s3:GetObject".into()],
            resources: vec![resource.into()],
        };
        vec![
            document(&[statement("S3Read", "arn:aws:s3:::b/${aws:username}/*")]),
            document(&[statement("S3Read2", "arn:aws:s3:::c/*")]),
        ]
    }

    #[test]
    fn terraform_and_cloudformation_hold_the_same_documents() {
        let documents = two_documents();
        let hcl = terraform(&documents, "ops/deploy bot", "what ops/deploy bot used");
        assert!(hcl.contains("resource \"aws_iam_policy\" \"ctidx_ops_deploy_bot_1\""));
        assert!(hcl.contains("name        = \"ctidx-ops-deploy-bot-2\""));
        assert!(hcl.contains("b/$${aws:username}/*"), "{hcl}");
        assert_eq!(hcl.matches("jsonencode(").count(), 2);
        let yaml = cloudformation(&documents, "ops/deploy bot", "what it used").expect("YAML");
        let template: serde_yaml::Value = serde_yaml::from_str(&yaml).expect("parses");
        let resources = template["Resources"].as_mapping().expect("Resources");
        assert_eq!(resources.len(), 2);
        let first = &template["Resources"]["CtidxOpsDeployBot1"];
        assert_eq!(first["Type"], "AWS::IAM::ManagedPolicy");
        let back: serde_json::Value =
            serde_json::to_value(&first["Properties"]["PolicyDocument"]).expect("JSON");
        assert_eq!(back, serde_json::to_value(&documents[0]).expect("JSON"));
        assert_eq!(template["AWSTemplateFormatVersion"], "2010-09-09");
    }

    #[test]
    fn size_counts_no_white_space() {
        assert_eq!(
            size(&serde_json::json!({"a": "b c"})),
            "{\"a\":\"bc\"}".len()
        );
    }

    mod generated {
        use std::collections::{BTreeSet, HashMap};

        use proptest::prelude::*;

        use super::super::*;
        use crate::findings::Unrecorded;
        use crate::findings::activity::Request;
        use crate::findings::needs::{Needs, Tables};
        use crate::iam::authz::AuthorizationDetails;
        use crate::iam::eval::{GrantedActions, PrincipalRef, evaluate};
        use crate::iam::recorded::RecordingConfig;
        use crate::mapping::resources::{IamNames, Rules};

        /// Calls a principal may make: (event source, event name, request parameters).
        fn call() -> impl Strategy<Value = (&'static str, &'static str, String)> {
            let bucket = prop::sample::select(vec!["logs-a", "logs-b", "data", "logs-a-old"]);
            let key = prop::sample::select(vec!["x", "y/z", "k.txt", "a/b/c"]);
            let table = prop::sample::select(vec!["orders", "users", "orders-archive"]);
            let role = prop::sample::select(vec!["admin", "deploy", "service-role/exec"]);
            prop_oneof![
                (bucket.clone(), key).prop_map(|(b, k)| (
                    "s3.amazonaws.com",
                    "GetObject",
                    format!(r#"{{"bucketName":"{b}","key":"{k}"}}"#)
                )),
                bucket.prop_map(|b| (
                    "s3.amazonaws.com",
                    "CreateBucket",
                    format!(r#"{{"bucketName":"{b}"}}"#)
                )),
                table.prop_map(|t| (
                    "dynamodb.amazonaws.com",
                    "GetItem",
                    format!(r#"{{"tableName":"{t}"}}"#)
                )),
                role.clone().prop_map(|r| (
                    "sts.amazonaws.com",
                    "AssumeRole",
                    format!(r#"{{"roleArn":"arn:aws:iam::111111111111:role/{r}","roleSessionName":"s"}}"#)
                )),
                role.prop_map(|r| (
                    "lambda.amazonaws.com",
                    "CreateFunction20150331",
                    format!(r#"{{"functionName":"f-{}","role":"{r}"}}"#, r.len())
                )),
                Just(("monitoring.amazonaws.com", "DescribeAlarms", "{}".to_string())),
                Just(("ec2.amazonaws.com", "DescribeInstances", "{}".to_string())),
                Just(("s3.amazonaws.com", "GetObject", "{}".to_string())),
            ]
        }

        fn holder_of(document: &Document) -> AuthorizationDetails {
            let text = serde_json::json!({
                "UserDetailList": [{
                    "UserName": "holder", "UserId": "AIDAHOLDER", "Path": "/",
                    "Arn": "arn:aws:iam::111111111111:user/holder",
                    "CreateDate": "2020-01-01T00:00:00Z", "GroupList": [],
                    "AttachedManagedPolicies": [],
                    "UserPolicyList": [{"PolicyName": "generated", "PolicyDocument": document}]
                }],
                "GroupDetailList": [], "RoleDetailList": [], "Policies": []
            })
            .to_string();
            AuthorizationDetails::from_json_str(&text).expect("a valid snapshot")
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// Whatever a principal did, its policy grants exactly the actions used (beyond what
            /// AWS allows everyone), each on every resource named, within the target's size.
            #[test]
            fn policies_grant_what_was_used_and_no_more(
                calls in prop::collection::vec(call(), 1..24),
                max_resources in 1usize..4,
                target in prop::sample::select(vec![
                    Target::Managed, Target::RoleInline, Target::UserInline, Target::GroupInline,
                ]),
            ) {
                let catalogue = Catalogue::embedded();
                let resource_types = ResourceTypes::embedded();
                let unrecorded = Unrecorded::new(catalogue, &RecordingConfig::default());
                let profiles = HashMap::new();
                let names = IamNames::default();
                let tables = Tables {
                    catalogue,
                    resource_types,
                    rules: Rules::embedded(),
                    unrecorded: &unrecorded,
                    instance_profiles: &profiles,
                    iam_names: &names,
                };
                let requests: Vec<Request> = calls
                    .iter()
                    .map(|(source, name, parameters)| Request {
                        event_source: source.to_string(),
                        event_name: name.to_string(),
                        account: Some("111111111111".into()),
                        region: Some("us-east-1".into()),
                        parameters: Some(parameters.clone()),
                        calls: 1,
                        ..Request::default()
                    })
                    .collect();
                let needs = Needs::compute(
                    &tables,
                    "arn:aws:iam::111111111111:user/alice",
                    &GrantedActions::default(),
                    &requests,
                    &HashMap::new(),
                );
                let options = Options { max_resources, target, keep_unknown: false };
                let statements = statements(&needs, catalogue, resource_types, &options);
                let documents = documents(&statements, target).expect("small policies fit");
                let holder = PrincipalRef::User("arn:aws:iam::111111111111:user/holder");
                let empty = document(&[]);
                let always: BTreeSet<_> = evaluate(&holder_of(&empty), holder, catalogue)
                    .expect("evaluates")
                    .granted
                    .into_keys()
                    .collect();
                let mut granted = BTreeSet::new();
                for document in &documents {
                    prop_assert!(size(document) <= target.limit());
                    granted.extend(
                        evaluate(&holder_of(document), holder, catalogue)
                            .expect("evaluates")
                            .granted
                            .into_keys(),
                    );
                }
                let used: BTreeSet<_> = needs.actions.iter().map(|a| a.id).collect();
                prop_assert!(used.is_subset(&granted));
                prop_assert!(granted.iter().all(|id| used.contains(id) || always.contains(id)));
                let written: Vec<&Statement> =
                    documents.iter().flat_map(|d| &d.statements).collect();
                for action in &needs.actions {
                    let name = &catalogue.get(action.id).full_name;
                    let mut named: Vec<&str> = action.resources.keys().map(String::as_str).collect();
                    if !action.any_resource.is_empty() {
                        named.push("*");
                    }
                    for arn in named {
                        prop_assert!(
                            written.iter().any(|s| s.actions.contains(name)
                                && s.resources.iter().any(|r| r == "*" && arn == "*"
                                    || wildcard_match(r, arn))),
                            "{} on {} is not granted", name, arn
                        );
                    }
                    for resource in written
                        .iter()
                        .filter(|s| s.actions.contains(name))
                        .flat_map(|s| &s.resources)
                    {
                        if resource != "*" {
                            prop_assert!(
                                resource_types.fits(action.id, resource),
                                "{} fits no ARN format of {}", resource, name
                            );
                        }
                    }
                }
            }
        }
    }
}
