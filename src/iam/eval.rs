//! What each principal is granted, over the whole action catalogue.
//!
//! A user's identity policies are its inline and attached managed policies plus those of its groups;
//! a role's are its inline and attached managed policies. An action is granted when some identity
//! statement allows it, no unconditional Deny on all resources removes it, and, if the principal
//! has a permissions boundary, the boundary allows it too (and its Denies apply the same way).
//!
//! Nothing is silently widened or narrowed. Every granted action says how it is granted:
//! - [`GrantScope::SomeResources`] when no allowing statement has `Resource: "*"`. Only a resource
//!   pattern made of `*` alone counts as all resources: `arn:aws:s3:::*` or `arn:*` are "some",
//!   because which ARNs an action can touch is not known here;
//! - `conditional` when every allowing statement carries a `Condition`;
//! - [`DenyCut`] when a Deny applies to it only under a condition or only on some resources. Such a
//!   Deny marks the action rather than removing it. Only a Deny with no condition on `Resource: "*"`
//!   removes an action. A Deny with `NotResource` denies "everything except these resources", which
//!   is treated as a Deny on some resources (a mark), unless `NotResource` contains `*`, in which
//!   case it denies nothing.
//!
//! Policies that are referenced but absent from the authorization details (a managed policy left
//! out of a filtered export, a group not in `GroupDetailList`) are reported in
//! [`Evaluation::warnings`]: their grants are not counted. A missing permissions boundary is ignored
//! with a warning, so the granted set can only be too large, never too small.
//!
//! Each statement's action set is computed once per [`Evaluator`] as a bitset over the catalogue,
//! so evaluating many principals that share managed policies costs one pattern match per policy.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use serde_json::Value;

use crate::iam::authz::{
    AttachedPolicy, AuthorizationDetails, InlinePolicy, PermissionsBoundary, User,
};
use crate::iam::catalogue::{ActionId, Catalogue};
use crate::iam::pattern::WildcardPattern;
use crate::iam::policy::{ActionClause, Effect, PolicyDocument, ResourceClause};

/// Actions AWS allows to every authenticated principal whatever its policies say, explicit Denies
/// and boundaries included ("No permissions are required to perform this operation", in the
/// GetCallerIdentity API reference). They are always reported as granted without restriction, with
/// an [`Attachment::AlwaysAllowed`] source.
pub const ALWAYS_ALLOWED_ACTIONS: &[&str] = &["sts:GetCallerIdentity"];

/// A user or a role, by ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalRef<'a> {
    User(&'a str),
    Role(&'a str),
}

impl<'a> PrincipalRef<'a> {
    pub fn arn(&self) -> &'a str {
        match self {
            PrincipalRef::User(arn) | PrincipalRef::Role(arn) => arn,
        }
    }
}

/// Every user, then every role, in input order.
pub fn principals(details: &AuthorizationDetails) -> Vec<PrincipalRef<'_>> {
    let users = details
        .users
        .iter()
        .map(|user| PrincipalRef::User(&user.arn));
    let roles = details
        .roles
        .iter()
        .map(|role| PrincipalRef::Role(&role.arn));
    users.chain(roles).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantScope {
    /// `Resource: "*"`.
    AllResources,
    /// Specific resource patterns, or `NotResource`.
    SomeResources,
}

/// A Deny that applies to a granted action without removing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DenyCut {
    /// Some Deny applies only under a condition.
    pub conditional: bool,
    /// Some Deny applies only to some resources (specific `Resource` patterns or `NotResource`).
    pub some_resources: bool,
}

/// How a policy reached the principal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attachment {
    Inline,
    Managed,
    GroupInline {
        group: String,
    },
    GroupManaged {
        group: String,
    },
    PermissionsBoundary,
    /// Not from a policy: AWS lets every authenticated principal call the action (see
    /// [`ALWAYS_ALLOWED_ACTIONS`]).
    AlwaysAllowed,
}

/// A policy that contributed to an evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicySource {
    pub name: String,
    /// Managed policies only.
    pub arn: Option<String>,
    pub attachment: Attachment,
}

/// One statement of one policy, with what it means for the actions it covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatementRef {
    pub policy: Arc<PolicySource>,
    /// Position in the policy's `Statement` list (0 for a single statement object).
    pub index: usize,
    pub sid: Option<String>,
    pub effect: Effect,
    pub scope: GrantScope,
    pub conditional: bool,
}

impl std::fmt::Display for StatementRef {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}", self.policy.name)?;
        match &self.policy.attachment {
            Attachment::Inline => write!(formatter, " (inline)")?,
            Attachment::Managed => {}
            Attachment::GroupInline { group } => write!(formatter, " (inline, group {group})")?,
            Attachment::GroupManaged { group } => write!(formatter, " (group {group})")?,
            Attachment::PermissionsBoundary => write!(formatter, " (permissions boundary)")?,
            Attachment::AlwaysAllowed => return Ok(()),
        }
        write!(formatter, " statement {}", self.index)?;
        if let Some(sid) = &self.sid {
            write!(formatter, " ({sid})")?;
        }
        Ok(())
    }
}

/// One granted action and how it is granted.
///
/// `scope` and `conditional` describe the strongest single allowing statement, in the order
/// unconditional on all resources, unconditional on some, conditional on all, conditional on some;
/// they are never assembled from different statements (a conditional `*` plus an unconditional
/// `bucket/*` is "some resources, unconditional", not "all, unconditional"). With a permissions
/// boundary, the identity side's and the boundary's strongest grants are intersected: some resources
/// if either is, conditional if either is. Every allowing statement, with its own scope and
/// condition, is in `sources`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub action: ActionId,
    pub scope: GrantScope,
    pub conditional: bool,
    pub deny_cut: Option<DenyCut>,
    /// Allowing statements: identity policies first, then the permissions boundary. Shared by the
    /// actions the same statements name.
    pub sources: Arc<[Arc<StatementRef>]>,
    /// Denies that mark the action (see [`DenyCut`]).
    pub deny_sources: Arc<[Arc<StatementRef>]>,
}

impl Granted {
    /// Granted on all resources, without condition, and no Deny touches it.
    pub fn is_unrestricted(&self) -> bool {
        self.scope == GrantScope::AllResources && !self.conditional && self.deny_cut.is_none()
    }
}

/// The actions a principal is granted, in action order: a sorted list, since a principal granted
/// `*` holds thousands and they are built in order and read in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantedActions(Vec<Granted>);

impl GrantedActions {
    /// `granted` in any order, each action once.
    fn new(mut granted: Vec<Granted>) -> GrantedActions {
        if !granted.is_sorted_by_key(|granted| granted.action) {
            granted.sort_by_key(|granted| granted.action);
        }
        GrantedActions(granted)
    }

    pub fn get(&self, action: &ActionId) -> Option<&Granted> {
        self.0
            .binary_search_by_key(action, |granted| granted.action)
            .ok()
            .map(|at| &self.0[at])
    }

