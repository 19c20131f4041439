//! IAM policy documents: identity policies, permissions boundaries and role trust policies.
//!
//! Accepts every shape a document takes in `get-account-authorization-details` output: a JSON
//! object, a string holding JSON, or a string holding percent-encoded JSON (what the raw API returns).
//! Within a document, `Statement` may be one object or a list; `Action`, `NotAction`, `Resource`,
//! `NotResource` may be one string or a list; `Principal` may be `"*"` or a map of string or list.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    pub version: Option<String>,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

/// The action part of a statement: `Action` lists what it applies to, `NotAction` what it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionClause {
    Action(Vec<String>),
    NotAction(Vec<String>),
}

/// The resource part of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceClause {
    Resource(Vec<String>),
    NotResource(Vec<String>),
}

/// `Principal` / `NotPrincipal` of a resource or trust policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `"Principal": "*"`.
    Everyone,
    /// `"Principal": {"AWS": [...], "Service": "..."}`, values normalised to lists.
    Map(BTreeMap<String, Vec<String>>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    /// `None` only in documents that need no action clause; identity policies always have one.
    pub action: Option<ActionClause>,
    /// `None` in trust policies, which have no resource.
    pub resource: Option<ResourceClause>,
    pub principal: Option<Principal>,
    pub not_principal: Option<Principal>,
    /// The `Condition` block as written. Kept whole so callers can show it; evaluation only needs
    /// [`Statement::has_condition`].
    pub condition: Option<Value>,
}

impl Statement {
    /// A condition block that restricts anything. `"Condition": {}` restricts nothing.
    pub fn has_condition(&self) -> bool {
        match &self.condition {
            None => false,
            Some(Value::Object(map)) => !map.is_empty(),
            Some(_) => true,
        }
    }
}

