//! `query --user` and `query --role`: one principal, with `--destrole` and `--by-session`.

use crate::store::SummaryKind;
use std::io::Write;

use anyhow::Context;
use arrow::array::{Array, AsArray, RecordBatch};
use datafusion::prelude::SessionContext;

use super::Question;
use super::lookup::{find_role, find_user, role_session_prefix};
use crate::config::AccountConfig;
use crate::findings::organization::{self, AccountCoverage, PrincipalType, Survey};
use crate::findings::{self, CallActivity, Filters, Findings, Unrecorded, activity};
use crate::iam::authz::AuthorizationDetails;
use crate::iam::catalogue::Catalogue;
use crate::iam::eval::{Evaluator, PrincipalRef};
use crate::iam::recorded::RecordingConfig;
use crate::printer::Printer;
use crate::render::{self, Format, Frame, diff};
use crate::sql::queries::{self, NamedQuery, Params};
use crate::time::Window;

/// One user's or role's findings; with `--destrole`, what it did inside that role; with
/// `--by-session`, what each person did inside the role.
pub fn answer(question: &Question<'_>, out: &mut dyn Write) -> anyhow::Result<()> {
    let Question {
        settings,
        args,
        window,
        ref recording,
        filters,
        colour,
        printer,
    } = *question;
    let account = match args.account.as_slice() {
        [] => settings.account(None)?,
        [one] => settings.account(Some(one))?,
        _ => anyhow::bail!("--user and --role take one --account; --all takes several"),
    };
    let details = settings.load_iam(account)?;
    for warning in &details.warnings {
        printer.warn(warning);
    }
    let store = settings.open_store()?;
    let ctx = crate::sql::session(&store)?;
    if args.destrole.is_some() || args.by_session {
        crate::commands::read_summaries(&ctx, &store, printer, &[SummaryKind::SessionOpenings])?;
    }
    let days_with_logs = organization::days_with_logs(&ctx, &store, &[account], &window)?;
    let coverage = organization::coverage(account, &days_with_logs);
    if coverage.days_with_logs == 0 {
        printer.warn(format!(
            "the store holds no logs of account {} ({}) from {} to {}: every grant looks unused",
            account.name,
            account.id,
            window.start_text(),
            window.end_text()
        ));
    }
    let catalogue = Catalogue::embedded();
    if args.format != Format::Text {
        return structured(question, account, &details, &ctx, coverage, out);
    }
    let actor = if let Some(name) = &args.user {
        let user = find_user(&details, name, account)?;
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

    if let Some(destination) = &args.destrole {
        let destination_account =
            settings.account(args.destaccount.as_deref().or(Some(&account.id)))?;
        let destination_details = if destination_account.id == account.id {
            None
        } else {
            Some(settings.load_iam(destination_account)?)
        };
        let destination_details = destination_details.as_ref().unwrap_or(&details);
        let role = find_role(destination_details, destination, destination_account)?;
        writeln!(out, "Getting info for AssumeRole into {}", role.name)?;
        follow_sessions(&ctx, &window, &destination_account.id, printer)?;
        crate::commands::block_on(queries::PERSON_SESSIONS.materialize(
            &ctx,
            &queries::PersonSessions {
                principal_arn: arn,
                principal_id: actor.unique_id,
                session_prefix: &actor.session_prefix,
                max_depth: args.max_depth,
                role_arn: &role.arn,
            },
        ))??;
        let used = activity(
            &ctx,
            queries::SESSION_CALLS,
            &queries::SessionCalls {
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
            recording,
            filters,
            colour,
            printer,
        );
    }

    let evaluation = Evaluator::new(&details, catalogue)
        .evaluate(actor.principal)
        .with_context(|| format!("cannot evaluate the policies of {arn}"))?;
    if args.by_session {
        follow_sessions(&ctx, &window, &account.id, printer)?;
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
        let rows = findings::activity_rows(&batches, &["person"])
            .context("sql/role_calls_by_person.sql")?;
        for (mut person, call) in rows {
            by_person
                .entry(person.pop().flatten().unwrap_or_else(|| "unknown".into()))
                .or_default()
                .push(call);
        }
        let people: Vec<(String, Findings)> = by_person
            .into_iter()
            .map(|(person, calls)| {
                let findings = Findings::used_only(catalogue, &evaluation.granted, &calls);
                warn_unmapped(&findings, printer);
                (person, findings)
            })
            .collect();
        return render::text::write_people(out, &people, filters, catalogue, colour);
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
        recording,
        filters,
        colour,
        printer,
    )
}

/// One principal's findings as JSON, NDJSON or CSV: the same shapes as `--all` gives.
fn structured(
    question: &Question<'_>,
    account: &AccountConfig,
    details: &AuthorizationDetails,
    ctx: &SessionContext,
    mut coverage: AccountCoverage,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let args = question.args;
    let (kind, arn) = match (&args.user, &args.role) {
        (Some(user), _) => (PrincipalType::User, &find_user(details, user, account)?.arn),
        (None, Some(role)) => (PrincipalType::Role, &find_role(details, role, account)?.arn),
        (None, None) => unreachable!("clap requires one of --list, --user, --role, --all"),
    };
    let (principals, _) = organization::principals_of(account, details);
    coverage.users = principals
        .iter()
        .filter(|p| p.kind == PrincipalType::User)
        .count();
    coverage.roles = principals.len() - coverage.users;
    coverage.reported = true;
    let principal = principals
        .iter()
        .find(|p| p.kind == kind && &p.arn == arn)
        .with_context(|| {
            format!(
                "{arn} is not among the principals of account {}",
                account.id
            )
        })?;
    let query = match kind {
        PrincipalType::User => queries::USER_CALLS,
        PrincipalType::Role => queries::ROLE_CALLS,
    };
    let calls = crate::commands::block_on(activity::of_principal(
        ctx,
        query,
        &account.id,
        &principal.arn,
        &question.window,
    ))??;
    let people = if args.by_session && kind == PrincipalType::Role {
        let mut people = crate::commands::block_on(activity::of_people_in_roles(
            ctx,
            std::slice::from_ref(&account.id),
            &question.window,
            args.max_depth,
        ))??;
        Some(
            people
                .remove(&(account.id.clone(), principal.arn.clone()))
                .unwrap_or_default(),
        )
    } else {
        None
    };
    let catalogue = Catalogue::embedded();
    let evaluator = Evaluator::new(details, catalogue);
    let found = organization::findings_of(
        &evaluator,
        principal,
        &calls,
        people.as_ref(),
        catalogue,
        &Unrecorded::new(catalogue, &question.recording),
        None,
    )
    .map_err(|problem| anyhow::anyhow!(problem.message))?;
    for warning in &found.warnings {
        question.printer.warn(warning);
    }
    let frame = Frame {
        window: &question.window,
        filters: question.filters,
        catalogue,
    };
    let mut renderer = render::renderer(args.format, out, frame, false)?;
    renderer.account(&coverage)?;
    renderer.principal(&found)?;
    renderer.finish(&Survey {
        accounts: vec![coverage],
        problems: Vec::new(),
    })
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
    let unrecorded = Unrecorded::new(catalogue, recording);
    let findings = Findings::compute(catalogue, &evaluation.granted, activity, &unrecorded);
    warn_unmapped(&findings, printer);
    for line in diff::lines(&findings, filters, catalogue) {
        writeln!(out, "{}", line.render(colour))?;
    }
    Ok(())
}

pub(super) fn run_query(
    ctx: &SessionContext,
    query: NamedQuery,
    params: &dyn Params,
) -> anyhow::Result<Vec<RecordBatch>> {
    Ok(crate::commands::block_on(query.run(ctx, params))??)
}

pub(super) fn strings(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
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
    Ok(findings::activity_rows(&batches, &[])
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

/// Follows role sessions into the roles of `account` (see [`activity::follow_sessions`]).
fn follow_sessions(
    ctx: &SessionContext,
    window: &Window,
    account: &str,
    printer: &Printer,
) -> anyhow::Result<()> {
    let read = crate::commands::block_on(activity::follow_sessions(
        ctx,
        window,
        &[account.to_string()],
    ))??;
    printer.detail(format!(
        "role sessions followed through the logs of {}",
        read.join(", ")
    ));
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
