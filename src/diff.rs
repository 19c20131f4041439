//! CloudTracker's diff of privileges granted against privileges used.
//!
//! `  ` granted and used, `- ` granted and never used, `? ` granted but CloudTrail does not record it
//! (so use cannot be known), `+ ` used but not granted now. A grant that is not whole (only some
//! resources, only under a condition, or cut by a Deny) carries a note in parentheses, so it is never
//! mistaken for a full grant.

use std::collections::{BTreeMap, BTreeSet};

use crate::iam::catalogue::{AccessLevel, ActionId, Catalogue};
use crate::iam::eval::{Attachment, GrantScope, Granted};
use crate::iam::recorded::{Recorded, RecordedFacts, RecordingConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Marker {
    Used,
    Unused,
    Unknown,
    UsedNotGranted,
}

impl Marker {
    pub fn prefix(self) -> &'static str {
        match self {
            Marker::Used => "  ",
            Marker::Unused => "- ",
            Marker::Unknown => "? ",
            Marker::UsedNotGranted => "+ ",
        }
    }

    /// CloudTracker's colours: white, red, yellow, green.
    fn colour(self) -> &'static str {
        match self {
            Marker::Used => "\x1b[37m",
            Marker::Unused => "\x1b[31m",
            Marker::Unknown => "\x1b[33m",
            Marker::UsedNotGranted => "\x1b[32m",
        }
    }

    pub fn is_used(self) -> bool {
        matches!(self, Marker::Used | Marker::UsedNotGranted)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    /// Lower-case `service:action`, as CloudTracker prints it.
    pub action: String,
    pub id: ActionId,
    pub marker: Marker,
    /// Why the grant is not whole, if it is not.
    pub notes: Vec<&'static str>,
}

