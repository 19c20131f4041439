//! CloudTracker's diff of privileges granted against privileges used: a rendering of the findings.
//!
//! `  ` granted and used, `- ` granted and never used, `? ` granted but CloudTrail does not record it
//! (so use cannot be known), `+ ` used but not granted now. A grant that is not whole (only some
//! resources, only under a condition, or cut by a Deny) carries a note in parentheses, so it is never
//! mistaken for a full grant.

use crate::findings::{Filters, Findings, Status};
use crate::iam::catalogue::{ActionId, Catalogue};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Marker {
    Used,
    Unused,
    Unknown,
    UsedNotGranted,
}

impl Marker {
    pub fn of(status: Status) -> Marker {
        match status {
            Status::Used => Marker::Used,
            Status::Unused => Marker::Unused,
            Status::Unknown => Marker::Unknown,
            Status::NotGranted => Marker::UsedNotGranted,
        }
    }

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    /// Lower-case `service:action`, as CloudTracker prints it.
    pub action: std::sync::Arc<str>,
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

/// The diff's lines for the findings `filters` keeps, sorted by action.
pub fn lines(findings: &Findings, filters: Filters, catalogue: &Catalogue) -> Vec<DiffLine> {
    findings
        .filtered(filters, catalogue)
        .map(|action| DiffLine {
            action: catalogue.get(action.id).key.clone(),
            id: action.id,
            marker: Marker::of(action.status),
            notes: action.grant.as_ref().map(|g| g.notes()).unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::CallActivity;
    use crate::iam::authz::AuthorizationDetails;
    use crate::iam::eval::{PrincipalRef, evaluate};
    use crate::iam::recorded::RecordingConfig;

    const CATALOGUE: &str = "cloudwatch\tDescribeAlarms\tList\ncloudwatch\tGetDashboard\tRead\ncloudwatch\tGetMetricData\tRead\ns3\tCreateBucket\tWrite\ns3\tGetObject\tRead\nsts\tGetCallerIdentity\tRead\n";

    fn details(statements: &str) -> AuthorizationDetails {
        let text = format!(
            r#"{{"UserDetailList":[{{"UserName":"alice","UserId":"A","Arn":"arn:aws:iam::111111111111:user/alice","Path":"/","CreateDate":"2017-09-02T18:02:14Z","UserPolicyList":[{{"PolicyName":"p","PolicyDocument":{{"Version":"2012-10-17","Statement":{statements}}}}}],"GroupList":[],"AttachedManagedPolicies":[]}}],"GroupDetailList":[],"RoleDetailList":[],"Policies":[]}}"#
        );
        AuthorizationDetails::from_json_str(&text).expect("valid")
    }

    /// The diff of alice, granted `statements`, after one successful call of each of `used`
    /// (event source, event name).
    fn run(statements: &str, used: &[(&str, &str)], filters: Filters) -> Vec<String> {
        let catalogue = Catalogue::from_tsv(CATALOGUE).expect("catalogue");
        let details = details(statements);
        let evaluation = evaluate(
            &details,
            PrincipalRef::User("arn:aws:iam::111111111111:user/alice"),
            &catalogue,
        )
        .expect("eval");
        let activity: Vec<CallActivity> = used
            .iter()
            .map(|(source, name)| CallActivity {
                event_source: source.to_string(),
                event_name: name.to_string(),
                calls: 1,
                ..CallActivity::default()
            })
            .collect();
        let findings = Findings::compute(
            &catalogue,
            &evaluation.granted,
            &activity,
            &crate::findings::Unrecorded::new(&catalogue, &RecordingConfig::default()),
        );
        let rendered: Vec<String> = lines(&findings, filters, &catalogue)
            .iter()
            .map(|l| l.render(false))
            .collect();
        if filters.show_used {
            let cheap = Findings::used_only(&catalogue, &evaluation.granted, &activity);
            let cheap: Vec<String> = lines(&cheap, filters, &catalogue)
                .iter()
                .map(|l| l.render(false))
                .collect();
            assert_eq!(cheap, rendered, "used findings differ from the full ones");
        }
        rendered
    }

    #[test]
    fn marks_each_kind_of_line() {
        let all = Filters::default();
        let statements = r#"[{"Effect":"Allow","Action":["cloudwatch:Describe*","cloudwatch:Get*"],"Resource":"*"}]"#;
        assert_eq!(
            run(
                statements,
                &[
                    ("monitoring.amazonaws.com", "DescribeAlarms"),
                    ("s3.amazonaws.com", "CreateBucket")
                ],
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
                &[
                    ("monitoring.amazonaws.com", "DescribeAlarms"),
                    ("s3.amazonaws.com", "CreateBucket")
                ],
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
            run(
                statements,
                &[("s3.amazonaws.com", "CreateBucket")],
                Filters::default()
            ),
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
