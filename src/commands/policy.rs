//! `ctidx policy`: the least-privilege policy of one user or role, from what it did in the window.

use crate::store::SummaryKind;
use std::collections::HashMap;
use std::io::Write;

use chrono::Utc;
use serde::Serialize;

use super::query::lookup::{find_role, find_user, role_session_prefix};
use crate::ExitStatus;
use crate::cli::PolicyArgs;
use crate::config::Settings;
use crate::findings::activity;
use crate::findings::needs::{AnyResource, Needs, Tables};
use crate::findings::organization::instance_profiles;
use crate::findings::{RESOURCES_READ, Unrecorded};
use crate::iam::catalogue::Catalogue;
use crate::iam::eval::{Evaluator, PrincipalRef};
use crate::iam::recorded::RecordingConfig;
use crate::iam::resource_types::ResourceTypes;
use crate::mapping::resources::{IamNames, Rules};
use crate::printer::Printer;
use crate::render::policy::{self, Options, PolicyError, PolicyFormat, Written};
use crate::sql::queries;
use crate::time::Window;

pub fn run(
    settings: &Settings,
    args: &PolicyArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    if args.explain && args.format != PolicyFormat::Json {
        anyhow::bail!(
            "--explain writes JSON; it cannot go with --format {:?}",
            args.format
        );
    }
    let window = Window::new(args.start, args.end)?.or_last_year(Utc::now().date_naive())?;
    let account = settings.account(args.account.as_deref())?;
    let details = settings.load_iam(account)?;
    for warning in &details.warnings {
        printer.warn(warning);
    }
    let (principal, unique_id, session_prefix) = match (&args.user, &args.role) {
        (Some(name), _) => {
            let user = find_user(&details, name, account)?;
            let prefix = format!("{}/", user.arn);
            (PrincipalRef::User(&user.arn), &user.user_id, prefix)
        }
        (None, Some(name)) => {
            let role = find_role(&details, name, account)?;
            let prefix = role_session_prefix(&role.arn, &role.name);
            (PrincipalRef::Role(&role.arn), &role.role_id, prefix)
        }
        (None, None) => unreachable!("clap requires --user or --role"),
    };
    let catalogue = Catalogue::embedded();
    let store = settings.open_store()?;
    let ctx = crate::sql::session(&store)?;
    if args.destrole.is_some() {
        super::read_summaries(&ctx, &store, printer, &[SummaryKind::SessionOpenings])?;
    }
    // With --destrole, the policy is the destination role's part that this principal needs.
    let destination_details;
    let (details, arn, grantee, requests, named_by_kind) = match &args.destrole {
        None => {
            let arn = principal.arn().to_string();
            let (requests, named) = super::block_on(activity::requests_of(
                &ctx,
                &account.id,
                &arn,
                &window,
                RESOURCES_READ,
            ))??;
            (&details, arn, principal, requests, named)
        }
        Some(destination) => {
            let destination_account =
                settings.account(args.destaccount.as_deref().or(Some(&account.id)))?;
            destination_details = if destination_account.id == account.id {
                None
            } else {
                Some(settings.load_iam(destination_account)?)
            };
            let details = destination_details.as_ref().unwrap_or(&details);
            let role = find_role(details, destination, destination_account)?;
            let requests = super::block_on(activity::session_requests_of(
                &ctx,
                &queries::PersonSessions {
                    principal_arn: principal.arn(),
                    principal_id: unique_id,
                    session_prefix: &session_prefix,
                    max_depth: args.max_depth,
                    role_arn: &role.arn,
                },
                &queries::SessionCalls {
                    role_arn: &role.arn,
                    role_account: &destination_account.id,
                    window: &window,
                },
            ))??;
            let grantee = PrincipalRef::Role(&role.arn);
            (details, role.arn.clone(), grantee, requests, HashMap::new())
        }
    };
    let evaluation = Evaluator::new(details, catalogue).evaluate(grantee)?;
    for warning in &evaluation.warnings {
        printer.warn(warning);
    }
    let patterns = if args.data_events.is_empty() {
        &settings.config.data_events
    } else {
        &args.data_events
    };
    let unrecorded = Unrecorded::new(catalogue, &RecordingConfig::from_patterns(patterns)?);
    let resource_types = ResourceTypes::embedded();
    let instance_profiles = instance_profiles(details);
    let iam_names = IamNames::from_details(details);
    let tables = Tables {
        iam_names: &iam_names,
        instance_profiles: &instance_profiles,
        catalogue,
        resource_types,
        rules: Rules::embedded(),
        unrecorded: &unrecorded,
    };
    let needs = Needs::compute(
        &tables,
        &arn,
        &evaluation.granted,
        &requests,
        &named_by_kind,
    );
    if needs.actions.is_empty() {
        return Err(PolicyError::NothingUsed { principal: arn }.into());
    }
    let options = Options {
        max_resources: args.max_resources as usize,
        target: args.target,
        keep_unknown: args.keep_unknown,
    };
    report(&needs, catalogue, &arn, printer);
    let statements = policy::statements(&needs, catalogue, resource_types, &options);
    let documents = policy::documents(&statements, options.target)?;
    let policy = Written::of(&documents);
    let mut out = std::io::stdout().lock();
    let description = format!(
        "What {arn} used from {} to {}, written by ctidx",
        window.start_text(),
        window.end_text()
    );
    let name = arn.rsplit(['/', ':']).next().unwrap_or("principal");
    match args.format {
        PolicyFormat::Json => {}
        PolicyFormat::Terraform => {
            out.write_all(policy::terraform(&documents, name, &description).as_bytes())?;
            return Ok(ExitStatus::Success);
        }
        PolicyFormat::Cloudformation => {
            out.write_all(policy::cloudformation(&documents, name, &description)?.as_bytes())?;
            return Ok(ExitStatus::Success);
        }
    }
    if args.explain {
        let explained = Explained {
            policy,
            actions: policy::explain(&needs, &statements, catalogue),
            held_but_not_recorded: needs
                .unknown
                .iter()
                .map(|id| catalogue.get(*id).full_name.as_str())
                .collect(),
            kept_unknown: options.keep_unknown,
        };
        serde_json::to_writer_pretty(&mut out, &explained)?;
    } else {
        serde_json::to_writer_pretty(&mut out, &policy)?;
    }
    writeln!(out)?;
    Ok(ExitStatus::Success)
}

