//! `ctidx query`: CloudTracker's questions, answered from the store.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};

use anyhow::Context;
use arrow::array::{Array, AsArray, RecordBatch};
use chrono::Utc;
use datafusion::prelude::SessionContext;

use crate::ExitStatus;
use crate::cli::{PrincipalKind, QueryArgs};
use crate::config::{AccountConfig, Settings, close_matches};
use crate::diff;
use crate::findings::{self, CallActivity, Filters, Findings};
use crate::iam::authz::{AuthorizationDetails, Role, account_of_arn};
use crate::iam::catalogue::Catalogue;
use crate::iam::eval::{Evaluator, PrincipalRef};
use crate::iam::recorded::RecordingConfig;
use crate::printer::Printer;
use crate::sql::queries::{self, NamedQuery, Params};
use crate::store::Store;
use crate::time::Window;

pub fn run(settings: &Settings, args: &QueryArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let colour =
        !args.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let stdout = std::io::stdout();
    answer(settings, args, &mut stdout.lock(), colour, printer)?;
    Ok(ExitStatus::Success)
}

/// One account's IAM snapshot, merged from its files.
pub fn load_iam(
    settings: &Settings,
    account: &AccountConfig,
) -> anyhow::Result<AuthorizationDetails> {
    let paths: Vec<_> = account
        .iam
        .iter()
        .map(|path| settings.config_path(path))
        .collect();
    crate::iam::load_snapshot(&paths)
        .with_context(|| format!("the IAM snapshot of account {}", account.name))
}

pub fn answer(
    settings: &Settings,
    args: &QueryArgs,
    out: &mut dyn Write,
    colour: bool,
    printer: &Printer,
) -> anyhow::Result<()> {
    let account = settings.account(args.account.as_deref())?;
    let window = Window::new(args.start, args.end)?.or_last_year(Utc::now().date_naive())?;
    let details = load_iam(settings, account)?;
    for warning in &details.warnings {
        printer.warn(warning);
    }
    let store = Store::new(&settings.store);
    let ctx = crate::sql::session(&store)?;
    let catalogue = Catalogue::embedded();
    let patterns = if args.data_events.is_empty() {
        &settings.config.data_events
    } else {
        &args.data_events
    };
    let recording = RecordingConfig::from_patterns(patterns)?;
    let filters = Filters {
        show_used: args.show_used,
        ignore_benign: args.ignore_benign,
        ignore_unknown: args.ignore_unknown,
    };

    if let Some(kind) = args.list {
        return list(
            &ctx,
            account,
            &details,
            kind,
            &window,
            args.show_deleted,
            out,
        );
    }
    let actor = if let Some(name) = &args.user {
        let user = details
            .users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(name) && in_account(&u.arn, account))
            .ok_or_else(|| {
                not_found(
                    "user",
                    name,
                    details
                        .users
                        .iter()
                        .map(|u| (u.name.as_str(), u.arn.as_str())),
                    account,
                )
            })?;
        let created = user
            .create_date
            .as_ref()
            .map(|d| d.rfc3339())
            .unwrap_or_else(|| "unknown".into());
        writeln!(out, "Getting info on {}, user created {created}", user.name)?;
        Actor {
            principal: PrincipalRef::User(&user.arn),
            unique_id: &user.user_id,
            // A user has no sessions of its own: no session ARN starts with "<user ARN>/".
            session_prefix: format!("{}/", user.arn),
            calls: queries::USER_CALLS,
        }
    } else if let Some(name) = &args.role {
        let role = find_role(&details, name, account)?;
        if args.by_session {
            writeln!(out, "Getting info for role {}, by person", role.name)?;
        } else {
            writeln!(out, "Getting info for role {}", role.name)?;
        }
        Actor {
            principal: PrincipalRef::Role(&role.arn),
            unique_id: &role.role_id,
            session_prefix: role_session_prefix(&role.arn, &role.name),
            calls: queries::ROLE_CALLS,
        }
    } else {
        unreachable!("clap requires one of --list, --user, --role")
    };
    let arn = actor.principal.arn();
    if args.destrole.is_some() || args.by_session {
        // A session opened the day before the window still counts.
        let sessions_window = window.widened_before(1);
        super::block_on(async {
            queries::SESSION_EVENTS
                .materialize(
                    &ctx,
                    &queries::SessionEvents {
                        window: &sessions_window,
                    },
                )
                .await?;
            queries::SESSION_LINKS
                .materialize(&ctx, &queries::NoParams)
                .await
        })??;
    }

    if let Some(destination) = &args.destrole {
        let destination_account =
            settings.account(args.destaccount.as_deref().or(Some(&account.id)))?;
        let destination_details = if destination_account.id == account.id {
            None
        } else {
            Some(load_iam(settings, destination_account)?)
        };
        let destination_details = destination_details.as_ref().unwrap_or(&details);
        let role = find_role(destination_details, destination, destination_account)?;
        writeln!(out, "Getting info for AssumeRole into {}", role.name)?;
        let used = activity(
            &ctx,
            queries::SESSION_CALLS,
            &queries::SessionCalls {
                principal_arn: arn,
                principal_id: actor.unique_id,
                session_prefix: &actor.session_prefix,
                max_depth: args.max_depth,
                role_arn: &role.arn,
                role_account: &destination_account.id,
                window: &window,
            },
        )?;
        let evaluation = Evaluator::new(destination_details, catalogue)
            .evaluate(PrincipalRef::Role(&role.arn))
            .with_context(|| format!("cannot evaluate the policies of {}", role.arn))?;
        return print_diff(
            out,
            catalogue,
            &evaluation,
            &used,
            &recording,
            filters,
            colour,
            printer,
        );
    }

    let evaluation = Evaluator::new(&details, catalogue)
        .evaluate(actor.principal)
        .with_context(|| format!("cannot evaluate the policies of {arn}"))?;
    if args.by_session {
        let batches = run_query(
            &ctx,
            queries::ROLE_CALLS_BY_PERSON,
            &queries::RoleCallsByPerson {
                account: &account.id,
                window: &window,
                role_arn: arn,
                max_depth: args.max_depth,
            },
        )?;
        let mut by_person: std::collections::BTreeMap<String, Vec<CallActivity>> =
            Default::default();
        let rows = findings::activity_rows(&batches, Some("person"))
            .context("sql/role_calls_by_person.sql")?;
        for (person, call) in rows {
            by_person
                .entry(person.unwrap_or_else(|| "unknown".into()))
                .or_default()
                .push(call);
        }
        let used_only = Filters {
            show_used: true,
            ..filters
        };
        for (person, calls) in by_person {
            writeln!(out, "{person}")?;
            let findings = Findings::used_only(catalogue, &evaluation.granted, &calls);
            warn_unmapped(&findings, printer);
            for line in diff::lines(&findings, used_only, catalogue) {
                writeln!(out, "  {}", line.render(colour))?;
            }
        }
        return Ok(());
    }
    let used = activity(
        &ctx,
        actor.calls,
        &queries::PrincipalCalls {
            account: &account.id,
            window: &window,
            principal_arn: arn,
        },
    )?;
    print_diff(
        out,
        catalogue,
        &evaluation,
        &used,
        &recording,
        filters,
        colour,
        printer,
    )
}

