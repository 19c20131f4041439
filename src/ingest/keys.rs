//! What an object's key says: whether it is a CloudTrail log, and its account, region and delivery
//! day when it follows the `AWSLogs` layout. Used alike for local folders and S3 listings.

use std::collections::BTreeMap;
use std::fmt;

use super::decode::NotCloudTrail;

/// What a key in the `AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>` layout says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub org: Option<String>,
    pub account: String,
    pub region: String,
    /// Delivery day, `YYYY-MM-DD`.
    pub date: String,
}

/// Why an object is not ingested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    Digest,
    Insight,
    OtherAwsLog,
    NotJson,
    Hidden,
    /// Beside an `AWSLogs/…/CloudTrail/…` tree, a file outside it: no trail delivered it.
    OutsideLayout,
    /// Recognised by its content as another kind of JSON document.
    Document(NotCloudTrail),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::Digest => "CloudTrail-Digest",
            SkipReason::Insight => "CloudTrail-Insight",
            SkipReason::OtherAwsLog => "not a CloudTrail log",
            SkipReason::NotJson => "not .json/.json.gz",
            SkipReason::Hidden => "hidden",
            SkipReason::OutsideLayout => "outside the AWSLogs/…/CloudTrail/ layout",
            SkipReason::Document(document) => return document.fmt(f),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classification {
    /// A CloudTrail log object; `layout` is set when its key follows the AWSLogs layout with a valid
    /// day, `in_layout` when its key is in the layout's CloudTrail folders at all.
    Log {
        layout: Option<Layout>,
        in_layout: bool,
    },
    Skip(SkipReason),
}

/// Classifies an object by its key (a `/`-separated path relative to the source root).
pub fn classify(key: &str) -> Classification {
    let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
    let Some(file_name) = parts.last() else {
        return Classification::Skip(SkipReason::NotJson);
    };
    if parts.iter().any(|p| p.starts_with('.')) {
        return Classification::Skip(SkipReason::Hidden);
    }
    if file_name.contains("_CloudTrail-Digest_") || parts.contains(&"CloudTrail-Digest") {
        return Classification::Skip(SkipReason::Digest);
    }
    if file_name.contains("_CloudTrail-Insight_") || parts.contains(&"CloudTrail-Insight") {
        return Classification::Skip(SkipReason::Insight);
    }
    let lower = file_name.to_ascii_lowercase();
    if !(lower.ends_with(".json") || lower.ends_with(".json.gz")) {
        return Classification::Skip(SkipReason::NotJson);
    }
    // The layout starts after `AWSLogs`, or at the root when the source is that folder itself.
    let aws_logs = parts.iter().rposition(|p| *p == "AWSLogs");
    let start = aws_logs.map_or(0, |aws_logs| aws_logs + 1);
    let mut rest = &parts[start..parts.len() - 1];
    let org = match rest.first() {
        Some(p) if p.starts_with("o-") => {
            let org = p.to_string();
            rest = &rest[1..];
            Some(org)
        }
        _ => None,
    };
    match rest {
        [account, "CloudTrail", region, year, month, day, ..] if is_account(account) => {
            let date = format!("{year}-{month}-{day}");
            let valid = crate::time::day_text(&date).is_some();
            let layout = valid.then(|| Layout {
                org,
                account: account.to_string(),
                region: region.to_string(),
                date,
            });
            Classification::Log {
                layout,
                in_layout: true,
            }
        }
        [account, service, ..]
            if aws_logs.is_some() && is_account(account) && *service != "CloudTrail" =>
        {
            Classification::Skip(SkipReason::OtherAwsLog)
        }
        _ => Classification::Log {
            layout: None,
            in_layout: false,
        },
    }
}