/// Why a policy document could not be read. The caller adds which principal or policy it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the document is a string that is neither JSON nor percent-encoded JSON: {0}")]
    UndecodableString(String),
    #[error("the document is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the document must be a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("the document has no `Statement`")]
    MissingStatement,
    #[error("statement {index}: {problem}")]
    Statement {
        index: usize,
        problem: StatementProblem,
    },
    #[error("field `{field}` must be {expected}, found {found}")]
    FieldType {
        field: &'static str,
        expected: &'static str,
        found: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementProblem {
    #[error("is not a JSON object (found {0})")]
    NotAnObject(&'static str),
    #[error("has no `Effect`")]
    MissingEffect,
    #[error("has `Effect` {0:?}; expected \"Allow\" or \"Deny\"")]
    UnknownEffect(String),
    #[error("has both `{0}` and `{1}`")]
    Conflicting(&'static str, &'static str),
    #[error("field `{field}` must be {expected}, found {found}")]
    FieldType {
        field: &'static str,
        expected: &'static str,
        found: &'static str,
    },
}

impl PolicyDocument {
    /// Parses a document in any of the shapes the API and the AWS CLI produce.
    pub fn from_value(value: &Value) -> Result<PolicyDocument, PolicyError> {
        match value {
            Value::Object(map) => PolicyDocument::from_object(map),
            Value::String(text) => PolicyDocument::from_text(text),
            other => Err(PolicyError::NotAnObject(json_type(other))),
        }
    }

    /// Parses a document given as text: JSON, or percent-encoded JSON.
    pub fn from_text(text: &str) -> Result<PolicyDocument, PolicyError> {
        let trimmed = text.trim_start();
        let json_text = if trimmed.starts_with('{') {
            trimmed.to_string()
        } else {
            let decoded = percent_decode(trimmed)
                .ok_or_else(|| PolicyError::UndecodableString(abbreviate(text)))?;
            if !decoded.trim_start().starts_with('{') {
                return Err(PolicyError::UndecodableString(abbreviate(text)));
            }
            decoded
        };
        let value: Value = serde_json::from_str(&json_text)
            .map_err(|error| PolicyError::InvalidJson(error.to_string()))?;
        match &value {
            Value::Object(map) => PolicyDocument::from_object(map),
            other => Err(PolicyError::NotAnObject(json_type(other))),
        }
    }

    fn from_object(map: &Map<String, Value>) -> Result<PolicyDocument, PolicyError> {
        let version = optional_document_string(map, "Version")?;
        let id = optional_document_string(map, "Id")?;
        let statements = match map.get("Statement") {
            None => return Err(PolicyError::MissingStatement),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    parse_statement(item)
                        .map_err(|problem| PolicyError::Statement { index, problem })
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(single @ Value::Object(_)) => vec![
                parse_statement(single)
                    .map_err(|problem| PolicyError::Statement { index: 0, problem })?,
            ],
            Some(other) => {
                return Err(PolicyError::FieldType {
                    field: "Statement",
                    expected: "an object or a list of objects",
                    found: json_type(other),
                });
            }
        };
        Ok(PolicyDocument {
            version,
            id,
            statements,
        })
    }
}

fn optional_document_string(
    map: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, PolicyError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(PolicyError::FieldType {
            field,
            expected: "a string",
            found: json_type(other),
        }),
    }
}

fn parse_statement(value: &Value) -> Result<Statement, StatementProblem> {
    let map = match value {
        Value::Object(map) => map,
        other => return Err(StatementProblem::NotAnObject(json_type(other))),
    };
    let sid = match map.get("Sid") {
        None | Some(Value::Null) => None,
        Some(Value::String(sid)) => Some(sid.clone()),
        // Sids are documented as strings, but numbers turn up in hand-written policies.
        Some(Value::Number(number)) => Some(number.to_string()),
        Some(other) => {
            return Err(StatementProblem::FieldType {
                field: "Sid",
                expected: "a string",
                found: json_type(other),
            });
        }
    };
    let effect = match map.get("Effect") {
        None => return Err(StatementProblem::MissingEffect),
        Some(Value::String(effect)) if effect == "Allow" => Effect::Allow,
        Some(Value::String(effect)) if effect == "Deny" => Effect::Deny,
        Some(Value::String(effect)) => return Err(StatementProblem::UnknownEffect(effect.clone())),
        Some(other) => {
            return Err(StatementProblem::FieldType {
                field: "Effect",
                expected: "a string",
                found: json_type(other),
            });
        }
    };
    let action = match (string_list(map, "Action")?, string_list(map, "NotAction")?) {
        (Some(_), Some(_)) => return Err(StatementProblem::Conflicting("Action", "NotAction")),
        (Some(actions), None) => Some(ActionClause::Action(actions)),
        (None, Some(actions)) => Some(ActionClause::NotAction(actions)),
        (None, None) => None,
    };
    let resource = match (
        string_list(map, "Resource")?,
        string_list(map, "NotResource")?,
    ) {
        (Some(_), Some(_)) => return Err(StatementProblem::Conflicting("Resource", "NotResource")),
        (Some(resources), None) => Some(ResourceClause::Resource(resources)),
        (None, Some(resources)) => Some(ResourceClause::NotResource(resources)),
        (None, None) => None,
    };
    let not_principal = parse_principal(map, "NotPrincipal")?;
    let principal = parse_principal(map, "Principal")?;
    let condition = match map.get("Condition") {
        None | Some(Value::Null) => None,
        Some(condition @ Value::Object(_)) => Some(condition.clone()),
        Some(other) => {
            return Err(StatementProblem::FieldType {
                field: "Condition",
                expected: "an object",
                found: json_type(other),
            });
        }
    };
    Ok(Statement {
        sid,
        effect,
        action,
        resource,
        principal,
        not_principal,
        condition,
    })
}

/// A string-or-list field, normalised to a list. `None` if the field is absent.
fn string_list(
    map: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<Vec<String>>, StatementProblem> {
    match map.get(field) {
        None => Ok(None),
        Some(value) => strings_of(value, field).map(Some),
    }
}

fn strings_of(value: &Value, field: &'static str) -> Result<Vec<String>, StatementProblem> {
    let expected = "a string or a list of strings";
    match value {
        Value::String(text) => Ok(vec![text.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.clone()),
                other => Err(StatementProblem::FieldType {
                    field,
                    expected,
                    found: json_type(other),
                }),
            })
            .collect(),
        other => Err(StatementProblem::FieldType {
            field,
            expected,
            found: json_type(other),
        }),
    }
}

fn parse_principal(
    map: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<Principal>, StatementProblem> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::String(text)) if text == "*" => Ok(Some(Principal::Everyone)),
        Some(Value::Object(entries)) => {
            let mut principals = BTreeMap::new();
            for (kind, values) in entries {
                principals.insert(kind.clone(), strings_of(values, field)?);
            }
            Ok(Some(Principal::Map(principals)))
        }
        Some(other) => Err(StatementProblem::FieldType {
            field,
            expected: "\"*\" or an object",
            found: json_type(other),
        }),
    }
}

