//! Findings: for one principal and a window, each IAM action it holds or used, with how it is
//! granted and what the principal did with it. Computed here once; the CloudTracker diff
//! ([`crate::render::diff`]) and every other output only render them. Nothing here prints.
//!
//! Statuses follow CloudTracker's diff: `used` (granted and used), `unused` (granted, no successful
//! call in the window), `unknown` (granted, but CloudTrail does not record the action, so its use
//! cannot be known) and `not_granted` (used, but not granted now). A permission AWS grants to every
//! principal and the principal did not use is left out: nobody can remove it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::Serialize;

use crate::iam::catalogue::{AccessLevel, ActionId, Catalogue};
use crate::iam::eval::{Attachment, DenyCut, GrantScope, Granted, GrantedActions, StatementRef};
use crate::iam::recorded::{Recorded, RecordingConfig};
use crate::mapping::{self, Mapping};

pub mod activity;
pub mod needs;
pub mod organization;

pub use activity::activity_rows;

/// Which findings an output shows; every output applies the same filters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filters {
    /// Only used actions (`used` and `not_granted`).
    pub show_used: bool,
    /// Hide List-level and Describe* actions, which only read metadata.
    pub ignore_benign: bool,
    /// Hide actions whose use CloudTrail cannot show (`unknown`).
    pub ignore_unknown: bool,
}

impl Filters {
    pub fn keeps(&self, catalogue: &Catalogue, action: &ActionFinding) -> bool {
        (!self.show_used || action.status.is_used())
            && (!self.ignore_unknown || action.status != Status::Unknown)
            && (!self.ignore_benign || !is_benign(catalogue, action.id))
    }
}

/// List-level actions and Describe* calls only read metadata.
fn is_benign(catalogue: &Catalogue, id: ActionId) -> bool {
    let info = catalogue.get(id);
    info.access_level == AccessLevel::List || info.name.starts_with("Describe")
}

/// The actions whose use CloudTrail cannot show under the trail's configuration: what `unknown`
/// means. Worked out once for the whole catalogue, then asked for every principal's actions.
#[derive(Debug, Clone)]
pub struct Unrecorded(Vec<bool>);

impl Unrecorded {
    pub fn new(catalogue: &Catalogue, recording: &RecordingConfig) -> Unrecorded {
        let facts = mapping::recorded_facts();
        Unrecorded(
            catalogue
                .ids()
                .map(|id| matches!(facts.recorded(catalogue, id, recording), Recorded::No(_)))
                .collect(),
        )
    }

    pub fn contains(&self, id: ActionId) -> bool {
        self.0.get(id.0 as usize).copied().unwrap_or(false)
    }
}

/// One kind of call a principal made in the window, as the store answers it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallActivity {
    pub event_source: String,
    pub event_name: String,
    pub event_type: Option<String>,
    /// Successful calls.
    pub calls: u64,
    /// Calls refused for lack of permission.
    pub denied_calls: u64,
    /// ISO-8601 UTC times of the first and last successful call.
    pub first_call: Option<String>,
    pub last_call: Option<String>,
    /// Distinct ARNs of the resources the successful calls named (`resources[].ARN`), the first
    /// [`RESOURCES_SHOWN`] by ARN at most.
    pub resources: Vec<String>,
    /// How many distinct resource ARNs there were in all.
    pub resources_seen: u64,
}

/// How many resource ARNs a finding lists; the rest are only counted.
pub const RESOURCES_SHOWN: usize = 20;

/// Distinct `resources[].ARN` read per kind of call when writing a policy; more than any policy
/// could list.
pub const RESOURCES_READ: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Used,
    Unused,
    Unknown,
    NotGranted,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Used,
        Status::Unused,
        Status::Unknown,
        Status::NotGranted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Used => "used",
            Status::Unused => "unused",
            Status::Unknown => "unknown",
            Status::NotGranted => "not_granted",
        }
    }

    pub fn is_used(self) -> bool {
        matches!(self, Status::Used | Status::NotGranted)
    }
}

/// How an action is granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// Allowed on every resource (`Resource: "*"`), not only on some.
    pub all_resources: bool,
    /// Allowed only under a condition.
    pub conditional: bool,
    /// A Deny applies under a condition.
    pub conditional_deny: bool,
    /// A Deny applies on some resources.
    pub denied_on_some_resources: bool,
    /// The statements that allow it: identity policies first, then the permissions boundary.
    pub statements: Vec<GrantingStatement>,
}

