//! `query --list users|roles`: the principals of each selected account, inactive ones marked `-`.

use std::collections::BTreeSet;
use std::io::Write;

use datafusion::prelude::SessionContext;

use super::Question;
use super::lookup::in_account;
use super::one::{run_query, strings};
use crate::ExitStatus;
use crate::cli::PrincipalKind;
use crate::config::AccountConfig;
use crate::iam::authz::AuthorizationDetails;
use crate::sql::queries::{self, NamedQuery};
use crate::time::Window;

/// With one account, CloudTracker's list; with several, each account's list after a line naming it
/// (`== account NAME (ID)`). An account whose snapshot cannot be read is reported and skipped.
pub fn answer(
    question: &Question<'_>,
    kind: PrincipalKind,
    out: &mut dyn Write,
) -> anyhow::Result<ExitStatus> {
    let settings = question.settings;
    let accounts = settings.accounts(&question.args.account)?;
    let store = settings.open_store()?;
    let ctx = crate::sql::session(&store)?;
    let mut status = ExitStatus::Success;
    let several = accounts.len() > 1;
    for account in accounts {
        let details = match settings.load_iam(account) {
            Ok(details) => details,
            Err(error) if several => {
                question.printer.error(format!("{error:#}"));
                status = ExitStatus::Failure;
                continue;
            }
            Err(error) => return Err(error),
        };
        for warning in &details.warnings {
            question.printer.warn(warning);
        }
        if several {
            writeln!(out, "== account {} ({})", account.name, account.id)?;
        }
        list(
            &ctx,
            account,
            &details,
            kind,
            &question.window,
            question.args.show_deleted,
            out,
        )?;
    }
    Ok(status)
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
