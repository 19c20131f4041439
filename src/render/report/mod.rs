//! `ctidx report`: one self-contained HTML file of every principal's findings, for the people who
//! will never run a CLI. It only reads findings: each principal's diff, its calls per day, the people
//! behind a shared role and the policy written from its needs ([`super::policy`]).
//!
//! The page is a template ([`PAGE`]) with its style, its script and one vendored library inlined,
//! and the data embedded as JSON. The data stays small for thousands of principals granted `*`:
//! the catalogue is written once, each principal's held-but-unused actions are runs over it, and
//! principals that hold the same actions the same way share those runs ([`Holdings`]).

use std::collections::{BTreeSet, HashMap};
use std::io::Write;

use rayon::prelude::*;
use serde::Serialize;

use super::policy::{self, Options, Target};
use crate::findings::organization::{AccountCoverage, PrincipalFindings, Problem, Sink, Survey};
use crate::findings::{Findings, Grant, Status, Unrecorded};
use crate::iam::catalogue::{AccessLevel, Catalogue};
use crate::iam::resource_types::ResourceTypes;
use crate::time::Window;

const PAGE: &str = include_str!("page.html");
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");
/// Renders only the rows of a long table that are in view. MIT licence, in the file's header.
const CLUSTERIZE: &str = include_str!("vendor/clusterize-1.0.0.js");

const LEVELS: [AccessLevel; 5] = [
    AccessLevel::List,
    AccessLevel::Read,
    AccessLevel::Write,
    AccessLevel::PermissionsManagement,
    AccessLevel::Tagging,
];

/// Resource ARNs listed for a used action; the others are counted.
const RESOURCES_SHOWN: usize = 5;

/// People listed behind one role; the others are counted.
const PEOPLE_SHOWN: usize = 50;

/// Principals in each list of the summary.
const TOP: usize = 10;

/// How the report writes each principal's policy.
#[derive(Debug, Clone, Copy)]
pub struct ReportOptions {
    pub policy: Options,
}

/// Everything the page is built from.
#[derive(Serialize)]
struct Data<'a> {
    generated: String,
    version: &'static str,
    window: WindowData,
    levels: Vec<&'static str>,
    statuses: Vec<&'static str>,
    services: Vec<&'a str>,
    /// Every action of the catalogue in the diff's order: service index, name, level index.
    actions: Vec<(u32, &'a str, u8)>,
    /// How actions are granted, shared by every principal.
    grants: Vec<GrantData>,
    /// Held actions: runs `[first action, length, grant]` flattened, each shared by principals.
    holdings: Vec<Holding>,
    /// The actions whose use CloudTrail cannot show under the trail's configuration: a held action
    /// the principal did not use is `unknown` when it is one of these, else `unused`.
    unrecorded: Vec<u32>,
    accounts: Vec<AccountData>,
    principals: Vec<PrincipalData>,
    problems: Vec<Problem>,
    policy_target: &'static str,
    policy_limit: usize,
}

#[derive(Serialize)]
struct WindowData {
    start: String,
    end: String,
}

#[derive(Serialize, Clone, PartialEq, Eq, Hash)]
struct GrantData {
    /// Why the grant is not whole: `some resources`, `conditional`, …
    notes: Vec<&'static str>,
    /// The statements that allow it.
    by: Vec<String>,
}

#[derive(Serialize)]
struct AccountData {
    id: String,
    name: String,
    users: usize,
    roles: usize,
    reported: bool,
    /// The days of the window with logs.
    days: Vec<String>,
}

#[derive(Serialize)]
struct PrincipalData {
    account: usize,
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    arn: String,
    created: Option<String>,
    last: Option<String>,
    /// Used, unused, unknown, not granted.
    counts: [usize; 4],
    /// Unused actions by access level, in the order of `levels`.
    unused_by_level: [usize; 5],
    holding: usize,
    /// `[action, status, grant or -1, calls, last call, denied calls, resources, other resources]`.
    used: Vec<UsedAction>,
    unmapped: Vec<(String, String, u64)>,
    denied_calls: u64,
    /// `[day, calls, denied]`.
    daily: Vec<(String, u64, u64)>,
    /// `[person, calls, actions]`, the busiest first; `None` when not asked or not a role.
    people: Option<Vec<(String, u64, usize)>>,
    people_others: usize,
    policy: Option<PolicyData>,
    warnings: Vec<String>,
}

