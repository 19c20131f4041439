//! The page's data: what one principal shows ([`render_principal`], on any core) and the parts
//! principals share (how actions are granted, and the runs of actions they hold).

use std::collections::HashMap;

use serde::Serialize;

use super::ReportOptions;
use crate::findings::organization::{AccountCoverage, PrincipalFindings, Problem};
use crate::findings::{Findings, Grant, Status, Unrecorded};
use crate::iam::catalogue::{AccessLevel, Catalogue};
use crate::iam::resource_types::ResourceTypes;
use crate::render::policy;

pub(super) const LEVELS: [AccessLevel; 5] = [
    AccessLevel::List,
    AccessLevel::Read,
    AccessLevel::Write,
    AccessLevel::PermissionsManagement,
    AccessLevel::Tagging,
];

/// Resource ARNs listed for a used action; the others are counted.
pub(super) const RESOURCES_SHOWN: usize = 5;

/// People listed behind one role; the others are counted.
pub(super) const PEOPLE_SHOWN: usize = 50;

/// Everything the page is built from.
#[derive(Serialize)]
pub(super) struct Data<'a> {
    pub(super) generated: String,
    pub(super) version: &'static str,
    pub(super) window: WindowData,
    pub(super) levels: Vec<&'static str>,
    pub(super) statuses: Vec<&'static str>,
    pub(super) services: Vec<&'a str>,
    /// Every action of the catalogue in the diff's order: service index, name, level index.
    pub(super) actions: Vec<(u32, &'a str, u8)>,
    /// How actions are granted, shared by every principal.
    pub(super) grants: Vec<GrantData>,
    /// Held actions: runs `[first action, length, grant]` flattened, each shared by principals.
    pub(super) holdings: Vec<Holding>,
    /// The actions whose use CloudTrail cannot show under the trail's configuration: a held action
    /// the principal did not use is `unknown` when it is one of these, else `unused`.
    pub(super) unrecorded: Vec<u32>,
    pub(super) accounts: Vec<AccountData>,
    pub(super) principals: Vec<PrincipalData>,
    pub(super) problems: Vec<Problem>,
    pub(super) policy_target: &'static str,
    pub(super) policy_limit: usize,
}

#[derive(Serialize)]
pub(super) struct WindowData {
    pub(super) start: String,
    pub(super) end: String,
}

#[derive(Serialize, Clone, PartialEq, Eq, Hash)]
pub(super) struct GrantData {
    /// Why the grant is not whole: `some resources`, `conditional`, …
    pub(super) notes: Vec<&'static str>,
    /// The statements that allow it.
    pub(super) by: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct AccountData {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) users: usize,
    pub(super) roles: usize,
    pub(super) reported: bool,
    /// The days of the window with logs.
    pub(super) days: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct PrincipalData {
    pub(super) account: usize,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) name: String,
    pub(super) arn: String,
    pub(super) created: Option<String>,
    pub(super) last: Option<String>,
    /// Used, unused, unknown, not granted.
    pub(super) counts: [usize; 4],
    /// Unused actions by access level, in the order of `levels`.
    pub(super) unused_by_level: [usize; 5],
    pub(super) holding: usize,
    /// `[action, status, grant or -1, calls, last call, denied calls, resources, other resources]`.
    pub(super) used: Vec<UsedAction>,
    pub(super) unmapped: Vec<(String, String, u64)>,
    pub(super) denied_calls: u64,
    /// `[day, calls, denied]`.
    pub(super) daily: Vec<(String, u64, u64)>,
    /// `[person, calls, actions]`, the busiest first; `None` when not asked or not a role.
    pub(super) people: Option<Vec<(String, u64, usize)>>,
    pub(super) people_others: usize,
    pub(super) policy: Option<PolicyData>,
    pub(super) warnings: Vec<String>,
}

pub(super) type UsedAction = (u32, u8, i64, u64, Option<String>, u64, Vec<String>, u64);