/// `--explain`: the policy, then the evidence for each action.
#[derive(Serialize)]
struct Explained<'a> {
    policy: Written<'a>,
    actions: Vec<policy::Explanation>,
    /// Held today, but CloudTrail cannot show their use.
    held_but_not_recorded: Vec<&'a str>,
    /// Whether those are in the policy (`--keep-unknown`).
    kept_unknown: bool,
}

/// What the policy leaves out or widens, on stderr: never dropped silently.
fn report(needs: &Needs, catalogue: &Catalogue, arn: &str, printer: &Printer) {
    let not_granted: Vec<&str> = needs
        .actions
        .iter()
        .filter(|action| !action.granted)
        .map(|action| catalogue.get(action.id).full_name.as_str())
        .collect();
    if !not_granted.is_empty() {
        printer.warn(format!(
            "{arn} used {} actions its policies do not grant today; the policy includes them: {}",
            not_granted.len(),
            not_granted.join(", ")
        ));
    }
    let unread: Vec<&str> = needs
        .actions
        .iter()
        .filter(|action| {
            action
                .any_resource
                .iter()
                .any(|reason| matches!(reason, AnyResource::NotNamed(_)))
        })
        .map(|action| catalogue.get(action.id).full_name.as_str())
        .collect();
    if !unread.is_empty() {
        printer.warn(format!(
            "the calls of {} actions do not name their resource in a way ctidx reads; they get \"*\": {}",
            unread.len(),
            unread.join(", ")
        ));
    }
    if !needs.unknown.is_empty() {
        printer.warn(format!(
            "{arn} holds {} actions whose use CloudTrail cannot show; they are left out unless --keep-unknown (see --explain)",
            needs.unknown.len()
        ));
    }
    for call in &needs.unmapped {
        printer.warn(format!(
            "{} {} ({} calls) maps to no IAM action; the policy cannot cover it",
            call.event_source, call.event_name, call.calls
        ));
    }
}