type UsedAction = (u32, u8, i64, u64, Option<String>, u64, Vec<String>, u64);

#[derive(Serialize)]
struct PolicyData {
    /// The documents as `ctidx policy` writes them.
    text: String,
    /// Each document's size as AWS counts it.
    sizes: Vec<usize>,
    /// Why there is no policy to show, when there is none.
    error: Option<String>,
}

/// The actions a principal holds and how, as runs over the catalogue.
#[derive(Serialize, Clone, PartialEq, Eq, Hash, Default)]
struct Holding {
    /// `[first action, length, grant]`, flattened.
    runs: Vec<u32>,
    /// Held, not used, and of the other status than `unrecorded` says. The findings never give
    /// one; kept so that the page shows exactly what they say.
    flip: Vec<u32>,
}

/// One principal, rendered on any core: its grants still local to it.
struct Rendered {
    data: PrincipalData,
    grants: Vec<GrantData>,
    /// Runs with local grant indices.
    holding: Holding,
}

/// Held actions shared between principals.
#[derive(Default)]
struct Holdings {
    all: Vec<Holding>,
    index: HashMap<Holding, usize>,
}

impl Holdings {
    fn intern(&mut self, holding: Holding) -> usize {
        if let Some(&at) = self.index.get(&holding) {
            return at;
        }
        self.all.push(holding.clone());
        self.index.insert(holding, self.all.len() - 1);
        self.all.len() - 1
    }
}

pub struct ReportRenderer<'a> {
    out: &'a mut dyn Write,
    catalogue: &'a Catalogue,
    unrecorded: &'a Unrecorded,
    window: &'a Window,
    options: ReportOptions,
    /// Each account's days with logs, by ID.
    days_with_logs: HashMap<String, Vec<String>>,
    accounts: Vec<AccountData>,
    principals: Vec<PrincipalData>,
    grants: Vec<GrantData>,
    grant_index: HashMap<GrantData, u32>,
    holdings: Holdings,
    generated: String,
}

impl<'a> ReportRenderer<'a> {
    pub fn new(
        out: &'a mut dyn Write,
        catalogue: &'a Catalogue,
        unrecorded: &'a Unrecorded,
        window: &'a Window,
        options: ReportOptions,
        days_with_logs: HashMap<String, Vec<String>>,
        generated: String,
    ) -> ReportRenderer<'a> {
        ReportRenderer {
            out,
            catalogue,
            unrecorded,
            window,
            options,
            days_with_logs,
            accounts: Vec::new(),
            principals: Vec::new(),
            grants: Vec::new(),
            grant_index: HashMap::new(),
            holdings: Holdings::default(),
            generated,
        }
    }

    /// Principals rendered so far.
    pub fn principal_count(&self) -> usize {
        self.principals.len()
    }

    fn add(&mut self, rendered: Rendered) {
        let global: Vec<u32> = rendered
            .grants
            .into_iter()
            .map(|grant| {
                let next = self.grants.len() as u32;
                *self.grant_index.entry(grant.clone()).or_insert_with(|| {
                    self.grants.push(grant);
                    next
                })
            })
            .collect();
        let mut data = rendered.data;
        let mut holding = rendered.holding;
        for run in holding.runs.chunks_mut(3) {
            run[2] = global[run[2] as usize];
        }
        for used in &mut data.used {
            if used.2 >= 0 {
                used.2 = i64::from(global[used.2 as usize]);
            }
        }
        data.holding = self.holdings.intern(holding);
        self.principals.push(data);
    }

    pub fn finish(self, survey: &Survey) -> anyhow::Result<()> {
        let catalogue = self.catalogue;
        let services: Vec<&str> = catalogue.services();
        let service_index: HashMap<&str, u32> = services
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, i as u32))
            .collect();
        let mut actions: Vec<(u32, &str, u8)> = vec![(0, "", 0); catalogue.len()];
        for info in catalogue.actions() {
            actions[info.key_rank as usize] = (
                service_index
                    .get(info.service.as_str())
                    .copied()
                    .unwrap_or(0),
                info.name.as_str(),
                level_index(info.access_level),
            );
        }
        let mut accounts = self.accounts;
        for coverage in &survey.accounts {
            if !accounts.iter().any(|a| a.id == coverage.id) {
                accounts.push(account_data(coverage, &self.days_with_logs));
            }
        }
        let summary = Summary::of(&self.principals, &accounts);
        let data = Data {
            generated: self.generated,
            version: env!("CARGO_PKG_VERSION"),
            window: WindowData {
                start: self.window.start_text(),
                end: self.window.end_text(),
            },
            levels: LEVELS.iter().map(|l| l.as_str()).collect(),
            statuses: Status::ALL.iter().map(|s| s.as_str()).collect(),
            services,
            actions,
            grants: self.grants,
            holdings: self.holdings.all,
            unrecorded: catalogue
                .ids()
                .filter(|id| self.unrecorded.contains(*id))
                .map(|id| catalogue.get(id).key_rank)
                .collect::<BTreeSet<u32>>()
                .into_iter()
                .collect(),
            accounts,
            principals: self.principals,
            problems: survey.problems.clone(),
            policy_target: target_name(self.options.policy.target),
            policy_limit: self.options.policy.target.limit(),
        };
        let json = embedded_data(&data)?;
        let mut env = minijinja::Environment::new();
        env.add_filter("thousands", thousands);
        env.add_template("page.html", PAGE)?;
        let page = env.get_template("page.html")?.render(minijinja::context! {
            style => STYLE,
            script => SCRIPT,
            clusterize => CLUSTERIZE,
            data => json,
            window => &data.window,
            generated => &data.generated,
            version => data.version,
            accounts => &data.accounts,
            summary => summary,
            problems => &data.problems,
            statuses => &data.statuses,
        })?;
        self.out.write_all(page.as_bytes())?;
        self.out.flush()?;
        Ok(())
    }
}

