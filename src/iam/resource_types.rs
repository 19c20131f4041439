//! The resource types each IAM action accepts, and the ARN formats of each resource type.
//!
//! Generated into `data/iam-resource-types.tsv` by `data/gen_iam_resources.mjs` from the same package
//! and version as the action catalogue (its header names both), and embedded in the binary. An action
//! without resource types takes only `Resource: "*"`.

use std::collections::HashMap;
use std::sync::LazyLock;

use thiserror::Error;

use super::catalogue::{ActionId, Catalogue};
use super::pattern::wildcard_match;

const EMBEDDED_TSV: &str = include_str!("../../data/iam-resource-types.tsv");

static EMBEDDED: LazyLock<ResourceTypes> = LazyLock::new(|| {
    // The embedded file is checked by a unit test; failing here means the build shipped a broken file.
    ResourceTypes::from_tsv(EMBEDDED_TSV, Catalogue::embedded())
        .expect("embedded data/iam-resource-types.tsv must parse")
});

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ResourceTypesError {
    #[error(
        "line {line}: expected {expected} tab-separated fields for a `{kind}` line, found {found}"
    )]
    WrongFieldCount {
        line: usize,
        kind: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("line {line}: unknown line kind {0:?} (expected `type` or `action`)", .value)]
    UnknownKind { line: usize, value: String },
    #[error("line {line}: ARN format {value:?} does not start with `arn:`")]
    InvalidFormat { line: usize, value: String },
    #[error("line {line}: action {service}:{action} is not in the action catalogue")]
    UnknownAction {
        line: usize,
        service: String,
        action: String,
    },
    #[error("line {line}: resource type {service}:{name} has no `type` line")]
    UnknownResourceType {
        line: usize,
        service: String,
        name: String,
    },
    #[error("line {line}: required must be `true` or `false`, found {value:?}")]
    InvalidRequired { line: usize, value: String },
}

/// The rows of a tab-separated data file, by line number: blank lines and `#` comments skipped,
/// fields trimmed.
pub(crate) fn data_rows(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines().enumerate().filter_map(|(index, line)| {
        let line = line.trim_end_matches('\r');
        (!line.trim().is_empty() && !line.starts_with('#'))
            .then(|| (index + 1, line.split('\t').map(str::trim).collect()))
    })
}

/// One resource type an action accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedType {
    /// As the Service Authorization Reference names it, e.g. `object`.
    pub name: String,
    /// Its ARN formats, e.g. `arn:${Partition}:s3:::${BucketName}/${ObjectName}`.
    pub formats: Vec<String>,
    /// Whether the reference marks it required.
    pub required: bool,
}

#[derive(Debug, Default)]
pub struct ResourceTypes {
    by_action: HashMap<ActionId, Vec<AcceptedType>>,
}

impl ResourceTypes {
    /// The generated table, parsed once.
    pub fn embedded() -> &'static ResourceTypes {
        &EMBEDDED
    }

    /// Parses the generated table; every action must be in `catalogue`, and every resource type an
    /// action names must have its formats listed.
    pub fn from_tsv(
        text: &str,
        catalogue: &Catalogue,
    ) -> Result<ResourceTypes, ResourceTypesError> {
        let mut formats: HashMap<(String, String), Vec<String>> = HashMap::new();
        let mut accepted: Vec<(usize, ActionId, String, String, bool)> = Vec::new();
        for (line, fields) in data_rows(text) {
            let count = |kind: &'static str, expected: usize| {
                if fields.len() == expected {
                    Ok(())
                } else {
                    Err(ResourceTypesError::WrongFieldCount {
                        line,
                        kind,
                        expected,
                        found: fields.len(),
                    })
                }
            };
            match fields[0] {
                "type" => {
                    count("type", 4)?;
                    let format = fields[3];
                    if !format.starts_with("arn:") {
                        return Err(ResourceTypesError::InvalidFormat {
                            line,
                            value: format.to_string(),
                        });
                    }
                    formats
                        .entry((fields[1].to_string(), fields[2].to_string()))
                        .or_default()
                        .push(format.to_string());
                }
                "action" => {
                    count("action", 5)?;
                    let id = catalogue.lookup(fields[1], fields[2]).ok_or_else(|| {
                        ResourceTypesError::UnknownAction {
                            line,
                            service: fields[1].to_string(),
                            action: fields[2].to_string(),
                        }
                    })?;
                    let required = match fields[4] {
                        "true" => true,
                        "false" => false,
                        other => {
                            return Err(ResourceTypesError::InvalidRequired {
                                line,
                                value: other.to_string(),
                            });
                        }
                    };
                    accepted.push((
                        line,
                        id,
                        fields[1].to_string(),
                        fields[3].to_string(),
                        required,
                    ));
                }
                other => {
                    return Err(ResourceTypesError::UnknownKind {
                        line,
                        value: other.to_string(),
                    });
                }
            }
        }
        let mut by_action: HashMap<ActionId, Vec<AcceptedType>> = HashMap::new();
        for (line, id, service, name, required) in accepted {
            let Some(type_formats) = formats.get(&(service.clone(), name.clone())) else {
                return Err(ResourceTypesError::UnknownResourceType {
                    line,
                    service,
                    name,
                });
            };
            by_action.entry(id).or_default().push(AcceptedType {
                formats: type_formats.clone(),
                name,
                required,
            });
        }
        Ok(ResourceTypes { by_action })
    }

    /// The resource types `action` accepts; empty when it takes only `*`.
    pub fn of(&self, action: ActionId) -> &[AcceptedType] {
        self.by_action.get(&action).map_or(&[], Vec::as_slice)
    }

    /// Whether `arn` (which may itself hold `*` and `?`) fits an ARN format of one of the resource
    /// types `action` accepts.
    pub fn fits(&self, action: ActionId, arn: &str) -> bool {
        self.of(action)
            .iter()
            .flat_map(|accepted| &accepted.formats)
            .any(|format| fits_format(arn, format))
    }
}

