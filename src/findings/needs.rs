//! What one principal needs: each IAM action it used successfully in the window, with the
//! resources its calls named and why each is there, how often and when it was used, and one event to
//! look at. Also the `iam:PassRole` its calls imply, and the actions it holds whose use CloudTrail
//! cannot show. `ctidx policy` writes a policy from this; nothing here prints.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::activity::Request;
use super::{UnmappedCall, Unrecorded};
use crate::iam::catalogue::{ActionId, Catalogue};
use crate::iam::eval::{Attachment, GrantedActions};
use crate::iam::resource_types::ResourceTypes;
use crate::mapping::resources::{IamNames, Place, Rules, named_resources, passed_roles};
use crate::mapping::{self, Mapping};

/// Why a resource is in an action's list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResourceReason {
    /// A request parameter named it (`requestParameters.bucketName`, …).
    Parameter(String),
    /// The event's `resources[].ARN` named it.
    ResourcesField,
    /// The call handed this role to a service: `eventName requestParameters.path`.
    PassedRole(String),
}

/// Why an action needs `Resource: "*"`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AnyResource {
    /// The action has no resource type: IAM only takes `*` for it.
    NoResourceType,
    /// Calls of this event name did not name the resource in a way ctidx can read.
    NotNamed(String),
}

/// One IAM action the principal used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeededAction {
    pub id: ActionId,
    /// Successful calls that needed it, and the first and last.
    pub calls: u64,
    pub first_call: Option<String>,
    pub last_call: Option<String>,
    /// The smallest eventID among those calls.
    pub sample_event: Option<String>,
    /// The resources named, each with the first reason found, by ARN.
    pub resources: BTreeMap<String, ResourceReason>,
    /// Why `*` is needed, when it is.
    pub any_resource: BTreeSet<AnyResource>,
    /// Whether the principal's policies grant it today.
    pub granted: bool,
    /// Inferred from request parameters (`iam:PassRole`) rather than from the call's own action.
    pub inferred: bool,
}

/// Everything one principal needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Sorted by action id.
    pub actions: Vec<NeededAction>,
    /// Held today, but CloudTrail cannot record their use: kept out of the policy unless asked.
    pub unknown: Vec<ActionId>,
    /// Calls that map to no IAM action.
    pub unmapped: Vec<UnmappedCall>,
}

/// The roles behind what a call passed: a role itself, or the roles an instance profile holds. A
/// profile the snapshot does not know stands for any role of its account.
fn roles_passed(
    arn: &str,
    how: String,
    place: &Place<'_>,
    tables: &Tables<'_>,
) -> Vec<(String, ResourceReason)> {
    if !arn.contains(":instance-profile/") {
        return vec![(arn.to_string(), ResourceReason::PassedRole(how))];
    }
    match tables.instance_profiles.get(arn) {
        Some(roles) if !roles.is_empty() => roles
            .iter()
            .map(|role| {
                (
                    role.clone(),
                    ResourceReason::PassedRole(format!("{how}: instance profile {arn} holds it")),
                )
            })
            .collect(),
        _ => {
            let account = arn.split(':').nth(4).unwrap_or(place.account);
            vec![(
                format!("arn:{}:iam::{account}:role/*", place.partition),
                ResourceReason::PassedRole(format!(
                    "{how}: the IAM snapshot does not say which role instance profile {arn} holds"
                )),
            )]
        }
    }
}

/// One request as the builder reads it: a row of the store's answer, borrowed.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestRef<'a> {
    pub event_source: &'a str,
    pub event_name: &'a str,
    pub event_type: Option<&'a str>,
    pub account: Option<&'a str>,
    pub region: Option<&'a str>,
    pub parameters: Option<&'a str>,
    pub calls: u64,
    pub first_call: Option<&'a str>,
    pub last_call: Option<&'a str>,
    pub sample_event: Option<&'a str>,
}

impl Request {
    pub fn borrowed(&self) -> RequestRef<'_> {
        RequestRef {
            event_source: &self.event_source,
            event_name: &self.event_name,
            event_type: self.event_type.as_deref(),
            account: self.account.as_deref(),
            region: self.region.as_deref(),
            parameters: self.parameters.as_deref(),
            calls: self.calls,
            first_call: self.first_call.as_deref(),
            last_call: self.last_call.as_deref(),
            sample_event: self.sample_event.as_deref(),
        }
    }
}