#[derive(Serialize)]
pub(super) struct PolicyData {
    /// The documents as `ctidx policy` writes them.
    pub(super) text: String,
    /// Each document's size as AWS counts it.
    pub(super) sizes: Vec<usize>,
    /// Why there is no policy to show, when there is none.
    pub(super) error: Option<String>,
}

/// The actions a principal holds and how, as runs over the catalogue.
#[derive(Serialize, Clone, PartialEq, Eq, Hash, Default)]
pub(super) struct Holding {
    /// `[first action, length, grant]`, flattened.
    pub(super) runs: Vec<u32>,
    /// Held, not used, and of the other status than `unrecorded` says. The findings never give
    /// one; kept so that the page shows exactly what they say.
    pub(super) flip: Vec<u32>,
}

/// One principal, rendered on any core: its grants still local to it.
pub(super) struct Rendered {
    pub(super) data: PrincipalData,
    pub(super) grants: Vec<GrantData>,
    /// Runs with local grant indices.
    pub(super) holding: Holding,
}

/// Held actions shared between principals.
#[derive(Default)]
pub(super) struct Holdings {
    pub(super) all: Vec<Holding>,
    pub(super) index: HashMap<Holding, usize>,
}

impl Holdings {
    pub(super) fn intern(&mut self, holding: Holding) -> usize {
        if let Some(&at) = self.index.get(&holding) {
            return at;
        }
        self.all.push(holding.clone());
        self.index.insert(holding, self.all.len() - 1);
        self.all.len() - 1
    }
}

pub(super) fn level_index(level: AccessLevel) -> u8 {
    LEVELS.iter().position(|l| *l == level).unwrap_or(0) as u8
}

pub(super) fn status_index(status: Status) -> u8 {
    Status::ALL.iter().position(|s| *s == status).unwrap_or(0) as u8
}

pub(super) fn account_data(
    coverage: &AccountCoverage,
    days_with_logs: &crate::findings::organization::LogDays,
) -> AccountData {
    AccountData {
        id: coverage.id.clone(),
        name: coverage.name.clone(),
        users: coverage.users,
        roles: coverage.roles,
        reported: coverage.reported,
        days: days_with_logs
            .get(&coverage.id)
            .cloned()
            .unwrap_or_default(),
    }
}

pub(super) fn grant_data(grant: &Grant) -> GrantData {
    GrantData {
        notes: grant.notes(),
        by: grant
            .statements
            .iter()
            .map(|statement| {
                let policy = match &statement.group {
                    Some(group) => format!("group {group}: {}", statement.policy),
                    None => statement.policy.clone(),
                };
                let which = match &statement.sid {
                    Some(sid) => format!("statement {sid}"),
                    None => format!("statement #{}", statement.statement),
                };
                format!(
                    "{policy} ({}, {which})",
                    statement.attachment.replace('_', " ")
                )
            })
            .collect(),
    }
}