    pub fn contains_key(&self, action: &ActionId) -> bool {
        self.get(action).is_some()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn values(&self) -> std::slice::Iter<'_, Granted> {
        self.0.iter()
    }

    pub fn keys(&self) -> impl Iterator<Item = ActionId> + '_ {
        self.0.iter().map(|granted| granted.action)
    }

    pub fn into_keys(self) -> impl Iterator<Item = ActionId> {
        self.0.into_iter().map(|granted| granted.action)
    }

    /// Each action with its grant, as a map's entries.
    pub fn iter(&self) -> GrantedEntries<'_> {
        self.0.iter().map(|granted| (&granted.action, granted))
    }
}

pub type GrantedEntries<'a> =
    std::iter::Map<std::slice::Iter<'a, Granted>, fn(&'a Granted) -> (&'a ActionId, &'a Granted)>;

impl<'a> IntoIterator for &'a GrantedActions {
    type Item = (&'a ActionId, &'a Granted);
    type IntoIter = GrantedEntries<'a>;

    fn into_iter(self) -> GrantedEntries<'a> {
        self.iter()
    }
}

impl std::ops::Index<&ActionId> for GrantedActions {
    type Output = Granted;

    fn index(&self, action: &ActionId) -> &Granted {
        self.get(action)
            .unwrap_or_else(|| panic!("action {} is not granted", action.0))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub principal_arn: String,
    pub granted: GrantedActions,
    /// Referenced policies or groups that are not in the input; see the module documentation.
    pub warnings: Vec<String>,
}

impl Evaluation {
    pub fn unrestricted_actions(&self) -> impl Iterator<Item = ActionId> + '_ {
        self.granted
            .values()
            .filter(|granted| granted.is_unrestricted())
            .map(|granted| granted.action)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("no user or role {0} in the authorization details")]
    UnknownPrincipal(String),
    #[error("{policy}, statement {index}: has neither `Action` nor `NotAction`")]
    MissingAction { policy: String, index: usize },
    #[error("{policy}, statement {index}: has neither `Resource` nor `NotResource`")]
    MissingResource { policy: String, index: usize },
}

/// Evaluates one principal. To evaluate several, build one [`Evaluator`] and reuse it.
pub fn evaluate(
    details: &AuthorizationDetails,
    principal: PrincipalRef<'_>,
    catalogue: &Catalogue,
) -> Result<Evaluation, EvalError> {
    Evaluator::new(details, catalogue).evaluate(principal)
}

/// Every principal's ARN mapped to the sorted `service:Action` list it is granted without
/// restriction (all resources, no condition, no Deny touching it), after Denies and boundaries.
pub fn granted_report(
    details: &AuthorizationDetails,
    catalogue: &Catalogue,
) -> Result<Value, EvalError> {
    let mut report = serde_json::Map::new();
    for evaluation in evaluate_all(details, catalogue)? {
        let mut actions: Vec<String> = evaluation
            .unrestricted_actions()
            .map(|id| action_name(catalogue, id))
            .collect();
        actions.sort();
        report.insert(evaluation.principal_arn, Value::from(actions));
    }
    Ok(Value::Object(report))
}

/// Every principal's ARN mapped to `{"granted": {action: how}, "warnings": [...]}` for every
/// granted action, restricted or not. `how` is `{"scope": "all"|"some", "conditional": bool,
/// "deny_cut": null|{"conditional": bool, "some_resources": bool}, "sources": [...], "deny_sources": [...]}`.
pub fn granted_report_detailed(
    details: &AuthorizationDetails,
    catalogue: &Catalogue,
) -> Result<Value, EvalError> {
    let mut report = serde_json::Map::new();
    for evaluation in evaluate_all(details, catalogue)? {
        let mut granted = serde_json::Map::new();
        for grant in evaluation.granted.values() {
            let describe = |sources: &[Arc<StatementRef>]| -> Vec<String> {
                sources.iter().map(|source| source.to_string()).collect()
            };
            granted.insert(
                action_name(catalogue, grant.action),
                serde_json::json!({
                    "scope": match grant.scope {
                        GrantScope::AllResources => "all",
                        GrantScope::SomeResources => "some",
                    },
                    "conditional": grant.conditional,
                    "deny_cut": grant.deny_cut.map(|cut| serde_json::json!({
                        "conditional": cut.conditional,
                        "some_resources": cut.some_resources,
                    })),
                    "sources": describe(&grant.sources),
                    "deny_sources": describe(&grant.deny_sources),
                }),
            );
        }
        report.insert(
            evaluation.principal_arn,
            serde_json::json!({"granted": granted, "warnings": evaluation.warnings}),
        );
    }
    Ok(Value::Object(report))
}

/// Evaluates every user and role, in the order of [`principals`].
pub fn evaluate_all(
    details: &AuthorizationDetails,
    catalogue: &Catalogue,
) -> Result<Vec<Evaluation>, EvalError> {
    let evaluator = Evaluator::new(details, catalogue);
    principals(details)
        .into_iter()
        .map(|principal| evaluator.evaluate(principal))
        .collect()
}

fn action_name(catalogue: &Catalogue, id: ActionId) -> String {
    let info = catalogue.get(id);
    format!("{}:{}", info.service, info.name)
}

/// Evaluates principals against one set of authorization details, compiling each managed policy
/// once (into a set of catalogue actions per statement) however many principals it is attached to.
pub struct Evaluator<'a> {
    details: &'a AuthorizationDetails,
    index: ActionIndex,
    managed: HashMap<&'a str, Result<CompiledPolicy, EvalError>>,
}

impl<'a> Evaluator<'a> {
    pub fn new(details: &'a AuthorizationDetails, catalogue: &Catalogue) -> Evaluator<'a> {
        let index = ActionIndex::new(catalogue);
        // A broken policy only fails the principals that use it, so compilation results are kept.
        let managed = details
            .policies
            .iter()
            .map(|policy| {
                let label = format!("managed policy {}", policy.arn);
                (
                    policy.arn.as_str(),
                    CompiledPolicy::compile(&policy.document, &label, &index),
                )
            })
            .collect();
        Evaluator {
            details,
            index,
            managed,
        }
    }

    pub fn evaluate(&self, principal: PrincipalRef<'_>) -> Result<Evaluation, EvalError> {
        let mut gathered = Gathered::default();
        let (arn, boundary) = match principal {
            PrincipalRef::User(arn) => {
                let user = self
                    .details
                    .user(arn)
                    .ok_or_else(|| EvalError::UnknownPrincipal(arn.to_string()))?;
                self.gather_inline(
                    &mut gathered,
                    &user.inline_policies,
                    &format!("user {arn}"),
                    Attachment::Inline,
                )?;
                self.gather_managed(&mut gathered, &user.attached_policies, arn, None)?;
                self.gather_groups(&mut gathered, user)?;
                (arn, user.permissions_boundary.as_ref())
            }
            PrincipalRef::Role(arn) => {
                let role = self
                    .details
                    .role(arn)
                    .ok_or_else(|| EvalError::UnknownPrincipal(arn.to_string()))?;
                self.gather_inline(
                    &mut gathered,
                    &role.inline_policies,
                    &format!("role {arn}"),
                    Attachment::Inline,
                )?;
                self.gather_managed(&mut gathered, &role.attached_policies, arn, None)?;
                (arn, role.permissions_boundary.as_ref())
            }
        };
        let boundary = self.boundary(boundary, arn, &mut gathered.warnings)?;
        Ok(self.combine(arn, &gathered, boundary))
    }

    fn gather_groups<'s>(
        &'s self,
        gathered: &mut Gathered<'s>,
        user: &User,
    ) -> Result<(), EvalError> {
        for group_name in &user.group_names {
            let Some(group) = self.details.group_of_user(user, group_name) else {
                gathered.warnings.push(format!(
                    "user {} is in group {group_name}, which is not in the authorization details; \
                     the group's policies are not counted",
                    user.arn
                ));
                continue;
            };
            let owner = format!("group {}", group.arn);
            let attachment = Attachment::GroupInline {
                group: group.name.clone(),
            };
            self.gather_inline(gathered, &group.inline_policies, &owner, attachment)?;
            self.gather_managed(
                gathered,
                &group.attached_policies,
                &user.arn,
                Some(&group.name),
            )?;
        }
        Ok(())
    }