impl DiffLine {
    pub fn render(&self, colour: bool) -> String {
        let mut line = format!("{}{}", self.marker.prefix(), self.action);
        if !self.notes.is_empty() {
            line.push_str(&format!(" ({})", self.notes.join(", ")));
        }
        if colour {
            format!("{}{line}\x1b[0m", self.marker.colour())
        } else {
            line
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Filters {
    /// Only used actions (`  ` and `+ `).
    pub show_used: bool,
    /// Hide List-level and Describe* actions.
    pub ignore_benign: bool,
    /// Hide `? ` lines.
    pub ignore_unknown: bool,
}

/// The diff, sorted by action, before filters.
pub fn diff(
    catalogue: &Catalogue,
    granted: &BTreeMap<ActionId, Granted>,
    used: &BTreeSet<ActionId>,
    recording: &RecordingConfig,
) -> Vec<DiffLine> {
    let facts = RecordedFacts::embedded();
    let mut lines: Vec<DiffLine> = Vec::new();
    for (&id, grant) in granted {
        let always_allowed = grant
            .sources
            .iter()
            .all(|s| s.policy.attachment == Attachment::AlwaysAllowed);
        let marker = if used.contains(&id) {
            Marker::Used
        } else if always_allowed {
            // Nobody can remove a permission AWS grants to everyone; a `-` line would be noise.
            continue;
        } else if matches!(facts.recorded(catalogue, id, recording), Recorded::No(_)) {
            Marker::Unknown
        } else {
            Marker::Unused
        };
        lines.push(DiffLine {
            action: catalogue.display(id),
            id,
            marker,
            notes: notes(grant),
        });
    }
    for &id in used.difference(&granted.keys().copied().collect()) {
        lines.push(DiffLine {
            action: catalogue.display(id),
            id,
            marker: Marker::UsedNotGranted,
            notes: Vec::new(),
        });
    }
    lines.sort_by(|a, b| a.action.cmp(&b.action));
    lines
}

/// The lines `show_used` keeps (`  ` and `+ `), built from the used actions alone instead of from
/// every grant: the same lines as [`diff`] then [`apply`] with `show_used`, far cheaper when a
/// principal is granted `*` and the diff is wanted many times (once per person of a shared role).
pub fn used_lines(
    catalogue: &Catalogue,
    granted: &BTreeMap<ActionId, Granted>,
    used: &BTreeSet<ActionId>,
) -> Vec<DiffLine> {
    let mut lines: Vec<DiffLine> = used
        .iter()
        .map(|&id| {
            let grant = granted.get(&id);
            DiffLine {
                action: catalogue.display(id),
                id,
                marker: if grant.is_some() {
                    Marker::Used
                } else {
                    Marker::UsedNotGranted
                },
                notes: grant.map(notes).unwrap_or_default(),
            }
        })
        .collect();
    lines.sort_by(|a, b| a.action.cmp(&b.action));
    lines
}

fn notes(grant: &Granted) -> Vec<&'static str> {
    let mut notes = Vec::new();
    if grant.scope == GrantScope::SomeResources {
        notes.push("some resources");
    }
    if grant.conditional {
        notes.push("conditional");
    }
    if let Some(cut) = grant.deny_cut {
        if cut.conditional {
            notes.push("conditional deny");
        }
        if cut.some_resources {
            notes.push("denied on some resources");
        }
    }
    notes
}

pub fn apply(lines: Vec<DiffLine>, filters: Filters, catalogue: &Catalogue) -> Vec<DiffLine> {
    lines
        .into_iter()
        .filter(|line| !filters.show_used || line.marker.is_used())
        .filter(|line| !filters.ignore_unknown || line.marker != Marker::Unknown)
        .filter(|line| !filters.ignore_benign || !is_benign(catalogue, line.id))
        .collect()
}

/// List-level actions and Describe* calls only read metadata.
fn is_benign(catalogue: &Catalogue, id: ActionId) -> bool {
    let info = catalogue.get(id);
    info.access_level == AccessLevel::List || info.name.starts_with("Describe")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::authz::AuthorizationDetails;
    use crate::iam::eval::{PrincipalRef, evaluate};

    const CATALOGUE: &str = "cloudwatch\tDescribeAlarms\tList\ncloudwatch\tGetDashboard\tRead\ncloudwatch\tGetMetricData\tRead\ns3\tCreateBucket\tWrite\ns3\tGetObject\tRead\nsts\tGetCallerIdentity\tRead\n";

    fn details(statements: &str) -> AuthorizationDetails {
        let text = format!(
            r#"{{"UserDetailList":[{{"UserName":"alice","UserId":"A","Arn":"arn:aws:iam::111111111111:user/alice","Path":"/","CreateDate":"2017-09-02T18:02:14Z","UserPolicyList":[{{"PolicyName":"p","PolicyDocument":{{"Version":"2012-10-17","Statement":{statements}}}}}],"GroupList":[],"AttachedManagedPolicies":[]}}],"GroupDetailList":[],"RoleDetailList":[],"Policies":[]}}"#
        );
        AuthorizationDetails::from_json_str(&text).expect("valid")
    }

    fn run(statements: &str, used: &[&str], filters: Filters) -> Vec<String> {
        let catalogue = Catalogue::from_tsv(CATALOGUE).expect("catalogue");
        let details = details(statements);
        let evaluation = evaluate(
            &details,
            PrincipalRef::User("arn:aws:iam::111111111111:user/alice"),
            &catalogue,
        )
        .expect("eval");
        let used = used
            .iter()
            .filter_map(|a| catalogue.lookup_full(a))
            .collect();
        let lines = diff(
            &catalogue,
            &evaluation.granted,
            &used,
            &RecordingConfig::default(),
        );
        let lines = apply(lines, filters, &catalogue);
        if filters.show_used {
            let cheap = apply(
                used_lines(&catalogue, &evaluation.granted, &used),
                filters,
                &catalogue,
            );
            assert_eq!(
                cheap.iter().map(|l| l.render(false)).collect::<Vec<_>>(),
                lines.iter().map(|l| l.render(false)).collect::<Vec<_>>(),
                "used_lines differs from the full diff"
            );
        }
        lines.iter().map(|l| l.render(false)).collect()
    }

    #[test]
    fn marks_each_kind_of_line() {
        let all = Filters::default();
        let statements = r#"[{"Effect":"Allow","Action":["cloudwatch:Describe*","cloudwatch:Get*"],"Resource":"*"}]"#;
        assert_eq!(
            run(
                statements,
                &["cloudwatch:DescribeAlarms", "s3:CreateBucket"],
                all
            ),
            [
                "  cloudwatch:describealarms",
                "- cloudwatch:getdashboard",
                "? cloudwatch:getmetricdata",
                "+ s3:createbucket"
            ]
        );
        let used_only = Filters {
            show_used: true,
            ..all
        };
        assert_eq!(
            run(
                statements,
                &["cloudwatch:DescribeAlarms", "s3:CreateBucket"],
                used_only
            ),
            ["  cloudwatch:describealarms", "+ s3:createbucket"]
        );
        let quiet = Filters {
            ignore_benign: true,
            ignore_unknown: true,
            ..all
        };
        assert_eq!(run(statements, &[], quiet), ["- cloudwatch:getdashboard"]);
    }

    #[test]
    fn partial_grants_are_never_shown_as_full_grants() {
        let statements = r#"[{"Effect":"Allow","Action":"s3:CreateBucket","Resource":"arn:aws:s3:::mine"},{"Effect":"Allow","Action":"cloudwatch:GetDashboard","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}},{"Effect":"Allow","Action":"cloudwatch:DescribeAlarms","Resource":"*"},{"Effect":"Deny","Action":"cloudwatch:DescribeAlarms","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]"#;
        assert_eq!(
            run(statements, &["s3:CreateBucket"], Filters::default()),
            [
                "- cloudwatch:describealarms (conditional deny)",
                "- cloudwatch:getdashboard (conditional)",
                "  s3:createbucket (some resources)"
            ]
        );
    }

    #[test]
    fn colours_follow_cloudtracker() {
        let line = DiffLine {
            action: "s3:createbucket".into(),
            id: ActionId(0),
            marker: Marker::UsedNotGranted,
            notes: vec![],
        };
        assert_eq!(line.render(true), "\x1b[32m+ s3:createbucket\x1b[0m");
    }
}
