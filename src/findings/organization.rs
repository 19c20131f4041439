//! Findings for every user and role of several accounts, in one pass: one scan of the window for
//! all of them ([`super::activity::of_accounts`]), then each principal's policies evaluated on every
//! core, on a thread of its own that runs a batch ahead of the sink. Principals reach the [`Sink`],
//! on the calling thread, account by account, in a stable order (users, then roles, by
//! name), so that a renderer can write them as they come. An account that cannot be reported (no
//! IAM snapshot, a broken one, no logs in the window) becomes a [`Problem`]; the others still are.

use std::collections::{BTreeMap, HashMap};

use datafusion::prelude::SessionContext;
use rayon::prelude::*;
use serde::Serialize;

use super::activity::DailyCalls;
use super::needs::{Needs, NeedsBuilder, Tables};
use super::{CallActivity, Findings, RESOURCES_READ, RESOURCES_SHOWN, Unrecorded};
use crate::config::{AccountConfig, Settings};
use crate::iam::authz::{AuthorizationDetails, account_of_arn};
use crate::iam::catalogue::Catalogue;
use crate::iam::eval::{Evaluator, PrincipalRef};
use crate::iam::recorded::RecordingConfig;
use crate::iam::resource_types::ResourceTypes;
use crate::mapping::resources::{IamNames, Rules};
use crate::store::Store;
use crate::time::Window;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalType {
    User,
    Role,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::User => "user",
            PrincipalType::Role => "role",
        }
    }
}

/// Who a principal is, from its account's IAM snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The account's ID.
    pub account: String,
    /// The account's name in the config.
    pub account_name: String,
    #[serde(rename = "type")]
    pub kind: PrincipalType,
    pub name: String,
    pub arn: String,
    /// When it was created (ISO-8601 UTC), if the snapshot says.
    pub created: Option<String>,
}

impl Principal {
    fn reference(&self) -> PrincipalRef<'_> {
        match self.kind {
            PrincipalType::User => PrincipalRef::User(&self.arn),
            PrincipalType::Role => PrincipalRef::Role(&self.arn),
        }
    }
}

/// One principal and its findings.
#[derive(Debug, Clone)]
pub struct PrincipalFindings {
    pub principal: Principal,
    pub findings: Findings,
    /// What the evaluation of its policies could not take into account.
    pub warnings: Vec<String>,
    /// For a role, when asked: each person behind its sessions, by name, with the actions that
    /// person used in them (the used findings only).
    pub people: Option<Vec<(String, Findings)>>,
    /// When asked: what it needs, for the policy it needs.
    pub needs: Option<Needs>,
    /// When asked: its calls on each day of the window that had any.
    pub daily: Vec<DailyCalls>,
}

/// What the store holds of one selected account in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountCoverage {
    pub id: String,
    pub name: String,
    /// Users and roles of the account in its IAM snapshot.
    pub users: usize,
    pub roles: usize,
    /// Days of the window for which the store holds the account's logs.
    pub days_with_logs: usize,
    pub first_day_with_logs: Option<String>,
    pub last_day_with_logs: Option<String>,
    /// Whether its principals are reported; when not, a problem says why.
    pub reported: bool,
}

/// Why an account, or one principal, is not reported, or what to know about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The account's ID.
    pub account: String,
    /// The principal's ARN, when the problem is one principal's.
    pub principal: Option<String>,
    /// Whether the account or principal is left out of the findings (else a warning).
    pub left_out: bool,
    pub message: String,
}

/// What a renderer is given, in order: each reported account, then its principals.
pub trait Sink {
    fn account(&mut self, account: &AccountCoverage) -> anyhow::Result<()>;
    fn principal(&mut self, principal: &PrincipalFindings) -> anyhow::Result<()>;

    /// Several principals, in order. A sink that can render on several cores takes them at once.
    fn principals(&mut self, principals: &[PrincipalFindings]) -> anyhow::Result<()> {
        principals
            .iter()
            .try_for_each(|principal| self.principal(principal))
    }
}

/// What the whole pass covered, once every principal has gone to the sink.
#[derive(Debug, Clone, Default)]
pub struct Survey {
    pub accounts: Vec<AccountCoverage>,
    pub problems: Vec<Problem>,
}