    fn gather_inline(
        &self,
        gathered: &mut Gathered<'_>,
        inline_policies: &[InlinePolicy],
        owner: &str,
        attachment: Attachment,
    ) -> Result<(), EvalError> {
        // Inline policies belong to one principal (or one group), so they are compiled on use.
        for inline in inline_policies {
            let label = format!("inline policy {} of {owner}", inline.name);
            let compiled = CompiledPolicy::compile(&inline.document, &label, &self.index)?;
            let source = Arc::new(PolicySource {
                name: inline.name.clone(),
                arn: None,
                attachment: attachment.clone(),
            });
            gathered.identity.push((source, Owned(compiled)));
        }
        Ok(())
    }

    fn gather_managed<'s>(
        &'s self,
        gathered: &mut Gathered<'s>,
        attached_policies: &[AttachedPolicy],
        principal_arn: &str,
        via_group: Option<&str>,
    ) -> Result<(), EvalError> {
        for attached in attached_policies {
            let attachment = match via_group {
                Some(group) => Attachment::GroupManaged {
                    group: group.to_string(),
                },
                None => Attachment::Managed,
            };
            match self.managed.get(attached.arn.as_str()) {
                Some(compiled) => {
                    let source = Arc::new(PolicySource {
                        name: attached.name.clone(),
                        arn: Some(attached.arn.clone()),
                        attachment,
                    });
                    gathered
                        .identity
                        .push((source, Borrowed(compiled.as_ref().map_err(Clone::clone)?)));
                }
                None => {
                    let via = via_group
                        .map(|group| format!(" through group {group}"))
                        .unwrap_or_default();
                    gathered.warnings.push(format!(
                        "managed policy {} (attached to {principal_arn}{via}) is not in the authorization details' \
                         Policies; its permissions are not counted",
                        attached.arn
                    ));
                }
            }
        }
        Ok(())
    }

    fn boundary(
        &self,
        boundary: Option<&PermissionsBoundary>,
        principal_arn: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Option<(Arc<PolicySource>, &CompiledPolicy)>, EvalError> {
        let Some(boundary) = boundary else {
            return Ok(None);
        };
        match self.managed.get(boundary.policy_arn.as_str()) {
            Some(compiled) => {
                let name = self
                    .details
                    .managed_policy(&boundary.policy_arn)
                    .map(|policy| policy.name.clone())
                    .unwrap_or_else(|| boundary.policy_arn.clone());
                let source = Arc::new(PolicySource {
                    name,
                    arn: Some(boundary.policy_arn.clone()),
                    attachment: Attachment::PermissionsBoundary,
                });
                Ok(Some((source, compiled.as_ref().map_err(Clone::clone)?)))
            }
            None => {
                warnings.push(format!(
                    "permissions boundary {} of {principal_arn} is not in the authorization details' Policies; \
                     it is ignored, so actions it would block may be listed as granted",
                    boundary.policy_arn
                ));
                Ok(None)
            }
        }
    }

    fn combine(
        &self,
        principal_arn: &str,
        gathered: &Gathered<'_>,
        boundary: Option<(Arc<PolicySource>, &CompiledPolicy)>,
    ) -> Evaluation {
        let action_count = self.index.len();
        let mut statements: Vec<(&CompiledStatement, Arc<StatementRef>, bool)> = Vec::new();
        for (source, compiled) in &gathered.identity {
            let compiled: &CompiledPolicy = match compiled {
                Owned(policy) => policy,
                Borrowed(policy) => policy,
            };
            for statement in &compiled.statements {
                statements.push((statement, statement.reference(source), false));
            }
        }
        if let Some((source, compiled)) = &boundary {
            for statement in &compiled.statements {
                statements.push((statement, statement.reference(source), true));
            }
        }

        let mut identity_allowed = BitSet::empty(action_count);
        let mut boundary_allowed = if boundary.is_some() {
            BitSet::empty(action_count)
        } else {
            BitSet::full(action_count)
        };
        let mut removed = BitSet::empty(action_count);
        for (statement, _, in_boundary) in &statements {
            match (statement.effect, statement.reach) {
                (_, Reach::Nothing) => {}
                (Effect::Allow, _) if *in_boundary => {
                    boundary_allowed.union_with(&statement.actions)
                }
                (Effect::Allow, _) => identity_allowed.union_with(&statement.actions),
                (Effect::Deny, Reach::AllResources) if !statement.conditional => {
                    removed.union_with(&statement.actions)
                }
                (Effect::Deny, _) => {}
            }
        }

        // Actions that the same statements name are granted the same way: each distinct set of
        // statements is worked out once (a principal granted `*` has thousands of actions and a
        // handful of such sets), and its sources are shared.
        let mut grants: HashMap<Vec<u32>, Option<GrantTemplate>> = HashMap::new();
        let mut naming: Vec<u32> = Vec::new();
        let mut granted: Vec<Granted> = Vec::with_capacity(action_count);
        let reaching: Vec<(u32, &CompiledStatement)> = statements
            .iter()
            .enumerate()
            .filter(|(_, (statement, _, _))| statement.reach != Reach::Nothing)
            .map(|(index, (statement, _, _))| (index as u32, *statement))
            .collect();
        // Actions are numbered service by service, so the 64 actions of one word of the sets are
        // mostly named by the same statements: such a word is worked out once, not per action.
        let mut grant_all = |naming: &[u32], positions: u64, word_index: usize| {
            let template = match grants.get(naming) {
                Some(template) => template,
                None => grants
                    .entry(naming.to_vec())
                    .or_insert(GrantTemplate::of(&statements, naming)),
            };
            if let Some(template) = template {
                for bit in Bits(positions) {
                    granted.push(template.granted(ActionId((word_index * 64 + bit) as u32)));
                }
            }
        };
        for word_index in 0..identity_allowed.words.len() {
            let allowed = identity_allowed.words[word_index]
                & boundary_allowed.words[word_index]
                & !removed.words[word_index];
            if allowed == 0 {
                continue;
            }
            let uniform = reaching.iter().all(|(_, statement)| {
                let named = statement.actions.words[word_index] & allowed;
                named == 0 || named == allowed
            });
            if uniform {
                naming.clear();
                naming.extend(
                    reaching
                        .iter()
                        .filter(|(_, statement)| statement.actions.words[word_index] & allowed != 0)
                        .map(|(index, _)| *index),
                );
                grant_all(&naming, allowed, word_index);
                continue;
            }
            for bit in Bits(allowed) {
                naming.clear();
                naming.extend(
                    reaching
                        .iter()
                        .filter(|(_, statement)| {
                            statement.actions.words[word_index] & (1 << bit) != 0
                        })
                        .map(|(index, _)| *index),
                );
                grant_all(&naming, 1 << bit, word_index);
            }
        }
        let implicit = Arc::new(StatementRef {
            policy: Arc::new(PolicySource {
                name: "no policy needed: AWS allows this action to every authenticated principal"
                    .to_string(),
                arn: None,
                attachment: Attachment::AlwaysAllowed,
            }),
            index: 0,
            sid: None,
            effect: Effect::Allow,
            scope: GrantScope::AllResources,
            conditional: false,
        });
        // `granted` is in action order; the few always-allowed actions are found or put in place
        // by bisection.
        for &action in &self.index.always_allowed {
            let at = match granted.binary_search_by_key(&action, |g| g.action) {
                Ok(at) => at,
                Err(at) => {
                    granted.insert(
                        at,
                        Granted {
                            action,
                            scope: GrantScope::AllResources,
                            conditional: false,
                            deny_cut: None,
                            sources: Arc::new([]),
                            deny_sources: Arc::new([]),
                        },
                    );
                    at
                }
            };
            let entry = &mut granted[at];
            // Denies do not apply to it, so the grant is unrestricted whatever the policies say.
            entry.scope = GrantScope::AllResources;
            entry.conditional = false;
            entry.deny_cut = None;
            entry.deny_sources = Arc::new([]);
            entry.sources = entry
                .sources
                .iter()
                .cloned()
                .chain([Arc::clone(&implicit)])
                .collect();
        }
        let granted = GrantedActions::new(granted);
        Evaluation {
            principal_arn: principal_arn.to_string(),
            granted,
            warnings: gathered.warnings.clone(),
        }
    }
}