/// Whether `arn` fits `format`, each `${Variable}` standing for any text.
pub fn fits_format(arn: &str, format: &str) -> bool {
    let mut pattern = String::with_capacity(format.len());
    let mut rest = format;
    while let Some(start) = rest.find("${") {
        pattern.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(end) => {
                pattern.push('*');
                rest = &rest[start + end + 1..];
            }
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    pattern.push_str(rest);
    wildcard_match(&pattern, arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOGUE: &str =
        "s3\tGetObject\tRead\ns3\tListAllMyBuckets\tList\ns3\tListBucket\tList\n";

    #[test]
    fn the_embedded_table_parses_and_names_catalogue_actions() {
        let types = ResourceTypes::embedded();
        let catalogue = Catalogue::embedded();
        let with_types = catalogue
            .ids()
            .filter(|id| !types.of(*id).is_empty())
            .count();
        // The header of data/iam-resource-types.tsv says 15,367 actions have resource types.
        assert!(
            with_types > 15_000,
            "{with_types} actions with resource types"
        );
        let get_object = catalogue.lookup("s3", "GetObject").expect("s3:GetObject");
        assert!(types.fits(get_object, "arn:aws:s3:::my-bucket/path/to/key"));
        assert!(types.fits(get_object, "arn:aws:s3:::logs-*/*"));
        let list_bucket = catalogue.lookup("s3", "ListBucket").expect("s3:ListBucket");
        assert!(types.fits(list_bucket, "arn:aws:s3:::my-bucket"));
        let list_all = catalogue
            .lookup("s3", "ListAllMyBuckets")
            .expect("s3:ListAllMyBuckets");
        assert!(types.of(list_all).is_empty(), "takes only *");
        let assume = catalogue
            .lookup("sts", "AssumeRole")
            .expect("sts:AssumeRole");
        assert!(types.fits(assume, "arn:aws:iam::111111111111:role/admin"));
        assert!(!types.fits(assume, "arn:aws:s3:::my-bucket"));
    }

    #[test]
    fn formats_stand_for_any_value_of_their_variables() {
        let object = "arn:${Partition}:s3:::${BucketName}/${ObjectName}";
        assert!(fits_format("arn:aws:s3:::b/k", object));
        assert!(fits_format("arn:aws-cn:s3:::b/dir/k", object));
        assert!(!fits_format("arn:aws:s3:::b", object));
        assert!(!fits_format("arn:aws:dynamodb:::b/k", object));
        let table = "arn:${Partition}:dynamodb:${Region}:${Account}:table/${TableName}";
        assert!(fits_format(
            "arn:aws:dynamodb:us-east-1:111111111111:table/orders",
            table
        ));
        assert!(!fits_format(
            "arn:aws:dynamodb:us-east-1:111111111111:stream/orders",
            table
        ));
    }

    #[test]
    fn bad_lines_are_named() {
        let catalogue = Catalogue::from_tsv(CATALOGUE).expect("catalogue");
        let parse = |text: &str| ResourceTypes::from_tsv(text, &catalogue).map(|_| ());
        assert_eq!(
            parse("type\ts3\tbucket\n"),
            Err(ResourceTypesError::WrongFieldCount {
                line: 1,
                kind: "type",
                expected: 4,
                found: 3
            })
        );
        assert_eq!(
            parse("# c\naction\ts3\tGetObject\tobject\ttrue\n"),
            Err(ResourceTypesError::UnknownResourceType {
                line: 2,
                service: "s3".into(),
                name: "object".into()
            })
        );
        assert_eq!(
            parse("action\ts3\tPutObject\tobject\ttrue\n"),
            Err(ResourceTypesError::UnknownAction {
                line: 1,
                service: "s3".into(),
                action: "PutObject".into()
            })
        );
        assert_eq!(
            parse("type\ts3\tobject\ts3:::x\n"),
            Err(ResourceTypesError::InvalidFormat {
                line: 1,
                value: "s3:::x".into()
            })
        );
        assert_eq!(
            parse("type\ts3\tobject\tarn:x\naction\ts3\tGetObject\tobject\tyes\n"),
            Err(ResourceTypesError::InvalidRequired {
                line: 2,
                value: "yes".into()
            })
        );
        assert_eq!(
            parse("resource\ts3\n"),
            Err(ResourceTypesError::UnknownKind {
                line: 1,
                value: "resource".into()
            })
        );
    }

    #[test]
    fn the_passrole_list_is_well_formed_with_sources() {
        let text = include_str!("../../data/passrole-parameters.tsv");
        let mut services = std::collections::BTreeSet::new();
        for (line, fields) in data_rows(text) {
            let [source, name, path, kind, reference] = fields[..] else {
                panic!("line {line}: expected 5 fields, found {}", fields.len());
            };
            assert!(source.ends_with(".amazonaws.com"), "line {line}: {source}");
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric()),
                "line {line}: {name}"
            );
            assert!(
                !path.is_empty() && !path.contains(' '),
                "line {line}: {path}"
            );
            assert!(
                ["role", "instance-profile"].contains(&kind),
                "line {line}: {kind}"
            );
            assert!(
                reference.starts_with("https://docs.aws.amazon.com/"),
                "line {line}: {reference}"
            );
            services.insert(source);
        }
        for service in [
            "lambda.amazonaws.com",
            "ec2.amazonaws.com",
            "ecs.amazonaws.com",
            "cloudformation.amazonaws.com",
            "glue.amazonaws.com",
            "sagemaker.amazonaws.com",
            "states.amazonaws.com",
            "codebuild.amazonaws.com",
        ] {
            assert!(services.contains(service), "{service} is missing");
        }
    }

    #[test]
    fn arn_parameters_name_known_resource_types() {
        let text = include_str!("../../data/arn-parameters.tsv");
        let types: std::collections::BTreeSet<(&str, &str)> = data_rows(EMBEDDED_TSV)
            .filter(|(_, fields)| fields[0] == "type")
            .map(|(_, fields)| (fields[1], fields[2]))
            .collect();
        let formats: Vec<(&str, &str, &str)> = data_rows(EMBEDDED_TSV)
            .filter(|(_, fields)| fields[0] == "type")
            .map(|(_, fields)| (fields[1], fields[2], fields[3]))
            .collect();
        let hows = [
            "name",
            "arn",
            "arn-or-name",
            "url-last-segment",
            "url-account-segment",
            "iam-name",
            "lambda-function",
            "kms-key-id",
            "secret-id",
            "secret-name",
            "ssm-parameter",
        ];
        let mut rows = 0;
        for (line, fields) in data_rows(text) {
            let [
                service,
                resource_type,
                _event,
                variable,
                path,
                how,
                reference,
            ] = fields[..]
            else {
                panic!("line {line}: expected 7 fields, found {}", fields.len());
            };
            assert!(
                types.contains(&(service, resource_type)),
                "line {line}: no resource type {service}:{resource_type}"
            );
            let placeholder = format!("${{{variable}}}");
            assert!(
                formats.iter().any(|(s, t, format)| *s == service
                    && *t == resource_type
                    && format.contains(&placeholder)),
                "line {line}: no format of {service}:{resource_type} has {placeholder}"
            );
            assert!(!path.is_empty(), "line {line}");
            assert!(hows.contains(&how), "line {line}: how {how:?}");
            assert!(
                reference.starts_with("https://"),
                "line {line}: {reference}"
            );
            rows += 1;
        }
        assert!(rows >= 25, "{rows} rows");
    }
}