impl Grant {
    fn of(granted: &Granted) -> Grant {
        let cut = granted.deny_cut.unwrap_or_default();
        Grant {
            all_resources: granted.scope == GrantScope::AllResources,
            conditional: granted.conditional,
            conditional_deny: cut.conditional,
            denied_on_some_resources: cut.some_resources,
            statements: granted
                .sources
                .iter()
                .map(|statement| GrantingStatement::of(statement))
                .collect(),
        }
    }

    /// Allowed on every resource, without condition, and no Deny touches it.
    pub fn is_whole(&self) -> bool {
        self.all_resources
            && !self.conditional
            && !self.conditional_deny
            && !self.denied_on_some_resources
    }

    /// Why the grant is not whole, in the diff's words.
    pub fn notes(&self) -> Vec<&'static str> {
        let mut notes = Vec::new();
        if !self.all_resources {
            notes.push("some resources");
        }
        if self.conditional {
            notes.push("conditional");
        }
        if self.conditional_deny {
            notes.push("conditional deny");
        }
        if self.denied_on_some_resources {
            notes.push("denied on some resources");
        }
        notes
    }
}

/// One [`Grant`] per way of granting: the thousands of actions of a principal granted `*` are
/// granted the same way, and share it.
#[derive(Default)]
struct Grants {
    all: HashMap<GrantKey, Arc<Grant>>,
    /// The one asked last: actions come in catalogue order, and neighbours mostly share a grant.
    last: Option<(GrantKey, Arc<Grant>)>,
}

/// What makes two grants the same: the scope, the flags and the very statements.
type GrantKey = (GrantScope, bool, Option<DenyCut>, Vec<usize>);

fn statement_addresses(granted: &Granted) -> impl Iterator<Item = usize> + '_ {
    granted
        .sources
        .iter()
        .map(|statement| Arc::as_ptr(statement) as usize)
}

impl Grants {
    fn of(&mut self, granted: &Granted) -> Arc<Grant> {
        if let Some(((scope, conditional, deny_cut, statements), grant)) = &self.last
            && *scope == granted.scope
            && *conditional == granted.conditional
            && *deny_cut == granted.deny_cut
            && statements.iter().copied().eq(statement_addresses(granted))
        {
            return grant.clone();
        }
        let key = (
            granted.scope,
            granted.conditional,
            granted.deny_cut,
            statement_addresses(granted).collect(),
        );
        let grant = self
            .all
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Grant::of(granted)))
            .clone();
        self.last = Some((key, grant.clone()));
        grant
    }
}

/// One statement of one policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantingStatement {
    /// The policy's name (`AWS` for what AWS allows every principal).
    pub policy: String,
    /// A managed policy's ARN.
    pub policy_arn: Option<String>,
    /// `inline`, `managed`, `group_inline`, `group_managed`, `permissions_boundary` or
    /// `always_allowed`.
    pub attachment: &'static str,
    /// The group the policy is attached to, for group policies.
    pub group: Option<String>,
    /// Position in the policy's `Statement` list.
    pub statement: usize,
    pub sid: Option<String>,
}

impl GrantingStatement {
    fn of(statement: &StatementRef) -> GrantingStatement {
        let (attachment, group) = match &statement.policy.attachment {
            Attachment::Inline => ("inline", None),
            Attachment::Managed => ("managed", None),
            Attachment::GroupInline { group } => ("group_inline", Some(group.clone())),
            Attachment::GroupManaged { group } => ("group_managed", Some(group.clone())),
            Attachment::PermissionsBoundary => ("permissions_boundary", None),
            Attachment::AlwaysAllowed => ("always_allowed", None),
        };
        GrantingStatement {
            policy: statement.policy.name.clone(),
            policy_arn: statement.policy.arn.clone(),
            attachment,
            group,
            statement: statement.index,
            sid: statement.sid.clone(),
        }
    }
}

/// One IAM action of one principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionFinding {
    pub id: ActionId,
    pub status: Status,
    /// `List`, `Read`, `Write`, `Permissions management` or `Tagging`.
    pub access_level: &'static str,
    /// `None` when the action is used but not granted now.
    pub grant: Option<Arc<Grant>>,
    /// Successful calls that needed the action, and the first and last of them.
    pub calls: u64,
    pub first_call: Option<String>,
    pub last_call: Option<String>,
    /// Calls that needed the action and were refused for lack of permission.
    pub denied_calls: u64,
    /// Distinct ARNs of the resources its successful calls named, the first [`RESOURCES_SHOWN`]
    /// by ARN.
    pub resources: Vec<String>,
    /// Distinct resource ARNs seen beyond `resources`. When several kinds of call need the action,
    /// an ARN that more than one of them named, and that is not listed, counts once per kind.
    pub other_resources: u64,
}