/// How the actions that one set of statements names are granted; `None` in a [`Granted`]'s place
/// when no identity statement allows them.
#[derive(Clone)]
struct GrantTemplate {
    scope: GrantScope,
    conditional: bool,
    deny_cut: Option<DenyCut>,
    sources: Arc<[Arc<StatementRef>]>,
    deny_sources: Arc<[Arc<StatementRef>]>,
}

impl GrantTemplate {
    /// The grant of the statements at `naming` (indices into `statements`, each naming the
    /// action), or `None` when none of them is an identity Allow.
    fn of(
        statements: &[(&CompiledStatement, Arc<StatementRef>, bool)],
        naming: &[u32],
    ) -> Option<GrantTemplate> {
        let mut identity_best: Option<(GrantScope, bool)> = None;
        let mut boundary_best: Option<(GrantScope, bool)> = None;
        let mut sources = Vec::new();
        let mut deny_sources = Vec::new();
        let mut deny_cut: Option<DenyCut> = None;
        for &index in naming {
            let (statement, reference, in_boundary) = &statements[index as usize];
            let scope = statement.scope();
            match statement.effect {
                Effect::Allow => {
                    let best = if *in_boundary {
                        &mut boundary_best
                    } else {
                        &mut identity_best
                    };
                    *best = Some(better_grant(*best, (scope, statement.conditional)));
                    sources.push(Arc::clone(reference));
                }
                Effect::Deny => {
                    let cut = deny_cut.get_or_insert_with(DenyCut::default);
                    cut.conditional |= statement.conditional;
                    cut.some_resources |= scope == GrantScope::SomeResources;
                    deny_sources.push(Arc::clone(reference));
                }
            }
        }
        let (identity_scope, identity_conditional) = identity_best?;
        let (scope, conditional) = match boundary_best {
            Some((boundary_scope, boundary_conditional)) => (
                identity_scope.max(boundary_scope),
                identity_conditional || boundary_conditional,
            ),
            None => (identity_scope, identity_conditional),
        };
        Some(GrantTemplate {
            scope,
            conditional,
            deny_cut,
            sources: sources.into(),
            deny_sources: deny_sources.into(),
        })
    }

    fn granted(&self, action: ActionId) -> Granted {
        Granted {
            action,
            scope: self.scope,
            conditional: self.conditional,
            deny_cut: self.deny_cut,
            sources: Arc::clone(&self.sources),
            deny_sources: Arc::clone(&self.deny_sources),
        }
    }
}

/// Orders grants from strongest to weakest: unconditional on all resources, unconditional on some,
/// conditional on all, conditional on some. An unconditional grant on some resources is a certain
/// grant, so it ranks above a conditional one on all resources.
fn better_grant(
    current: Option<(GrantScope, bool)>,
    candidate: (GrantScope, bool),
) -> (GrantScope, bool) {
    let rank = |(scope, conditional): (GrantScope, bool)| (conditional, scope);
    match current {
        Some(current) if rank(current) <= rank(candidate) => current,
        _ => candidate,
    }
}

use CompiledRef::{Borrowed, Owned};

enum CompiledRef<'e> {
    Owned(CompiledPolicy),
    Borrowed(&'e CompiledPolicy),
}

#[derive(Default)]
struct Gathered<'e> {
    identity: Vec<(Arc<PolicySource>, CompiledRef<'e>)>,
    warnings: Vec<String>,
}

/// Which resources a statement reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    AllResources,
    SomeResources,
    /// `Resource: []`, or `NotResource` containing `*`: the statement applies to nothing.
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct CompiledStatement {
    index: usize,
    sid: Option<String>,
    effect: Effect,
    actions: BitSet,
    reach: Reach,
    conditional: bool,
}

impl CompiledStatement {
    fn scope(&self) -> GrantScope {
        match self.reach {
            Reach::AllResources => GrantScope::AllResources,
            Reach::SomeResources | Reach::Nothing => GrantScope::SomeResources,
        }
    }