/// Keeps the objects of a listing. When some follow the AWSLogs layout, the others are no trail's
/// delivery (exports, IAM snapshots, notes beside the tree): they are counted as skipped.
pub fn keep_deliveries<T>(
    objects: Vec<(T, bool)>,
    skipped: &mut BTreeMap<SkipReason, u64>,
) -> Vec<T> {
    let layout_present = objects.iter().any(|(_, in_layout)| *in_layout);
    objects
        .into_iter()
        .filter_map(|(object, in_layout)| {
            if layout_present && !in_layout {
                *skipped.entry(SkipReason::OutsideLayout).or_default() += 1;
                None
            } else {
                Some(object)
            }
        })
        .collect()
}

pub(crate) fn is_account(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(org: Option<&str>, account: &str, region: &str, date: &str) -> Classification {
        Classification::Log {
            layout: Some(Layout {
                org: org.map(String::from),
                account: account.into(),
                region: region.into(),
                date: date.into(),
            }),
            in_layout: true,
        }
    }

    #[test]
    fn classifies_keys() {
        let outside = Classification::Log {
            layout: None,
            in_layout: false,
        };
        let cases = [
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/01/111111111111_CloudTrail_us-east-1_20240301T0000Z_abc.json.gz",
                layout(None, "111111111111", "us-east-1", "2024-03-01"),
            ),
            (
                "prefix/AWSLogs/o-abc123/222222222222/CloudTrail/eu-west-1/2024/12/31/x.json",
                layout(Some("o-abc123"), "222222222222", "eu-west-1", "2024-12-31"),
            ),
            (
                "AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2024/03/01/111111111111_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T000000Z.json.gz",
                Classification::Skip(SkipReason::Digest),
            ),
            (
                "AWSLogs/111111111111/CloudTrail-Insight/us-east-1/2024/03/01/x.json.gz",
                Classification::Skip(SkipReason::Insight),
            ),
            (
                "AWSLogs/111111111111/elasticloadbalancing/us-east-1/2024/03/01/x.json.gz",
                Classification::Skip(SkipReason::OtherAwsLog),
            ),
            (
                "CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1220Z_W.json",
                outside.clone(),
            ),
            ("some/dir/attack.JSON", outside.clone()),
            // A source that is the AWSLogs folder itself.
            (
                "111111111111/CloudTrail/us-east-1/2024/03/01/x.json.gz",
                layout(None, "111111111111", "us-east-1", "2024-03-01"),
            ),
            (
                "o-abc123/222222222222/CloudTrail/eu-west-1/2024/12/31/x.json",
                layout(Some("o-abc123"), "222222222222", "eu-west-1", "2024-12-31"),
            ),
            // Outside AWSLogs, a folder named like an account is not taken for another service's.
            ("111111111111/exports/x.json", outside.clone()),
            ("README.md", Classification::Skip(SkipReason::NotJson)),
            ("logs/x.json.bz2", Classification::Skip(SkipReason::NotJson)),
            (".cache/x.json", Classification::Skip(SkipReason::Hidden)),
            // In the layout, but on no real day: account and day come from the records.
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/2024/02/30/x.json.gz",
                Classification::Log {
                    layout: None,
                    in_layout: true,
                },
            ),
            (
                "AWSLogs/1111/CloudTrail/us-east-1/2024/02/03/x.json.gz",
                outside.clone(),
            ),
        ];
        for (key, expected) in cases {
            assert_eq!(classify(key), expected, "{key}");
        }
    }

    #[test]
    fn files_beside_a_trail_tree_are_skipped_only_when_the_tree_is_there() {
        let mut skipped = BTreeMap::new();
        let kept = keep_deliveries(
            vec![("tree", true), ("iam.json", false), ("notes.json", false)],
            &mut skipped,
        );
        assert_eq!(kept, ["tree"]);
        assert_eq!(skipped[&SkipReason::OutsideLayout], 2);

        let mut skipped = BTreeMap::new();
        let kept = keep_deliveries(vec![("a.json", false), ("b.json", false)], &mut skipped);
        assert_eq!(kept, ["a.json", "b.json"]);
        assert!(skipped.is_empty());
    }
}