struct Actor<'a> {
    principal: PrincipalRef<'a>,
    unique_id: &'a str,
    /// How the ARNs of the actor's own sessions begin, to recognise console role switches made
    /// from them.
    session_prefix: String,
    /// Takes [`queries::PrincipalCalls`].
    calls: NamedQuery,
}

/// `arn:aws:iam::123456789012:role/path/name` → `arn:aws:sts::123456789012:assumed-role/name/`
/// (session ARNs leave out the role's path).
fn role_session_prefix(role_arn: &str, role_name: &str) -> String {
    let mut parts = role_arn.splitn(6, ':');
    let partition = parts.nth(1).unwrap_or("aws");
    let account = parts.nth(2).unwrap_or_default();
    format!("arn:{partition}:sts::{account}:assumed-role/{role_name}/")
}

fn find_role<'a>(
    details: &'a AuthorizationDetails,
    name: &str,
    account: &AccountConfig,
) -> anyhow::Result<&'a Role> {
    details
        .roles
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name) && in_account(&r.arn, account))
        .ok_or_else(|| {
            not_found(
                "role",
                name,
                details
                    .roles
                    .iter()
                    .map(|r| (r.name.as_str(), r.arn.as_str())),
                account,
            )
        })
}

#[allow(clippy::too_many_arguments)]
fn print_diff(
    out: &mut dyn Write,
    catalogue: &Catalogue,
    evaluation: &crate::iam::eval::Evaluation,
    activity: &[CallActivity],
    recording: &RecordingConfig,
    filters: Filters,
    colour: bool,
    printer: &Printer,
) -> anyhow::Result<()> {
    for warning in &evaluation.warnings {
        printer.warn(warning);
    }
    let findings = Findings::compute(catalogue, &evaluation.granted, activity, recording);
    warn_unmapped(&findings, printer);
    for line in diff::lines(&findings, filters, catalogue) {
        writeln!(out, "{}", line.render(colour))?;
    }
    Ok(())
}

fn in_account(arn: &str, account: &AccountConfig) -> bool {
    account_of_arn(arn).is_none_or(|id| id == account.id)
}