/// A kind of call that maps to no IAM action the catalogue knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnmappedCall {
    pub event_source: String,
    pub event_name: String,
    pub calls: u64,
}

/// Everything found for one principal, before any filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Sorted by action.
    pub actions: Vec<ActionFinding>,
    pub unmapped: Vec<UnmappedCall>,
    /// The last successful call in the window, of any kind; `None` when idle.
    pub last_activity: Option<String>,
    /// Calls refused for lack of permission, of any kind.
    pub denied_calls: u64,
}

/// The activity of one action, summed over the kinds of call that need it.
#[derive(Default)]
struct Tally {
    calls: u64,
    denied_calls: u64,
    first_call: Option<String>,
    last_call: Option<String>,
    resources: BTreeSet<String>,
    /// Distinct ARNs each kind of call saw beyond those it listed.
    unlisted_resources: u64,
}

impl Tally {
    fn add(&mut self, activity: &CallActivity) {
        self.calls += activity.calls;
        self.denied_calls += activity.denied_calls;
        self.first_call = earliest(self.first_call.take(), activity.first_call.clone());
        self.last_call = latest(self.last_call.take(), activity.last_call.clone());
        self.resources.extend(activity.resources.iter().cloned());
        self.unlisted_resources += activity
            .resources_seen
            .saturating_sub(activity.resources.len() as u64);
    }

    /// The first [`RESOURCES_SHOWN`] ARNs, and how many others were seen.
    fn resources(&self) -> (Vec<String>, u64) {
        let shown: Vec<String> = self
            .resources
            .iter()
            .take(RESOURCES_SHOWN)
            .cloned()
            .collect();
        let others = (self.resources.len() - shown.len()) as u64 + self.unlisted_resources;
        (shown, others)
    }
}