/// The catalogue and tables needs are worked out with.
pub struct Tables<'a> {
    pub catalogue: &'a Catalogue,
    pub resource_types: &'a ResourceTypes,
    pub rules: &'a Rules,
    pub unrecorded: &'a Unrecorded,
    /// Each instance profile's ARN, with the ARNs of the roles it holds (from the IAM snapshot).
    pub instance_profiles: &'a HashMap<String, Vec<String>>,
    /// The paths of the snapshot's users and roles.
    pub iam_names: &'a IamNames,
}

/// What one distinct request added to: repeats of it (same kind of call, place and parameters) only
/// add their calls, without reading the parameters again.
struct Added {
    /// The actions it needs, each inferred or not.
    actions: Box<[(ActionId, bool)]>,
    /// Whether its kind of call maps to no IAM action.
    unmapped: bool,
}

/// A principal's needs, worked out one request at a time, so that the requests of a whole
/// organization can stream through without being held.
pub struct NeedsBuilder {
    partition: String,
    principal_account: String,
    actions: BTreeMap<ActionId, NeededAction>,
    unmapped: BTreeMap<(String, String), u64>,
    /// The actions whose calls of a kind (event source, event name) named no resource in their
    /// parameters: `resources[].ARN` of that kind fills them in at the end.
    unnamed: BTreeSet<(ActionId, String, String)>,
    /// Each distinct request seen, by a 128-bit hash of all it holds but its counts and times.
    seen: HashMap<u128, Added>,
}

fn request_key(request: &RequestRef<'_>) -> u128 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for field in [
        Some(request.event_source),
        Some(request.event_name),
        request.event_type,
        request.account,
        request.region,
        request.parameters,
    ] {
        match field {
            Some(text) => {
                hasher.update(&[1]);
                hasher.update(&(text.len() as u64).to_le_bytes());
                hasher.update(text.as_bytes());
            }
            None => hasher.update(&[0]),
        }
    }
    hasher.digest128()
}

/// The action's entry, with `request`'s calls added.
fn tally<'a>(
    actions: &'a mut BTreeMap<ActionId, NeededAction>,
    id: ActionId,
    request: &RequestRef<'_>,
    inferred: bool,
) -> &'a mut NeededAction {
    let action = actions.entry(id).or_insert_with(|| NeededAction {
        id,
        calls: 0,
        first_call: None,
        last_call: None,
        sample_event: None,
        resources: BTreeMap::new(),
        any_resource: BTreeSet::new(),
        granted: false,
        inferred,
    });
    action.inferred &= inferred;
    action.calls += request.calls;
    if let Some(first) = request.first_call
        && action
            .first_call
            .as_deref()
            .is_none_or(|known| first < known)
    {
        action.first_call = Some(first.to_string());
    }
    if let Some(last) = request.last_call
        && action.last_call.as_deref().is_none_or(|known| last > known)
    {
        action.last_call = Some(last.to_string());
    }
    if let Some(sample) = request.sample_event
        && action
            .sample_event
            .as_deref()
            .is_none_or(|known| sample < known)
    {
        action.sample_event = Some(sample.to_string());
    }
    action
}

fn count_unmapped(unmapped: &mut BTreeMap<(String, String), u64>, request: &RequestRef<'_>) {
    *unmapped
        .entry((request.event_source.into(), request.event_name.into()))
        .or_default() += request.calls;
}

impl NeedsBuilder {
    /// The needs of the principal `principal_arn` (for its partition and account).
    pub fn new(principal_arn: &str) -> NeedsBuilder {
        NeedsBuilder {
            partition: principal_arn.split(':').nth(1).unwrap_or("aws").to_string(),
            principal_account: principal_arn
                .split(':')
                .nth(4)
                .unwrap_or_default()
                .to_string(),
            actions: BTreeMap::new(),
            unmapped: BTreeMap::new(),
            unnamed: BTreeSet::new(),
            seen: HashMap::new(),
        }
    }

    /// Adds the calls of one request.
    pub fn add(&mut self, tables: &Tables<'_>, request: &RequestRef<'_>) {
        if request.calls == 0 {
            return;
        }
        let key = request_key(request);
        let Some(added) = self.seen.get(&key) else {
            let added = self.read(tables, request);
            self.seen.insert(key, added);
            return;
        };
        for &(id, inferred) in added.actions.iter() {
            tally(&mut self.actions, id, request, inferred);
        }
        if added.unmapped {
            count_unmapped(&mut self.unmapped, request);
        }
    }