/// What to survey.
pub struct Scope<'a> {
    pub settings: &'a Settings,
    pub accounts: Vec<&'a AccountConfig>,
    pub window: Window,
    pub recording: &'a RecordingConfig,
    pub catalogue: &'a Catalogue,
    /// The days of the window with logs, by account ([`days_with_logs`]).
    pub days_with_logs: &'a LogDays,
    /// Attribute each role's sessions to people, climbing chains of at most this many role
    /// assumptions.
    pub by_session: Option<u32>,
    /// Also work out what each principal needs (`sql/all_requests.sql`, read as it streams) and its
    /// calls per day (`sql/daily_calls.sql`).
    pub needs_and_days: bool,
}

/// Principals evaluated together: enough to keep both cores busy, few enough that the findings of
/// principals granted `*` do not pile up before they are written.
const BATCH: usize = 64;

/// Computes the findings of every user and role of the scope's accounts and hands them to `sink`.
pub fn survey(
    scope: &Scope<'_>,
    ctx: &SessionContext,
    sink: &mut dyn Sink,
) -> anyhow::Result<Survey> {
    let mut survey = Survey::default();
    let mut ready: Vec<(AccountCoverage, AuthorizationDetails, Vec<Principal>)> = Vec::new();
    for account in &scope.accounts {
        let mut coverage = coverage(account, scope.days_with_logs);
        let problem = |left_out: bool, message: String| Problem {
            account: account.id.clone(),
            principal: None,
            left_out,
            message,
        };
        let details = match scope.settings.load_iam(account) {
            Ok(details) => details,
            Err(error) => {
                survey.problems.push(problem(true, format!("{error:#}")));
                survey.accounts.push(coverage);
                continue;
            }
        };
        for warning in &details.warnings {
            survey.problems.push(problem(false, warning.clone()));
        }
        let (principals, foreign) = principals_of(account, &details);
        if !foreign.is_empty() {
            survey.problems.push(problem(false, format!(
                "the IAM snapshot of account {} holds {} users and roles of other accounts, left out: {}",
                account.name,
                foreign.len(),
                foreign.join(", ")
            )));
        }
        coverage.users = principals
            .iter()
            .filter(|p| p.kind == PrincipalType::User)
            .count();
        coverage.roles = principals.len() - coverage.users;
        if coverage.days_with_logs == 0 {
            survey.problems.push(problem(true, format!(
                "the store holds no logs of account {} ({}) from {} to {}; its principals are not reported, since every grant would look unused",
                account.name,
                account.id,
                scope.window.start_text(),
                scope.window.end_text()
            )));
            survey.accounts.push(coverage);
            continue;
        }
        coverage.reported = true;
        survey.accounts.push(coverage.clone());
        ready.push((coverage, details, principals));
    }

    let ids: Vec<String> = ready.iter().map(|(c, _, _)| c.id.clone()).collect();
    let unrecorded = Unrecorded::new(scope.catalogue, scope.recording);
    // What needs are worked out with, per account in `ready`'s order; only when asked.
    let account_tables: Vec<AccountTables> = if scope.needs_and_days {
        ready
            .iter()
            .map(|(_, details, _)| AccountTables::of(details))
            .collect()
    } else {
        Vec::new()
    };
    let tables: Vec<Tables<'_>> = account_tables
        .iter()
        .map(|account| Tables {
            catalogue: scope.catalogue,
            resource_types: ResourceTypes::embedded(),
            rules: Rules::embedded(),
            unrecorded: &unrecorded,
            instance_profiles: &account.instance_profiles,
            iam_names: &account.iam_names,
        })
        .collect();
    let mut builders: HashMap<String, (usize, HashMap<String, NeedsBuilder>)> = HashMap::new();
    if scope.needs_and_days {
        for (index, (coverage, _, principals)) in ready.iter().enumerate() {
            let of_account = principals
                .iter()
                .map(|p| (p.arn.clone(), NeedsBuilder::new(&p.arn)))
                .collect();
            builders.insert(coverage.id.clone(), (index, of_account));
        }
    }
    let mut activity = HashMap::new();
    let mut people = HashMap::new();
    let mut daily = HashMap::new();
    if !ids.is_empty() {
        crate::sql::block_on(async {
            let resources_read = if scope.needs_and_days {
                RESOURCES_READ
            } else {
                RESOURCES_SHOWN
            };
            activity =
                super::activity::of_accounts(ctx, &ids, &scope.window, resources_read).await?;
            if let Some(max_depth) = scope.by_session {
                people = super::activity::of_people_in_roles(ctx, &ids, &scope.window, max_depth)
                    .await?;
            }
            if scope.needs_and_days {
                daily = super::activity::daily_of_accounts(ctx, &ids, &scope.window).await?;
                super::activity::each_request(ctx, &ids, &scope.window, |account, arn, request| {
                    if let Some((index, of_account)) = builders.get_mut(account)
                        && let Some(builder) = of_account.get_mut(arn)
                    {
                        builder.add(&tables[*index], request);
                    }
                })
                .await?;
            }
            Ok::<_, super::activity::QueryError>(())
        })??;
    }
    // Evaluation runs ahead on its own thread (and every core) while the sink renders the batch
    // before: each takes about as long as the other on a large organization.
    let (ready, tables, unrecorded) = (&ready, &tables, &unrecorded);
    std::thread::scope(|threads| -> anyhow::Result<()> {
        let (send, steps) = std::sync::mpsc::sync_channel::<Step<'_>>(1);
        let evaluation = threads.spawn(move || {
            for (index, (coverage, details, principals)) in ready.iter().enumerate() {
                if send.send(Step::Account(coverage)).is_err() {
                    return;
                }
                let evaluator = Evaluator::new(details, scope.catalogue);
                let account_tables = tables.get(index);
                let mut account_builders = builders.remove(&coverage.id).map(|(_, b)| b);
                for batch in principals.chunks(BATCH) {
                    let inputs: Vec<Input<'_>> = batch
                        .iter()
                        .map(|principal| {
                            let key = (principal.account.clone(), principal.arn.clone());
                            let people = match (scope.by_session, principal.kind) {
                                (Some(_), PrincipalType::Role) => {
                                    Some(people.remove(&key).unwrap_or_default())
                                }
                                _ => None,
                            };
                            let needs = account_builders
                                .as_mut()
                                .and_then(|builders| builders.remove(&principal.arn));
                            Input {
                                principal,
                                daily: daily.remove(&key).unwrap_or_default(),
                                calls: activity.remove(&key).unwrap_or_default(),
                                people,
                                needs,
                            }
                        })
                        .collect();
                    let results: Vec<Result<PrincipalFindings, Problem>> = inputs
                        .into_par_iter()
                        .map(|input| {
                            let needs = input.needs.zip(account_tables);
                            let mut found = findings_of(
                                &evaluator,
                                input.principal,
                                &input.calls,
                                input.people.as_ref(),
                                scope.catalogue,
                                unrecorded,
                                needs,
                            )?;
                            found.daily = input.daily;
                            Ok(found)
                        })
                        .collect();
                    let mut found = Vec::with_capacity(results.len());
                    for result in results {
                        match result {
                            Ok(findings) => found.push(findings),
                            Err(problem) => {
                                if send.send(Step::Problem(problem)).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    if send.send(Step::Principals(found)).is_err() {
                        return;
                    }
                }
            }
        });
        // A sink that fails drops `steps`, which stops the evaluation at its next step.
        for step in steps {
            match step {
                Step::Account(coverage) => sink.account(coverage)?,
                Step::Principals(found) => sink.principals(&found)?,
                Step::Problem(problem) => survey.problems.push(problem),
            }
        }
        if let Err(panic) = evaluation.join() {
            std::panic::resume_unwind(panic);
        }
        Ok(())
    })?;
    Ok(survey)
}

/// What the evaluation hands the sink, in order.
enum Step<'a> {
    Account(&'a AccountCoverage),
    Principals(Vec<PrincipalFindings>),
    Problem(Problem),
}

/// A principal, its calls, and, for a role asked by session, the calls of each person in it.
struct Input<'a> {
    principal: &'a Principal,
    calls: Vec<CallActivity>,
    people: Option<BTreeMap<String, Vec<CallActivity>>>,
    needs: Option<NeedsBuilder>,
    daily: Vec<DailyCalls>,
}

/// What an account's IAM snapshot tells about the resources its principals name.
struct AccountTables {
    iam_names: IamNames,
    /// Each instance profile's ARN, with the ARNs of the roles it holds.
    instance_profiles: HashMap<String, Vec<String>>,
}

impl AccountTables {
    fn of(details: &AuthorizationDetails) -> AccountTables {
        AccountTables {
            iam_names: IamNames::from_details(details),
            instance_profiles: instance_profiles(details),
        }
    }
}

/// Each instance profile's ARN in `details`, with the ARNs of the roles it holds.
pub fn instance_profiles(details: &AuthorizationDetails) -> HashMap<String, Vec<String>> {
    let mut profiles: HashMap<String, Vec<String>> = HashMap::new();
    for role in &details.roles {
        for profile in &role.instance_profiles {
            profiles
                .entry(profile.clone())
                .or_default()
                .push(role.arn.clone());
        }
    }
    profiles
}

/// The `resources[].ARN` of a principal's calls, by event source and name.
fn named_by_kind(calls: &[CallActivity]) -> HashMap<(String, String), Vec<String>> {
    calls
        .iter()
        .filter(|call| !call.resources.is_empty())
        .map(|call| {
            (
                (call.event_source.clone(), call.event_name.clone()),
                call.resources.clone(),
            )
        })
        .collect()
}

/// One principal's findings, from its policies and its calls; for a role asked by session, also
/// what each person did in its sessions (the used findings of the role's grants); when given the
/// principal's requests, what it needs.
pub fn findings_of(
    evaluator: &Evaluator<'_>,
    principal: &Principal,
    calls: &[CallActivity],
    people: Option<&BTreeMap<String, Vec<CallActivity>>>,
    catalogue: &Catalogue,
    unrecorded: &Unrecorded,
    needs: Option<(NeedsBuilder, &Tables<'_>)>,
) -> Result<PrincipalFindings, Problem> {
    let evaluation = evaluator
        .evaluate(principal.reference())
        .map_err(|error| Problem {
            account: principal.account.clone(),
            principal: Some(principal.arn.clone()),
            left_out: true,
            message: format!("cannot evaluate the policies of {}: {error}", principal.arn),
        })?;
    Ok(PrincipalFindings {
        principal: principal.clone(),
        findings: Findings::compute(catalogue, &evaluation.granted, calls, unrecorded),
        people: people.map(|people| {
            people
                .iter()
                .map(|(person, calls)| {
                    (
                        person.clone(),
                        Findings::used_only(catalogue, &evaluation.granted, calls),
                    )
                })
                .collect()
        }),
        needs: needs.map(|(builder, tables)| {
            builder.finish(tables, &evaluation.granted, &named_by_kind(calls))
        }),
        daily: Vec::new(),
        warnings: evaluation.warnings,
    })
}

/// The users and roles of `account` in its snapshot, users first, each by name; and the ARNs of
/// those that belong to other accounts.
pub fn principals_of(
    account: &AccountConfig,
    details: &AuthorizationDetails,
) -> (Vec<Principal>, Vec<String>) {
    let mut principals = Vec::new();
    let mut foreign = Vec::new();
    let everyone = details
        .users
        .iter()
        .map(|u| (PrincipalType::User, &u.name, &u.arn, &u.create_date))
        .chain(
            details
                .roles
                .iter()
                .map(|r| (PrincipalType::Role, &r.name, &r.arn, &r.create_date)),
        );
    for (kind, name, arn, created) in everyone {
        if account_of_arn(arn).is_some_and(|id| id != account.id) {
            foreign.push(arn.clone());
            continue;
        }
        principals.push(Principal {
            account: account.id.clone(),
            account_name: account.name.clone(),
            kind,
            name: name.clone(),
            arn: arn.clone(),
            created: created.as_ref().map(|date| date.rfc3339()),
        });
    }
    principals.sort_by(|a, b| (a.kind, &a.name, &a.arn).cmp(&(b.kind, &b.name, &b.arn)));
    (principals, foreign)
}

/// The days of a window on which the store holds logs, by account, each account's in order.
pub type LogDays = BTreeMap<String, Vec<String>>;

/// The days of `window` on which the store holds logs of each of `accounts`: from the names of
/// files that hold one day each, else by reading the `day` column (`sql/days_with_logs.sql`).
pub fn days_with_logs(
    ctx: &SessionContext,
    store: &Store,
    accounts: &[&AccountConfig],
    window: &Window,
) -> anyhow::Result<LogDays> {
    let mut days = LogDays::new();
    let mut to_read = Vec::new();
    for account in accounts {
        match store.days_from_file_names(&account.id, window)? {
            Some(named) if named.is_empty() => {}
            Some(named) => {
                days.insert(account.id.clone(), named);
            }
            None => to_read.push(account.id.clone()),
        }
    }
    if !to_read.is_empty() {
        days.extend(crate::sql::block_on(super::activity::days_with_logs(
            ctx, &to_read, window,
        ))??);
    }
    Ok(days)
}

/// The days with logs of `account`, from those of every account.
pub fn coverage(account: &AccountConfig, days_with_logs: &LogDays) -> AccountCoverage {
    let days: &[String] = days_with_logs
        .get(&account.id)
        .map(Vec::as_slice)
        .unwrap_or_default();
    AccountCoverage {
        id: account.id.clone(),
        name: account.name.clone(),
        users: 0,
        roles: 0,
        days_with_logs: days.len(),
        first_day_with_logs: days.first().cloned(),
        last_day_with_logs: days.last().cloned(),
        reported: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> AccountConfig {
        AccountConfig {
            name: "demo".into(),
            id: id.into(),
            iam: Vec::new(),
        }
    }

    #[test]
    fn principals_of_other_accounts_are_set_aside() {
        let text = r#"{"UserDetailList":[
            {"UserName":"zed","UserId":"A1","Arn":"arn:aws:iam::111111111111:user/zed","Path":"/","CreateDate":"2017-09-02T18:02:14Z","UserPolicyList":[],"GroupList":[],"AttachedManagedPolicies":[]},
            {"UserName":"amy","UserId":"A2","Arn":"arn:aws:iam::111111111111:user/amy","Path":"/","CreateDate":"2017-09-02T18:02:14Z","UserPolicyList":[],"GroupList":[],"AttachedManagedPolicies":[]},
            {"UserName":"eve","UserId":"A3","Arn":"arn:aws:iam::333333333333:user/eve","Path":"/","CreateDate":"2017-09-02T18:02:14Z","UserPolicyList":[],"GroupList":[],"AttachedManagedPolicies":[]}],
            "GroupDetailList":[],"RoleDetailList":[
            {"RoleName":"admin","RoleId":"R1","Arn":"arn:aws:iam::111111111111:role/admin","Path":"/","CreateDate":"2018-01-01T00:00:00Z","RolePolicyList":[],"AttachedManagedPolicies":[],"AssumeRolePolicyDocument":{"Version":"2012-10-17","Statement":[]}}],
            "Policies":[]}"#;
        let details = AuthorizationDetails::from_json_str(text).expect("valid");
        let (principals, foreign) = principals_of(&account("111111111111"), &details);
        let names: Vec<(&str, &str)> = principals
            .iter()
            .map(|p| (p.kind.as_str(), p.name.as_str()))
            .collect();
        assert_eq!(names, [("user", "amy"), ("user", "zed"), ("role", "admin")]);
        assert_eq!(foreign, ["arn:aws:iam::333333333333:user/eve"]);
        assert_eq!(
            principals[0].created.as_deref(),
            Some("2017-09-02T18:02:14Z")
        );
    }

    #[test]
    fn coverage_counts_the_days_with_logs_of_its_account() {
        let days: LogDays = [
            (
                "111111111111".to_string(),
                vec!["2024-03-01".to_string(), "2024-03-04".to_string()],
            ),
            ("222222222222".to_string(), vec!["2024-03-02".to_string()]),
        ]
        .into();
        let covered = coverage(&account("111111111111"), &days);
        assert_eq!(
            (
                covered.days_with_logs,
                covered.first_day_with_logs.as_deref(),
                covered.last_day_with_logs.as_deref()
            ),
            (2, Some("2024-03-01"), Some("2024-03-04"))
        );
        assert_eq!(coverage(&account("333333333333"), &days).days_with_logs, 0);
    }
}