/// An error for a name that is not in the account's snapshot, with the closest names of that account,
/// or the account the snapshot puts that name in.
fn not_found<'a>(
    kind: &str,
    name: &str,
    candidates: impl Iterator<Item = (&'a str, &'a str)>,
    account: &AccountConfig,
) -> anyhow::Error {
    let candidates: Vec<(&str, &str)> = candidates.collect();
    if let Some((_, arn)) = candidates
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        return anyhow::anyhow!(
            "{kind} {name:?} ({arn}) is not in account {} ({}); choose its account with --account",
            account.name,
            account.id
        );
    }
    let in_this_account = candidates
        .iter()
        .filter(|(_, arn)| in_account(arn, account))
        .map(|(n, _)| *n);
    let close = close_matches(name, in_this_account);
    let hint = if close.is_empty() {
        String::new()
    } else {
        format!("\n  close matches: {}", close.join(", "))
    };
    anyhow::anyhow!(
        "no {kind} named {name:?} in the IAM snapshot of account {} ({}){hint}",
        account.name,
        account.id
    )
}

fn run_query(
    ctx: &SessionContext,
    query: NamedQuery,
    params: &dyn Params,
) -> anyhow::Result<Vec<RecordBatch>> {
    Ok(super::block_on(query.run(ctx, params))??)
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    let mut values = Vec::new();
    for batch in batches {
        if let Some(array) = batch.column_by_name(column) {
            let array = arrow::compute::cast(array, &arrow::datatypes::DataType::Utf8).ok();
            if let Some(array) = array {
                let array = array.as_string::<i32>();
                values.extend(
                    (0..array.len()).map(|i| array.is_valid(i).then(|| array.value(i).to_string())),
                );
            }
        }
    }
    values
}

/// What the principal did, kind of call by kind of call, as `query` answers it.
fn activity(
    ctx: &SessionContext,
    query: NamedQuery,
    params: &dyn Params,
) -> anyhow::Result<Vec<CallActivity>> {
    let batches = run_query(ctx, query, params)?;
    Ok(findings::activity_rows(&batches, None)
        .with_context(|| format!("sql/{}.sql", query.name))?
        .into_iter()
        .map(|(_, call)| call)
        .collect())
}

/// Calls the mapping does not know are reported, never guessed.
fn warn_unmapped(findings: &Findings, printer: &Printer) {
    if !findings.unmapped.is_empty() {
        printer.warn(format!(
            "{} kinds of call could not be mapped to IAM actions and are not shown: {}",
            findings.unmapped.len(),
            findings
                .unmapped
                .iter()
                .map(|call| format!("{} {}", call.event_source, call.event_name))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

fn list(
    ctx: &SessionContext,
    account: &AccountConfig,
    details: &AuthorizationDetails,
    kind: PrincipalKind,
    window: &Window,
    show_deleted: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (query, known): (NamedQuery, Vec<(&str, &str)>) = match kind {
        PrincipalKind::Users => (
            queries::ACTIVE_USERS,
            details
                .users
                .iter()
                .map(|u| (u.name.as_str(), u.arn.as_str()))
                .collect(),
        ),
        PrincipalKind::Roles => (
            queries::ACTIVE_ROLES,
            details
                .roles
                .iter()
                .map(|r| (r.name.as_str(), r.arn.as_str()))
                .collect(),
        ),
    };
    let active: BTreeSet<String> = strings(
        &run_query(
            ctx,
            query,
            &queries::ActivePrincipals {
                account: &account.id,
                window,
            },
        )?,
        "arn",
    )
    .into_iter()
    .flatten()
    .collect();
    let mut lines: Vec<(String, String)> = known
        .iter()
        .filter(|(_, arn)| in_account(arn, account))
        .map(|(name, arn)| {
            let marker = if active.contains(*arn) { "  " } else { "- " };
            (name.to_string(), format!("{marker}{name}"))
        })
        .collect();
    if show_deleted {
        let known_arns: BTreeSet<&str> = known.iter().map(|(_, arn)| *arn).collect();
        for arn in active
            .iter()
            .filter(|arn| !known_arns.contains(arn.as_str()))
        {
            let name = arn.rsplit('/').next().unwrap_or(arn);
            lines.push((
                name.to_string(),
                format!("  {name} (deleted: not in the IAM snapshot)"),
            ));
        }
    }
    lines.sort();
    for (_, line) in lines {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_prefixes_leave_out_the_role_path() {
        assert_eq!(
            role_session_prefix("arn:aws:iam::123456789012:role/ops/admin", "admin"),
            "arn:aws:sts::123456789012:assumed-role/admin/"
        );
        assert_eq!(
            role_session_prefix("arn:aws-cn:iam::123456789012:role/admin", "admin"),
            "arn:aws-cn:sts::123456789012:assumed-role/admin/"
        );
    }
}