/// Decodes `%XX` escapes. `+` stays `+`: IAM encodes with RFC 3986 rules, where a space is `%20`.
/// `None` if an escape is malformed or the result is not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let malformed = text.match_indices('%').any(|(at, _)| {
        !bytes
            .get(at + 1..at + 3)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if malformed {
        return None;
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn abbreviate(text: &str) -> String {
    const LIMIT: usize = 60;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ENCODED_DOCUMENT: &str = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGet%2A%22%2C%22Resource%22%3A%22arn%3Aaws%3As3%3A%3A%3Amy%20bucket%2F%2A%22%7D%5D%7D";

    fn allow_get_objects() -> Statement {
        Statement {
            sid: None,
            effect: Effect::Allow,
            action: Some(ActionClause::Action(vec!["s3:Get*".into()])),
            resource: Some(ResourceClause::Resource(vec![
                "arn:aws:s3:::my bucket/*".into(),
            ])),
            principal: None,
            not_principal: None,
            condition: None,
        }
    }

    #[test]
    fn document_shapes_parse_to_the_same_statements() {
        let object = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::my bucket/*"}]});
        let single_statement = json!({"Version": "2012-10-17", "Statement":
            {"Effect": "Allow", "Action": ["s3:Get*"], "Resource": ["arn:aws:s3:::my bucket/*"]}});
        let cases: Vec<(&str, Value)> = vec![
            ("decoded object, Statement list", object.clone()),
            ("decoded object, single Statement object", single_statement),
            ("JSON in a string", Value::String(object.to_string())),
            (
                "JSON in a string with leading whitespace",
                Value::String(format!("\n  {object}")),
            ),
            (
                "percent-encoded string",
                Value::String(ENCODED_DOCUMENT.to_string()),
            ),
            (
                "percent-encoded, lower-case hex",
                Value::String(
                    ENCODED_DOCUMENT
                        .replace("%7B", "%7b")
                        .replace("%3A", "%3a")
                        .replace("%2A", "%2a"),
                ),
            ),
        ];
        for (label, value) in cases {
            let document =
                PolicyDocument::from_value(&value).unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_eq!(document.version.as_deref(), Some("2012-10-17"), "{label}");
            assert_eq!(document.statements, vec![allow_get_objects()], "{label}");
        }
    }

    #[test]
    fn clauses_and_conditions() {
        let document = PolicyDocument::from_value(&json!({"Statement": [
            {"Sid": "NotActionDeny", "Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "NotResource": "arn:aws:s3:::b"},
            {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
            {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}},
            {"Sid": 7, "Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root", "Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]}, "Action": "sts:AssumeRole"}
        ]}))
        .expect("parses");
        let s = &document.statements;
        assert_eq!(s[0].sid.as_deref(), Some("NotActionDeny"));
        assert_eq!(s[0].effect, Effect::Deny);
        assert_eq!(
            s[0].action,
            Some(ActionClause::NotAction(vec![
                "iam:*".into(),
                "sts:*".into()
            ]))
        );
        assert_eq!(
            s[0].resource,
            Some(ResourceClause::NotResource(vec!["arn:aws:s3:::b".into()]))
        );
        assert!(!s[0].has_condition());
        assert!(s[1].has_condition());
        assert!(
            !s[2].has_condition(),
            "an empty Condition block restricts nothing"
        );
        assert_eq!(s[3].sid.as_deref(), Some("7"));
        assert_eq!(s[3].principal, Some(Principal::Everyone));
        assert_eq!(s[3].resource, None);
        let mut expected = BTreeMap::new();
        expected.insert("AWS".to_string(), vec!["arn:aws:iam::1:root".to_string()]);
        expected.insert(
            "Service".to_string(),
            vec![
                "ec2.amazonaws.com".to_string(),
                "lambda.amazonaws.com".to_string(),
            ],
        );
        assert_eq!(s[4].principal, Some(Principal::Map(expected)));
    }

    #[test]
    fn malformed_documents_are_typed_errors() {
        let cases: Vec<(Value, PolicyError)> = vec![
            (json!(42), PolicyError::NotAnObject("a number")),
            (
                json!("not a policy"),
                PolicyError::UndecodableString("not a policy".into()),
            ),
            (
                json!("%7B%2"),
                PolicyError::UndecodableString("%7B%2".into()),
            ),
            (
                json!("%FF%FE"),
                PolicyError::UndecodableString("%FF%FE".into()),
            ),
            (
                json!({"Version": "2012-10-17"}),
                PolicyError::MissingStatement,
            ),
            (
                json!({"Statement": "s3:*"}),
                PolicyError::FieldType {
                    field: "Statement",
                    expected: "an object or a list of objects",
                    found: "a string",
                },
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, "x"]}),
                PolicyError::Statement {
                    index: 1,
                    problem: StatementProblem::NotAnObject("a string"),
                },
            ),
            (
                json!({"Statement": [{"Action": "*", "Resource": "*"}]}),
                PolicyError::Statement {
                    index: 0,
                    problem: StatementProblem::MissingEffect,
                },
            ),
            (
                json!({"Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]}),
                PolicyError::Statement {
                    index: 0,
                    problem: StatementProblem::UnknownEffect("allow".into()),
                },
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Action": "*", "NotAction": "s3:*", "Resource": "*"}]}),
                PolicyError::Statement {
                    index: 0,
                    problem: StatementProblem::Conflicting("Action", "NotAction"),
                },
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "NotResource": "x"}]}),
                PolicyError::Statement {
                    index: 0,
                    problem: StatementProblem::Conflicting("Resource", "NotResource"),
                },
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Action": ["s3:*", 3], "Resource": "*"}]}),
                PolicyError::Statement {
                    index: 0,
                    problem: StatementProblem::FieldType {
                        field: "Action",
                        expected: "a string or a list of strings",
                        found: "a number",
                    },
                },
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": "yes"}]}),
                PolicyError::Statement {
                    index: 0,
                    problem: StatementProblem::FieldType {
                        field: "Condition",
                        expected: "an object",
                        found: "a string",
                    },
                },
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(PolicyDocument::from_value(&value), Err(expected), "{value}");
        }
        assert!(matches!(
            PolicyDocument::from_value(&json!("{not json")),
            Err(PolicyError::InvalidJson(_))
        ));
    }

    #[test]
    fn percent_decoding() {
        let cases: &[(&str, Option<&str>)] = &[
            ("%7B%22a%22%3A1%7D", Some("{\"a\":1}")),
            ("a+b%20c", Some("a+b c")),
            ("%C3%A9", Some("é")),
            ("%", None),
            ("%4", None),
            ("%G0", None),
            ("%C3", None),
            ("plain", Some("plain")),
        ];
        for &(input, expected) in cases {
            assert_eq!(percent_decode(input).as_deref(), expected, "{input:?}");
        }
    }
}