/// ISO-8601 UTC times of one form compare as text.
fn earliest(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn latest(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl Findings {
    /// The findings of a principal granted `granted` that made the calls of `activity`.
    pub fn compute(
        catalogue: &Catalogue,
        granted: &GrantedActions,
        activity: &[CallActivity],
        unrecorded: &Unrecorded,
    ) -> Findings {
        let (tallies, mut findings) = Findings::tally(catalogue, activity);
        findings.actions.reserve(granted.len() + tallies.len());
        let mut grants = Grants::default();
        // Both are in action order: the actions used but not granted go in between as they come.
        let mut used = tallies.iter().peekable();
        let mut not_granted = |findings: &mut Findings, before: Option<ActionId>| {
            while let Some((&id, tally)) = used.next_if(|(id, _)| before.is_none_or(|b| **id < b)) {
                if tally.calls > 0 && !granted.contains_key(&id) {
                    findings.push_action(catalogue, id, Status::NotGranted, None, Some(tally));
                }
            }
        };
        for (&id, granted) in granted {
            not_granted(&mut findings, Some(id));
            let tally = tallies.get(&id);
            let used = tally.is_some_and(|t| t.calls > 0);
            let always_allowed = granted
                .sources
                .iter()
                .all(|s| s.policy.attachment == Attachment::AlwaysAllowed);
            let status = if used {
                Status::Used
            } else if always_allowed {
                continue;
            } else if unrecorded.contains(id) {
                Status::Unknown
            } else {
                Status::Unused
            };
            findings.push_action(catalogue, id, status, Some(grants.of(granted)), tally);
        }
        not_granted(&mut findings, None);
        findings
    }

    /// Only the actions the principal used: the same findings as [`Findings::compute`] keeps for
    /// `used` and `not_granted`, far cheaper for a principal granted `*` whose use is wanted many
    /// times (once per person behind a shared role).
    pub fn used_only(
        catalogue: &Catalogue,
        granted: &GrantedActions,
        activity: &[CallActivity],
    ) -> Findings {
        let (tallies, mut findings) = Findings::tally(catalogue, activity);
        let mut grants = Grants::default();
        for (&id, tally) in &tallies {
            if tally.calls == 0 {
                continue;
            }
            let grant = granted.get(&id);
            let status = if grant.is_some() {
                Status::Used
            } else {
                Status::NotGranted
            };
            let grant = grant.map(|granted| grants.of(granted));
            findings.push_action(catalogue, id, status, grant, Some(tally));
        }
        findings.actions.sort_by_key(|a| a.id);
        findings
    }

    /// The activity of each action, and the principal-wide facts of `activity`.
    fn tally(
        catalogue: &Catalogue,
        activity: &[CallActivity],
    ) -> (BTreeMap<ActionId, Tally>, Findings) {
        let mut tallies: BTreeMap<ActionId, Tally> = BTreeMap::new();
        let mut unmapped: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut findings = Findings::default();
        for call in activity {
            findings.denied_calls += call.denied_calls;
            if call.calls > 0 {
                findings.last_activity =
                    latest(findings.last_activity.take(), call.last_call.clone());
            }
            let mapped = mapping::map_record(
                catalogue,
                call.event_type.as_deref(),
                &call.event_source,
                &call.event_name,
            );
            match mapped {
                Mapping::Actions(actions) => {
                    let distinct: BTreeSet<ActionId> = actions.into_iter().collect();
                    for id in distinct {
                        tallies.entry(id).or_default().add(call);
                    }
                }
                Mapping::Unmapped if call.calls + call.denied_calls > 0 => {
                    *unmapped
                        .entry((call.event_source.clone(), call.event_name.clone()))
                        .or_default() += call.calls + call.denied_calls;
                }
                Mapping::NoPermission(_) | Mapping::Unmapped => {}
            }
        }
        findings.unmapped = unmapped
            .into_iter()
            .map(|((event_source, event_name), calls)| UnmappedCall {
                event_source,
                event_name,
                calls,
            })
            .collect();
        (tallies, findings)
    }

    fn push_action(
        &mut self,
        catalogue: &Catalogue,
        id: ActionId,
        status: Status,
        grant: Option<Arc<Grant>>,
        tally: Option<&Tally>,
    ) {
        let (resources, other_resources) = tally.map(Tally::resources).unwrap_or_default();
        self.actions.push(ActionFinding {
            id,
            status,
            access_level: catalogue.get(id).access_level.as_str(),
            grant,
            calls: tally.map_or(0, |t| t.calls),
            first_call: tally.and_then(|t| t.first_call.clone()),
            last_call: tally.and_then(|t| t.last_call.clone()),
            denied_calls: tally.map_or(0, |t| t.denied_calls),
            resources,
            other_resources,
        });
    }

    /// The actions `filters` keeps.
    pub fn filtered<'a>(
        &'a self,
        filters: Filters,
        catalogue: &'a Catalogue,
    ) -> impl Iterator<Item = &'a ActionFinding> + 'a {
        self.actions
            .iter()
            .filter(move |action| filters.keeps(catalogue, action))
    }

    /// The number of actions of each status.
    pub fn counts(&self) -> BTreeMap<Status, usize> {
        let mut counts = [0; Status::ALL.len()];
        for action in &self.actions {
            counts[action.status as usize] += 1;
        }
        Status::ALL.into_iter().zip(counts).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::authz::AuthorizationDetails;
    use crate::iam::eval::{PrincipalRef, evaluate};

    const CATALOGUE: &str = "cloudwatch\tDescribeAlarms\tList\ncloudwatch\tGetDashboard\tRead\ncloudwatch\tGetMetricData\tRead\ns3\tCreateBucket\tWrite\ns3\tGetObject\tRead\nsts\tGetCallerIdentity\tRead\n";

    fn granted(statements: &str, catalogue: &Catalogue) -> GrantedActions {
        let text = format!(
            r#"{{"UserDetailList":[{{"UserName":"alice","UserId":"A","Arn":"arn:aws:iam::111111111111:user/alice","Path":"/","CreateDate":"2017-09-02T18:02:14Z","UserPolicyList":[{{"PolicyName":"p","PolicyDocument":{{"Version":"2012-10-17","Statement":{statements}}}}}],"GroupList":[],"AttachedManagedPolicies":[]}}],"GroupDetailList":[],"RoleDetailList":[],"Policies":[]}}"#
        );
        let details = AuthorizationDetails::from_json_str(&text).expect("valid");
        evaluate(
            &details,
            PrincipalRef::User("arn:aws:iam::111111111111:user/alice"),
            catalogue,
        )
        .expect("eval")
        .granted
    }

    fn call(
        source: &str,
        name: &str,
        calls: u64,
        denied: u64,
        first: &str,
        last: &str,
    ) -> CallActivity {
        CallActivity {
            event_source: source.into(),
            event_name: name.into(),
            event_type: Some("AwsApiCall".into()),
            calls,
            denied_calls: denied,
            first_call: (!first.is_empty()).then(|| first.into()),
            last_call: (!last.is_empty()).then(|| last.into()),
            ..CallActivity::default()
        }
    }

    fn statuses<'a>(findings: &Findings, catalogue: &'a Catalogue) -> Vec<(&'a str, Status)> {
        findings
            .actions
            .iter()
            .map(|a| (&*catalogue.get(a.id).key, a.status))
            .collect()
    }

    #[test]
    fn each_status_with_its_activity() {
        let catalogue = Catalogue::from_tsv(CATALOGUE).expect("catalogue");
        let granted = granted(
            r#"[{"Effect":"Allow","Action":["cloudwatch:Describe*","cloudwatch:Get*"],"Resource":"*"}]"#,
            &catalogue,
        );
        let activity = [
            call(
                "monitoring.amazonaws.com",
                "DescribeAlarms",
                3,
                1,
                "2024-03-01T10:00:00Z",
                "2024-03-05T09:00:00Z",
            ),
            call(
                "monitoring.amazonaws.com",
                "DescribeAlarms",
                2,
                0,
                "2024-02-28T10:00:00Z",
                "2024-03-02T09:00:00Z",
            ),
            call(
                "s3.amazonaws.com",
                "CreateBucket",
                1,
                0,
                "2024-03-03T00:00:00Z",
                "2024-03-03T00:00:00Z",
            ),
            // Refused only: not a use.
            call("s3.amazonaws.com", "GetObject", 0, 4, "", ""),
            call(
                "made-up.amazonaws.com",
                "DoThings",
                2,
                1,
                "2024-03-09T00:00:00Z",
                "2024-03-09T00:00:00Z",
            ),
        ];
        let findings = Findings::compute(
            &catalogue,
            &granted,
            &activity,
            &Unrecorded::new(&catalogue, &RecordingConfig::default()),
        );
        assert_eq!(
            statuses(&findings, &catalogue),
            [
                ("cloudwatch:describealarms", Status::Used),
                ("cloudwatch:getdashboard", Status::Unused),
                ("cloudwatch:getmetricdata", Status::Unknown),
                ("s3:createbucket", Status::NotGranted),
            ]
        );
        let alarms = &findings.actions[0];
        assert_eq!(
            (
                alarms.calls,
                alarms.denied_calls,
                alarms.first_call.as_deref(),
                alarms.last_call.as_deref()
            ),
            (
                5,
                1,
                Some("2024-02-28T10:00:00Z"),
                Some("2024-03-05T09:00:00Z")
            )
        );
        assert_eq!(alarms.access_level, "List");
        let grant = alarms.grant.as_ref().expect("granted");
        assert!(grant.is_whole());
        assert_eq!(grant.statements.len(), 1);
        assert_eq!(
            (
                grant.statements[0].policy.as_str(),
                grant.statements[0].attachment,
                grant.statements[0].statement
            ),
            ("p", "inline", 0)
        );
        assert_eq!(findings.actions[3].grant, None);
        assert_eq!(
            findings.last_activity.as_deref(),
            Some("2024-03-09T00:00:00Z")
        );
        assert_eq!(findings.denied_calls, 6);
        assert_eq!(
            findings.unmapped,
            [UnmappedCall {
                event_source: "made-up.amazonaws.com".into(),
                event_name: "DoThings".into(),
                calls: 3
            }]
        );
        let counts = findings.counts();
        assert_eq!(Status::ALL.map(|s| counts[&s]), [1, 1, 1, 1]);

        // The cheap form keeps exactly the used findings of the full one.
        let used = Findings::used_only(&catalogue, &granted, &activity);
        let full_used: Vec<&ActionFinding> = findings
            .actions
            .iter()
            .filter(|a| a.status.is_used())
            .collect();
        assert_eq!(used.actions.iter().collect::<Vec<_>>(), full_used);
    }

    #[test]
    fn partial_grants_say_why() {
        let catalogue = Catalogue::from_tsv(CATALOGUE).expect("catalogue");
        let granted = granted(
            r#"[{"Effect":"Allow","Action":"s3:CreateBucket","Resource":"arn:aws:s3:::mine"},{"Effect":"Allow","Action":"cloudwatch:GetDashboard","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}},{"Effect":"Allow","Action":"cloudwatch:DescribeAlarms","Resource":"*"},{"Effect":"Deny","Action":"cloudwatch:DescribeAlarms","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]"#,
            &catalogue,
        );
        let findings = Findings::compute(
            &catalogue,
            &granted,
            &[],
            &Unrecorded::new(&catalogue, &RecordingConfig::default()),
        );
        let notes: Vec<(&str, Vec<&str>)> = findings
            .actions
            .iter()
            .map(|a| {
                (
                    &*catalogue.get(a.id).key,
                    a.grant.as_ref().map(|g| g.notes()).unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            notes,
            [
                ("cloudwatch:describealarms", vec!["conditional deny"]),
                ("cloudwatch:getdashboard", vec!["conditional"]),
                ("s3:createbucket", vec!["some resources"]),
            ]
        );
        assert_eq!(findings.last_activity, None);
    }
}