    fn reference(&self, policy: &Arc<PolicySource>) -> Arc<StatementRef> {
        Arc::new(StatementRef {
            policy: Arc::clone(policy),
            index: self.index,
            sid: self.sid.clone(),
            effect: self.effect,
            scope: self.scope(),
            conditional: self.conditional,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct CompiledPolicy {
    statements: Vec<CompiledStatement>,
}

impl CompiledPolicy {
    /// `label` names the policy in errors.
    fn compile(
        document: &PolicyDocument,
        label: &str,
        index: &ActionIndex,
    ) -> Result<CompiledPolicy, EvalError> {
        let mut statements = Vec::with_capacity(document.statements.len());
        for (position, statement) in document.statements.iter().enumerate() {
            let actions = match &statement.action {
                Some(ActionClause::Action(patterns)) => index.matching(patterns),
                Some(ActionClause::NotAction(patterns)) => index.matching(patterns).complement(),
                None => {
                    return Err(EvalError::MissingAction {
                        policy: label.to_string(),
                        index: position,
                    });
                }
            };
            let reach = match &statement.resource {
                Some(ResourceClause::Resource(patterns)) => {
                    if patterns.iter().any(|pattern| {
                        WildcardPattern::case_sensitive(pattern).matches_everything()
                    }) {
                        Reach::AllResources
                    } else if patterns.is_empty() {
                        Reach::Nothing
                    } else {
                        Reach::SomeResources
                    }
                }
                Some(ResourceClause::NotResource(patterns)) => {
                    if patterns.iter().any(|pattern| {
                        WildcardPattern::case_sensitive(pattern).matches_everything()
                    }) {
                        Reach::Nothing
                    } else {
                        Reach::SomeResources
                    }
                }
                None => {
                    return Err(EvalError::MissingResource {
                        policy: label.to_string(),
                        index: position,
                    });
                }
            };
            statements.push(CompiledStatement {
                index: position,
                sid: statement.sid.clone(),
                effect: statement.effect,
                actions,
                reach,
                conditional: statement.has_condition(),
            });
        }
        Ok(CompiledPolicy { statements })
    }
}

/// The catalogue's actions as lower-cased `service:name`, with each service's contiguous range
/// (the catalogue is sorted by service) so that `s3:Get*` is only matched against S3 actions.
struct ActionIndex {
    lowercased: Vec<String>,
    services: HashMap<String, Range<usize>>,
    always_allowed: Vec<ActionId>,
}

impl ActionIndex {
    fn new(catalogue: &Catalogue) -> ActionIndex {
        let mut lowercased = Vec::with_capacity(catalogue.actions().len());
        let mut services: HashMap<String, Range<usize>> = HashMap::new();
        for (position, info) in catalogue.actions().iter().enumerate() {
            lowercased.push(format!("{}:{}", info.service, info.name).to_lowercase());
            services
                .entry(info.service.to_lowercase())
                .and_modify(|range| {
                    range.start = range.start.min(position);
                    range.end = range.end.max(position + 1);
                })
                .or_insert(position..position + 1);
        }
        let mut always_allowed: Vec<ActionId> = ALWAYS_ALLOWED_ACTIONS
            .iter()
            .filter_map(|action| catalogue.lookup_full(action))
            .collect();
        always_allowed.sort();
        always_allowed.dedup();
        ActionIndex {
            lowercased,
            services,
            always_allowed,
        }
    }

    fn len(&self) -> usize {
        self.lowercased.len()
    }

    fn matching(&self, patterns: &[String]) -> BitSet {
        let mut matched = BitSet::empty(self.len());
        for pattern in patterns {
            let pattern = WildcardPattern::case_insensitive(pattern);
            if pattern.matches_everything() {
                return BitSet::full(self.len());
            }
            let candidates = match pattern.as_str().split_once(':') {
                Some((service, _))
                    if !WildcardPattern::case_insensitive(service).has_wildcards() =>
                {
                    match self.services.get(service) {
                        Some(range) => range.clone(),
                        None => continue,
                    }
                }
                _ => 0..self.len(),
            };
            for position in candidates {
                if pattern.matches_lowercased(&self.lowercased[position]) {
                    matched.insert(position);
                }
            }
        }
        matched
    }
}

/// A fixed-size set of action positions.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BitSet {
    words: Vec<u64>,
    len: usize,
}

impl BitSet {
    fn empty(len: usize) -> BitSet {
        BitSet {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    fn full(len: usize) -> BitSet {
        BitSet::empty(len).complement()
    }

    fn insert(&mut self, position: usize) {
        self.words[position / 64] |= 1 << (position % 64);
    }

    fn union_with(&mut self, other: &BitSet) {
        for (word, other_word) in self.words.iter_mut().zip(&other.words) {
            *word |= other_word;
        }
    }

    fn complement(mut self) -> BitSet {
        for word in &mut self.words {
            *word = !*word;
        }
        let tail = self.len % 64;
        if tail != 0
            && let Some(last) = self.words.last_mut()
        {
            *last &= (1u64 << tail) - 1;
        }
        self
    }

    #[cfg(test)]
    fn iter_ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.words
            .iter()
            .enumerate()
            .flat_map(|(word_index, &word)| Bits(word).map(move |bit| word_index * 64 + bit))
    }
}

/// The positions of the bits set in a word, lowest first.
struct Bits(u64);

impl Iterator for Bits {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let bit = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CATALOGUE: &str = "\
# service<TAB>Action<TAB>access level
s3\tGetObject\tRead
s3\tGetObjectAcl\tRead
s3\tPutObject\tWrite
s3\tListBucket\tList
iam\tPassRole\tWrite
iam\tGetUser\tRead
ec2\tRunInstances\tWrite
ec2\tDescribeInstances\tList
sts\tAssumeRole\tWrite
";

    fn catalogue() -> Catalogue {
        Catalogue::from_tsv(CATALOGUE).expect("test catalogue parses")
    }

    fn describe(granted: &Granted) -> String {
        let mut how = match granted.scope {
            GrantScope::AllResources => "all".to_string(),
            GrantScope::SomeResources => "some".to_string(),
        };
        if granted.conditional {
            how.push_str("+cond");
        }
        if let Some(cut) = granted.deny_cut {
            how.push_str(match (cut.conditional, cut.some_resources) {
                (true, true) => " denied(cond,some)",
                (true, false) => " denied(cond)",
                (false, true) => " denied(some)",
                (false, false) => " denied(?)",
            });
        }
        how
    }

    /// Evaluates one user holding `statements` as an inline policy (and `boundary_statements`, if
    /// any, as its permissions boundary) and describes every granted action.
    fn granted_to_user(
        statements: Value,
        boundary_statements: Option<Value>,
    ) -> (Vec<(String, String)>, Vec<String>) {
        let mut user = json!({"UserName": "u", "Arn": "arn:aws:iam::1:user/u",
            "UserPolicyList": [{"PolicyName": "inline", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}]});
        let mut policies = vec![];
        if let Some(boundary_statements) = boundary_statements {
            user["PermissionsBoundary"] = json!({"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": "arn:aws:iam::1:policy/boundary"});
            policies.push(json!({"PolicyName": "boundary", "Arn": "arn:aws:iam::1:policy/boundary", "DefaultVersionId": "v1",
                "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": true,
                    "Document": {"Statement": boundary_statements}}]}));
        }
        let details = AuthorizationDetails::from_value(
            &json!({"UserDetailList": [user], "Policies": policies}),
        )
        .expect("test input parses");
        let catalogue = catalogue();
        let evaluation = evaluate(
            &details,
            PrincipalRef::User("arn:aws:iam::1:user/u"),
            &catalogue,
        )
        .expect("evaluates");
        let described = evaluation
            .granted
            .values()
            .map(|granted| {
                let info = catalogue.get(granted.action);
                (format!("{}:{}", info.service, info.name), describe(granted))
            })
            .collect();
        (described, evaluation.warnings)
    }

    fn expect(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut expected: Vec<(String, String)> = pairs
            .iter()
            .map(|(action, how)| (action.to_string(), how.to_string()))
            .collect();
        let catalogue = catalogue();
        expected.sort_by_key(|(action, _)| catalogue.lookup_full(action));
        expected
    }

    /// (action, how it is granted as [`describe`] writes it)
    type Expected = Vec<(&'static str, &'static str)>;

    const EVERYTHING: &[&str] = &[
        "ec2:DescribeInstances",
        "ec2:RunInstances",
        "iam:GetUser",
        "iam:PassRole",
        "s3:GetObject",
        "s3:GetObjectAcl",
        "s3:ListBucket",
        "s3:PutObject",
        "sts:AssumeRole",
    ];

    fn all_but(excluded: &[&str], how: &'static str) -> Vec<(&'static str, &'static str)> {
        EVERYTHING
            .iter()
            .filter(|action| !excluded.contains(action))
            .map(|action| (*action, how))
            .collect()
    }

    #[test]
    fn identity_statements() {
        let allow_all = json!({"Effect": "Allow", "Action": "*", "Resource": "*"});
        let cases: Vec<(&str, Value, Expected)> = vec![
            (
                "wildcard action",
                json!([{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]),
                vec![("s3:GetObject", "all"), ("s3:GetObjectAcl", "all")],
            ),
            (
                "single statement object, list of actions, case-insensitive",
                json!({"Effect": "Allow", "Action": ["S3:getobject", "iam:?assrole"], "Resource": ["*"]}),
                vec![("s3:GetObject", "all"), ("iam:PassRole", "all")],
            ),
            (
                "wildcard service",
                json!([{"Effect": "Allow", "Action": "*:Get*", "Resource": "*"}]),
                vec![
                    ("s3:GetObject", "all"),
                    ("s3:GetObjectAcl", "all"),
                    ("iam:GetUser", "all"),
                ],
            ),
            (
                "unknown service grants nothing",
                json!([{"Effect": "Allow", "Action": "nosuch:*", "Resource": "*"}]),
                vec![],
            ),
            (
                "NotAction",
                json!([{"Effect": "Allow", "NotAction": ["s3:*", "iam:*"], "Resource": "*"}]),
                vec![
                    ("ec2:DescribeInstances", "all"),
                    ("ec2:RunInstances", "all"),
                    ("sts:AssumeRole", "all"),
                ],
            ),
            (
                "specific resource",
                json!([{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::bucket/*"}]),
                vec![
                    ("s3:GetObject", "some"),
                    ("s3:GetObjectAcl", "some"),
                    ("s3:ListBucket", "some"),
                    ("s3:PutObject", "some"),
                ],
            ),
            (
                "resource wildcard that is not a bare star",
                json!([{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::*"}]),
                vec![("s3:ListBucket", "some")],
            ),
            (
                "empty Resource list",
                json!([{"Effect": "Allow", "Action": "*", "Resource": []}]),
                vec![],
            ),
            (
                "NotResource on Allow",
                json!([{"Effect": "Allow", "Action": "iam:*", "NotResource": "arn:aws:iam::1:role/admin"}]),
                vec![("iam:GetUser", "some"), ("iam:PassRole", "some")],
            ),
            (
                "NotResource * on Allow",
                json!([{"Effect": "Allow", "Action": "*", "NotResource": "*"}]),
                vec![],
            ),
            (
                "condition",
                json!([{"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*",
                    "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}]),
                vec![("ec2:RunInstances", "all+cond")],
            ),
            (
                "empty condition block",
                json!([{"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*", "Condition": {}}]),
                vec![("ec2:RunInstances", "all")],
            ),
            (
                "unconditional on all wins over narrower grants",
                json!([
                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
                ]),
                vec![("s3:GetObject", "all")],
            ),
            (
                "unconditional on some beats conditional on all, never merged into 'all'",
                json!([
                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
                ]),
                vec![("s3:GetObject", "some")],
            ),
            (
                "conditional on some",
                json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
                    "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]),
                vec![("s3:GetObject", "some+cond")],
            ),
            (
                "unconditional Deny on * removes",
                json!([allow_all, {"Effect": "Deny", "Action": ["iam:*", "sts:AssumeRole"], "Resource": "*"}]),
                all_but(&["iam:GetUser", "iam:PassRole", "sts:AssumeRole"], "all"),
            ),
            (
                "Deny whose Resource list includes *",
                json!([allow_all, {"Effect": "Deny", "Action": "s3:*", "Resource": ["arn:aws:s3:::b", "*"]}]),
                all_but(
                    &[
                        "s3:GetObject",
                        "s3:GetObjectAcl",
                        "s3:ListBucket",
                        "s3:PutObject",
                    ],
                    "all",
                ),
            ),
            (
                "Deny with NotAction removes everything else",
                json!([allow_all, {"Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "*"}]),
                vec![("s3:GetObject", "all")],
            ),
            (
                "conditional Deny marks",
                json!([allow_all, {"Effect": "Deny", "Action": "ec2:*", "Resource": "*",
                    "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]),
                {
                    let mut expected =
                        all_but(&["ec2:DescribeInstances", "ec2:RunInstances"], "all");
                    expected.push(("ec2:DescribeInstances", "all denied(cond)"));
                    expected.push(("ec2:RunInstances", "all denied(cond)"));
                    expected
                },
            ),
            (
                "Deny on some resources marks",
                json!([allow_all, {"Effect": "Deny", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/admin"}]),
                {
                    let mut expected = all_but(&["iam:PassRole"], "all");
                    expected.push(("iam:PassRole", "all denied(some)"));
                    expected
                },
            ),
            (
                "Deny with NotResource marks as some resources",
                json!([allow_all, {"Effect": "Deny", "Action": "s3:PutObject", "NotResource": "arn:aws:s3:::b/*"}]),
                {
                    let mut expected = all_but(&["s3:PutObject"], "all");
                    expected.push(("s3:PutObject", "all denied(some)"));
                    expected
                },
            ),
            (
                "Deny with NotResource * denies nothing",
                json!([allow_all, {"Effect": "Deny", "Action": "*", "NotResource": "*"}]),
                all_but(&[], "all"),
            ),
            (
                "conditional Deny on some resources",
                json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
                    {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::secret/*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]),
                vec![("s3:GetObject", "all denied(cond,some)")],
            ),
            (
                "Deny alone grants nothing",
                json!([{"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b"}]),
                vec![],
            ),
        ];
        for (label, statements, expected) in cases {
            let (granted, warnings) = granted_to_user(statements, None);
            assert_eq!(granted, expect(&expected), "{label}");
            assert!(warnings.is_empty(), "{label}: {warnings:?}");
        }
    }

    #[test]
    fn permissions_boundaries() {
        let allow_all = json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}]);
        let cases: Vec<(&str, Value, Value, Expected)> = vec![
            (
                "boundary intersects",
                allow_all.clone(),
                json!([{"Effect": "Allow", "Action": ["s3:Get*", "sts:*"], "Resource": "*"}]),
                vec![
                    ("s3:GetObject", "all"),
                    ("s3:GetObjectAcl", "all"),
                    ("sts:AssumeRole", "all"),
                ],
            ),
            (
                "boundary alone grants nothing",
                json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]),
                json!([{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]),
                vec![],
            ),
            (
                "Deny in the boundary removes",
                allow_all.clone(),
                json!([{"Effect": "Allow", "Action": "*", "Resource": "*"},
                    {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"}]),
                vec![("iam:GetUser", "all"), ("iam:PassRole", "all")],
            ),
            (
                "boundary on some resources narrows the scope",
                json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]),
                json!([{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}]),
                vec![("s3:GetObject", "some")],
            ),
            (
                "conditional boundary makes the grant conditional",
                json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]),
                json!([{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}}]),
                vec![("s3:GetObject", "all+cond")],
            ),
            (
                "conditional Deny in the boundary marks",
                json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]),
                json!([{"Effect": "Allow", "Action": "*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]),
                vec![("s3:GetObject", "all denied(cond)")],
            ),
            (
                "NotAction in the boundary",
                allow_all,
                json!([{"Effect": "Allow", "NotAction": ["s3:*", "ec2:*", "sts:*"], "Resource": "*"}]),
                vec![("iam:GetUser", "all"), ("iam:PassRole", "all")],
            ),
        ];
        for (label, identity, boundary, expected) in cases {
            let (granted, warnings) = granted_to_user(identity, Some(boundary));
            assert_eq!(granted, expect(&expected), "{label}");
            assert!(warnings.is_empty(), "{label}: {warnings:?}");
        }
    }

    fn account() -> AuthorizationDetails {
        let document = |action: &str| json!({"Statement": [{"Sid": "Only", "Effect": "Allow", "Action": action, "Resource": "*"}]});
        AuthorizationDetails::from_value(&json!({
            "UserDetailList": [
                {"UserName": "dev", "Arn": "arn:aws:iam::1:user/dev", "GroupList": ["developers", "ghosts"],
                 "AttachedManagedPolicies": [{"PolicyName": "Gone", "PolicyArn": "arn:aws:iam::aws:policy/Gone"}]},
                {"UserName": "bounded", "Arn": "arn:aws:iam::1:user/bounded",
                 "UserPolicyList": [{"PolicyName": "all", "PolicyDocument": document("*")}],
                 "PermissionsBoundary": {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": "arn:aws:iam::1:policy/missing"}},
                {"UserName": "broken", "Arn": "arn:aws:iam::1:user/broken",
                 "UserPolicyList": [{"PolicyName": "noresource", "PolicyDocument": {"Statement": {"Effect": "Allow", "Action": "*"}}}]}
            ],
            "GroupDetailList": [
                {"GroupName": "developers", "Arn": "arn:aws:iam::1:group/developers",
                 "GroupPolicyList": [{"PolicyName": "run", "PolicyDocument": document("ec2:RunInstances")}],
                 "AttachedManagedPolicies": [{"PolicyName": "ReadS3", "PolicyArn": "arn:aws:iam::1:policy/ReadS3"}]}
            ],
            "RoleDetailList": [
                {"RoleName": "app", "Arn": "arn:aws:iam::1:role/app",
                 "AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
                 "RolePolicyList": [{"PolicyName": "pass", "PolicyDocument": document("iam:PassRole")}],
                 "AttachedManagedPolicies": [{"PolicyName": "ReadS3", "PolicyArn": "arn:aws:iam::1:policy/ReadS3"}]}
            ],
            "Policies": [
                {"PolicyName": "ReadS3", "Arn": "arn:aws:iam::1:policy/ReadS3", "DefaultVersionId": "v2",
                 "PolicyVersionList": [
                    {"VersionId": "v1", "IsDefaultVersion": false, "Document": document("*")},
                    {"VersionId": "v2", "IsDefaultVersion": true, "Document": document("s3:GetObject")}]}
            ]
        }))
        .expect("test account parses")
    }

    fn action_names(catalogue: &Catalogue, evaluation: &Evaluation) -> Vec<String> {
        evaluation
            .granted
            .keys()
            .map(|id| format!("{}:{}", catalogue.get(id).service, catalogue.get(id).name))
            .collect()
    }

    #[test]
    fn principals_gather_their_policies() {
        let details = account();
        let catalogue = catalogue();
        let evaluator = Evaluator::new(&details, &catalogue);
        // (principal, granted actions, warnings mentioning)
        let cases: Vec<(PrincipalRef, Vec<&str>, Vec<&str>)> = vec![
            (
                PrincipalRef::User("arn:aws:iam::1:user/dev"),
                vec!["ec2:RunInstances", "s3:GetObject"],
                vec!["arn:aws:iam::aws:policy/Gone", "ghosts"],
            ),
            (
                PrincipalRef::User("arn:aws:iam::1:user/bounded"),
                EVERYTHING.to_vec(),
                vec!["arn:aws:iam::1:policy/missing"],
            ),
            (
                PrincipalRef::Role("arn:aws:iam::1:role/app"),
                vec!["iam:PassRole", "s3:GetObject"],
                vec![],
            ),
        ];
        for (principal, expected_actions, expected_warnings) in cases {
            let evaluation = evaluator.evaluate(principal).expect("evaluates");
            let mut expected_actions: Vec<String> =
                expected_actions.iter().map(|a| a.to_string()).collect();
            expected_actions.sort_by_key(|action| catalogue.lookup_full(action));
            assert_eq!(
                action_names(&catalogue, &evaluation),
                expected_actions,
                "{principal:?}"
            );
            assert_eq!(
                evaluation.warnings.len(),
                expected_warnings.len(),
                "{principal:?}: {:?}",
                evaluation.warnings
            );
            for (warning, expected) in evaluation.warnings.iter().zip(expected_warnings) {
                assert!(
                    warning.contains(expected),
                    "{warning:?} should mention {expected}"
                );
            }
        }
    }

    #[test]
    fn sources_explain_each_grant() {
        let details = account();
        let catalogue = catalogue();
        let evaluation = evaluate(
            &details,
            PrincipalRef::User("arn:aws:iam::1:user/dev"),
            &catalogue,
        )
        .expect("evaluates");
        let sources = |action: &str| -> Vec<String> {
            let id = catalogue.lookup_full(action).expect("in catalogue");
            evaluation.granted[&id]
                .sources
                .iter()
                .map(|source| source.to_string())
                .collect()
        };
        assert_eq!(
            sources("ec2:RunInstances"),
            vec!["run (inline, group developers) statement 0 (Only)"]
        );
        assert_eq!(
            sources("s3:GetObject"),
            vec!["ReadS3 (group developers) statement 0 (Only)"]
        );
        let id = catalogue.lookup_full("s3:GetObject").expect("in catalogue");
        assert_eq!(
            evaluation.granted[&id].sources[0].policy.arn.as_deref(),
            Some("arn:aws:iam::1:policy/ReadS3")
        );
    }

    #[test]
    fn errors_name_the_principal_or_policy() {
        let details = account();
        let catalogue = catalogue();
        let cases: Vec<(PrincipalRef, EvalError)> = vec![
            (
                PrincipalRef::User("arn:aws:iam::1:user/broken"),
                EvalError::MissingResource {
                    policy: "inline policy noresource of user arn:aws:iam::1:user/broken".into(),
                    index: 0,
                },
            ),
            (
                PrincipalRef::User("arn:aws:iam::1:user/nobody"),
                EvalError::UnknownPrincipal("arn:aws:iam::1:user/nobody".into()),
            ),
            (
                PrincipalRef::Role("arn:aws:iam::1:user/dev"),
                EvalError::UnknownPrincipal("arn:aws:iam::1:user/dev".into()),
            ),
        ];
        for (principal, expected) in cases {
            assert_eq!(
                evaluate(&details, principal, &catalogue),
                Err(expected),
                "{principal:?}"
            );
        }
        assert!(
            granted_report(&details, &catalogue).is_err(),
            "a broken principal fails the report"
        );
    }

    #[test]
    fn report_lists_unrestricted_actions_per_principal() {
        let details = AuthorizationDetails::from_value(&json!({"RoleDetailList": [
            {"RoleName": "r", "Arn": "arn:aws:iam::1:role/r", "RolePolicyList": [{"PolicyName": "p", "PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": ["sts:AssumeRole", "s3:Get*", "ec2:RunInstances"], "Resource": "*"},
                {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/x"},
                {"Effect": "Deny", "Action": "s3:GetObjectAcl", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
            ]}}]}
        ]}))
        .expect("parses");
        let report = granted_report(&details, &catalogue()).expect("report");
        assert_eq!(
            report,
            json!({"arn:aws:iam::1:role/r": ["ec2:RunInstances", "s3:GetObject", "sts:AssumeRole"]})
        );
    }

    #[test]
    fn always_allowed_actions_ignore_policies() {
        let catalogue =
            Catalogue::from_tsv("sts\tAssumeRole\tWrite\nsts\tGetCallerIdentity\tRead\n")
                .expect("parses");
        let details = AuthorizationDetails::from_value(&json!({"UserDetailList": [
            {"UserName": "none", "Arn": "arn:aws:iam::1:user/none"},
            {"UserName": "denied", "Arn": "arn:aws:iam::1:user/denied", "UserPolicyList": [{"PolicyName": "deny",
                "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "sts:*", "Resource": "arn:aws:iam::1:role/x"},
                    {"Effect": "Deny", "Action": "*", "Resource": "*"}]}}]}
        ]}))
        .expect("parses");
        let report = granted_report(&details, &catalogue).expect("report");
        assert_eq!(
            report,
            json!({"arn:aws:iam::1:user/none": ["sts:GetCallerIdentity"], "arn:aws:iam::1:user/denied": ["sts:GetCallerIdentity"]})
        );
        let evaluation = evaluate(
            &details,
            PrincipalRef::User("arn:aws:iam::1:user/none"),
            &catalogue,
        )
        .expect("evaluates");
        let id = catalogue
            .lookup_full("sts:GetCallerIdentity")
            .expect("in catalogue");
        assert_eq!(
            evaluation.granted[&id].sources[0].policy.attachment,
            Attachment::AlwaysAllowed
        );
    }

    #[test]
    fn detailed_report_says_how() {
        let details = AuthorizationDetails::from_value(&json!({"RoleDetailList": [
            {"RoleName": "r", "Arn": "arn:aws:iam::1:role/r", "RolePolicyList": [{"PolicyName": "p", "PolicyDocument": {"Statement": [
                {"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
                {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
                {"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*", "Condition": {"Bool": {"aws:ViaAWSService": "false"}}}
            ]}}]}
        ]}))
        .expect("parses");
        let report = granted_report_detailed(&details, &catalogue()).expect("report");
        assert_eq!(
            report,
            json!({"arn:aws:iam::1:role/r": {"warnings": [], "granted": {
                "s3:GetObject": {"scope": "some", "conditional": false, "deny_cut": null,
                    "sources": ["p (inline) statement 0 (Read)"], "deny_sources": []},
                "iam:PassRole": {"scope": "all", "conditional": false,
                    "deny_cut": {"conditional": true, "some_resources": false},
                    "sources": ["p (inline) statement 1"], "deny_sources": ["p (inline) statement 2"]}
            }}})
        );
    }

    #[test]
    fn bitset_edges() {
        for len in [0, 1, 63, 64, 65, 130] {
            let full = BitSet::full(len);
            assert_eq!(full.iter_ones().count(), len, "full({len})");
            assert_eq!(
                BitSet::empty(len).complement(),
                full,
                "complement of empty({len})"
            );
            assert_eq!(
                full.clone().complement().iter_ones().count(),
                0,
                "complement of full({len})"
            );
        }
    }

    #[test]
    #[ignore = "needs CTIDX_REALDATA_DIR"]
    fn real_authorization_details_evaluate() {
        let directory = std::env::var_os("CTIDX_REALDATA_DIR")
            .expect("CTIDX_REALDATA_DIR must name the folder of real public data");
        let path = std::path::Path::new(&directory).join("iam/cloudsplaining/example.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let details = AuthorizationDetails::from_json_str(&text).expect("example.json parses");
        assert_eq!(
            (
                details.users.len(),
                details.groups.len(),
                details.roles.len(),
                details.policies.len()
            ),
            (44, 5, 78, 84)
        );
        let catalogue = catalogue();
        let evaluator = Evaluator::new(&details, &catalogue);
        for principal in principals(&details) {
            let evaluation = evaluator
                .evaluate(principal)
                .unwrap_or_else(|error| panic!("{principal:?}: {error}"));
            assert!(
                evaluation.warnings.is_empty(),
                "{principal:?}: {:?}",
                evaluation.warnings
            );
        }
        // A role with AdministratorAccess is granted every action without restriction.
        let admin_role = details
            .roles
            .iter()
            .find(|role| {
                role.attached_policies
                    .iter()
                    .any(|p| p.arn == "arn:aws:iam::aws:policy/AdministratorAccess")
            })
            .expect("some role has AdministratorAccess");
        let evaluation = evaluator
            .evaluate(PrincipalRef::Role(&admin_role.arn))
            .expect("evaluates");
        assert_eq!(
            evaluation.unrestricted_actions().count(),
            catalogue.actions().len(),
            "{}",
            admin_role.arn
        );
    }
}