/// `45019` → `45,019`.
fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn target_name(target: Target) -> &'static str {
    match target {
        Target::Managed => "managed policy",
        Target::RoleInline => "role inline policy",
        Target::UserInline => "user inline policy",
        Target::GroupInline => "group inline policy",
    }
}

fn level_index(level: AccessLevel) -> u8 {
    LEVELS.iter().position(|l| *l == level).unwrap_or(0) as u8
}

fn status_index(status: Status) -> u8 {
    Status::ALL.iter().position(|s| *s == status).unwrap_or(0) as u8
}

/// The data as the page embeds it: JSON, gzip-compressed, in base64 (the page inflates it with the
/// browser's own `DecompressionStream`). A `*` principal's findings repeat the same words thousands
/// of times; compressed, an organization's report stays a file that can be mailed.
fn embedded_data(data: &impl Serialize) -> anyhow::Result<String> {
    use base64::Engine;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    serde_json::to_writer(&mut gzip, data)?;
    let compressed = gzip.finish()?;
    Ok(base64::engine::general_purpose::STANDARD.encode(compressed))
}

fn account_data(
    coverage: &AccountCoverage,
    days_with_logs: &HashMap<String, Vec<String>>,
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

fn grant_data(grant: &Grant) -> GrantData {
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
fn render_principal(
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
        let position = catalogue.get(action.id).key_rank;
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
fn people_of(people: &[(String, Findings)]) -> Vec<(String, u64, usize)> {
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

fn policy_of(
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
    let text = match documents.as_slice() {
        [one] => serde_json::to_string_pretty(one),
        all => serde_json::to_string_pretty(all),
    };
    match text {
        Ok(text) => PolicyData {
            text,
            sizes: documents.iter().map(policy::size).collect(),
            error: None,
        },
        Err(error) => empty(error.to_string()),
    }
}

/// The summary view, worked out from the principals' parts.
#[derive(Serialize)]
struct Summary {
    accounts: usize,
    users: usize,
    roles: usize,
    idle_users: usize,
    idle_roles: usize,
    /// Granted (used + unused + unknown), used, unused, unknown, not granted: actions summed over
    /// principals.
    granted: usize,
    used: usize,
    unused: usize,
    unknown: usize,
    not_granted: usize,
    most_unused: Vec<Top>,
    most_unused_share: Vec<Top>,
    /// Principals whose unused grants include Permissions management or Write actions.
    risky: Vec<Top>,
    risky_count: usize,
}

#[derive(Serialize)]
struct Top {
    index: usize,
    account: String,
    kind: &'static str,
    name: String,
    unused: usize,
    granted: usize,
    /// Unused share of granted, in percent, rounded down.
    share: usize,
    permissions_management: usize,
    write: usize,
}

impl Summary {
    fn of(principals: &[PrincipalData], accounts: &[AccountData]) -> Summary {
        let reported: BTreeSet<usize> = principals.iter().map(|p| p.account).collect();
        let granted = |p: &PrincipalData| p.counts[0] + p.counts[1] + p.counts[2];
        let top = |index: usize| {
            let p = &principals[index];
            let granted = granted(p);
            Top {
                index,
                account: accounts
                    .get(p.account)
                    .map(|a| a.name.clone())
                    .unwrap_or_default(),
                kind: p.kind,
                name: p.name.clone(),
                unused: p.counts[1],
                granted,
                share: (p.counts[1] * 100).checked_div(granted).unwrap_or(0),
                permissions_management: p.unused_by_level[3],
                write: p.unused_by_level[2],
            }
        };
        let mut by_count: Vec<usize> = (0..principals.len())
            .filter(|&i| principals[i].counts[1] > 0)
            .collect();
        by_count.sort_by(|&a, &b| {
            principals[b].counts[1]
                .cmp(&principals[a].counts[1])
                .then(a.cmp(&b))
        });
        let mut by_share = by_count.clone();
        let share = |i: usize| {
            let p = &principals[i];
            (p.counts[1] as f64) / (granted(p).max(1) as f64)
        };
        by_share.sort_by(|&a, &b| share(b).total_cmp(&share(a)).then(a.cmp(&b)));
        let risky: Vec<usize> = by_count
            .iter()
            .copied()
            .filter(|&i| principals[i].unused_by_level[2] + principals[i].unused_by_level[3] > 0)
            .collect();
        let idle = |kind: &str| {
            principals
                .iter()
                .filter(|p| p.kind == kind && p.last.is_none())
                .count()
        };
        let sum = |at: usize| principals.iter().map(|p| p.counts[at]).sum::<usize>();
        Summary {
            accounts: reported.len(),
            users: principals.iter().filter(|p| p.kind == "user").count(),
            roles: principals.iter().filter(|p| p.kind == "role").count(),
            idle_users: idle("user"),
            idle_roles: idle("role"),
            granted: sum(0) + sum(1) + sum(2),
            used: sum(0),
            unused: sum(1),
            unknown: sum(2),
            not_granted: sum(3),
            most_unused: by_count.iter().take(TOP).map(|&i| top(i)).collect(),
            most_unused_share: by_share.iter().take(TOP).map(|&i| top(i)).collect(),
            risky_count: risky.len(),
            risky: risky.iter().take(TOP).map(|&i| top(i)).collect(),
        }
    }
}

impl Sink for ReportRenderer<'_> {
    fn account(&mut self, account: &AccountCoverage) -> anyhow::Result<()> {
        self.accounts
            .push(account_data(account, &self.days_with_logs));
        Ok(())
    }

    fn principal(&mut self, principal: &PrincipalFindings) -> anyhow::Result<()> {
        self.principals(std::slice::from_ref(principal))
    }

    fn principals(&mut self, principals: &[PrincipalFindings]) -> anyhow::Result<()> {
        let account = self.accounts.len().saturating_sub(1);
        let (catalogue, unrecorded, options) = (self.catalogue, self.unrecorded, self.options);
        let rendered: Vec<Rendered> = principals
            .par_iter()
            .map(|principal| render_principal(principal, account, catalogue, unrecorded, &options))
            .collect();
        for one in rendered {
            self.add(one);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(45019), "45,019");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn embedded_data_inflates_to_the_json() {
        use base64::Engine;
        use std::io::Read;
        let text = embedded_data(&serde_json::json!({"a": "</script>"})).expect("encodes");
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        );
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("base64");
        let mut json = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut json)
            .expect("gzip");
        assert_eq!(json, r#"{"a":"</script>"}"#);
    }

    #[test]
    fn equal_holdings_are_shared() {
        let mut holdings = Holdings::default();
        let one = Holding {
            runs: vec![0, 10, 0],
            flip: Vec::new(),
        };
        let other = Holding {
            runs: vec![0, 10, 1],
            flip: Vec::new(),
        };
        assert_eq!(holdings.intern(one.clone()), 0);
        assert_eq!(holdings.intern(other), 1);
        assert_eq!(holdings.intern(one), 0);
        assert_eq!(holdings.all.len(), 2);
    }
}