    /// A request not seen before: what its parameters name, and what it adds to.
    fn read(&mut self, tables: &Tables<'_>, request: &RequestRef<'_>) -> Added {
        let catalogue = tables.catalogue;
        let parameters: Value = request
            .parameters
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or(Value::Null);
        let (partition, principal_account) =
            (self.partition.clone(), self.principal_account.clone());
        let place = Place {
            partition: &partition,
            region: request.region.unwrap_or("*"),
            account: request.account.unwrap_or(&principal_account),
            iam_names: Some(tables.iam_names),
        };
        let mut added: Vec<(ActionId, bool)> = Vec::new();
        // A call that hands a role to a service needs iam:PassRole whatever else it needs.
        if let Some(pass_role) = catalogue.lookup("iam", "PassRole") {
            let passed = passed_roles(
                tables.rules,
                request.event_source,
                request.event_name,
                &parameters,
                &place,
            );
            if !passed.is_empty() {
                let action = tally(&mut self.actions, pass_role, request, true);
                for passed in passed {
                    let how = format!("{} {}", request.event_name, passed.parameter);
                    for (role, reason) in roles_passed(&passed.arn, how, &place, tables) {
                        action.resources.entry(role).or_insert(reason);
                    }
                }
                added.push((pass_role, true));
            }
        }
        let mapped = mapping::map_record(
            catalogue,
            request.event_type,
            request.event_source,
            request.event_name,
        );
        match mapped {
            Mapping::Actions(ids) => {
                let ids: BTreeSet<ActionId> = ids.into_iter().collect();
                for id in ids {
                    added.push((id, false));
                    let accepted = tables.resource_types.of(id);
                    let named = (!accepted.is_empty()).then(|| {
                        named_resources(
                            tables.rules,
                            &catalogue.get(id).service,
                            request.event_name,
                            accepted,
                            &parameters,
                            &place,
                        )
                    });
                    let action = tally(&mut self.actions, id, request, false);
                    let Some(named) = named else {
                        action.any_resource.insert(AnyResource::NoResourceType);
                        continue;
                    };
                    let nothing_named = named.is_empty();
                    for resource in named {
                        action
                            .resources
                            .entry(resource.arn)
                            .or_insert(ResourceReason::Parameter(resource.parameter));
                    }
                    if nothing_named {
                        self.unnamed.insert((
                            id,
                            request.event_source.into(),
                            request.event_name.into(),
                        ));
                    }
                }
            }
            Mapping::NoPermission(_) => {}
            Mapping::Unmapped => {
                count_unmapped(&mut self.unmapped, request);
                return Added {
                    actions: added.into(),
                    unmapped: true,
                };
            }
        }
        Added {
            actions: added.into(),
            unmapped: false,
        }
    }

    /// The needs, for a principal granted `granted`; `named_by_kind` holds the `resources[].ARN` of
    /// its calls by event source and name.
    pub fn finish(
        mut self,
        tables: &Tables<'_>,
        granted: &GrantedActions,
        named_by_kind: &HashMap<(String, String), Vec<String>>,
    ) -> Needs {
        for (id, event_source, event_name) in std::mem::take(&mut self.unnamed) {
            let Some(action) = self.actions.get_mut(&id) else {
                continue;
            };
            let from_field: Vec<&String> = named_by_kind
                .get(&(event_source, event_name.clone()))
                .into_iter()
                .flatten()
                .filter(|arn| tables.resource_types.fits(id, arn))
                .collect();
            if from_field.is_empty() {
                action
                    .any_resource
                    .insert(AnyResource::NotNamed(event_name));
            }
            for arn in from_field {
                action
                    .resources
                    .entry(arn.clone())
                    .or_insert(ResourceReason::ResourcesField);
            }
        }
        for action in self.actions.values_mut() {
            action.granted = granted.contains_key(&action.id);
        }
        let unknown = granted
            .iter()
            .filter(|(id, granted)| {
                !self.actions.contains_key(id)
                    && tables.unrecorded.contains(**id)
                    && !granted
                        .sources
                        .iter()
                        .all(|s| s.policy.attachment == Attachment::AlwaysAllowed)
            })
            .map(|(id, _)| *id)
            .collect();
        Needs {
            actions: self.actions.into_values().collect(),
            unknown,
            unmapped: self
                .unmapped
                .into_iter()
                .map(|((event_source, event_name), calls)| UnmappedCall {
                    event_source,
                    event_name,
                    calls,
                })
                .collect(),
        }
    }
}