/// One principal's part of the page; what it shares with others is interned by [`ReportRenderer::add`].
pub(super) fn render_principal(
    principal: &PrincipalFindings,
    account: usize,
    catalogue: &Catalogue,
    unrecorded: &Unrecorded,
    options: &ReportOptions,
) -> Rendered {
    let findings = &principal.findings;
    let mut grants: Vec<GrantData> = Vec::new();
    let mut local = |grant: &Grant| -> u32 {
        let data = grant_data(grant);
        match grants.iter().position(|g| *g == data) {
            Some(at) => at as u32,
            None => {
                grants.push(data);
                (grants.len() - 1) as u32
            }
        }
    };
    let mut holding = Holding::default();
    let mut used: Vec<UsedAction> = Vec::new();
    let mut unused_by_level = [0usize; 5];
    // The grant of the action before, by address: neighbours mostly share one.
    let mut last: Option<(*const Grant, u32)> = None;
    for action in &findings.actions {
        let position = action.id.0;
        let grant = action.grant.as_ref().map(|grant| {
            let address = std::sync::Arc::as_ptr(grant);
            match last {
                Some((known, index)) if known == address => index,
                _ => {
                    let index = local(grant);
                    last = Some((address, index));
                    index
                }
            }
        });
        match action.status {
            Status::Used | Status::NotGranted => used.push((
                position,
                status_index(action.status),
                grant.map_or(-1, i64::from),
                action.calls,
                action.last_call.clone(),
                action.denied_calls,
                action
                    .resources
                    .iter()
                    .take(RESOURCES_SHOWN)
                    .cloned()
                    .collect(),
                action.other_resources
                    + action.resources.len().saturating_sub(RESOURCES_SHOWN) as u64,
            )),
            Status::Unused | Status::Unknown => {
                if action.status == Status::Unused {
                    unused_by_level[level_index(catalogue.get(action.id).access_level) as usize] +=
                        1;
                }
                let expected = if unrecorded.contains(action.id) {
                    Status::Unknown
                } else {
                    Status::Unused
                };
                if action.status != expected {
                    holding.flip.push(position);
                }
            }
        }
        let Some(grant) = grant else {
            continue;
        };
        // Findings come in the catalogue's key order, so neighbours extend one run.
        match holding.runs.rchunks_exact_mut(3).next() {
            Some(run) if run[0] + run[1] == position && run[2] == grant => run[1] += 1,
            _ => holding.runs.extend([position, 1, grant]),
        }
    }
    let counts = findings.counts();
    let people = principal.people.as_ref().map(|people| people_of(people));
    let people_others = principal
        .people
        .as_ref()
        .map_or(0, |people| people.len().saturating_sub(PEOPLE_SHOWN));
    let p = &principal.principal;
    Rendered {
        data: PrincipalData {
            account,
            kind: p.kind.as_str(),
            name: p.name.clone(),
            arn: p.arn.clone(),
            created: p.created.clone(),
            last: findings.last_activity.clone(),
            counts: Status::ALL.map(|status| counts.get(&status).copied().unwrap_or(0)),
            unused_by_level,
            holding: 0,
            used,
            unmapped: findings
                .unmapped
                .iter()
                .map(|u| (u.event_source.clone(), u.event_name.clone(), u.calls))
                .collect(),
            denied_calls: findings.denied_calls,
            daily: principal
                .daily
                .iter()
                .map(|day| (day.day.clone(), day.calls, day.denied_calls))
                .collect(),
            people,
            people_others,
            policy: principal
                .needs
                .as_ref()
                .map(|needs| policy_of(needs, catalogue, options)),
            warnings: principal.warnings.clone(),
        },
        grants,
        holding,
    }
}

/// The people behind a role's sessions, the busiest first.
pub(super) fn people_of(people: &[(String, Findings)]) -> Vec<(String, u64, usize)> {
    let mut people: Vec<(String, u64, usize)> = people
        .iter()
        .map(|(person, findings)| {
            let used = findings.actions.iter().filter(|a| a.status.is_used());
            let calls = used.clone().map(|a| a.calls).sum();
            (person.clone(), calls, used.count())
        })
        .collect();
    people.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    people.truncate(PEOPLE_SHOWN);
    people
}

pub(super) fn policy_of(
    needs: &crate::findings::needs::Needs,
    catalogue: &Catalogue,
    options: &ReportOptions,
) -> PolicyData {
    let empty = |error: String| PolicyData {
        text: String::new(),
        sizes: Vec::new(),
        error: Some(error),
    };
    if needs.actions.is_empty() {
        return empty("no successful call in the window maps to an IAM action".into());
    }
    let statements =
        policy::statements(needs, catalogue, ResourceTypes::embedded(), &options.policy);
    let documents = match policy::documents(&statements, options.policy.target) {
        Ok(documents) => documents,
        Err(error) => return empty(error.to_string()),
    };
    match serde_json::to_string_pretty(&policy::Written::of(&documents)) {
        Ok(text) => PolicyData {
            text,
            sizes: documents.iter().map(policy::size).collect(),
            error: None,
        },
        Err(error) => empty(error.to_string()),
    }
}