impl Needs {
    /// The needs of a principal (`principal_arn`, for its partition) granted `granted` that made
    /// `requests`; `named_by_kind` holds the `resources[].ARN` of its calls by event source and name.
    pub fn compute(
        tables: &Tables<'_>,
        principal_arn: &str,
        granted: &GrantedActions,
        requests: &[Request],
        named_by_kind: &HashMap<(String, String), Vec<String>>,
    ) -> Needs {
        let mut builder = NeedsBuilder::new(principal_arn);
        for request in requests {
            builder.add(tables, &request.borrowed());
        }
        builder.finish(tables, granted, named_by_kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::recorded::RecordingConfig;

    fn request(source: &str, name: &str, parameters: &str) -> Request {
        Request {
            event_source: source.into(),
            event_name: name.into(),
            account: Some("111111111111".into()),
            region: Some("eu-west-1".into()),
            parameters: Some(parameters.into()),
            calls: 2,
            first_call: Some("2024-03-01T00:00:00Z".into()),
            last_call: Some("2024-03-02T00:00:00Z".into()),
            sample_event: Some("e-1".into()),
            ..Request::default()
        }
    }

    fn needs(requests: &[Request], profiles: &HashMap<String, Vec<String>>) -> Needs {
        needs_with_field(requests, profiles, &HashMap::new())
    }

    fn needs_with_field(
        requests: &[Request],
        profiles: &HashMap<String, Vec<String>>,
        named_by_kind: &HashMap<(String, String), Vec<String>>,
    ) -> Needs {
        let catalogue = Catalogue::embedded();
        let unrecorded = Unrecorded::new(catalogue, &RecordingConfig::default());
        let tables = Tables {
            catalogue,
            resource_types: ResourceTypes::embedded(),
            rules: Rules::embedded(),
            unrecorded: &unrecorded,
            instance_profiles: profiles,
            iam_names: &IamNames::default(),
        };
        Needs::compute(
            &tables,
            "arn:aws:iam::111111111111:user/alice",
            &GrantedActions::default(),
            requests,
            named_by_kind,
        )
    }

    fn resources_of(needs: &Needs, action: &str) -> Vec<String> {
        let id = Catalogue::embedded().lookup_full(action).expect("known");
        needs
            .actions
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.resources.keys().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn instance_profiles_pass_the_roles_they_hold() {
        let run = request(
            "ec2.amazonaws.com",
            "RunInstances",
            r#"{"iamInstanceProfile":{"name":"web"},"instanceType":"t3.micro"}"#,
        );
        let known: HashMap<String, Vec<String>> = [(
            "arn:aws:iam::111111111111:instance-profile/web".to_string(),
            vec!["arn:aws:iam::111111111111:role/web-role".to_string()],
        )]
        .into();
        let found = needs(std::slice::from_ref(&run), &known);
        assert_eq!(
            resources_of(&found, "iam:PassRole"),
            ["arn:aws:iam::111111111111:role/web-role"]
        );
        let pass = found
            .actions
            .iter()
            .find(|a| a.inferred)
            .expect("PassRole inferred");
        assert_eq!(pass.calls, 2);
        assert!(!pass.granted, "nothing is granted in this test");
        let unknown = needs(&[run], &HashMap::new());
        assert_eq!(
            resources_of(&unknown, "iam:PassRole"),
            ["arn:aws:iam::111111111111:role/*"],
            "a profile the snapshot does not know stands for any role of its account"
        );
    }

    #[test]
    fn calls_are_summed_and_resources_kept_with_their_reason() {
        let mut second = request(
            "s3.amazonaws.com",
            "GetObject",
            r#"{"bucketName":"b","key":"k2"}"#,
        );
        second.sample_event = Some("e-0".into());
        second.last_call = Some("2024-03-09T00:00:00Z".into());
        let found = needs(
            &[
                request(
                    "s3.amazonaws.com",
                    "GetObject",
                    r#"{"bucketName":"b","key":"k1"}"#,
                ),
                second,
                request("s3.amazonaws.com", "ListBuckets", "{}"),
                request("s3.amazonaws.com", "GetObject", "not JSON"),
            ],
            &HashMap::new(),
        );
        let get = &found.actions[found
            .actions
            .iter()
            .position(|a| Catalogue::embedded().get(a.id).full_name == "s3:GetObject")
            .expect("s3:GetObject")];
        assert_eq!(get.calls, 6);
        assert_eq!(get.sample_event.as_deref(), Some("e-0"));
        assert_eq!(get.last_call.as_deref(), Some("2024-03-09T00:00:00Z"));
        assert_eq!(
            resources_of(&found, "s3:GetObject"),
            ["arn:aws:s3:::b/k1", "arn:aws:s3:::b/k2"]
        );
        assert_eq!(
            get.resources.get("arn:aws:s3:::b/k1"),
            Some(&ResourceReason::Parameter(
                "requestParameters.bucketName + key".into()
            ))
        );
        assert!(
            get.any_resource
                .contains(&AnyResource::NotNamed("GetObject".into())),
            "the call whose parameters cannot be read needs *"
        );
        let list = Catalogue::embedded()
            .lookup_full("s3:ListAllMyBuckets")
            .expect("known");
        let list = found.actions.iter().find(|a| a.id == list).expect("listed");
        assert!(list.any_resource.contains(&AnyResource::NoResourceType));
    }

    /// Calls one row each (as `sql/all_requests.sql` streams them) give the needs their grouped
    /// rows give (as `sql/principal_requests.sql` answers): repeats of a request only add calls.
    #[test]
    fn calls_one_by_one_need_what_their_groups_need() {
        let grouped = [
            request(
                "s3.amazonaws.com",
                "GetObject",
                r#"{"bucketName":"b","key":"k1"}"#,
            ),
            request(
                "ec2.amazonaws.com",
                "RunInstances",
                r#"{"iamInstanceProfile":{"arn":"arn:aws:iam::111111111111:instance-profile/web"}}"#,
            ),
            request("unknown.amazonaws.com", "DoThing", "{}"),
            Request {
                sample_event: Some("e-0".into()),
                first_call: Some("2024-02-01T00:00:00Z".into()),
                ..request(
                    "s3.amazonaws.com",
                    "GetObject",
                    r#"{"bucketName":"b","key":"k1"}"#,
                )
            },
        ];
        let one_by_one: Vec<Request> = grouped
            .iter()
            .flat_map(|request| {
                let times = [&request.first_call, &request.last_call];
                (0..request.calls).map(move |i| Request {
                    calls: 1,
                    first_call: times[i as usize % 2].clone(),
                    last_call: times[i as usize % 2].clone(),
                    ..request.clone()
                })
            })
            .collect();
        let found = needs(&one_by_one, &HashMap::new());
        assert_eq!(found, needs(&grouped, &HashMap::new()));
        assert_eq!(found.unmapped[0].calls, 2);
        let get = found
            .actions
            .iter()
            .find(|a| Catalogue::embedded().get(a.id).full_name == "s3:GetObject")
            .expect("s3:GetObject");
        assert_eq!(get.calls, 4);
        assert_eq!(get.first_call.as_deref(), Some("2024-02-01T00:00:00Z"));
        assert_eq!(get.sample_event.as_deref(), Some("e-0"));
    }

    #[test]
    fn the_resources_field_names_what_the_parameters_do_not() {
        let named: HashMap<(String, String), Vec<String>> = [(
            ("s3.amazonaws.com".to_string(), "GetObject".to_string()),
            vec![
                "arn:aws:s3:::b/from-field".to_string(),
                "arn:aws:dynamodb:us-east-1:111111111111:table/t".to_string(),
            ],
        )]
        .into();
        let found = needs_with_field(
            &[request("s3.amazonaws.com", "GetObject", "{}")],
            &HashMap::new(),
            &named,
        );
        let get = &found.actions[0];
        assert_eq!(
            get.resources.keys().collect::<Vec<_>>(),
            ["arn:aws:s3:::b/from-field"],
            "only the ARNs that fit the action's resource types"
        );
        assert_eq!(
            get.resources.values().next(),
            Some(&ResourceReason::ResourcesField)
        );
        assert!(get.any_resource.is_empty());
    }
}
